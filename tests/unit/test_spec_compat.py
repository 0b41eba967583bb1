"""Collections created with the spec formats written before the shared codec still open.

Each test stores a spec exactly as the adapter's old writer did (kept here,
only in the test), in the backend's own place (LanceDB schema metadata, Qdrant
collection metadata, Qdrant Edge's ``vectorgate.json``), then opens the
collection with a fresh adapter: described, written and filtered as before.
The pgvector and Pinecone cases live with their servers in
``tests/integration/test_pgvector_adapter.py`` and ``test_pinecone_adapter.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa
from qdrant_client import AsyncQdrantClient
from qdrant_client import models as qm

from vectorgate_server.adapters.lancedb import SPEC_KEY, LanceDBAdapter
from vectorgate_server.adapters.qdrant import SPEC_METADATA_KEY, QdrantAdapter
from vectorgate_server.adapters.qdrant_edge import SPEC_FILE, QdrantEdgeAdapter
from vectorgate_server.adapters.sparse_text import Bm25Encoder
from vectorgate_server.domain import (
    CollectionSpec,
    Condition,
    Document,
    IndexSpec,
    KeywordQuery,
    Metric,
    Op,
    SearchQuery,
)

CREATED = "2026-11-02T08:30:00+00:00"


def _docs(dim: int) -> list[Document]:
    rng = np.random.default_rng(3)
    return [
        Document(
            id=f"d{i}",
            text=f"old format document {i}",
            vector=rng.normal(size=dim).astype(np.float32),
            metadata={"year": 2000 + i, "tag": "even" if i % 2 == 0 else "odd"},
        )
        for i in range(6)
    ]


async def _exercise(adapter: LanceDBAdapter | QdrantAdapter | QdrantEdgeAdapter, dim: int) -> None:
    docs = _docs(dim)
    await adapter.upsert("legacy", docs)
    assert await adapter.count("legacy", Condition("tag", Op.EQ, "even")) == 3
    hits = await adapter.search("legacy", SearchQuery(vector=docs[4].vector, top_k=1))  # type: ignore[arg-type]
    assert hits[0].id == "d4" and hits[0].metadata == {"year": 2004, "tag": "even"}


async def test_lancedb_table_with_the_first_spec_format(tmp_path: Path) -> None:
    old = json.dumps(  # the old writer: json.dumps(..., sort_keys=True) with "version": 1
        {
            "version": 1,
            "dimension": 4,
            "metric": "l2",
            "text_field": "body",
            "embedding_model": "minilm",
            "index": {"type": "IVF_FLAT", "params": {"num_partitions": 2}},
            "create_time": CREATED,
        },
        sort_keys=True,
    )
    db = await lancedb.connect_async(str(tmp_path / "db"))
    schema = pa.schema(
        [
            pa.field("id", pa.utf8(), nullable=False),
            pa.field("text", pa.utf8()),
            pa.field("vector", pa.list_(pa.float32(), 4)),
        ],
        metadata={SPEC_KEY: old},
    )
    table = await db.create_table("legacy", schema=schema)
    table.close()
    adapter = LanceDBAdapter("lance", str(tmp_path / "db"))
    await adapter.start()
    try:
        info = await adapter.describe_collection("legacy")
        assert (info.dimension, info.metric, info.text_field) == (4, Metric.L2, "body")
        assert info.embedding_model == "minilm"
        assert info.index == IndexSpec("IVF_FLAT", {"num_partitions": 2})
        assert info.create_time is not None and info.create_time.isoformat() == CREATED
        await _exercise(adapter, 4)
    finally:
        await adapter.close()


async def test_qdrant_collection_with_the_first_spec_format(tmp_path: Path) -> None:
    encoder = Bm25Encoder()
    old = {  # the old writer: "format": 1, keyword entry
        "format": 1,
        "dimension": 4,
        "metric": "cosine",
        "text_field": "body",
        "embedding_model": "minilm",
        "index": {"type": "HNSW", "params": {"m": 8}},
        "create_time": CREATED,
        "keyword": {"sparse_vector": "vg_text_bm25", **encoder.spec()},
    }
    client = AsyncQdrantClient(path=str(tmp_path / "q"))
    await client.create_collection(
        "legacy",
        vectors_config=qm.VectorParams(size=4, distance=qm.Distance.COSINE),
        sparse_vectors_config={"vg_text_bm25": qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
        hnsw_config=qm.HnswConfigDiff(m=8),
        metadata={SPEC_METADATA_KEY: old},
    )
    await client.close()
    adapter = QdrantAdapter("q", path=str(tmp_path / "q"))
    await adapter.start()
    try:
        info = await adapter.describe_collection("legacy")
        assert (info.dimension, info.metric, info.text_field) == (4, Metric.COSINE, "body")
        assert info.embedding_model == "minilm"
        assert info.index == IndexSpec("HNSW", {"m": 8})
        assert info.create_time is not None and info.create_time.isoformat() == CREATED
        await _exercise(adapter, 4)
        hits = await adapter.keyword_search("legacy", KeywordQuery("document", 3))
        assert len(hits) == 3  # the stored keyword entry is still understood
    finally:
        await adapter.close()


async def test_qdrant_edge_collection_with_the_first_spec_format(tmp_path: Path) -> None:
    path = tmp_path / "edge"
    adapter = QdrantEdgeAdapter("e", path=str(path))
    await adapter.start()
    await adapter.create_collection(CollectionSpec("legacy", 4, Metric.L2, "body", "minilm"))
    await adapter.close()
    current = json.loads((path / "legacy" / SPEC_FILE).read_text(encoding="utf-8"))
    old = {  # the old writer: "format": 1 and an empty "fields" entry
        "format": 1,
        "dimension": 4,
        "metric": "l2",
        "text_field": "body",
        "embedding_model": "minilm",
        "index": {"type": "HNSW", "params": {}},
        "create_time": CREATED,
        "fields": {},
        "keyword": current["keyword"],
    }
    (path / "legacy" / SPEC_FILE).write_text(json.dumps(old, sort_keys=True), encoding="utf-8")
    fresh = QdrantEdgeAdapter("e", path=str(path))
    await fresh.start()
    try:
        info = await fresh.describe_collection("legacy")
        assert (info.dimension, info.metric, info.text_field) == (4, Metric.L2, "body")
        assert info.create_time is not None and info.create_time.isoformat() == CREATED
        await _exercise(fresh, 4)
        hits = await fresh.keyword_search("legacy", KeywordQuery("document", 2))
        assert len(hits) == 2
    finally:
        await fresh.close()
    # The spec is rewritten in the current format when a key type is recorded.
    rewritten = json.loads((path / "legacy" / SPEC_FILE).read_text(encoding="utf-8"))
    assert rewritten["version"] == 1 and "format" not in rewritten
    assert rewritten["fields"] == {"tag": "string", "year": "number"}
    assert rewritten["create_time"] == CREATED


async def test_milvus_collection_with_the_first_spec_format(tmp_path: Path) -> None:
    from datetime import datetime

    from pymilvus import MilvusClient

    from vectorgate_server.adapters.configs import MilvusConfig
    from vectorgate_server.adapters.milvus import SPEC_PROPERTY, MilvusAdapter

    uri = str(tmp_path / "milvus.db")
    spec = CollectionSpec("legacy", 4, Metric.L2, text_field="body", embedding_model="minilm")
    first = MilvusAdapter.from_config(MilvusConfig(name="m", uri=uri))
    await first.start()
    await first.create_collection(spec)
    await first.close()
    old = json.dumps(  # the old writer: "format": 1, compact, key-sorted
        {
            "format": 1,
            "name": "legacy",
            "dimension": 4,
            "metric": "l2",
            "text_field": "body",
            "embedding_model": "minilm",
            "index": {"type": "FLAT", "params": {}},
            "create_time": CREATED,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    client = MilvusClient(uri=uri)
    try:
        [stored] = client.list_collections()
        client.alter_collection_properties(stored, properties={SPEC_PROPERTY: old})
        assert client.describe_collection(stored)["properties"][SPEC_PROPERTY] == old
    finally:
        client.close()
    adapter = MilvusAdapter.from_config(MilvusConfig(name="m", uri=uri))
    await adapter.start()
    try:
        info = await adapter.describe_collection("legacy")
        assert (info.dimension, info.metric, info.text_field) == (4, Metric.L2, "body")
        assert info.embedding_model == "minilm" and info.index.type == "FLAT"
        assert info.create_time == datetime.fromisoformat(CREATED)
        await _exercise(adapter, 4)  # type: ignore[arg-type]
    finally:
        await adapter.close()
