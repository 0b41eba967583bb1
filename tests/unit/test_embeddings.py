"""Local embedding model (all-MiniLM-L6-v2, int8 ONNX) and the embedding registry."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from vectorgate_server.embeddings import (
    MODEL_ALIASES,
    MODEL_NAME,
    Embedder,
    EmbeddingRegistry,
    LocalOnnxEmbedder,
    ModelIntegrityError,
    UnknownModelError,
    default_registry,
)
from vectorgate_server.embeddings import local as local_module

Vectors = npt.NDArray[np.float32]

# Single-token words, so n words tokenise to exactly n + 2 ids ([CLS] ... [SEP]).
ONE_TOKEN_WORDS = [
    "the", "cat", "sat", "on", "a", "mat", "and", "then",
    "the", "dog", "ran", "home", "with", "my", "friend",
]  # fmt: skip

PARAPHRASES = [
    ("How do I reset my password?", "I forgot my password and need to change it."),
    ("The cat is sleeping on the sofa.", "A kitten naps on the couch."),
    ("The stock market fell sharply today.", "Share prices dropped steeply this afternoon."),
    ("What is the capital of France?", "Which city is France's capital?"),
    ("He plays the guitar in a rock band.", "He is a guitarist in a rock group."),
    ("It is raining heavily outside.", "There is a downpour outside right now."),
    ("The recipe needs two cups of flour.", "You need 2 cups of flour for this recipe."),
    ("The train to Berlin was delayed by an hour.", "Our Berlin train arrived sixty minutes late."),
]

VARIED = [
    "Hi",
    "",
    "A considerably longer sentence, with punctuation; it should need padding in a batch.",
    "Short one.",
    "Vector databases store embeddings and answer nearest-neighbour queries quickly. " * 6,
    "naïve café résumé — unicode text 日本語",
    "a",
    "The quick brown fox jumps over the lazy dog.",
]


def words(n: int) -> str:
    return " ".join(ONE_TOKEN_WORDS[i % len(ONE_TOKEN_WORDS)] for i in range(n))


@pytest.fixture(scope="module")
def embedder() -> Iterator[LocalOnnxEmbedder]:
    e = LocalOnnxEmbedder()
    e.warm_up()
    yield e
    e.close()


def one_by_one(e: LocalOnnxEmbedder, texts: Sequence[str]) -> Vectors:
    return np.vstack([e.embed_sync([t]) for t in texts])


# -- vectors ------------------------------------------------------------------


def test_shape_dtype_and_unit_norm(embedder: LocalOnnxEmbedder) -> None:
    v = embedder.embed_sync(VARIED)
    assert v.shape == (len(VARIED), 384)
    assert v.dtype == np.float32
    assert embedder.dimension == 384
    assert embedder.name == MODEL_NAME
    assert np.all(np.isfinite(v))
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_empty_input_gives_empty_matrix(embedder: LocalOnnxEmbedder) -> None:
    v = embedder.embed_sync([])
    assert v.shape == (0, 384)
    assert v.dtype == np.float32


def test_deterministic(embedder: LocalOnnxEmbedder) -> None:
    first = embedder.embed_sync(VARIED)
    second = embedder.embed_sync(VARIED)
    np.testing.assert_array_equal(first, second)


def test_batch_equals_one_by_one(embedder: LocalOnnxEmbedder) -> None:
    # Mixed lengths: every text but the longest gets padded in the batch.
    batched = embedder.embed_sync(VARIED)
    np.testing.assert_allclose(batched, one_by_one(embedder, VARIED), atol=1e-5, rtol=0)


def test_order_preserved_across_length_sorting(embedder: LocalOnnxEmbedder) -> None:
    # 40 texts of lengths 1..40 words in shuffled order, split into several batches.
    rng = np.random.default_rng(7)
    lengths = rng.permutation(np.arange(1, 41))
    texts = [words(int(n)) + f" {i}" for i, n in enumerate(lengths)]
    small = LocalOnnxEmbedder(max_batch=8)
    try:
        batched = small.embed_sync(texts)
        np.testing.assert_allclose(batched, one_by_one(embedder, texts), atol=1e-5, rtol=0)
        reversed_ = small.embed_sync(texts[::-1])
        np.testing.assert_allclose(reversed_, batched[::-1], atol=1e-5, rtol=0)
    finally:
        small.close()


def test_paraphrases_score_higher_than_unrelated_pairs(embedder: LocalOnnxEmbedder) -> None:
    left = embedder.embed_sync([a for a, _ in PARAPHRASES])
    right = embedder.embed_sync([b for _, b in PARAPHRASES])
    sims = left @ right.T  # unit vectors: dot product == cosine
    paired = np.diag(sims)
    unrelated = sims[~np.eye(len(PARAPHRASES), dtype=bool)]
    assert paired.min() > 0.5, paired
    assert unrelated.max() < 0.35, unrelated.max()
    for i in range(len(PARAPHRASES)):
        others = np.delete(sims[i], i)
        assert paired[i] > others.max() + 0.25, (PARAPHRASES[i], paired[i], others.max())


def test_known_similarity_value(embedder: LocalOnnxEmbedder) -> None:
    # Reference computed once with the fp32 weights of sentence-transformers/all-MiniLM-L6-v2:
    # 0.7553; the int8 model stays within 0.01 of it.
    v = embedder.embed_sync(["A man is eating food.", "A man is eating a piece of bread."])
    assert abs(float(v[0] @ v[1]) - 0.7553) < 0.01


def test_long_text_truncated_to_256_tokens(embedder: LocalOnnxEmbedder) -> None:
    long_text = words(2000)
    full = embedder.embed_sync([long_text])
    assert full.shape == (1, 384)
    np.testing.assert_allclose(np.linalg.norm(full), 1.0, atol=1e-5)
    # 254 words + [CLS] + [SEP] = 256 tokens: exactly what survives truncation.
    np.testing.assert_allclose(full, embedder.embed_sync([words(254)]), atol=1e-6, rtol=0)
    # One word fewer is a different input, so the limit is 256 (not 128, the value
    # saved in tokenizer.json).
    assert not np.allclose(full, embedder.embed_sync([words(253)]), atol=1e-5, rtol=0)
    assert not np.allclose(full, embedder.embed_sync([words(126)]), atol=1e-5, rtol=0)
    # Truncated texts in a batch with short ones still match.
    batch = embedder.embed_sync(["short", long_text, words(300)])
    np.testing.assert_allclose(batch[1], full[0], atol=1e-5, rtol=0)
    np.testing.assert_allclose(batch[2], full[0], atol=1e-5, rtol=0)


def test_many_long_texts_are_split_into_bounded_batches(embedder: LocalOnnxEmbedder) -> None:
    texts = [words(400 + i) for i in range(10)] + ["x"] * 5
    _, _, batches = embedder._prepare(texts)
    for batch in batches:
        assert len(batch) <= embedder.max_batch
    assert sorted(i for b in batches for i in b) == list(range(len(texts)))
    assert all(len(b) <= 4 for b in batches[:3])  # 256-token texts: 4 per pass by default


def test_empty_string(embedder: LocalOnnxEmbedder) -> None:
    alone = embedder.embed_sync([""])
    assert alone.shape == (1, 384)
    np.testing.assert_allclose(np.linalg.norm(alone), 1.0, atol=1e-5)
    mixed = embedder.embed_sync(["a much longer sentence than the empty one", "", "  "])
    np.testing.assert_allclose(mixed[1], alone[0], atol=1e-5, rtol=0)
    # Whitespace-only normalises to the same [CLS][SEP] input.
    np.testing.assert_allclose(mixed[2], alone[0], atol=1e-5, rtol=0)


def test_rejects_non_string_input(embedder: LocalOnnxEmbedder) -> None:
    with pytest.raises(TypeError, match="single string"):
        embedder.embed_sync("not a list")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        embedder.embed_sync(["ok", 3])  # type: ignore[list-item]


# -- async --------------------------------------------------------------------


async def test_async_embed_matches_sync(embedder: LocalOnnxEmbedder) -> None:
    texts = [f"sentence number {i} about {ONE_TOKEN_WORDS[i % 15]}" for i in range(100)]
    expected = embedder.embed_sync(texts)
    got = await embedder.embed(texts)  # > max_batch: the pass-by-pass path
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    small = await embedder.embed(texts[:3])
    np.testing.assert_allclose(small, expected[:3], atol=1e-5, rtol=0)
    assert (await embedder.embed([])).shape == (0, 384)


async def test_concurrent_async_requests(embedder: LocalOnnxEmbedder) -> None:
    groups = [[f"group {g} item {i}" for i in range(g * 7 + 1)] for g in range(6)]
    results = await asyncio.gather(*(embedder.embed(g) for g in groups))
    for group, got in zip(groups, results, strict=True):
        np.testing.assert_allclose(got, embedder.embed_sync(group), atol=1e-5, rtol=0)


async def test_embed_does_not_block_event_loop(embedder: LocalOnnxEmbedder) -> None:
    ticks: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.005)

    # Size the job to take about 0.6 s on this machine.
    sample = [words(40 + i % 20) + f" {i}" for i in range(16)]
    t0 = time.perf_counter()
    embedder.embed_sync(sample)
    per_text = (time.perf_counter() - t0) / len(sample)
    n = min(5000, max(32, int(0.6 / per_text)))
    texts = [words(40 + i % 20) + f" {i}" for i in range(n)]
    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    start = time.perf_counter()
    result = await embedder.embed(texts)
    elapsed = time.perf_counter() - start
    stop.set()
    await task
    assert result.shape == (n, 384)
    assert elapsed > 0.2, "job too small to show anything"
    gaps = np.diff(ticks)
    assert len(ticks) >= 10
    # A blocked loop would show a single gap about as long as the whole embed.
    assert gaps.max() < elapsed / 3, (gaps.max(), elapsed)


def test_lazy_load_is_thread_safe() -> None:
    e = LocalOnnxEmbedder()
    assert not e.is_loaded
    loads = 0
    real_load = e._load

    def counting_load() -> local_module._Model:
        nonlocal loads
        loads += 1
        time.sleep(0.05)  # widen the race window
        return real_load()

    e._load = counting_load  # type: ignore[method-assign]
    results: list[Vectors] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(e.embed_sync(["thread safety"]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    e.close()
    assert not errors
    assert loads == 1
    assert e.is_loaded
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


async def test_closed_embedder_refuses_async_work() -> None:
    e = LocalOnnxEmbedder()
    e.close()
    with pytest.raises(RuntimeError):
        await e.embed(["x"])


# -- integrity ------------------------------------------------------------------


def test_sha256_mismatch_is_detected(tmp_path: Path) -> None:
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"definitely not an ONNX model")
    actual = hashlib.sha256(bogus.read_bytes()).hexdigest()
    e = LocalOnnxEmbedder(model_path=bogus)
    try:
        with pytest.raises(ModelIntegrityError) as info:
            e.warm_up()
        message = str(info.value)
        assert local_module.MODEL_SHA256 in message
        assert actual in message
        assert str(bogus) in message
        assert info.value.expected == local_module.MODEL_SHA256
        assert info.value.actual == actual
        assert not e.is_loaded
        with pytest.raises(ModelIntegrityError):  # stays failed, no half-loaded state
            e.embed_sync(["x"])
    finally:
        e.close()


def test_wrong_pinned_hash_is_detected() -> None:
    e = LocalOnnxEmbedder(model_sha256="0" * 64)
    try:
        with pytest.raises(ModelIntegrityError, match=local_module.MODEL_SHA256):
            e.warm_up()
    finally:
        e.close()


def test_injected_model_path_with_correct_content_loads(
    tmp_path: Path, embedder: LocalOnnxEmbedder
) -> None:
    copy = tmp_path / "copy.onnx"
    shutil.copyfile(local_module.default_model_path(), copy)
    e = LocalOnnxEmbedder(model_path=copy, intra_op_num_threads=1)
    try:
        assert e.model_path == copy
        assert e.intra_op_num_threads == 1
        np.testing.assert_allclose(
            e.embed_sync(VARIED), embedder.embed_sync(VARIED), atol=1e-5, rtol=0
        )
    finally:
        e.close()


def test_file_hash_is_cached(tmp_path: Path) -> None:
    f = tmp_path / "f.bin"
    f.write_bytes(b"abc")
    expected = hashlib.sha256(b"abc").hexdigest()
    assert local_module.file_sha256(f) == expected
    assert local_module.file_sha256(f) == expected
    f.write_bytes(b"abcd")  # size changes, so the cache entry no longer applies
    assert local_module.file_sha256(f) == hashlib.sha256(b"abcd").hexdigest()


def test_shipped_tokenizer_data() -> None:
    data = resources.files("vectorgate_server.embeddings") / "data" / MODEL_NAME
    tokenizer = (data / "tokenizer.json").read_bytes()
    assert hashlib.sha256(tokenizer).hexdigest() == local_module.TOKENIZER_SHA256
    assert "Apache License" in (data / "LICENSE").read_text(encoding="utf-8")
    notice = (data / "NOTICE").read_text(encoding="utf-8")
    assert "sentence-transformers/all-MiniLM-L6-v2" in notice
    assert "Apache" in notice
    st_config = json.loads((data / "sentence_bert_config.json").read_text(encoding="utf-8"))
    assert st_config["max_seq_length"] == local_module.MAX_SEQ_LENGTH
    pooling = json.loads((data / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    assert pooling["pooling_mode_mean_tokens"] is True
    assert pooling["word_embedding_dimension"] == local_module.DIMENSION


def test_constructor_validation() -> None:
    with pytest.raises(ValueError):
        LocalOnnxEmbedder(max_batch=0)
    with pytest.raises(ValueError):
        LocalOnnxEmbedder(intra_op_num_threads=0)
    with pytest.raises(ValueError):
        LocalOnnxEmbedder(max_seq_length=1000)


# -- registry -------------------------------------------------------------------


class FakeEmbedder:
    def __init__(self, name: str, dimension: int = 4) -> None:
        self.name = name
        self.dimension = dimension
        self.max_batch = 8
        self.warmed = False
        self.closed = False

    async def embed(self, texts: Sequence[str]) -> Vectors:
        return self.embed_sync(texts)

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        return np.ones((len(texts), self.dimension), dtype=np.float32)

    def warm_up(self) -> None:
        self.warmed = True

    def close(self) -> None:
        self.closed = True


def test_registry_resolves_aliases_and_default() -> None:
    registry = EmbeddingRegistry()
    first, second = FakeEmbedder("first"), FakeEmbedder("second")
    registry.register(first, aliases=("one", "uno"))
    registry.register(second, aliases=["two"])
    assert registry.default_name == "first"  # first registered
    assert registry.names() == ("first", "second")
    assert registry.get("one") is first
    assert registry.get("uno") is first
    assert registry.get("two") is second
    assert registry.get() is first
    assert registry.get("") is first
    assert registry.canonical_name("uno") == "first"
    assert registry.aliases("two") == ("second", "two")
    assert "uno" in registry
    assert "tres" not in registry
    third = FakeEmbedder("third")
    registry.register(third, default=True)
    assert registry.default_name == "third"
    assert registry.get(None) is third


def test_registry_unknown_name_lists_known_models() -> None:
    registry = EmbeddingRegistry()
    registry.register(FakeEmbedder("b-model"), aliases=("bee",))
    registry.register(FakeEmbedder("a-model"))
    with pytest.raises(UnknownModelError) as info:
        registry.get("nope")
    err = info.value
    assert isinstance(err, LookupError)
    assert err.name == "nope"
    assert err.known == ("a-model", "b-model")
    assert "nope" in str(err)
    assert "a-model" in str(err)
    assert "b-model" in str(err)


def test_empty_registry() -> None:
    registry = EmbeddingRegistry()
    with pytest.raises(UnknownModelError):
        registry.get()
    with pytest.raises(UnknownModelError):
        _ = registry.default_name
    assert registry.names() == ()


def test_registry_rejects_duplicate_names() -> None:
    registry = EmbeddingRegistry()
    registry.register(FakeEmbedder("m"), aliases=("alias",))
    with pytest.raises(ValueError, match="already registered"):
        registry.register(FakeEmbedder("m"))
    with pytest.raises(ValueError, match="already registered"):
        registry.register(FakeEmbedder("other"), aliases=("alias",))
    with pytest.raises(ValueError, match="non-empty"):
        registry.register(FakeEmbedder("other"), aliases=("",))
    assert registry.names() == ("m",)


def test_registry_warm_up_calls_embedders() -> None:
    registry = EmbeddingRegistry()
    a, b = FakeEmbedder("a"), FakeEmbedder("b")
    registry.register(a)
    registry.register(b)
    registry.warm_up(["a"])
    assert a.warmed and not b.warmed
    registry.warm_up()
    assert b.warmed
    registry.close()
    assert a.closed and b.closed


def test_default_registry_is_lazy_and_knows_all_aliases() -> None:
    registry = default_registry()
    local = registry.get()
    assert isinstance(local, LocalOnnxEmbedder)
    try:
        assert registry.default_name == MODEL_NAME == "all-MiniLM-L6-v2"
        assert not local.is_loaded
        for alias in (
            "all-MiniLM-L6-v2",
            "sentence-transformers/all-MiniLM-L6-v2",
            "local/all-MiniLM-L6-v2",
            "all-minilm-l6-v2",
        ):
            assert registry.get(alias) is local
        assert set(MODEL_ALIASES) < set(registry.aliases(MODEL_NAME))
        with pytest.raises(UnknownModelError, match="all-MiniLM-L6-v2"):
            registry.get("text-embedding-3-small")
        registry.warm_up()
        assert local.is_loaded
    finally:
        registry.close()


def test_local_embedder_satisfies_protocol() -> None:
    def accepts(e: Embedder) -> int:
        return e.dimension

    e = LocalOnnxEmbedder()
    try:
        assert accepts(e) == 384
        assert accepts(FakeEmbedder("f")) == 4
    finally:
        e.close()
