"""OpenSearch adapter specifics beyond the contract suite.

Runs the official ``opensearch-py`` client against the test server
(``tests/servers/opensearch_server.py``): score inversion checked numerically
against numpy for every space type, engine and search path, request shapes
(refresh, efficient filtering, exact search, the keyword-search ``match``
query), name mapping, foreign indexes, configuration and error translation.
"""

from __future__ import annotations

import math
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import pytest

from tests.servers.opensearch_server import OpenSearchTestServer
from tests.support.columnar import check_native_columns, mixed_batch
from vectorgate_server.adapters.base import upsert, upsert_columns
from vectorgate_server.adapters.configs import OpenSearchAuth, OpenSearchConfig
from vectorgate_server.adapters.opensearch import (
    OpenSearchAdapter,
    canonical_score,
    decode_index_name,
    encode_index_name,
)
from vectorgate_server.domain import (
    CollectionSpec,
    Condition,
    Document,
    DocumentBatch,
    IndexSpec,
    KeywordQuery,
    Metric,
    Op,
    OutputFields,
    SearchQuery,
    as_float32,
    normalise_score,
)
from vectorgate_server.errors import (
    BackendAuthFailed,
    BackendUnavailable,
    FailedPrecondition,
    InvalidArgument,
    InvalidVector,
    NotFound,
    Unavailable,
)


@pytest.fixture(scope="module")
def server() -> Iterator[OpenSearchTestServer]:
    with OpenSearchTestServer() as srv:
        yield srv


@pytest.fixture
async def adapter(server: OpenSearchTestServer) -> AsyncIterator[OpenSearchAdapter]:
    server.reset()
    instance = OpenSearchAdapter("os", [server.url])
    await instance.start()
    yield instance
    await instance.close()


def docs(vectors: np.ndarray, metadata: list[dict[str, Any]] | None = None) -> list[Document]:
    return [
        Document(
            id=f"d{i}",
            text=f"text {i}",
            vector=as_float32(v),
            metadata=dict(metadata[i]) if metadata else {},
        )
        for i, v in enumerate(vectors)
    ]


def canonical(metric: Metric, vectors: np.ndarray, q: np.ndarray) -> np.ndarray:
    m64, q64 = vectors.astype(np.float64), q.astype(np.float64)
    if metric is Metric.L2:
        return np.linalg.norm(m64 - q64, axis=1)
    dot = m64 @ q64
    if metric is Metric.IP:
        return dot
    return dot / (np.linalg.norm(m64, axis=1) * np.linalg.norm(q64))


# --------------------------------------------------------------------------- scores


def opensearch_score(
    metric: Metric, value: float, *, exact: bool, engine: str, modern: bool
) -> float:
    """What OpenSearch returns for a canonical value (documented formulas), as float32."""
    if metric is Metric.L2:
        score = 1 / (1 + value * value)
    elif metric is Metric.IP:
        score = value + 1 if value > 0 else 1 / (1 - value)
    elif exact:
        score = (1 + value) / 2 if modern else 1 + value
    elif modern or engine == "lucene":
        score = (1 + value) / 2
    else:
        score = 1 / (2 - value)
    return float(np.float32(score))


@pytest.mark.parametrize("metric", list(Metric), ids=lambda m: m.value)
@pytest.mark.parametrize("exact", [False, True], ids=["knn", "script"])
@pytest.mark.parametrize("engine", ["lucene", "faiss", "nmslib"])
@pytest.mark.parametrize("version", [(2, 17), (2, 19), (3, 1)], ids=str)
def test_canonical_score_inverts_opensearch_scores(
    metric: Metric, exact: bool, engine: str, version: tuple[int, int]
) -> None:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((200, 16)).astype(np.float32)
    q = rng.standard_normal(16).astype(np.float32)
    values = canonical(metric, vectors, q)
    for value in values:
        raw = opensearch_score(
            metric, float(value), exact=exact, engine=engine, modern=version >= (2, 19)
        )
        got = canonical_score(metric, raw, exact=exact, engine=engine, version=version)
        # float32 scores: a relative error of ~6e-8 on s; for L2 near 0 that is ~sqrt(1e-7)
        assert got == pytest.approx(value, rel=1e-5, abs=5e-4), (value, raw)


def test_canonical_score_edges() -> None:
    v = (2, 19)
    assert canonical_score(Metric.L2, 1.0, exact=False, engine="lucene", version=v) == 0.0
    assert canonical_score(Metric.IP, 1.0, exact=False, engine="lucene", version=v) == 0.0
    assert canonical_score(Metric.IP, 3.0, exact=True, engine=None, version=v) == 2.0
    assert canonical_score(Metric.IP, 0.25, exact=True, engine=None, version=v) == -3.0
    assert canonical_score(Metric.COSINE, 1.0, exact=False, engine="faiss", version=v) == 1.0
    assert canonical_score(Metric.COSINE, 0.0, exact=True, engine=None, version=v) == -1.0
    assert canonical_score(Metric.COSINE, 2.0, exact=True, engine=None, version=(2, 11)) == 1.0
    assert math.isinf(canonical_score(Metric.L2, 0.0, exact=False, engine="lucene", version=v))


@pytest.mark.parametrize("version", ["2.17.0", "2.19.1"])
@pytest.mark.parametrize("metric", list(Metric), ids=lambda m: m.value)
@pytest.mark.parametrize(
    ("engine", "index_type", "filtered"),
    [
        ("lucene", "HNSW", False),
        ("lucene", "HNSW", True),
        ("faiss", "HNSW", True),
        ("nmslib", "HNSW", False),
        ("nmslib", "HNSW", True),
        ("lucene", "FLAT", True),
    ],
)
async def test_search_scores_match_numpy(
    version: str, metric: Metric, engine: str, index_type: str, filtered: bool
) -> None:
    if engine == "faiss" and metric is Metric.COSINE and version < "2.19":
        pytest.skip("faiss has cosinesimil from 2.19")
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((40, 8)).astype(np.float32)
    q = rng.standard_normal(8).astype(np.float32)
    meta = [{"even": i % 2 == 0} for i in range(40)]
    with OpenSearchTestServer(version=version) as srv:
        adapter = OpenSearchAdapter("os", [srv.url], engine=engine)
        await adapter.start()
        try:
            params = {} if index_type == "FLAT" else {"engine": engine}
            await adapter.create_collection(
                CollectionSpec("c", 8, metric, index=IndexSpec(index_type, params))
            )
            await adapter.upsert("c", docs(vectors, meta))
            f = Condition("even", Op.EQ, True) if filtered else None
            hits = await adapter.search("c", SearchQuery(vector=q, top_k=10, filter=f))
            method, _, body = srv.requests[-1][0], srv.requests[-1][1], srv.requests[-1][3]
        finally:
            await adapter.close()
    assert method == "POST"
    script = (engine == "nmslib" and filtered) or index_type == "FLAT"
    assert ("script_score" in body["query"]) is script
    values = canonical(metric, vectors, q)
    mask = np.array([m["even"] for m in meta]) if filtered else np.ones(40, bool)
    order = [i for i in np.argsort(-values if metric is not Metric.L2 else values) if mask[i]][:10]
    assert [h.id for h in hits] == [f"d{i}" for i in order]
    for hit in hits:
        expected = normalise_score(metric, float(values[int(hit.id[1:])]))
        assert hit.score == pytest.approx(expected, rel=1e-5, abs=5e-4)
        assert isinstance(hit.raw_score, float)


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("docs", "docs"),
        ("My_Docs-2", "~my_~docs-2"),
        ("_private", "~_private"),
        ("a_b", "a_b"),
        ("ABC", "~a~b~c"),
    ],
)
def test_index_names_are_reversible(name: str, index: str) -> None:
    assert encode_index_name(name) == index
    assert decode_index_name(index) == name
    assert decode_index_name("p-" + index, "p-") == name


@pytest.mark.parametrize("index", [".kibana", "_x", "a~", "a~1", "a.b", "x~_y", "other", "a*"])
def test_foreign_index_names_are_not_collections(index: str) -> None:
    assert decode_index_name(index, "p-") is None
    if index not in ("other",):
        assert decode_index_name(index) is None


async def test_mixed_case_collection_end_to_end(
    adapter: OpenSearchAdapter, server: OpenSearchTestServer
) -> None:
    await adapter.create_collection(CollectionSpec("MyCol", 2))
    await adapter.create_collection(CollectionSpec("mycol", 2))
    assert set(server.indices) == {"~my~col", "mycol"}
    assert await adapter.list_collections() == ["MyCol", "mycol"]
    await adapter.upsert("MyCol", docs(np.ones((1, 2), np.float32)))
    assert await adapter.count("MyCol") == 1
    assert await adapter.count("mycol") == 0


# --------------------------------------------------------------------------- writes and requests


async def test_requests_use_refresh_for_read_your_writes(
    adapter: OpenSearchAdapter, server: OpenSearchTestServer
) -> None:
    await adapter.create_collection(CollectionSpec("c", 2))
    await adapter.upsert("c", docs(np.eye(2, dtype=np.float32), [{"k": "a"}, {"k": "b"}]))
    bulk = [r for r in server.requests if r[1] == "/_bulk"]
    assert bulk[-1][2] == {"refresh": "wait_for"}
    await adapter.delete("c", ids=["d0"])
    assert server.requests[-1][1:3] == ("/_bulk", {"refresh": "wait_for"})
    await adapter.delete("c", filter=Condition("k", Op.EQ, "b"))
    method, path, params, body = server.requests[-1]
    assert (method, path) == ("POST", "/c/_delete_by_query")
    assert params == {"refresh": "true", "conflicts": "proceed"}
    assert body == {"query": {"term": {"metadata.str.k": {"value": "b"}}}}
    assert await adapter.count("c") == 0


async def test_upsert_never_auto_creates_an_index(
    adapter: OpenSearchAdapter, server: OpenSearchTestServer
) -> None:
    await adapter.create_collection(CollectionSpec("c", 2))
    await adapter.drop_collection("c")
    with pytest.raises(NotFound):
        await adapter.upsert("c", docs(np.ones((1, 2), np.float32)))
    assert "c" not in server.indices


async def test_index_mapping_and_spec(
    adapter: OpenSearchAdapter, server: OpenSearchTestServer
) -> None:
    info = await adapter.create_collection(
        CollectionSpec(
            "c",
            3,
            Metric.IP,
            text_field="body",
            embedding_model="m",
            index=IndexSpec("hnsw", {"m": 32.0, "ef_construction": 200, "engine": "FAISS"}),
        )
    )
    assert info.index == IndexSpec("HNSW", {"ef_construction": 200, "engine": "faiss", "m": 32})
    index = server.indices["c"]
    assert index.settings["index.knn"] == "true"
    props = index.mapping["properties"]
    assert props["vector"]["method"] == {
        "name": "hnsw",
        "engine": "faiss",
        "space_type": "innerproduct",
        "parameters": {"ef_construction": 200, "m": 32},
    }
    assert props["body"] == {"type": "text"}
    assert index.mapping["dynamic"] == "strict"
    meta = index.mapping["_meta"]["vectorgate"]
    assert (meta["dimension"], meta["metric"], meta["embedding_model"]) == (3, "ip", "m")
    described = await adapter.describe_collection("c")
    assert described.index == info.index
    assert described.create_time == info.create_time

    flat = await adapter.create_collection(CollectionSpec("f", 3, index=IndexSpec("FLAT")))
    assert flat.index == IndexSpec("FLAT", {})
    assert server.indices["f"].settings["index.knn"] == "false"
    assert "method" not in server.indices["f"].mapping["properties"]["vector"]


@pytest.mark.parametrize(
    ("index", "field"),
    [
        (IndexSpec("IVF"), "collection.index.type"),
        (IndexSpec("HNSW", {"nlist": 4}), "collection.index.params.nlist"),
        (IndexSpec("HNSW", {"m": 0}), "collection.index.params.m"),
        (IndexSpec("HNSW", {"m": 2.5}), "collection.index.params.m"),
        (IndexSpec("HNSW", {"engine": "annoy"}), "collection.index.params.engine"),
        (
            IndexSpec("HNSW", {"engine": "lucene", "ef_search": 10}),
            "collection.index.params.ef_search",
        ),
        (IndexSpec("FLAT", {"m": 4}), "collection.index.params.m"),
    ],
)
async def test_invalid_index_specs(
    adapter: OpenSearchAdapter, index: IndexSpec, field: str
) -> None:
    with pytest.raises(InvalidArgument) as err:
        await adapter.create_collection(CollectionSpec("c", 2, index=index))
    assert err.value.field == field


async def test_index_the_cluster_rejects_is_invalid_argument() -> None:
    # Lucene supports innerproduct "in OpenSearch 2.13 and later" (methods and engines).
    with OpenSearchTestServer(version="2.11.1") as srv:
        adapter = OpenSearchAdapter("os", [srv.url], engine="lucene")
        await adapter.start()
        try:
            with pytest.raises(InvalidArgument) as err:
                await adapter.create_collection(CollectionSpec("c", 2, Metric.IP))
        finally:
            await adapter.close()
    assert err.value.field == "collection.index"
    assert "innerproduct" in err.value.message


async def test_rejected_document_names_the_field(adapter: OpenSearchAdapter) -> None:
    await adapter.create_collection(CollectionSpec("c", 2))
    huge = "x" * 40_000  # longer than Lucene's largest term
    batch = docs(np.ones((2, 2), np.float32), [{"k": "ok"}, {"k": huge}])
    with pytest.raises(InvalidArgument) as err:
        await adapter.upsert("c", batch)
    assert err.value.field == "documents[1].metadata.k"


# --------------------------------------------------------------------------- columnar writes


async def test_columnar_upsert_is_native(
    adapter: OpenSearchAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # upsert_columns with DocumentBatch.documents and Document() refused: it reads back what
    # upsert of the same rows gives (ints, floats, strings, bools, lists, absent values),
    # idempotently, and names a type conflict by its column (tests/support/columnar.py).
    await check_native_columns(adapter, monkeypatch, "columnar")


def _wide_batch() -> DocumentBatch:
    """mixed_batch with an integer column beyond 2**53 (written a second time under
    metadata.int), a dotted key (written with ``~``) and a key holding a float in one
    row and an int in another (one number type)."""
    batch = mixed_batch(24, 8)
    rows = len(batch)
    batch.metadata["big"] = [None if i % 3 else 2**62 - i for i in range(rows)]
    batch.metadata["a.b"] = ["dotted" if i % 2 else None for i in range(rows)]
    batch.metadata["num"] = [i if i % 2 else i + 0.5 for i in range(rows)]
    return batch


@pytest.mark.parametrize(
    "batch",
    [
        _wide_batch(),
        DocumentBatch(ids=["x", "y"], vectors=np.array([[1, 2], [3, 4]], np.float32)),
    ],
    ids=["mixed", "bare"],
)
async def test_columnar_bulk_body_is_the_documents_bulk_body(
    adapter: OpenSearchAdapter, server: OpenSearchTestServer, batch: DocumentBatch
) -> None:
    await adapter.create_collection(CollectionSpec("c", batch.dimension))
    await adapter.upsert("c", batch.documents())
    [by_documents] = [r for r in server.requests if r[1] == "/_bulk"]
    want = await adapter.get("c", batch.ids, True)
    await adapter.upsert_columns("c", batch)
    [_, by_columns] = [r for r in server.requests if r[1] == "/_bulk"]
    # The same NDJSON, byte for byte: ids, texts, vectors (float32 values), typed metadata.
    assert by_columns == by_documents
    got = await adapter.get("c", batch.ids, True)
    assert [(d.id, d.text, d.metadata) for d in got] == [(d.id, d.text, d.metadata) for d in want]
    assert {type(v) for d in got for v in d.metadata.values()} == {
        type(v) for d in want for v in d.metadata.values()
    }
    assert await adapter.count("c") == len(batch)


async def test_a_row_the_bulk_rejects_is_named_by_its_columnar_position(
    server: OpenSearchTestServer,
) -> None:
    server.reset()
    # Two rows per _bulk call: the rejected row is in the second call, named by its
    # position in the request (adapters.base.upsert_columns shifts the call's positions).
    adapter = OpenSearchAdapter("os", [server.url], max_write_batch=2)
    await adapter.start()
    try:
        await adapter.create_collection(CollectionSpec("c", 2))
        huge = "x" * 40_000  # longer than Lucene's largest term
        batch = DocumentBatch(
            ids=[f"d{i}" for i in range(5)],
            vectors=np.ones((5, 2), np.float32),
            metadata={"n": [1, 2, None, 4, 5], "k": ["ok", None, "ok", huge, "ok"]},
        )
        with pytest.raises(InvalidArgument) as err:
            await upsert_columns(adapter, "c", batch)
        assert err.value.field == "columns.metadata[1].values[3]"
        assert "OpenSearch rejected columns.ids[3] (id 'd3'): " in err.value.message
        assert "immense term" in err.value.message
        # The documents path names the same row as a document.
        with pytest.raises(InvalidArgument) as err:
            await upsert(adapter, "c", batch.documents())
        assert err.value.field == "documents[3].metadata.k"
        assert "OpenSearch rejected documents[3] (id 'd3'): " in err.value.message
        # A row's vector is a row of the columns.vectors block: the message names the row.
        # (The application refuses zero vectors first; OpenSearch's own refusal if one
        # reaches the adapter.)
        vectors = np.ones((4, 2), np.float32)
        vectors[3] = 0
        zero = DocumentBatch(ids=["a", "b", "c", "z"], vectors=vectors)
        with pytest.raises(InvalidArgument) as err:
            await upsert_columns(adapter, "c", zero)
        assert err.value.field == "columns.vectors"
        assert "OpenSearch rejected columns.ids[3] (id 'z'): " in err.value.message
        assert "zero vector is not supported" in err.value.message
    finally:
        await adapter.close()


async def test_zero_vectors_with_cosine(adapter: OpenSearchAdapter) -> None:
    # The application refuses them first (Capabilities.zero_vector_cosine, tested in
    # test_number_capabilities.py); should one reach the adapter, OpenSearch's own refusal
    # comes back as a 400 naming the field.
    assert adapter.capabilities.zero_vector_refused == {Metric.COSINE}
    await adapter.create_collection(CollectionSpec("c", 2))
    with pytest.raises(InvalidArgument) as err:
        await adapter.upsert("c", docs(np.zeros((1, 2), np.float32)))
    assert err.value.field == "documents[0].vector"
    assert "zero vector is not supported" in err.value.message


async def test_the_gateway_refuses_zero_vectors_before_opensearch(
    adapter: OpenSearchAdapter, server: OpenSearchTestServer, tmp_path: Any
) -> None:
    from vectorgate_server.app import Gateway, Target
    from vectorgate_server.embeddings import EmbeddingRegistry
    from vectorgate_server.storage import Database, IndexRegistry, filter_from_json, filter_to_json

    db = Database(tmp_path / "vg.db")
    gateway = Gateway(
        stores={"os": adapter},
        default_store="os",
        embeddings=EmbeddingRegistry(),
        indexes=IndexRegistry(db, encode_filter=filter_to_json, decode_filter=filter_from_json),
        database=db,
    )
    await adapter.create_collection(CollectionSpec("c", 2, embedding_model="none"))
    target = Target(adapter, "c")
    sent = len(server.requests)
    zero = np.zeros(2, np.float32)
    with pytest.raises(InvalidVector) as err:
        await gateway.upsert(
            target, [Document("a", "", np.ones(2, np.float32)), Document("b", "", zero)]
        )
    assert err.value.field == "documents[1].vector"
    with pytest.raises(InvalidVector) as err:
        await gateway.query_vector(target, None, zero)
    assert err.value.field == "vector"
    batch = DocumentBatch(ids=["a", "b"], vectors=np.array([[1, 0], [0, 0]], np.float32))
    with pytest.raises(InvalidVector) as err:
        await gateway.upsert_columns(target, batch)
    assert err.value.field == "columns.vectors" and "row 1 (id 'b')" in err.value.message
    assert all("_bulk" not in r[1] and "_search" not in r[1] for r in server.requests[sent:])
    # An L2 collection takes the zero vector.
    await adapter.create_collection(
        CollectionSpec("l2", 2, metric=Metric.L2, embedding_model="none")
    )
    await gateway.upsert(Target(adapter, "l2"), [Document("z", "", zero)])
    db.close()


async def test_native_params(adapter: OpenSearchAdapter, server: OpenSearchTestServer) -> None:
    await adapter.create_collection(CollectionSpec("c", 2))
    await adapter.create_collection(CollectionSpec("f", 2, index=IndexSpec("FLAT")))
    await adapter.upsert("c", docs(np.eye(2, dtype=np.float32)))
    q = np.array([1, 0], np.float32)

    hits = await adapter.search(
        "c", SearchQuery(vector=q, top_k=1, native_params={"ef_search": 64})
    )
    assert hits[0].id == "d0"
    knn = server.requests[-1][3]["query"]["knn"]["vector"]
    assert knn["method_parameters"] == {"ef_search": 64}

    await adapter.search("c", SearchQuery(vector=q, top_k=1, native_params={"exact": True}))
    assert "script_score" in server.requests[-1][3]["query"]

    bad: list[tuple[str, dict[str, Any]]] = [
        ("c", {"ef_search": 0}),
        ("c", {"ef_search": "10"}),
        ("c", {"exact": 1}),
        ("c", {"exact": True, "ef_search": 10}),
        ("f", {"ef_search": 10}),
    ]
    for name, params in bad:
        with pytest.raises(InvalidArgument) as err:
            await adapter.search(name, SearchQuery(vector=q, top_k=1, native_params=params))
        assert err.value.field is not None and err.value.field.startswith("native_params."), params


async def test_explain(adapter: OpenSearchAdapter) -> None:
    await adapter.create_collection(CollectionSpec("c", 2))
    f = Condition("color", Op.IN, ("red", 'x" or "1'))
    explained = await adapter.explain(
        "c", SearchQuery(vector=np.ones(2, np.float32), top_k=4, filter=f)
    )
    assert explained.backend == "opensearch"
    assert explained.native_filter == '{"terms": {"metadata.str.color": ["red", "x\\" or \\"1"]}}'
    assert dict(explained.native_params) == {
        "query": "knn",
        "exact": False,
        "space_type": "cosinesimil",
        "size": 4,
        "engine": "lucene",
        "k": 4,
    }
    plain = await adapter.explain("c", SearchQuery(vector=np.ones(2, np.float32), top_k=1))
    assert plain.native_filter == ""


# --------------------------------------------------------------------------- foreign indexes


async def test_foreign_index_is_described_from_its_mapping(
    adapter: OpenSearchAdapter, server: OpenSearchTestServer
) -> None:
    from opensearchpy import AsyncOpenSearch

    client = AsyncOpenSearch(hosts=[server.url])
    try:
        await client.indices.create(
            index="legacy",
            body={
                "settings": {"index.knn": True},
                "mappings": {
                    "properties": {
                        "embedding": {
                            "type": "knn_vector",
                            "dimension": 2,
                            "method": {
                                "name": "hnsw",
                                "engine": "lucene",
                                "space_type": "innerproduct",
                            },
                        },
                        "text": {"type": "text"},
                    }
                },
            },
        )
        await client.indices.create(
            index="logs", body={"mappings": {"properties": {"m": {"type": "text"}}}}
        )
        await client.index(
            index="legacy", id="x", body={"embedding": [1, 2], "text": "hello"}, refresh=True
        )
    finally:
        await client.close()
    assert await adapter.list_collections() == ["legacy"]
    info = await adapter.describe_collection("legacy")
    assert (info.dimension, info.metric, info.document_count) == (2, Metric.IP, 1)
    assert info.index == IndexSpec("HNSW", {})
    [hit] = await adapter.search(
        "legacy", SearchQuery(vector=np.array([1, 0], np.float32), top_k=3)
    )
    assert (hit.id, hit.text, hit.score) == ("x", "hello", pytest.approx(1.0))
    [doc] = await adapter.get("legacy", ["x"], True)
    assert doc.vector is not None and doc.vector.tolist() == [1.0, 2.0]
    with pytest.raises(FailedPrecondition):
        await adapter.describe_collection("logs")


# --------------------------------------------------------------------------- config and errors


def test_from_config_basic_auth() -> None:
    config = OpenSearchConfig(
        name="os",
        hosts=["https://h1:9200", "https://h2:9200"],
        auth=OpenSearchAuth(type="basic", username="u", password="pw-secret"),
        engine="faiss",
        space_type="innerproduct",
        verify_certs=False,
        timeout_s=7,
    )
    adapter = OpenSearchAdapter.from_config(config)
    assert adapter.store == "os"
    assert adapter.hosts == ["https://h1:9200", "https://h2:9200"]
    assert adapter.engine == "faiss"
    assert adapter.timeout_s == 7
    assert adapter._http_auth == ("u", "pw-secret")
    assert "pw-secret" not in repr(adapter)


def test_from_config_rejects_unsupported_space_type() -> None:
    with pytest.raises(BackendUnavailable, match="space_type 'l1'"):
        OpenSearchAdapter.from_config(OpenSearchConfig(name="os", space_type="l1"))


def test_from_config_sigv4_needs_botocore() -> None:
    pytest.importorskip("opensearchpy")
    try:
        import botocore  # noqa: F401
    except ImportError:
        config = OpenSearchConfig(
            name="os", auth=OpenSearchAuth(type="aws_sigv4", region="eu-west-1", service="aoss")
        )
        with pytest.raises(BackendUnavailable, match="botocore"):
            OpenSearchAdapter.from_config(config)
    else:
        pytest.skip("botocore is installed")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_cluster_is_unavailable_without_credentials() -> None:
    port = _closed_port()
    adapter = OpenSearchAdapter(
        "os-store",
        [f"http://admin:hunter2@127.0.0.1:{port}"],
        http_auth=("admin", "hunter2"),
        max_retries=0,
    )
    await adapter.start()
    try:
        for call in (
            adapter.list_collections(),
            adapter.describe_collection("c"),
            adapter.create_collection(CollectionSpec("c", 2)),
        ):
            with pytest.raises(Unavailable) as err:
                await call
            assert err.value.reason == "BACKEND_UNAVAILABLE"
            assert "os-store" in err.value.message and "opensearch" in err.value.message
            assert "hunter2" not in err.value.message and "admin" not in err.value.message
    finally:
        await adapter.close()


async def test_basic_auth_is_sent_and_bad_credentials_are_refused_not_unavailable() -> None:
    with OpenSearchTestServer(username="admin", password="s3cret") as srv:
        good = OpenSearchAdapter("os", [srv.url], http_auth=("admin", "s3cret"))
        bad = OpenSearchAdapter("os", [srv.url], http_auth=("admin", "wrong"))
        await good.start()
        await bad.start()
        try:
            await good.create_collection(CollectionSpec("c", 2))
            assert await good.list_collections() == ["c"]
            with pytest.raises(BackendAuthFailed) as err:  # never retried (retry.py)
                await bad.list_collections()
            assert "401" in err.value.message and "wrong" not in err.value.message
        finally:
            await good.close()
            await bad.close()


async def test_not_started_is_unavailable() -> None:
    adapter = OpenSearchAdapter("os", ["http://127.0.0.1:9"])
    with pytest.raises(Unavailable):
        await adapter.list_collections()
    await adapter.close()
    await adapter.close()


async def test_filter_over_the_clause_limit_is_invalid_argument(adapter: OpenSearchAdapter) -> None:
    from vectorgate_server.domain import Or

    await adapter.create_collection(CollectionSpec("c", 2))
    f = Or(tuple(Condition("k", Op.EQ, i) for i in range(1100)))
    with pytest.raises(InvalidArgument) as err:
        await adapter.count("c", f)
    assert err.value.field == "filter"
    # a long IN list is one terms query, not 1100 clauses
    assert await adapter.count("c", Condition("k", Op.IN, tuple(range(1100)))) == 0


# --------------------------------------------------------------------------- keyword search


KEYWORD_DOCS = [
    ("p1", "ZX-4471-Q stainless garden hose reel with wall bracket", {"k": "garden", "n": 1}),
    ("p2", "Spare seals for the ZX-4471-Q reel", {"k": "spares", "n": 2}),
    ("d1", "Part number XZ-4417-O", {"k": "parts", "n": 3}),
]


async def keyword_collection(adapter: OpenSearchAdapter, spec: CollectionSpec) -> None:
    await adapter.create_collection(spec)
    rng = np.random.default_rng(5)
    await adapter.upsert(
        spec.name,
        [
            Document(
                id=i, text=t, vector=as_float32(rng.standard_normal(spec.dimension)), metadata=m
            )
            for i, t, m in KEYWORD_DOCS
        ],
    )


async def test_keyword_search_sends_match_with_filter_clauses(
    adapter: OpenSearchAdapter, server: OpenSearchTestServer
) -> None:
    assert adapter.capabilities.keyword_search
    await keyword_collection(adapter, CollectionSpec("c", 4))
    hits = await adapter.keyword_search("c", KeywordQuery("zx-4471-q reel", 5))
    method, path, params, body = server.requests[-1]
    assert (method, path, params) == ("POST", "/c/_search", {})
    assert body == {
        "size": 5,
        "query": {"bool": {"must": [{"match": {"text": {"query": "zx-4471-q reel"}}}]}},
        "_source": {"includes": ["text", "metadata"]},
        "track_total_hits": False,
    }
    # p2 is shorter than p1 and has the same four matching tokens: BM25 ranks it first
    assert [h.id for h in hits] == ["p2", "p1"]
    assert all(h.score == h.raw_score > 0 for h in hits)
    assert hits[0].score > hits[1].score
    assert (hits[0].text, hits[0].metadata) == (KEYWORD_DOCS[1][1], {"k": "spares", "n": 2})
    assert (hits[0].store, hits[0].collection, hits[0].vector) == ("os", "c", None)

    filtered = await adapter.keyword_search(
        "c",
        KeywordQuery(
            "zx-4471-q reel", 1, Condition("n", Op.LT, 2), output=OutputFields(text=False)
        ),
    )
    body = server.requests[-1][3]
    assert body["query"] == {
        "bool": {
            "must": [{"match": {"text": {"query": "zx-4471-q reel"}}}],
            "filter": [{"range": {"metadata.num.n": {"lt": 2}}}],
        }
    }
    assert (body["size"], body["_source"]) == (1, {"includes": ["metadata"]})
    # the filter applies before ranking: the best document overall is excluded, and the
    # score is the one p1 has without a filter (filter clauses do not score)
    assert [(h.id, h.text) for h in filtered] == [("p1", "")]
    assert filtered[0].score == hits[1].score

    bare = await adapter.keyword_search(
        "c", KeywordQuery("part", 3, output=OutputFields(text=False, metadata=False, vector=True))
    )
    assert server.requests[-1][3]["_source"] == {"includes": ["vector"]}
    assert [h.id for h in bare] == ["d1"]
    assert bare[0].vector is not None and bare[0].vector.shape == (4,)
    assert bare[0].metadata == {}
    assert await adapter.keyword_search("c", KeywordQuery("lawn mower", 3)) == []


async def test_keyword_search_uses_the_collection_text_field(
    adapter: OpenSearchAdapter, server: OpenSearchTestServer
) -> None:
    await keyword_collection(adapter, CollectionSpec("Body", 2, text_field="body"))
    hits = await adapter.keyword_search("Body", KeywordQuery("SEALS", 3))
    assert server.requests[-1][1] == "/~body/_search"
    assert server.requests[-1][3]["query"]["bool"]["must"] == [
        {"match": {"body": {"query": "SEALS"}}}
    ]
    assert [(h.id, h.text) for h in hits] == [("p2", KEYWORD_DOCS[1][1])]


async def test_keyword_search_errors(adapter: OpenSearchAdapter) -> None:
    with pytest.raises(NotFound):
        await adapter.keyword_search("missing", KeywordQuery("x", 3))
    await keyword_collection(adapter, CollectionSpec("c", 2))
    for text, top_k, field in [("x", 10_001, "top_k"), (" ", 3, "text")]:
        with pytest.raises(InvalidArgument) as err:
            await adapter.keyword_search("c", KeywordQuery(text, top_k))
        assert err.value.field == field
    with pytest.raises(InvalidArgument) as err:
        await adapter.keyword_search("c", KeywordQuery("x", 3, Condition("k", Op.GT, True)))
    assert err.value.field is not None and err.value.field.startswith("filter")
    # more words than OpenSearch's clause limit: the query text is too long
    with pytest.raises(InvalidArgument) as err:
        await adapter.keyword_search("c", KeywordQuery(" ".join(f"w{i}" for i in range(1100)), 3))
    assert err.value.field == "text"


async def test_keyword_search_on_foreign_indexes(
    adapter: OpenSearchAdapter, server: OpenSearchTestServer
) -> None:
    from opensearchpy import AsyncOpenSearch

    def index_body(text_mapping: dict[str, Any] | None) -> dict[str, Any]:
        props: dict[str, Any] = {"embedding": {"type": "knn_vector", "dimension": 2}}
        if text_mapping is not None:
            props["text"] = text_mapping
        return {"mappings": {"properties": props}}

    client = AsyncOpenSearch(hosts=[server.url])
    try:
        await client.indices.create(index="articles", body=index_body({"type": "text"}))
        await client.indices.create(index="codes", body=index_body({"type": "keyword"}))
        await client.indices.create(index="bare", body=index_body(None))
        for index, text in [("articles", "Hybrid search with BM25"), ("codes", "BM25")]:
            await client.index(
                index=index, id="x", body={"embedding": [1, 2], "text": text}, refresh=True
            )
    finally:
        await client.close()
    [hit] = await adapter.keyword_search("articles", KeywordQuery("bm25 ranking", 3))
    assert (hit.id, hit.text, hit.metadata) == ("x", "Hybrid search with BM25", {})
    assert hit.score > 0
    for name, detail in [("codes", "mapped as 'keyword'"), ("bare", "not in its mapping")]:
        with pytest.raises(FailedPrecondition) as err:
            await adapter.keyword_search(name, KeywordQuery("bm25", 3))
        assert detail in str(err.value) and "'text'" in str(err.value)
