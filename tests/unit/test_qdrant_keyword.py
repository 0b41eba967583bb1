"""Keyword (BM25 sparse vector, IDF) search of the Qdrant adapter, on qdrant-client's local mode.

The contract suite checks the capability's behaviour on every backend; these
tests pin what is specific to Qdrant: the collection layout (unnamed dense
vector + the ``vg_text_bm25`` sparse vector with the IDF modifier, recorded in
the stored spec), the scores against an independent BM25 computation,
collections without the sparse vector (older, created with the option off,
foreign), the store option, and the wire format over gRPC.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qdrant_client import AsyncQdrantClient
from qdrant_client import models as qm
from qdrant_client.conversions.conversion import GrpcToRest, RestToGrpc

from vectorgate_server.adapters.base import keyword_search, supports_keyword_search
from vectorgate_server.adapters.configs import QdrantConfig
from vectorgate_server.adapters.qdrant import (
    SPARSE_VECTOR_NAME,
    SPEC_METADATA_KEY,
    QdrantAdapter,
)
from vectorgate_server.adapters.qdrant.adapter import _points
from vectorgate_server.adapters.qdrant.layout import _Keyword, _Layout
from vectorgate_server.adapters.sparse_text import Bm25Encoder, tokenize
from vectorgate_server.domain import (
    CollectionSpec,
    Condition,
    Document,
    IndexSpec,
    KeywordQuery,
    Metric,
    Op,
    OutputFields,
    SearchQuery,
)
from vectorgate_server.errors import InvalidArgument, NotFound, Unsupported
from vectorgate_server.filters.qdrant import point_id

DIM = 4

TEXTS = [
    ("p1", "ZX-4471-Q stainless garden hose reel with wall bracket", "garden"),
    ("p2", "Spare seals for the ZX-4471-Q reel", "spares"),
    ("p3", "Garden hose, garden hose connector and garden tap", "garden"),
    ("d1", "Part number XZ-4417-O", "parts"),
    ("d2", "Lawn mowers should be serviced before spring", "garden"),
    ("d3", "Boil the pasta for ten minutes in salted water", "kitchen"),
]


def _vector(i: int) -> np.ndarray:
    return np.random.default_rng(i).standard_normal(DIM).astype(np.float32)


def _docs(texts: list[tuple[str, str, str]] = TEXTS) -> list[Document]:
    return [
        Document(id=i, text=t, vector=_vector(n), metadata={"k": k})
        for n, (i, t, k) in enumerate(texts)
    ]


@pytest.fixture
async def adapter(tmp_path: Path) -> AsyncIterator[QdrantAdapter]:
    a = QdrantAdapter("q", path=str(tmp_path / "qdrant"))
    await a.start()
    try:
        yield a
    finally:
        await a.close()


def _expected_bm25(texts: list[str], query: str, encoder: Bm25Encoder) -> list[float]:
    """BM25 of each text for the query, computed from the tokens (Qdrant's IDF formula)."""
    docs = [tokenize(t) for t in texts]
    n = len(docs)
    scores = []
    for tokens in docs:
        score = 0.0
        for term in set(tokenize(query)):
            tf = tokens.count(term)
            if tf == 0:
                continue
            df = sum(term in other for other in docs)
            idf = math.log((n - df + 0.5) / (df + 0.5) + 1)
            norm = encoder.k1 * (1 - encoder.b + encoder.b * len(tokens) / encoder.avg_len)
            score += idf * tf * (encoder.k1 + 1) / (tf + norm)
        scores.append(score)
    return scores


# --------------------------------------------------------------------------- layout


async def test_created_collection_has_an_idf_sparse_vector_next_to_the_unnamed_dense_one(
    adapter: QdrantAdapter,
) -> None:
    assert adapter.capabilities.keyword_search and supports_keyword_search(adapter)
    await adapter.create_collection(CollectionSpec("c", DIM, text_field="body"))
    await adapter.upsert("c", _docs())
    assert adapter._client is not None
    described = await adapter._call(adapter._client.get_collection("c"), "c")
    params = described.config.params
    assert isinstance(params.vectors, qm.VectorParams) and params.vectors.size == DIM
    assert params.sparse_vectors is not None
    assert params.sparse_vectors[SPARSE_VECTOR_NAME].modifier == qm.Modifier.IDF
    stored = (described.config.metadata or {})[SPEC_METADATA_KEY]
    assert stored["keyword"] == {"sparse_vector": SPARSE_VECTOR_NAME, **Bm25Encoder().spec()}

    records = await adapter._call(
        adapter._client.retrieve("c", ids=[point_id("p2")], with_vectors=True), "c"
    )
    vectors = records[0].vector
    assert isinstance(vectors, dict)
    expected = Bm25Encoder().document(TEXTS[1][1])
    assert expected is not None
    sparse = vectors[SPARSE_VECTOR_NAME]
    assert isinstance(sparse, qm.SparseVector)
    assert list(sparse.indices) == expected.indices
    np.testing.assert_allclose(sparse.values, expected.values, rtol=1e-6)
    # The dense vector reads back as before, through get and search.
    (doc,) = await adapter.get("c", ["p2"], include_vectors=True)
    assert doc.vector is not None
    np.testing.assert_allclose(doc.vector, _vector(1), rtol=1e-5, atol=1e-6)
    hits = await adapter.search(
        "c", SearchQuery(vector=_vector(1), top_k=1, output=OutputFields(vector=True))
    )
    assert hits[0].id == "p2" and hits[0].vector is not None
    np.testing.assert_allclose(hits[0].vector, _vector(1), rtol=1e-5, atol=1e-6)
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)


# --------------------------------------------------------------------------- ranking


async def test_scores_are_bm25_with_the_collections_idf(adapter: QdrantAdapter) -> None:
    await adapter.create_collection(CollectionSpec("c", DIM))
    await adapter.upsert("c", _docs())
    texts = [t for _, t, _ in TEXTS]
    for query in ("ZX-4471-Q", "garden hose", "garden hose spare seals", "pasta water spring"):
        hits = await adapter.keyword_search("c", KeywordQuery(query, 10))
        expected = dict(
            zip([i for i, _, _ in TEXTS], _expected_bm25(texts, query, Bm25Encoder()), strict=True)
        )
        matching = {i: s for i, s in expected.items() if s > 0}
        assert {h.id for h in hits} == set(matching), query
        for hit in hits:
            assert hit.score == pytest.approx(matching[hit.id], rel=1e-5), (query, hit.id)
            assert hit.raw_score == hit.score
            assert (hit.store, hit.collection) == ("q", "c")
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # The repeated term ranks the document that repeats it first (tf saturation, not a set).
    hits = await adapter.keyword_search("c", KeywordQuery("garden", 3))
    assert hits[0].id == "p3"


async def test_filter_top_k_and_output_fields(adapter: QdrantAdapter) -> None:
    await adapter.create_collection(CollectionSpec("c", DIM))
    await adapter.upsert("c", _docs())
    # The filter is applied before ranking: the best garden match is found even with top_k 1.
    hits = await adapter.keyword_search(
        "c", KeywordQuery("reel", 1, Condition("k", Op.EQ, "spares"))
    )
    assert [h.id for h in hits] == ["p2"]
    hits = await adapter.keyword_search("c", KeywordQuery("garden hose", 2))
    assert len(hits) == 2
    hits = await adapter.keyword_search(
        "c",
        KeywordQuery(
            "ZX-4471-Q",
            5,
            output=OutputFields(text=False, metadata=True, metadata_keys=frozenset(), vector=True),
        ),
    )
    assert {h.id for h in hits} == {"p1", "p2"}
    for hit in hits:
        assert hit.text == "" and hit.metadata == {} and hit.vector is not None
        index = next(n for n, (i, _, _) in enumerate(TEXTS) if i == hit.id)
        np.testing.assert_allclose(hit.vector, _vector(index), rtol=1e-5, atol=1e-6)
    (hit,) = await adapter.keyword_search("c", KeywordQuery("pasta", 5))
    assert (hit.id, hit.text, hit.metadata, hit.vector) == (
        "d3",
        TEXTS[5][1],
        {"k": "kitchen"},
        None,
    )


async def test_rewrites_and_deletes_update_the_index(adapter: QdrantAdapter) -> None:
    await adapter.create_collection(CollectionSpec("c", DIM))
    await adapter.upsert("c", _docs())
    await adapter.upsert(
        "c", [Document(id="d3", text="Risotto needs warm stock", vector=_vector(9))]
    )
    assert await adapter.keyword_search("c", KeywordQuery("pasta", 5)) == []
    assert [h.id for h in await adapter.keyword_search("c", KeywordQuery("risotto", 5))] == ["d3"]
    await adapter.delete("c", ids=["p2"])
    assert [h.id for h in await adapter.keyword_search("c", KeywordQuery("ZX-4471-Q", 5))] == ["p1"]
    # A document without text has no sparse vector: stored, searchable by vector only.
    await adapter.upsert("c", [Document(id="blank", text="", vector=_vector(10))])
    assert await adapter.count("c") == len(TEXTS)
    hits = await adapter.search("c", SearchQuery(vector=_vector(10), top_k=1))
    assert hits[0].id == "blank"


async def test_queries_without_terms_and_bad_arguments(adapter: QdrantAdapter) -> None:
    await adapter.create_collection(CollectionSpec("c", DIM))
    await adapter.upsert("c", _docs())
    assert await adapter.keyword_search("c", KeywordQuery("the of and", 5)) == []
    assert await adapter.keyword_search("c", KeywordQuery("  ?!  ", 5)) == []
    assert await adapter.keyword_search("c", KeywordQuery("unheard-of-word", 5)) == []
    # top_k >= 1 is the application's check, made once before any adapter is called
    # (tests/unit/test_multisearch.py); Qdrant has no window of its own to check.
    with pytest.raises(NotFound, match="'missing'"):
        await adapter.keyword_search("missing", KeywordQuery("reel", 3))


async def test_keyword_search_survives_a_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    a = QdrantAdapter("q", path=path)
    await a.start()
    await a.create_collection(CollectionSpec("c", DIM, index=IndexSpec("FLAT")))
    await a.upsert("c", _docs())
    before = [
        (h.id, h.score) for h in await a.keyword_search("c", KeywordQuery("garden hose reel", 5))
    ]
    await a.close()
    b = QdrantAdapter("q", path=path)
    await b.start()
    try:
        after = [
            (h.id, h.score)
            for h in await b.keyword_search("c", KeywordQuery("garden hose reel", 5))
        ]
        assert [i for i, _ in after] == [i for i, _ in before]
        assert [s for _, s in after] == pytest.approx([s for _, s in before], rel=1e-6)
    finally:
        await b.close()


# --------------------------------------------------------------------------- without it


async def test_store_option_off(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    off = QdrantAdapter.from_config(QdrantConfig(name="off", path=path, keyword_search=False))
    on = QdrantAdapter.from_config(QdrantConfig(name="on", path=path))
    assert QdrantConfig(name="d", path=path).keyword_search is True
    await off.start()
    await on.start()
    try:
        assert not off.capabilities.keyword_search and not supports_keyword_search(off)
        assert on.capabilities.keyword_search and QdrantAdapter.capabilities.keyword_search
        await off.create_collection(CollectionSpec("plain", DIM))
        await off.upsert("plain", _docs())
        assert off._client is not None
        described = await off._call(off._client.get_collection("plain"), "plain")
        assert not described.config.params.sparse_vectors
        assert "keyword" not in (described.config.metadata or {})[SPEC_METADATA_KEY]
        with pytest.raises(Unsupported) as info:
            await keyword_search(off, "plain", "reel", 3)
        assert info.value.operation == "keyword search"
        with pytest.raises(Unsupported, match="store 'off' is configured with keyword_search"):
            await off.keyword_search("plain", KeywordQuery("reel", 3))
        # The store with the option on sees the collection, and says how to get keyword search.
        with pytest.raises(Unsupported) as info:
            await on.keyword_search("plain", KeywordQuery("reel", 3))
        message = str(info.value)
        assert "collection 'plain' in store 'on'" in message
        assert "created without keyword search" in message
        assert "keyword_search: true" in message and "recreate" in message
        hits = await on.search("plain", SearchQuery(vector=_vector(0), top_k=1))
        assert hits[0].id == "p1"

        # A collection with the sparse vector keeps it current whatever the option says.
        await on.create_collection(CollectionSpec("indexed", DIM))
        await off.upsert("indexed", _docs())
        assert {h.id for h in await on.keyword_search("indexed", KeywordQuery("ZX-4471-Q", 5))} == {
            "p1",
            "p2",
        }
    finally:
        await off.close()
        await on.close()


async def _raw_collection(path: str, name: str, **kwargs: Any) -> None:
    raw = AsyncQdrantClient(path=path)
    try:
        await raw.create_collection(name, **kwargs)
        await raw.upsert(
            name,
            [
                qm.PointStruct(
                    id=1, vector=[1.0, 0.0, 0.0, 0.0], payload={"id": "a", "text": "garden hose"}
                )
            ],
        )
    finally:
        await raw.close()


@pytest.mark.parametrize(
    ("metadata", "missing"),
    [
        # A collection vectorgate created before keyword search existed.
        (
            {
                SPEC_METADATA_KEY: {
                    "format": 1,
                    "dimension": DIM,
                    "metric": "COSINE",
                    "text_field": "text",
                    "embedding_model": "none",
                    "index": {"type": "HNSW", "params": {}},
                }
            },
            "it was created without keyword search",
        ),
        (None, "it was not created by vectorgate"),
        # The spec names a sparse vector the collection does not have.
        (
            {
                SPEC_METADATA_KEY: {
                    "dimension": DIM,
                    "keyword": {"sparse_vector": "other", **Bm25Encoder().spec()},
                }
            },
            "its sparse vector 'other' is missing",
        ),
        # Written by a newer encoder this server cannot reproduce.
        (
            {
                SPEC_METADATA_KEY: {
                    "dimension": DIM,
                    "keyword": {
                        "sparse_vector": SPARSE_VECTOR_NAME,
                        **Bm25Encoder().spec(),
                        "version": 99,
                    },
                }
            },
            "version 99",
        ),
    ],
)
async def test_collections_without_a_usable_sparse_vector_are_unsupported(
    tmp_path: Path, metadata: dict[str, Any] | None, missing: str
) -> None:
    path = str(tmp_path / "store")
    await _raw_collection(
        path,
        "old",
        vectors_config=qm.VectorParams(size=DIM, distance=qm.Distance.COSINE),
        # A foreign sparse vector, even with IDF, is not vectorgate's text vector.
        sparse_vectors_config={SPARSE_VECTOR_NAME: qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
        metadata=metadata,
    )
    a = QdrantAdapter("q", path=path)
    await a.start()
    try:
        with pytest.raises(Unsupported) as info:
            await a.keyword_search("old", KeywordQuery("garden", 3))
        assert missing in str(info.value) and "'old'" in str(info.value)
        # Everything else works as before; the upsert writes no sparse vector.
        await a.upsert("old", [Document(id="b", text="garden tap", vector=_vector(1))])
        assert a._client is not None
        (record,) = await a._call(
            a._client.retrieve("old", ids=[point_id("b")], with_vectors=True), "old"
        )
        assert not isinstance(record.vector, dict) or SPARSE_VECTOR_NAME not in record.vector
        hits = await a.search(
            "old", SearchQuery(vector=np.array([1, 0, 0, 0], np.float32), top_k=1)
        )
        assert hits[0].id == "a" and hits[0].text == "garden hose"
    finally:
        await a.close()


# --------------------------------------------------------------------------- gRPC wire format
# No Qdrant server runs here; these pin that what keyword search sends survives
# qdrant-client's REST -> gRPC conversion (the default transport, prefer_grpc=True).


def test_points_with_the_sparse_vector_survive_grpc_conversion() -> None:
    layout = _Layout(
        dimension=3,
        metric=Metric.L2,
        text_field="text",
        vector_name=None,
        index=IndexSpec(),
        fields={},
        keyword=_Keyword(vector_name=SPARSE_VECTOR_NAME, encoder=Bm25Encoder()),
    )
    doc = Document(id="x", text="ZX-4471-Q reel reel", vector=np.array([1, 2, 3], np.float32))
    (point,), _ = _points([doc], layout, "c")
    grpc_point = RestToGrpc.convert_point_struct(point)
    named = grpc_point.vectors.vectors.vectors
    assert set(named) == {"", SPARSE_VECTOR_NAME}
    back = GrpcToRest.convert_point_struct(grpc_point)
    assert isinstance(back.vector, dict)
    assert back.vector[""] == [1.0, 2.0, 3.0]
    sparse = back.vector[SPARSE_VECTOR_NAME]
    expected = Bm25Encoder().document(doc.text)
    assert isinstance(sparse, qm.SparseVector) and expected is not None
    assert list(sparse.indices) == expected.indices
    np.testing.assert_allclose(sparse.values, expected.values, rtol=1e-6)

    config = {SPARSE_VECTOR_NAME: qm.SparseVectorParams(modifier=qm.Modifier.IDF)}
    converted = GrpcToRest.convert_sparse_vector_config(
        RestToGrpc.convert_sparse_vector_config(config)
    )
    assert converted[SPARSE_VECTOR_NAME].modifier == qm.Modifier.IDF

    # query_points wraps a sparse vector in a NearestQuery before converting it.
    query = qm.NearestQuery(nearest=qm.SparseVector(indices=[3, 7], values=[1.0, 1.0]))
    assert GrpcToRest.convert_query(RestToGrpc.convert_query(query)) == query


async def test_large_batches_are_encoded_off_the_event_loop(
    adapter: QdrantAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    to_thread = asyncio.to_thread

    async def recording(func: Any, /, *args: Any, **kwargs: Any) -> Any:
        def run() -> Any:
            threads.append(threading.current_thread().name)
            return func(*args, **kwargs)

        return await to_thread(run)

    monkeypatch.setattr(asyncio, "to_thread", recording)
    await adapter.create_collection(CollectionSpec("c", DIM))
    docs = [Document(id=f"d{i}", text=f"item number {i}", vector=_vector(i)) for i in range(40)]
    await adapter.upsert("c", docs[:3])
    assert threads == []  # small batches stay inline
    await adapter.upsert("c", docs)
    assert threads and threading.main_thread().name not in threads
    assert [h.id for h in await adapter.keyword_search("c", KeywordQuery("39", 3))] == ["d39"]
    bad = [
        *docs[:34],
        Document(id="y", text="t", vector=_vector(0), metadata={"k": "s"}),
        Document(id="x", text="t", vector=_vector(0), metadata={"k": 1}),  # another type
    ]
    with pytest.raises(InvalidArgument) as info:
        await adapter.upsert("c", bad)
    assert info.value.field == "documents[35].metadata.k"
