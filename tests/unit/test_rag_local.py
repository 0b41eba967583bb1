"""The local reranker (cosine + MMR) and context assembly into a token budget."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from vectorgate_server.domain import Hit
from vectorgate_server.embeddings import EmbeddingRegistry, LocalOnnxEmbedder
from vectorgate_server.rag_context import TokenCounter, assemble
from vectorgate_server.rerank import LocalReranker, mmr_order


@pytest.fixture(scope="module")
def registry() -> Iterator[EmbeddingRegistry]:
    local = LocalOnnxEmbedder()
    reg = EmbeddingRegistry()
    reg.register(local, default=True)
    yield reg
    reg.close()


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter()


async def test_local_reranker_orders_by_similarity(registry: EmbeddingRegistry) -> None:
    docs = [
        "The stock market closed higher on Friday.",
        "To reset your password, open the account settings page.",
        "Bananas are rich in potassium.",
    ]
    results = await LocalReranker(registry).rerank("how do I change my password", docs, 2)
    assert results[0].index == 1
    assert len(results) == 2 and results[0].score > results[1].score
    assert await LocalReranker(registry).rerank("q", [], 3) == []


async def test_mmr_diversifies(registry: EmbeddingRegistry) -> None:
    docs = [
        "Reset your password from the account settings page.",
        "You can reset the password in your account settings.",
        "Password resets are done on the settings page of your account.",
        "Contact support if you are locked out of your account.",
    ]
    query = "how do I reset my password"
    plain = await LocalReranker(registry).rerank(query, docs, 2)
    diverse = await LocalReranker(registry).rerank(query, docs, 2, mmr_lambda=0.3)
    assert plain[0].index == diverse[0].index  # the first pick is the most relevant
    assert plain[1].index in (0, 1, 2)  # near-duplicate paraphrase without MMR
    assert diverse[1].index == 3  # the different document with MMR
    full = await LocalReranker(registry).rerank(query, docs, 4, mmr_lambda=1.0)
    assert [r.index for r in full] == [
        r.index for r in await LocalReranker(registry).rerank(query, docs, 4)
    ]


def test_mmr_order_reference() -> None:
    relevance = np.array([0.9, 0.85, 0.5])
    similarity = np.array([[1.0, 0.99, 0.1], [0.99, 1.0, 0.1], [0.1, 0.1, 1.0]])
    assert [r.index for r in mmr_order(relevance, similarity, 3, 1.0)] == [0, 1, 2]
    picked = mmr_order(relevance, similarity, 2, 0.5)
    assert [r.index for r in picked] == [0, 2]
    assert picked[1].score == pytest.approx(0.5 * 0.5 - 0.5 * 0.1)


def hits(*texts: str) -> list[Hit]:
    return [
        Hit(id=f"d{i}", score=1.0, raw_score=1.0, text=t, store="s") for i, t in enumerate(texts)
    ]


def test_assemble_respects_the_budget_and_numbers_citations(counter: TokenCounter) -> None:
    texts = [
        "The ZX-4471-Q pump moves forty litres a minute.",
        "Install the pump upright on a level surface.",
        "Warranty claims need the serial number printed under the base plate of the unit, "
        "next to the regulatory labels and the date of manufacture.",
    ]
    first = counter.count("[1] " + texts[0])
    second = counter.count("[2] " + texts[1])
    budget = first + second + 20
    packed = assemble(hits(*texts), budget, counter)
    assert [p.citation for p in packed.passages] == [1, 2, 3]
    assert [p.truncated for p in packed.passages] == [False, False, True]
    assert packed.context.startswith("[1] The ZX-4471-Q pump")
    assert "\n\n[2] Install" in packed.context
    assert packed.token_count == counter.count(packed.context) <= budget
    assert sum(p.token_count for p in packed.passages) == packed.token_count
    cut = packed.passages[2].text
    assert texts[2].startswith(cut) and texts[2][len(cut)] == " "  # cut at a word boundary
    assert packed.omitted == 0


def test_assemble_stops_when_too_little_room_remains(counter: TokenCounter) -> None:
    texts = ["alpha beta gamma " * 5, "delta epsilon " * 30, "short"]
    first = counter.count("[1] " + texts[0].strip())
    packed = assemble(hits(*texts), first + 5, counter)
    assert [p.citation for p in packed.passages] == [1]
    assert packed.omitted == 2
    empty = assemble([Hit("x", 1.0, 1.0, text="")], 100, counter)
    assert empty.passages == () and empty.context == "" and empty.omitted == 1
    with pytest.raises(ValueError):
        assemble([], 0, counter)


def test_the_tokenizer_is_loaded_once_and_shared(registry: EmbeddingRegistry) -> None:
    """The RAG token counter, chunking and the embedder share one verified tokenizer file
    load; only the truncation differs (none for counting, max_seq_length for embedding)."""
    from vectorgate_server.embeddings.local import MAX_SEQ_LENGTH, load_tokenizer
    from vectorgate_server.ingest import local_token_counter

    untruncated = load_tokenizer(None)
    assert TokenCounter()._load() is untruncated
    assert TokenCounter()._load() is untruncated
    assert untruncated.truncation is None
    assert local_token_counter()("one two three") == 3
    local = registry.get("all-MiniLM-L6-v2")
    assert isinstance(local, LocalOnnxEmbedder)
    local.embed_sync(["load the model"])
    assert local._ensure_loaded().tokenizer is load_tokenizer(MAX_SEQ_LENGTH)
    assert load_tokenizer(MAX_SEQ_LENGTH).truncation["max_length"] == MAX_SEQ_LENGTH
    long_text = "word " * 1000
    assert TokenCounter().count(long_text) == 1000
