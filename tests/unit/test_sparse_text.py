"""The BM25 sparse text encoder: tokens, stable indices, document and query weights, specs."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from vectorgate_server.adapters.sparse_text import (
    DEFAULT_AVG_LEN,
    ENCODER_MODEL,
    ENCODER_VERSION,
    Bm25Encoder,
    EncoderSpecError,
    token_index,
    tokenize,
)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("ZX-4471-Q", ["zx", "4471", "q"]),
        ("Spare seals for the ZX-4471-Q reel.", ["spare", "seals", "zx", "4471", "q", "reel"]),
        # Stopwords go, except inside a code (a joined run with a digit).
        ("a hose and a reel", ["hose", "reel"]),
        ("Part ZX-4471-A, not B-2", ["part", "zx", "4471", "a", "b", "2"]),
        ("to-do is not a code", ["do", "code"]),
        ("v1.2.3 release", ["v1", "2", "3", "release"]),
        # Case folding and NFKC: full-width letters and digits, ß.
        ("\uff26\uff55\uff4c\uff4c\uff14 STRASSE Straße", ["full4", "strasse", "strasse"]),
        ("Café crème brûlée", ["café", "crème", "brûlée"]),
        ("東京 タワー", ["東京", "タワー"]),
        ("", []),
        ("  --- !!! the of", []),
    ],
)
def test_tokenize(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def test_indices_are_31_bit_and_distinct_for_common_tokens() -> None:
    words = [f"w{i}" for i in range(5000)] + ["zx", "4471", "q", "a", "hose"]
    indices = [token_index(w) for w in words]
    assert all(0 <= i < 2**31 for i in indices)
    assert len(set(indices)) == len(words)


def test_indices_are_stable_across_processes() -> None:
    """Not Python's salted hash(): another interpreter with another seed agrees."""
    words = ["zx", "4471", "q", "garden", "東京"]
    script = (
        "from vectorgate_server.adapters.sparse_text import token_index\n"
        f"print(*[token_index(w) for w in {words!r}])"
    )
    outputs = set()
    for seed in ("1", "2"):
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        outputs.add(tuple(result.stdout.split()))
    assert len(outputs) == 1
    (printed,) = outputs
    assert [int(v) for v in printed] == [token_index(w) for w in words]


def _bm25_tf(tf: float, length: int, k1: float, b: float, avg_len: float) -> float:
    return tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg_len))


@pytest.mark.parametrize(("k1", "b", "avg_len"), [(1.2, 0.75, DEFAULT_AVG_LEN), (2.0, 0.3, 5.0)])
def test_document_values_are_bm25_term_frequency_saturation(
    k1: float, b: float, avg_len: float
) -> None:
    encoder = Bm25Encoder(k1=k1, b=b, avg_len=avg_len)
    text = "Hose reel, hose bracket and the HOSE nozzle"
    tokens = tokenize(text)
    assert tokens == ["hose", "reel", "hose", "bracket", "hose", "nozzle"]
    vector = encoder.document(text)
    assert vector is not None
    assert vector.indices == sorted(vector.indices)
    got = dict(zip(vector.indices, vector.values, strict=True))
    expected = {
        token_index(t): _bm25_tf(tokens.count(t), len(tokens), k1, b, avg_len) for t in set(tokens)
    }
    assert got.keys() == expected.keys()
    np.testing.assert_allclose(
        [got[i] for i in sorted(got)], [expected[i] for i in sorted(expected)], rtol=1e-12
    )
    # Saturation: three occurrences weigh more than one, less than three times as much.
    once = got[token_index("reel")]
    thrice = got[token_index("hose")]
    assert once < thrice < 3 * once
    assert all(0 < v < k1 + 1 for v in vector.values)


def test_longer_documents_weigh_a_term_less() -> None:
    encoder = Bm25Encoder(avg_len=10.0)
    short = encoder.document("garden hose")
    long = encoder.document("garden " + " ".join(f"filler{i}" for i in range(40)))
    assert short is not None and long is not None
    index = token_index("garden")
    assert short.values[short.indices.index(index)] > long.values[long.indices.index(index)]


def test_query_is_each_distinct_term_with_weight_one() -> None:
    query = Bm25Encoder().query("ZX-4471-Q zx the ZX")
    assert query is not None
    assert query.indices == sorted({token_index("zx"), token_index("4471"), token_index("q")})
    assert query.values == [1.0, 1.0, 1.0]


def test_text_without_terms_has_no_vector() -> None:
    encoder = Bm25Encoder()
    assert encoder.document("") is None
    assert encoder.document("the of and ...") is None
    assert encoder.query("  ?! ") is None


def test_spec_round_trip_and_rejections() -> None:
    encoder = Bm25Encoder(k1=1.5, b=0.5, avg_len=100.0)
    spec = encoder.spec()
    assert spec == {
        "model": ENCODER_MODEL,
        "version": ENCODER_VERSION,
        "k1": 1.5,
        "b": 0.5,
        "avg_len": 100.0,
    }
    assert Bm25Encoder.from_spec(spec) == encoder
    # Integral floats may come back as ints from a JSON / protobuf round trip.
    assert Bm25Encoder.from_spec({**spec, "avg_len": 100}) == encoder
    bad = [
        ({**spec, "version": ENCODER_VERSION + 1}, "version"),
        ({**spec, "model": "splade"}, "splade"),
        ({**spec, "k1": "1.2"}, "k1"),
        ({**spec, "b": True}, "'b'"),
        ({**spec, "b": 1.5}, "b must be between 0 and 1"),
        ({**spec, "avg_len": 0}, "avg_len"),
    ]
    for raw, needle in bad:
        with pytest.raises(EncoderSpecError, match=needle):
            Bm25Encoder.from_spec(raw)


@pytest.mark.parametrize(
    "kwargs",
    [{"k1": 0.0}, {"k1": float("nan")}, {"b": -0.1}, {"avg_len": -1.0}, {"avg_len": float("inf")}],
)
def test_invalid_parameters_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Bm25Encoder(**kwargs)
