"""Searching a Milvus collection that vectorgate did not create (LiteLLM's seed schema).

The collection is created with pymilvus directly, as in LiteLLM's Milvus guide:
``book_id`` INT64 primary key, ``word_count`` INT64, ``book_intro``
FLOAT_VECTOR(384) indexed with ``AUTOINDEX``/``L2``, plus a ``book_text``
VARCHAR and the dynamic field (a ``title`` key). Rows carry the local
embedding model's vectors of their text; the adapter searches it by vector
with the native params ``annsField``, ``outputFields`` and
``milvus_text_field``, on Milvus Lite and on the real Milvus server.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from pymilvus import DataType, MilvusClient

from tests.contract.backends.milvus import database_for
from tests.support.corpus import TOPICS
from vectorgate_server.adapters.milvus import MilvusAdapter
from vectorgate_server.domain import (
    Condition,
    Document,
    Metric,
    Op,
    SearchQuery,
    as_float32,
    normalise_score,
)
from vectorgate_server.embeddings import default_registry
from vectorgate_server.errors import InvalidArgument

pytestmark = pytest.mark.integration

COLLECTION = "book_collection"
DIM = 384
BOOKS = TOPICS[:6]
NATIVE = {
    "annsField": "book_intro",
    "outputFields": ["id", "book_text", "word_count", "title"],
    "milvus_text_field": "book_text",
}


@pytest.fixture(scope="module")
def embed() -> Any:
    embedder = default_registry().get()

    def run(texts: list[str]) -> npt.NDArray[np.float32]:
        return np.asarray(embedder.embed_sync(texts), dtype=np.float32)

    return run


@pytest.fixture(params=["milvus-lite", "milvus-server"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def location(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Where the collection lives: uri (and database) for pymilvus and the adapter."""
    if engine == "milvus-lite":
        return {"uri": str(tmp_path / "milvus.db")}
    info = request.getfixturevalue("milvus_server")
    return {"uri": info.uri, "db_name": database_for(info, request, str(tmp_path))}


@pytest.fixture
def books(location: dict[str, str], embed: Any) -> Iterator[npt.NDArray[np.float32]]:
    """The seed collection, created and filled with pymilvus; yields the stored vectors."""
    client = MilvusClient(**location)
    schema = client.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("book_id", DataType.INT64, is_primary=True, description="customized id")
    schema.add_field("word_count", DataType.INT64, description="word count")
    schema.add_field("book_intro", DataType.FLOAT_VECTOR, dim=DIM, description="book intro")
    schema.add_field("book_text", DataType.VARCHAR, max_length=2000)
    index_params = client.prepare_index_params()
    # As in the seed (the server defaults to AUTOINDEX; Milvus Lite wants it spelt out).
    index_params.add_index("book_intro", index_type="AUTOINDEX", metric_type="L2")
    client.create_collection(COLLECTION, schema=schema, index_params=index_params)
    vectors = embed([text for _, text, _, _ in BOOKS])
    client.insert(
        COLLECTION,
        [
            {
                "book_id": i + 1,
                "word_count": 100 * (i + 1),
                "book_intro": vectors[i].tolist(),
                "book_text": text,
                "title": topic,
            }
            for i, (topic, text, _, _) in enumerate(BOOKS)
        ],
    )
    client.flush(COLLECTION)
    client.close()
    yield vectors


@pytest.fixture
async def adapter(location: dict[str, str], books: Any) -> AsyncIterator[MilvusAdapter]:
    instance = MilvusAdapter("books", location["uri"], db_name=location.get("db_name"))
    await instance.start()
    try:
        yield instance
    finally:
        await instance.close()


async def test_search_by_vector_with_native_params(
    adapter: MilvusAdapter, books: npt.NDArray[np.float32], embed: Any
) -> None:
    for row, (topic, text, _, question) in enumerate(BOOKS):
        q = embed([question])[0]
        hits = await adapter.search(
            COLLECTION, SearchQuery(vector=q, top_k=3, native_params=NATIVE)
        )
        assert len(hits) == 3
        best = hits[0]
        assert best.id == str(row + 1), (question, [h.id for h in hits])
        assert best.text == text
        assert best.metadata == {"word_count": 100 * (row + 1), "title": topic}
        # Milvus returns the squared Euclidean distance; the score uses the distance.
        squared = float(np.sum((books[row].astype(np.float64) - q.astype(np.float64)) ** 2))
        assert math.isclose(best.raw_score, squared, rel_tol=1e-4, abs_tol=1e-4)
        assert math.isclose(
            best.score, normalise_score(Metric.L2, math.sqrt(squared)), rel_tol=1e-4
        )
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)


async def test_describe_count_get_and_filters(
    adapter: MilvusAdapter, books: npt.NDArray[np.float32], embed: Any
) -> None:
    info = await adapter.describe_collection(COLLECTION)
    assert (info.dimension, info.metric, info.document_count) == (DIM, Metric.L2, len(BOOKS))
    assert info.index.type  # AUTOINDEX (or what the engine resolved it to)
    assert info.text_field == ""  # none configured and no field named "text"
    assert COLLECTION in await adapter.list_collections()

    assert await adapter.count(COLLECTION, Condition("word_count", Op.GT, 300)) == 3
    assert await adapter.count(COLLECTION, Condition("id", Op.IN, ("2", "x", "5"))) == 2
    assert await adapter.count(COLLECTION, Condition("title", Op.EQ, "volcano")) == 1

    [doc] = await adapter.get(COLLECTION, ["3", "nope", "99"], True)
    assert doc.id == "3"
    assert doc.metadata == {"word_count": 300, "title": BOOKS[2][0], "book_text": BOOKS[2][1]}
    assert doc.vector is not None
    np.testing.assert_allclose(doc.vector, books[2], rtol=1e-6)

    # The portable filter and a native Milvus expression, ANDed.
    q = embed([BOOKS[0][3]])[0]
    hits = await adapter.search(
        COLLECTION,
        SearchQuery(
            vector=q,
            top_k=10,
            filter=Condition("word_count", Op.LTE, 500),
            native_params={**NATIVE, "filter": "book_id >= 2"},
        ),
    )
    assert sorted(h.id for h in hits) == ["2", "3", "4", "5"]
    explained = await adapter.explain(
        COLLECTION,
        SearchQuery(
            vector=q,
            top_k=10,
            filter=Condition("word_count", Op.LTE, 500),
            native_params={**NATIVE, "filter": "book_id >= 2"},
        ),
    )
    assert explained.native_filter == "(book_id >= 2) and (word_count <= 500)"
    assert explained.native_params["anns_field"] == "book_intro"


async def test_configured_text_field_and_writes(
    location: dict[str, str], books: npt.NDArray[np.float32], embed: Any
) -> None:
    adapter = MilvusAdapter(
        "books",
        location["uri"],
        db_name=location.get("db_name"),
        text_field="book_text",
        native_defaults={"annsField": "book_intro", "limit": 10},
    )
    await adapter.start()
    try:
        info = await adapter.describe_collection(COLLECTION)
        assert info.text_field == "book_text"
        q = embed([BOOKS[1][3]])[0]
        [hit] = await adapter.search(COLLECTION, SearchQuery(vector=q, top_k=1))
        assert (hit.id, hit.text) == ("2", BOOKS[1][1])
        assert hit.metadata == {"word_count": 200, "title": BOOKS[1][0]}

        vector = as_float32(embed(["a brand new book about knitting"])[0])
        await adapter.upsert(
            COLLECTION,
            [Document(id="77", text="knitting", vector=vector, metadata={"word_count": 7})],
        )
        assert await adapter.count(COLLECTION) == len(BOOKS) + 1
        [doc] = await adapter.get(COLLECTION, ["77"], False)
        assert (doc.text, doc.metadata) == ("knitting", {"word_count": 7})
        with pytest.raises(InvalidArgument) as error:
            await adapter.upsert(COLLECTION, [Document(id="abc", vector=vector)])
        assert error.value.field == "documents[0].id"
        await adapter.delete(COLLECTION, ["77"])
        assert await adapter.count(COLLECTION) == len(BOOKS)
    finally:
        await adapter.close()
