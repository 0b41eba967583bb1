"""Context assembly for retrieval-augmented generation: passages packed into a token budget.

The hits of a (fused, reranked) search are taken best first and placed in
the context as numbered blocks::

    [1] first passage text

    [2] second passage text

Tokens are counted with the local embedding model's WordPiece tokenizer
(all-MiniLM-L6-v2, the copy shipped in this package, checked against its
pinned sha256), without special tokens and without truncation. Its
pre-tokenizer splits on whitespace and punctuation, so the count of the
joined context is the sum of the blocks' counts (the blank lines between
blocks count nothing); :func:`assemble` checks that on the final string.

Packing is greedy in rank order: whole passages while they fit; the first
that does not fit is cut at a word boundary to the remaining budget when at
least ``min_cut_tokens`` remain, and packing stops there. Hits without text
are skipped. Everything left out is counted in ``omitted``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from tokenizers import Tokenizer

from .domain import Hit
from .embeddings.local import load_tokenizer

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "Assembled",
    "PackedPassage",
    "TokenCounter",
    "assemble",
]

#: Budget when a request gives none.
DEFAULT_MAX_TOKENS: Final = 1024
#: A passage is cut to fit only when at least this many tokens remain.
MIN_CUT_TOKENS: Final = 16
#: Separator between blocks.
SEPARATOR: Final = "\n\n"


class TokenCounter:
    """Counts tokens with the local model's tokenizer (:func:`load_tokenizer`, untruncated:
    loaded on first use, shared with the embedder's loading and checks, thread-safe)."""

    def _load(self) -> Tokenizer:
        return load_tokenizer(None)

    def count(self, text: str) -> int:
        """Tokens in ``text`` (no special tokens)."""
        return len(self._load().encode(text, add_special_tokens=False).ids)

    def cut(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` ending at a word boundary with at most ``max_tokens``
        tokens ("" when even the first word is longer)."""
        if max_tokens <= 0:
            return ""
        encoding = self._load().encode(text, add_special_tokens=False)
        if len(encoding.ids) <= max_tokens:
            return text
        tokens = encoding.tokens
        offsets = encoding.offsets
        # Cut before a token that starts a word: never inside a "##" continuation.
        end = max_tokens
        while end > 0 and tokens[end].startswith("##"):
            end -= 1
        while end > 0:
            prefix = text[: offsets[end - 1][1]].rstrip()
            if self.count(prefix) <= max_tokens:
                return prefix
            end -= 1
            while end > 0 and tokens[end].startswith("##"):
                end -= 1
        return ""


@dataclass(frozen=True, slots=True)
class PackedPassage:
    """One hit as placed in the context."""

    #: 1-based citation number.
    citation: int
    hit: Hit
    #: The text placed (cut when ``truncated``).
    text: str
    #: Tokens of the block ("[n] " label and text).
    token_count: int
    truncated: bool


@dataclass(frozen=True, slots=True)
class Assembled:
    """The packed context."""

    passages: tuple[PackedPassage, ...]
    context: str
    token_count: int
    #: Hits left out (over budget, or without text).
    omitted: int


def _block(citation: int, text: str) -> str:
    return f"[{citation}] {text}"


def assemble(
    hits: Sequence[Hit],
    max_tokens: int,
    counter: TokenCounter,
    *,
    min_cut_tokens: int = MIN_CUT_TOKENS,
) -> Assembled:
    """Pack ``hits`` (best first) into at most ``max_tokens`` tokens."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be >= 1")
    passages: list[PackedPassage] = []
    used = 0
    for hit in hits:
        text = hit.text.strip()
        if not text:
            continue
        citation = len(passages) + 1
        label = counter.count(_block(citation, ""))
        tokens = counter.count(_block(citation, text))
        if used + tokens <= max_tokens:
            passages.append(PackedPassage(citation, hit, text, tokens, truncated=False))
            used += tokens
            continue
        room = max_tokens - used - label
        if room >= min_cut_tokens:
            cut = counter.cut(text, room)
            if cut:
                tokens = counter.count(_block(citation, cut))
                if used + tokens <= max_tokens:
                    passages.append(PackedPassage(citation, hit, cut, tokens, truncated=True))
                    used += tokens
        break
    context = SEPARATOR.join(_block(p.citation, p.text) for p in passages)
    total = counter.count(context)
    # The pre-tokenizer makes counts additive; guard against a tokenizer that is not.
    while total > max_tokens and passages:
        passages.pop()
        context = SEPARATOR.join(_block(p.citation, p.text) for p in passages)
        total = counter.count(context)
    kept = {id(p.hit) for p in passages}
    omitted = sum(1 for hit in hits if id(hit) not in kept)
    return Assembled(tuple(passages), context, total, omitted)
