"""pgvector-specific behaviour beyond the shared contract, on a real PostgreSQL + pgvector.

The contract suite (``tests/contract/test_pgvector_contract.py``) covers the
adapter protocol; these tests cover the ANN index lifecycle (HNSW / IVFFlat
built in the background past ``index_min_rows``, used by the planner), the GIN
indexes behind the filter predicates, index and search parameters, names that
do not fit PostgreSQL identifiers, concurrent writers typing a key, keyword
queries full of tsquery syntax, errors, and the store configured the seeds' way.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql

from tests.support.columnar import check_native_columns
from tests.support.pgserver import PgvectorServer
from vectorgate_server.adapters.configs import PgvectorConfig
from vectorgate_server.adapters.factory import create_adapter
from vectorgate_server.adapters.pgvector import PgvectorAdapter, table_name
from vectorgate_server.config import load_config
from vectorgate_server.domain import (
    CollectionSpec,
    Condition,
    Document,
    IndexSpec,
    KeywordQuery,
    Metadata,
    Metric,
    Op,
    SearchQuery,
    as_float32,
)
from vectorgate_server.errors import InvalidArgument, Unavailable, Unsupported
from vectorgate_server.filters.pgvector import compile_filter

pytestmark = pytest.mark.integration

C = Condition


def vectors(n: int, dim: int, seed: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def docs(vs: np.ndarray[Any, np.dtype[np.float32]], prefix: str = "d") -> list[Document]:
    return [
        Document(id=f"{prefix}{i}", text=f"row {i}", vector=as_float32(v), metadata={"i": i})
        for i, v in enumerate(vs)
    ]


@pytest.fixture
def schema(pgvector_server: PgvectorServer, tmp_path: Path) -> Iterator[str]:
    name = "it_" + hashlib.sha1(str(tmp_path).encode()).hexdigest()[:12]
    yield name
    with psycopg.connect(pgvector_server.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
async def pg(pgvector_server: PgvectorServer, schema: str) -> AsyncIterator[PgvectorAdapter]:
    adapter = PgvectorAdapter("pg", pgvector_server.dsn(), schema=schema, index_min_rows=300)
    await adapter.start()
    yield adapter
    await adapter.close()


def plan(dsn: str, statement: sql.Composable, params: list[object], *settings: str) -> str:
    """The EXPLAIN output of a statement (the query vector as a text literal)."""
    from pgvector.psycopg import register_vector

    with psycopg.connect(dsn, autocommit=True) as conn:
        register_vector(conn)
        for setting in settings:
            conn.execute(setting)
        rows = conn.execute(sql.SQL("EXPLAIN {}").format(statement), params).fetchall()
    return "\n".join(str(r[0]) for r in rows)


def indexes(dsn: str, schema: str) -> dict[str, str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s", (schema,)
        ).fetchall()
    return {str(name): str(definition) for name, definition in rows}


@pytest.mark.parametrize(
    ("kind", "metric", "opclass"),
    [
        ("HNSW", Metric.COSINE, "vector_cosine_ops"),
        ("IVFFLAT", Metric.L2, "vector_l2_ops"),
        ("HNSW", Metric.IP, "vector_ip_ops"),
    ],
)
async def test_ann_index_is_built_past_the_threshold_and_used(
    pg: PgvectorAdapter,
    pgvector_server: PgvectorServer,
    schema: str,
    kind: str,
    metric: Metric,
    opclass: str,
) -> None:
    dim = 16
    await pg.create_collection(CollectionSpec("ann", dim, metric, index=IndexSpec(type=kind)))
    table = table_name("vg_", "ann")
    vs = vectors(400, dim, 1)
    await pg.upsert("ann", docs(vs[:200]))
    await pg.wait_for_index_builds()
    assert f"{table}_ann" not in indexes(pgvector_server.dsn(), schema)  # below the threshold
    await pg.upsert("ann", docs(vs[200:], prefix="e"))
    await pg.wait_for_index_builds()
    definition = indexes(pgvector_server.dsn(), schema)[f"{table}_ann"]
    # pg_indexes omits an operator class that is the access method's default (L2).
    spelled = f"(embedding {opclass})" if opclass != "vector_l2_ops" else "(embedding)"
    assert f"USING {kind.lower()} {spelled}" in definition, definition
    if kind == "IVFFLAT":
        assert "lists='1'" in definition.replace(" ", "")  # 400 rows / 1000, at least 1

    # The planner serves the search from the ANN index.
    query = SearchQuery(vector=vs[7], top_k=5)
    layout = await pg._layout("ann", refresh=True)  # what a search after the build sees
    assert layout.ann is not None and layout.ann.kind == kind
    statement, params, _ = pg._search_statement(layout, query)
    text = plan(pgvector_server.dsn(), statement, params, "SET enable_seqscan = off")
    assert f"Index Scan using {table}_ann" in text, text
    hits = await pg.search("ann", query)
    assert hits[0].id == "d7"
    explained = await pg.explain("ann", query)
    assert explained.native_params["ann_index"] == kind
    # Rows written after the build are indexed too, and found.
    extra = vectors(1, dim, 99)
    await pg.upsert("ann", [Document(id="late", vector=as_float32(extra[0]))])
    assert (await pg.search("ann", SearchQuery(vector=extra[0], top_k=1)))[0].id == "late"


async def test_exact_and_ef_search_params(pg: PgvectorAdapter) -> None:
    dim = 8
    await pg.create_collection(CollectionSpec("params", dim, index=IndexSpec("HNSW", {"m": 8})))
    vs = vectors(500, dim, 2)
    await pg.upsert("params", docs(vs))
    await pg.wait_for_index_builds()
    q = vectors(1, dim, 3)[0]
    exact = await pg.search(
        "params", SearchQuery(vector=q, top_k=10, native_params={"exact": True})
    )
    wide = await pg.search(
        "params", SearchQuery(vector=q, top_k=10, native_params={"hnsw_ef_search": 400})
    )
    assert [h.id for h in wide] == [h.id for h in exact]
    explained = await pg.explain(
        "params", SearchQuery(vector=q, top_k=3, native_params={"hnsw_ef_search": 64})
    )
    assert explained.native_params["hnsw.ef_search"] == "64"
    for native, field in (
        ({"hnsw_ef_search": 0}, "native_params.hnsw_ef_search"),
        ({"hnsw_ef_search": 1.5}, "native_params.hnsw_ef_search"),
        ({"ivfflat_probes": True}, "native_params.ivfflat_probes"),
        ({"exact": "yes"}, "native_params.exact"),
        ({"nprobe": 1}, "native_params.nprobe"),
    ):
        with pytest.raises(InvalidArgument) as info:
            await pg.search("params", SearchQuery(vector=q, top_k=3, native_params=native))
        assert info.value.field == field


async def test_flat_collections_never_get_an_ann_index(
    pg: PgvectorAdapter, pgvector_server: PgvectorServer, schema: str
) -> None:
    await pg.create_collection(CollectionSpec("flat", 4, index=IndexSpec(type="FLAT")))
    await pg.upsert("flat", docs(vectors(400, 4, 4)))
    await pg.wait_for_index_builds()
    names = set(indexes(pgvector_server.dsn(), schema))
    table = table_name("vg_", "flat")
    assert f"{table}_ann" not in names
    assert {f"{table}_meta", f"{table}_tsv", f"{table}_pkey"} <= names
    info = await pg.describe_collection("flat")
    assert info.index == IndexSpec(type="FLAT")


@pytest.mark.parametrize(
    ("index", "field"),
    [
        (IndexSpec(type="DISKANN"), "collection.index.type"),
        (IndexSpec(type="HNSW", params={"lists": 4}), "collection.index.params.lists"),
        (IndexSpec(type="HNSW", params={"m": 1}), "collection.index.params.m"),
        (IndexSpec(type="HNSW", params={"m": "16"}), "collection.index.params.m"),
        (
            IndexSpec(type="HNSW", params={"m": 40, "ef_construction": 50}),
            "collection.index.params.ef_construction",
        ),
        (IndexSpec(type="IVFFLAT", params={"lists": 0}), "collection.index.params.lists"),
        (IndexSpec(type="FLAT", params={"m": 4}), "collection.index.params.m"),
        (IndexSpec(type="", params={"m": 4}), "collection.index.type"),
    ],
)
async def test_invalid_index_specs(pg: PgvectorAdapter, index: IndexSpec, field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        await pg.create_collection(CollectionSpec("bad", 4, index=index))
    assert info.value.field == field
    assert "bad" not in await pg.list_collections()


async def test_dimensions_beyond_what_pgvector_indexes(pg: PgvectorAdapter) -> None:
    with pytest.raises(Unsupported) as info:
        await pg.create_collection(CollectionSpec("wide", 3000))
    assert "HNSW indexes over more than 2000 dimensions" in info.value.message
    info_flat = await pg.create_collection(
        CollectionSpec("wide", 3000, index=IndexSpec(type="FLAT"))
    )
    assert info_flat.dimension == 3000
    with pytest.raises(Unsupported) as too_wide:
        await pg.create_collection(CollectionSpec("wider", 20000, index=IndexSpec(type="FLAT")))
    assert too_wide.value.backend == "pgvector"
    assert await pg.list_collections() == ["wide"]


async def test_ivf_flat_spelling_and_store_defaults(
    pgvector_server: PgvectorServer, schema: str
) -> None:
    adapter = PgvectorAdapter(
        "pg",
        pgvector_server.dsn(),
        schema=schema,
        index_type="IVF_FLAT",
        index_params={"lists": 3},
    )
    await adapter.start()
    try:
        info = await adapter.create_collection(CollectionSpec("dflt", 4))
        assert info.index == IndexSpec(type="IVFFLAT", params={"lists": 3})
        named = await adapter.create_collection(
            CollectionSpec("named", 4, index=IndexSpec(type="ivf_flat"))
        )
        assert named.index == IndexSpec(type="IVFFLAT")
    finally:
        await adapter.close()


async def test_filter_predicates_are_served_by_the_gin_index(
    pg: PgvectorAdapter, pgvector_server: PgvectorServer
) -> None:
    await pg.create_collection(CollectionSpec("gin", 4, index=IndexSpec(type="FLAT")))
    table = table_name("vg_", "gin")
    colors = ["red", "green", "blue"]
    meta: list[Metadata] = [
        {"color": colors[i % 3], "tags": [f"t{i % 7}"], "n": i} for i in range(3000)
    ]
    batch = [
        Document(id=f"g{i}", vector=as_float32(v), metadata=m)
        for i, (v, m) in enumerate(zip(vectors(3000, 4, 5), meta, strict=True))
    ]
    await pg.upsert("gin", batch)
    ident = sql.Identifier(pg._schema, table)
    for f in (
        C("color", Op.EQ, "red"),
        C("color", Op.IN, ("red", "blue")),
        C("tags", Op.CONTAINS, "t3"),
    ):
        predicate = compile_filter(f)
        statement = sql.SQL("SELECT id FROM {} WHERE {}").format(ident, predicate.sql)
        text = plan(
            pgvector_server.dsn(), statement, list(predicate.params), "SET enable_seqscan = off"
        )
        assert f"Bitmap Index Scan on {table}_meta" in text, (f, text)
    assert await pg.count("gin", C("color", Op.EQ, "red")) == 1000
    assert await pg.count("gin", C("tags", Op.CONTAINS, "t3")) == len(
        [i for i in range(3000) if i % 7 == 3]
    )


async def test_long_mixed_case_and_dashed_names(pg: PgvectorAdapter) -> None:
    long_a = "A" * 60 + "-first"
    long_b = "A" * 60 + "-second"
    names = [long_a, long_b, "Mixed-Case_1", "mixed-case_1", "_x"]
    for i, name in enumerate(names):
        await pg.create_collection(CollectionSpec(name, 4))
        await pg.upsert(name, [Document(id="only", vector=as_float32(vectors(1, 4, i)[0]))])
    tables = {table_name("vg_", n) for n in names}
    assert len(tables) == len(names)
    assert all(len(t.encode()) <= 50 for t in tables)
    assert await pg.list_collections() == sorted(names)
    for name in names:
        assert await pg.count(name) == 1
    await pg.drop_collection(long_a)
    assert await pg.count(long_b) == 1


async def test_concurrent_writers_cannot_type_a_key_twice(
    pgvector_server: PgvectorServer, schema: str
) -> None:
    first = PgvectorAdapter("pg", pgvector_server.dsn(), schema=schema)
    second = PgvectorAdapter("pg", pgvector_server.dsn(), schema=schema)
    await first.start()
    await second.start()
    try:
        await first.create_collection(CollectionSpec("race", 4))
        await second.describe_collection("race")  # both cache the (empty) field types
        v = vectors(2, 4, 6)
        results = await asyncio.gather(
            first.upsert("race", [Document(id="a", vector=v[0], metadata={"k": 1})]),
            second.upsert("race", [Document(id="b", vector=v[1], metadata={"k": "one"})]),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, Exception)]
        assert len(errors) == 1, results
        assert isinstance(errors[0], InvalidArgument)
        assert errors[0].field == "documents[0].metadata.k"
        assert await first.count("race") == 1
    finally:
        await first.close()
        await second.close()


async def test_keyword_queries_are_text_never_tsquery_syntax(pg: PgvectorAdapter) -> None:
    await pg.create_collection(CollectionSpec("kw", 4))
    texts = {
        "a": "The owner's manual covers O'Neil brackets & hinges",
        "b": "Backslash \\ paths and pipes | ampersands & bangs !",
        "c": "Plain text about gardens",
    }
    await pg.upsert(
        "kw",
        [
            Document(id=k, text=t, vector=as_float32(v))
            for (k, t), v in zip(texts.items(), vectors(3, 4, 7), strict=True)
        ],
    )
    for query in ("O'Neil", "a & b | !c", "'; DROP TABLE x; --", "garden:*", "\\", "&|!():*"):
        hits = await pg.keyword_search("kw", KeywordQuery(query, 3))
        assert all(h.id in texts for h in hits), query
    assert [h.id for h in await pg.keyword_search("kw", KeywordQuery("O'Neil brackets", 3))] == [
        "a"
    ]
    assert [h.id for h in await pg.keyword_search("kw", KeywordQuery("gardens", 3))] == ["c"]
    assert await pg.keyword_search("kw", KeywordQuery("the and of", 3)) == []  # stopwords only
    assert await pg.count("kw") == 3


async def test_strings_postgresql_cannot_store(pg: PgvectorAdapter) -> None:
    """U+0000 is refused by the application layer (``nul_in_strings=False``, see
    ``tests/api/test_validate_once.py``); reads with such ids or values find nothing."""
    assert pg.capabilities.nul_in_strings is False
    await pg.create_collection(CollectionSpec("nul", 4))
    assert await pg.get("nul", ["a\x00"], False) == []
    assert await pg.count("nul", C("k", Op.NE, "\x00")) == 0


async def test_unreachable_server_is_unavailable_without_the_password() -> None:
    from tests.support.milvus_lite import free_port

    adapter = PgvectorAdapter(
        "down", f"postgresql://user:s3cret@127.0.0.1:{free_port()}/db", timeout_s=2
    )
    with pytest.raises(Unavailable) as info:
        await adapter.start()
    assert "down" in info.value.message
    assert "s3cret" not in info.value.message
    assert "127.0.0.1" in info.value.message
    with pytest.raises(Unavailable):
        await adapter.list_collections()


async def test_the_seeds_config_block(
    pgvector_server: PgvectorServer,
    schema: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``vector_stores: pgvector: {...}`` as in the seeds, the DSN from the environment."""
    monkeypatch.setenv("PGVECTOR_DSN", pgvector_server.dsn())
    path = tmp_path / "config.yaml"
    path.write_text(
        f"""
server:
  data_dir: {tmp_path / "data"}
vector_stores:
  pgvector:
    enabled: true
    dsn: os.environ/PGVECTOR_DSN
    schema_name: {schema}
    table_prefix: rag_
    embedding_model: "text-embedding-3-small"
    dimensions: 1536
    index_type: hnsw
    metric_type: COSINE
""",
        encoding="utf-8",
    )
    config = load_config(path)
    store = config.stores["pgvector"]
    assert isinstance(store, PgvectorConfig)
    assert store.dsn.get_secret_value() == pgvector_server.dsn()
    assert pgvector_server.dsn() not in repr(store)
    adapter = create_adapter(store, data_dir=tmp_path)
    assert isinstance(adapter, PgvectorAdapter)
    await adapter.start()
    try:
        await adapter.create_collection(CollectionSpec("docs", 4))
        assert await adapter.list_collections() == ["docs"]
        names = set(indexes(pgvector_server.dsn(), schema))
        assert "rag_catalog" in {n.removesuffix("_pkey") for n in names}
        assert "rag_c_docs_meta" in names
    finally:
        await adapter.close()


async def test_collection_with_the_first_spec_format_opens(
    pgvector_server: PgvectorServer, schema: str, pg: PgvectorAdapter
) -> None:
    """A catalog entry as the adapter wrote it before the shared spec codec still opens."""
    await pg.create_collection(CollectionSpec("legacy", 3, Metric.IP))
    old = {  # the old writer's document ("format": 1, no create time)
        "format": 1,
        "dimension": 3,
        "metric": "ip",
        "text_field": "body",
        "embedding_model": "minilm",
        "index": {"type": "HNSW", "params": {"m": 12}},
        "text_search_config": "simple",
    }
    with psycopg.connect(pgvector_server.dsn(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("UPDATE {} SET spec = %s::jsonb WHERE name = %s").format(
                sql.Identifier(schema, f"{pg._prefix}catalog")
            ),
            (json.dumps(old), "legacy"),
        )
    fresh = PgvectorAdapter("pg", pgvector_server.dsn(), schema=schema)
    await fresh.start()
    try:
        info = await fresh.describe_collection("legacy")
        assert (info.dimension, info.metric, info.text_field) == (3, Metric.IP, "body")
        assert info.embedding_model == "minilm"
        assert info.index == IndexSpec("HNSW", {"m": 12})
        assert info.create_time is not None  # from the catalog's own column
        await fresh.upsert(
            "legacy",
            [Document("a", text="x", vector=np.ones(3, np.float32), metadata={"k": 1})],
        )
        assert await fresh.count("legacy", Condition("k", Op.EQ, 1)) == 1
    finally:
        await fresh.close()


async def test_upsert_columns_is_native_and_writes_what_upsert_writes(
    pg: PgvectorAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No per-row documents: the batch's columns become the backend's rows, typed as
    ``upsert`` types them (ints stay ints, absent values absent)."""
    await check_native_columns(pg, monkeypatch, "columnar")
