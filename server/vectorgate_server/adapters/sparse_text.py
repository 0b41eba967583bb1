"""BM25 sparse text vectors for backends that score sparse vectors with IDF (Qdrant).

The same idea as FastEmbed's ``Qdrant/bm25`` model, in pure Python: a document
becomes a sparse vector of BM25 term-frequency weights, a query becomes a
sparse vector of its distinct terms with weight 1, and the backend multiplies
matching entries by the term's inverse document frequency (Qdrant's
``Modifier.IDF``), which it keeps current as documents come and go. The dot
product is then the BM25 score of the document::

    score(q, d) = sum over terms t of q:  idf(t) * tf(t, d) * (k1 + 1)
                                          / (tf(t, d) + k1 * (1 - b + b * |d| / avg_len))

``avg_len`` is a fixed constant rather than the collection's running average,
so a document's vector never changes after it is written.

Tokens
------
Like a standard analyzer: the text is NFKC-normalised and case-folded, and
split into Unicode word tokens (``\\w+``), so ``"ZX-4471-Q"`` gives ``zx``,
``4471`` and ``q``. Common English stopwords are dropped, except inside codes:
a run of word tokens joined by punctuation without spaces (``ZX-4471-A``,
``v1.2.3``, ``not-2``) that contains a digit keeps all its parts, single
letters included.

Indices
-------
A token's index is the first 31 bits of its BLAKE2b digest: stable across
processes, machines and Python versions (never ``hash()``, which is salted
per process). Two tokens sharing an index (rare among 2^31 values) count as
one term.

:data:`ENCODER_VERSION` names this tokenisation and hashing; it is stored with
the collection, and a change to either must bump it (vectors of different
versions do not match).
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "DEFAULT_AVG_LEN",
    "DEFAULT_B",
    "DEFAULT_K1",
    "ENCODER_MODEL",
    "ENCODER_VERSION",
    "STOPWORDS",
    "Bm25Encoder",
    "EncoderSpecError",
    "SparseText",
    "token_index",
    "tokenize",
]

#: Name of the encoding, as stored with a collection.
ENCODER_MODEL: Final = "bm25"
#: Version of the tokenisation and hashing (see the module docstring).
ENCODER_VERSION: Final = 1
DEFAULT_K1: Final = 1.2
DEFAULT_B: Final = 0.75
#: Average document length in tokens the length normalisation assumes (FastEmbed's default).
DEFAULT_AVG_LEN: Final = 256.0

#: Lucene's English stopword set (``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET``).
# fmt: off
STOPWORDS: Final = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is",
    "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there",
    "these", "they", "this", "to", "was", "will", "with",
})
# fmt: on

_INDEX_MASK: Final = 0x7FFF_FFFF
#: Word tokens joined by punctuation without spaces: a candidate code.
_RUN_RE: Final = re.compile(r"\w+(?:[^\w\s]+\w+)*")
_WORD_RE: Final = re.compile(r"\w+")
_DIGIT_RE: Final = re.compile(r"\d")


def tokenize(text: str) -> list[str]:
    """The index terms of ``text``, in order (repeats kept)."""
    normalised = unicodedata.normalize("NFKC", text).casefold()
    tokens: list[str] = []
    for run in _RUN_RE.findall(normalised):
        if run.isalnum():
            # One plain word (the common case): str.isalnum is \w without "_".
            if run not in STOPWORDS:
                tokens.append(run)
            continue
        parts = _WORD_RE.findall(run)
        if len(parts) > 1 and _DIGIT_RE.search(run):
            tokens.extend(parts)
        else:
            tokens.extend(p for p in parts if p not in STOPWORDS)
    return tokens


@functools.lru_cache(maxsize=65_536)
def token_index(token: str) -> int:
    """The sparse index of a token: 31 bits of its BLAKE2b digest."""
    digest = hashlib.blake2b(token.encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "big") & _INDEX_MASK


@dataclass(frozen=True, slots=True)
class SparseText:
    """A sparse vector: strictly increasing indices and their (positive) values."""

    indices: list[int]
    values: list[float]


class EncoderSpecError(ValueError):
    """A stored encoder description this version cannot reproduce."""


@dataclass(frozen=True, slots=True)
class Bm25Encoder:
    """BM25 document and query vectors (IDF applied by the backend)."""

    k1: float = DEFAULT_K1
    b: float = DEFAULT_B
    avg_len: float = DEFAULT_AVG_LEN

    def __post_init__(self) -> None:
        if not (math.isfinite(self.k1) and self.k1 > 0):
            raise ValueError(f"k1 must be a positive number, not {self.k1!r}")
        if not (math.isfinite(self.b) and 0 <= self.b <= 1):
            raise ValueError(f"b must be between 0 and 1, not {self.b!r}")
        if not (math.isfinite(self.avg_len) and self.avg_len > 0):
            raise ValueError(f"avg_len must be a positive number, not {self.avg_len!r}")

    def document(self, text: str) -> SparseText | None:
        """The BM25 term-frequency vector of a document; None when it has no terms."""
        tokens = tokenize(text)
        if not tokens:
            return None
        counts = Counter(map(token_index, tokens))
        norm = self.k1 * (1.0 - self.b + self.b * len(tokens) / self.avg_len)
        indices = sorted(counts)
        values = [counts[i] * (self.k1 + 1.0) / (counts[i] + norm) for i in indices]
        return SparseText(indices, values)

    def query(self, text: str) -> SparseText | None:
        """Each distinct term of the query with weight 1; None when it has no terms."""
        indices = sorted({token_index(t) for t in tokenize(text)})
        if not indices:
            return None
        return SparseText(indices, [1.0] * len(indices))

    def spec(self) -> dict[str, Any]:
        """A JSON description to store with a collection (see :meth:`from_spec`)."""
        return {
            "model": ENCODER_MODEL,
            "version": ENCODER_VERSION,
            "k1": self.k1,
            "b": self.b,
            "avg_len": self.avg_len,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Bm25Encoder:
        """The encoder a stored :meth:`spec` describes; ``EncoderSpecError`` if unknown."""
        model, version = spec.get("model"), spec.get("version")
        if model != ENCODER_MODEL or version != ENCODER_VERSION:
            raise EncoderSpecError(
                f"text encoder {model!r} version {version!r} (this server writes "
                f"{ENCODER_MODEL!r} version {ENCODER_VERSION})"
            )
        values: dict[str, float] = {}
        for key, default in (("k1", DEFAULT_K1), ("b", DEFAULT_B), ("avg_len", DEFAULT_AVG_LEN)):
            raw = spec.get(key, default)
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise EncoderSpecError(f"text encoder parameter {key!r} is not a number: {raw!r}")
            values[key] = float(raw)
        try:
            return cls(**values)
        except ValueError as exc:
            raise EncoderSpecError(f"text encoder parameters: {exc}") from None
