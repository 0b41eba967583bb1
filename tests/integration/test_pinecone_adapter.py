"""The Pinecone adapter against the protocol-faithful test server (real SDK, real HTTP)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from pinecone import AsyncPinecone

from tests.servers.pinecone_server import API_VERSION, PineconeTestServer, new_api_key
from tests.support.columnar import check_native_columns
from vectorgate_server.adapters.base import Adapter
from vectorgate_server.adapters.configs import PineconeConfig
from vectorgate_server.adapters.pinecone import (
    PineconeAdapter,
    canonical_score,
    decode_id,
    encode_id,
    index_name_for,
)
from vectorgate_server.domain import (
    NAME_RE,
    CollectionSpec,
    Condition,
    Document,
    IndexSpec,
    Metric,
    Not,
    Op,
    OutputFields,
    SearchQuery,
    normalise_score,
)
from vectorgate_server.errors import (
    AlreadyExists,
    BackendAuthFailed,
    InvalidArgument,
    InvalidVector,
    NotFound,
    Unavailable,
    Unsupported,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[PineconeTestServer]:
    with PineconeTestServer(api_key=new_api_key(), visibility_delay=0.05) as srv:
        yield srv


def make_adapter(srv: PineconeTestServer, **kwargs: Any) -> PineconeAdapter:
    options: dict[str, Any] = {
        "api_key": srv.api_key,
        "poll_interval_s": 0.01,
        "ready_timeout_s": 20,
    }
    options.update(kwargs)
    return PineconeAdapter("pc-store", control_host=srv.url, **options)


def make_adapter_like(a: PineconeAdapter) -> PineconeAdapter:
    """Another adapter on the same project as ``a``."""
    return PineconeAdapter(
        "pc-store", api_key=a._api_key, control_host=a._control_host, poll_interval_s=0.01
    )


@pytest.fixture
async def adapter(server: PineconeTestServer) -> AsyncIterator[PineconeAdapter]:
    server.reset()
    a = make_adapter(server)
    await a.start()
    yield a
    await a.close()


def vec(*values: float) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def spec(name: str, dim: int = 4, metric: Metric = Metric.COSINE, **kw: Any) -> CollectionSpec:
    return CollectionSpec(name=name, dimension=dim, metric=metric, **kw)


async def test_is_an_adapter(adapter: PineconeAdapter) -> None:
    assert isinstance(adapter, Adapter)
    assert adapter.capabilities.delete_by_filter
    assert adapter.capabilities.native_params == {"scan_factor", "max_candidates"}
    assert adapter.capabilities.max_write_batch == 1000


# --------------------------------------------------------------------------- protocol


async def test_sdk_headers_are_recorded_and_only_documented_ones_enforced(
    server: PineconeTestServer, adapter: PineconeAdapter
) -> None:
    await adapter.create_collection(spec("hdr"))
    await adapter.upsert("hdr", [Document(id="a", vector=vec(1, 0, 0, 0))])
    assert await adapter.count("hdr") == 1
    paths = {s.path.split("/")[-1] for s in server.seen}
    assert {"indexes", "hdr", "upsert", "query", "describe_index_stats"} <= paths
    # What the adapter sends (recorded, not enforced beyond what Pinecone documents).
    for seen in server.seen:
        assert seen.headers["api-key"] == server.api_key
        assert seen.headers["x-pinecone-api-version"] == API_VERSION == "2026-07"
        assert seen.headers["user-agent"] == "python-client-10.2.0"

    async with httpx.AsyncClient(base_url=server.url) as http:
        key = {"Api-Key": server.api_key}
        # Pinecone requires a valid API key for the project (401 otherwise) ...
        r = await http.get("/indexes", headers={"Api-Key": "wrong"})
        assert r.status_code == 401
        assert r.json() == {
            "error": {"code": "UNAUTHENTICATED", "message": "Invalid API Key"},
            "status": 401,
        }
        # ... but documents no User-Agent rule, and defaults a missing API version.
        r = await http.get("/indexes", headers={**key, "User-Agent": "curl/8"})
        assert r.status_code == 200
        r = await http.get("/indexes", headers={**key, "X-Pinecone-Api-Version": API_VERSION})
        assert r.status_code == 200
        # Another version is refused as not emulated, and says so.
        r = await http.get("/indexes", headers={**key, "X-Pinecone-Api-Version": "2025-04"})
        assert r.status_code == 400
        assert "does not emulate API versions other than 2026-07" in r.json()["error"]["message"]
        r = await http.get("/indexes/nope", headers=key)
        assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"


async def test_wrong_api_key_is_refused_without_leaking_it(server: PineconeTestServer) -> None:
    # A refused credential is not an outage: BackendAuthFailed (FAILED_PRECONDITION,
    # never retried; the one table in retry.py), not UNAVAILABLE.
    bad = PineconeAdapter("pc-store", api_key="pc-secret-wrong-key", control_host=server.url)
    await bad.start()
    try:
        with pytest.raises(BackendAuthFailed) as err:
            await bad.list_collections()
    finally:
        await bad.close()
    assert "pc-store" in err.value.message and "pinecone" in err.value.message
    assert "pc-secret-wrong-key" not in err.value.message
    assert err.value.reason == "FAILED_PRECONDITION"


async def test_unreachable_backend_is_unavailable() -> None:
    srv = PineconeTestServer(api_key=new_api_key())
    srv.start()
    a = make_adapter(srv)
    await a.start()
    await a.create_collection(spec("gone"))
    srv.stop()
    try:
        with pytest.raises(Unavailable) as err:
            await a.count("gone")
        assert srv.api_key not in err.value.message
        assert "pc-store" in err.value.message
    finally:
        await a.close()


# --------------------------------------------------------------------------- collections


async def test_collection_lifecycle_and_errors(adapter: PineconeAdapter) -> None:
    info = await adapter.create_collection(
        spec("docs", 3, Metric.IP, text_field="body", embedding_model="all-MiniLM-L6-v2")
    )
    assert (info.dimension, info.metric, info.document_count) == (3, Metric.IP, 0)
    with pytest.raises(AlreadyExists):
        await adapter.create_collection(spec("docs", 3))
    assert await adapter.list_collections() == ["docs"]
    await adapter.drop_collection("docs")
    assert await adapter.list_collections() == []
    for call in (
        adapter.describe_collection("docs"),
        adapter.drop_collection("docs"),
        adapter.count("docs"),
        adapter.get("docs", ["a"], False),
        adapter.upsert("docs", [Document(id="a", vector=vec(1, 0, 0))]),
    ):
        with pytest.raises(NotFound) as err:
            await call
        assert err.value.reason == "COLLECTION_NOT_FOUND"


async def test_data_plane_on_a_dropped_index_is_not_found(
    server: PineconeTestServer, adapter: PineconeAdapter
) -> None:
    await adapter.create_collection(spec("dropme"))
    await adapter.upsert("dropme", [Document(id="a", vector=vec(1, 0, 0, 0))])
    other = make_adapter(server)
    await other.start()
    await other.drop_collection("dropme")
    await other.close()
    with pytest.raises(NotFound):
        await adapter.search("dropme", SearchQuery(vector=vec(1, 0, 0, 0), top_k=1))


@pytest.mark.parametrize(
    "name",
    ["plain", "Upper_Case", "with--dashes", "_leading", "x" * 128, "a-b_c-D"],
)
def test_index_names_are_valid_pinecone_names(name: str) -> None:
    assert NAME_RE.match(name)
    index = index_name_for(name)
    assert 1 <= len(index) <= 45
    assert index[0].isalnum() and index[-1].isalnum()
    assert set(index) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    assert (index == name) == ("--" not in index)


async def test_spec_survives_a_restart(
    server: PineconeTestServer, adapter: PineconeAdapter
) -> None:
    long_name = "Collection_" + "x" * 117
    created = {}
    for name in ("Mixed_Case-1", long_name, "plain"):
        created[name] = await adapter.create_collection(
            spec(
                name,
                5,
                Metric.L2,
                text_field="content",
                embedding_model="möbius/éncoder",
                index=IndexSpec(type="SERVERLESS", params={"region": "us-west-2"}),
            )
        )
    fresh = make_adapter(server)
    await fresh.start()
    try:
        assert await fresh.list_collections() == sorted(created)
        for name, info in created.items():
            described = await fresh.describe_collection(name)
            assert described.name == name
            assert (described.dimension, described.metric) == (5, Metric.L2)
            assert described.text_field == "content"
            assert described.embedding_model == "möbius/éncoder"
            assert described.index == IndexSpec(type="SERVERLESS", params={"region": "us-west-2"})
            assert described.create_time == info.create_time is not None
            assert described.document_count == 0
    finally:
        await fresh.close()
    model = server.indexes[index_name_for(long_name)]
    assert model.deployment["region"] == "us-west-2"
    assert all(len(v) <= 120 and v.isascii() for v in (model.tags or {}).values())


async def test_invalid_index_specs(adapter: PineconeAdapter) -> None:
    with pytest.raises(InvalidArgument) as err:
        await adapter.create_collection(spec("a", index=IndexSpec(type="HNSW")))
    assert err.value.field == "collection.index.type"
    with pytest.raises(InvalidArgument) as err:
        await adapter.create_collection(spec("a", index=IndexSpec(params={"m": "16"})))
    assert err.value.field == "collection.index.params.m"


async def test_foreign_index_is_described_and_read_but_not_filtered(
    server: PineconeTestServer, adapter: PineconeAdapter
) -> None:
    pc = AsyncPinecone(api_key=server.api_key, host=server.url)
    model = await pc.indexes.create(
        name="legacy-idx",
        schema={
            "fields": {"_values": {"type": "dense_vector", "dimension": 2, "metric": "dotproduct"}}
        },
        timeout=-1,
    )
    await pc.indexes.describe("legacy-idx")
    import asyncio

    await asyncio.sleep(server.ready_after)
    assert model.host is not None
    index = await pc.index(host=model.host)
    await index.upsert(
        vectors=[
            {"id": "v1", "values": [1.0, 2.0], "metadata": {"text": "hello", "n": 3, "tags": ["a"]}}
        ]
    )
    await index.close()
    await pc.close()
    await asyncio.sleep(server.visibility_delay * 3)

    assert "legacy-idx" in await adapter.list_collections()
    info = await adapter.describe_collection("legacy-idx")
    assert (info.dimension, info.metric, info.document_count) == (2, Metric.IP, 1)
    [doc] = await adapter.get("legacy-idx", ["v1"], True)
    assert (doc.text, doc.metadata) == ("hello", {"n": 3, "tags": ["a"]})
    hits = await adapter.search("legacy-idx", SearchQuery(vector=vec(1, 1), top_k=1))
    assert hits[0].id == "v1" and hits[0].raw_score == pytest.approx(3.0)
    with pytest.raises(Unsupported):
        await adapter.count("legacy-idx", Condition("n", Op.EQ, 3))


# --------------------------------------------------------------------------- documents


@pytest.mark.parametrize("metric", list(Metric))
async def test_scores_match_numpy(adapter: PineconeAdapter, metric: Metric) -> None:
    rng = np.random.default_rng(7)
    data = rng.normal(size=(40, 8)).astype(np.float32)
    query = rng.normal(size=8).astype(np.float32)
    await adapter.create_collection(spec("scores", 8, metric))
    await adapter.upsert("scores", [Document(id=f"d{i}", vector=data[i]) for i in range(len(data))])
    hits = await adapter.search("scores", SearchQuery(vector=query, top_k=10))
    a, q = data.astype(np.float64), query.astype(np.float64)
    if metric is Metric.COSINE:
        canonical = a @ q / (np.linalg.norm(a, axis=1) * np.linalg.norm(q))
        pinecone_raw = canonical
    elif metric is Metric.L2:
        canonical = np.linalg.norm(a - q, axis=1)
        pinecone_raw = canonical**2  # Pinecone reports squared Euclidean distance
    else:
        canonical = a @ q
        pinecone_raw = canonical
    expected_order = np.argsort(canonical if metric is Metric.L2 else -canonical)[:10]
    assert [h.id for h in hits] == [f"d{i}" for i in expected_order]
    for hit in hits:
        i = int(hit.id[1:])
        assert hit.raw_score == pytest.approx(pinecone_raw[i], rel=1e-5, abs=1e-6)
        assert canonical_score(metric, hit.raw_score) == pytest.approx(canonical[i], rel=1e-5)
        assert hit.score == pytest.approx(normalise_score(metric, float(canonical[i])), rel=1e-5)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_l2_conversion_is_the_square_root() -> None:
    assert canonical_score(Metric.L2, 9.0) == 3.0
    assert canonical_score(Metric.L2, -1e-9) == 0.0
    assert canonical_score(Metric.COSINE, 0.25) == 0.25
    assert canonical_score(Metric.IP, -2.0) == -2.0
    assert math.isclose(normalise_score(Metric.L2, canonical_score(Metric.L2, 9.0)), 0.25)


async def test_read_your_writes_polls_until_the_lsn_is_indexed() -> None:
    with PineconeTestServer(api_key=new_api_key(), visibility_delay=0.4) as srv:
        a = make_adapter(srv)
        await a.start()
        try:
            await a.create_collection(spec("ryw"))
            docs = [
                Document(id=f"d{i}", text=f"t{i}", vector=vec(1, i, 0, 0), metadata={"i": i})
                for i in range(5)
            ]
            await a.upsert("ryw", docs)
            assert await a.count("ryw") == 5
            assert [d.id for d in await a.get("ryw", ["d4", "d0"], False)] == ["d4", "d0"]
            hits = await a.search("ryw", SearchQuery(vector=vec(1, 0, 0, 0), top_k=10))
            assert len(hits) == 5
            probes = [s for s in srv.seen if s.path.endswith("/query")]
            assert len(probes) >= 2  # visibility was polled
            await a.delete("ryw", ids=["d0"], filter=Condition("i", Op.GTE, 3))
            assert await a.count("ryw") == 2
            assert await a.get("ryw", ["d0", "d3", "d4"], False) == []
        finally:
            await a.close()


async def test_invisible_writes_time_out_as_unavailable() -> None:
    with PineconeTestServer(api_key=new_api_key(), visibility_delay=30) as srv:
        a = make_adapter(srv, consistency_timeout_s=0.3)
        await a.start()
        try:
            await a.create_collection(spec("slow"))
            with pytest.raises(Unavailable) as err:
                await a.upsert("slow", [Document(id="a", vector=vec(1, 0, 0, 0))])
            assert "not visible" in err.value.message
        finally:
            await a.close()


async def test_round_trip_of_ids_text_and_metadata(adapter: PineconeAdapter) -> None:
    await adapter.create_collection(spec("rt", 3))
    ids = ["plain", "ünïcode-✓", "100%", "%41", "sp ace", "new\nline", "x" * 512]
    metadata: dict[str, Any] = {
        "s": "v",
        "i": 7,
        "f": 0.5,
        "b": False,
        "l": ["p", "q"],
        "e": [],
        "dot.key": "d",
    }
    docs = [
        Document(id=i, text=f"text of {i}", vector=vec(1, n, 0), metadata=dict(metadata))
        for n, i in enumerate(ids)
    ]
    await adapter.upsert("rt", docs)
    got = await adapter.get("rt", [*reversed(ids), "missing"], True)
    assert [d.id for d in got] == list(reversed(ids))
    for doc in got:
        assert doc.text == f"text of {doc.id}"
        assert doc.metadata == metadata
        assert isinstance(doc.metadata["i"], int)
        assert doc.vector is not None and doc.vector.dtype == np.float32
    for pid in ids:
        assert decode_id(encode_id(pid)) == pid
    hits = await adapter.search(
        "rt",
        SearchQuery(
            vector=vec(1, 0, 0),
            top_k=10,
            filter=Condition("id", Op.IN, ("ünïcode-✓", "%41")),
            output=OutputFields(text=False, metadata_keys=frozenset({"s"})),
        ),
    )
    assert sorted(h.id for h in hits) == ["%41", "ünïcode-✓"]
    assert all(h.text == "" and h.metadata == {"s": "v"} for h in hits)


async def test_filters_count_delete_and_explain(adapter: PineconeAdapter) -> None:
    await adapter.create_collection(spec("flt", 2))
    docs = [
        Document(id="a", vector=vec(1, 0), metadata={"tags": ["x", "y"], "n": 1}),
        Document(id="b", vector=vec(1, 1), metadata={"label": "x", "n": 3}),
        Document(id="c", vector=vec(0, 1), metadata={"n": 2.5}),
        Document(id="d", vector=vec(1, 2), metadata={}),
    ]
    await adapter.upsert("flt", docs)
    assert await adapter.count("flt", Condition("tags", Op.CONTAINS, "x")) == 1
    assert await adapter.count("flt", Condition("n", Op.EQ, 1)) == 1
    assert await adapter.count("flt", Condition("n", Op.NE, 1)) == 3
    assert await adapter.count("flt", Not(Condition("n", Op.GT, 2))) == 2
    query = SearchQuery(vector=vec(1, 0), top_k=3, filter=Condition("label", Op.NIN, ("x",)))
    explanation = await adapter.explain("flt", query)
    assert explanation.backend == "pinecone"
    assert explanation.native_filter == (
        '{"$or":[{"_vg:keys":{"$nin":["s:label"]}},{"s:label":{"$nin":["x"]}}]}'
    )
    assert explanation.native_params["top_k"] == 3
    assert explanation.native_params["metric"] == "cosine"
    hits = await adapter.search("flt", query)
    assert sorted(h.id for h in hits) == ["a", "c", "d"]
    await adapter.delete("flt", filter=Condition("tags", Op.CONTAINS, "y"))
    assert sorted(d.id for d in await adapter.get("flt", ["a", "b", "c", "d"], False)) == [
        "b",
        "c",
        "d",
    ]


async def test_a_key_keeps_its_type(adapter: PineconeAdapter) -> None:
    await adapter.create_collection(spec("types", 2))
    await adapter.upsert("types", [Document(id="a", vector=vec(1, 0), metadata={"e": []})])
    fresh = make_adapter_like(adapter)
    await fresh.start()
    try:
        # The type is found in the data by an adapter that has not seen it yet.
        with pytest.raises(InvalidArgument) as err:
            await fresh.upsert(
                "types",
                [
                    Document(id="b", vector=vec(1, 1), metadata={"e": ["ok"]}),
                    Document(id="c", vector=vec(1, 1), metadata={"e": "no"}),
                ],
            )
        assert err.value.field == "documents[1].metadata.e"
        assert await fresh.count("types") == 1
    finally:
        await fresh.close()


async def test_native_params_are_validated(adapter: PineconeAdapter) -> None:
    await adapter.create_collection(spec("np", 2))
    base = {"vector": vec(1, 0), "top_k": 5}
    for params, field in (
        ({"ef": 10}, "native_params.ef"),
        ({"scan_factor": "high"}, "native_params.scan_factor"),
        ({"scan_factor": 0}, "native_params.scan_factor"),
        ({"max_candidates": 2}, "native_params.max_candidates"),
        ({"max_candidates": True}, "native_params.max_candidates"),
    ):
        with pytest.raises(InvalidArgument) as err:
            await adapter.search("np", SearchQuery(**base, native_params=params))
        assert err.value.field == field
    explanation = await adapter.explain(
        "np", SearchQuery(**base, native_params={"scan_factor": 2, "max_candidates": 50.0})
    )
    assert explanation.native_params["scan_factor"] == 2.0
    assert explanation.native_params["max_candidates"] == 50
    # Valid, but this (on-demand) index has no dedicated read nodes: Pinecone says 400.
    with pytest.raises(InvalidArgument) as err:
        await adapter.search("np", SearchQuery(**base, native_params={"scan_factor": 2}))
    assert err.value.field == "native_params"


async def test_pinecone_limits_are_checked_before_sending(
    server: PineconeTestServer, adapter: PineconeAdapter
) -> None:
    await adapter.create_collection(spec("lim", 2))
    before = len(server.seen)
    cases: list[tuple[Document, str, type[Exception]]] = [
        (Document(id="é" * 200, vector=vec(1, 0)), "documents[0].id", InvalidArgument),
        (
            Document(id="a", vector=vec(1, 0), metadata={"big": "x" * 41_000}),
            "documents[0].metadata",
            InvalidArgument,
        ),
        (
            Document(id="a", text="y" * 41_000, vector=vec(1, 0)),
            "documents[0].text",
            InvalidArgument,
        ),
    ]
    for doc, field, kind in cases:
        with pytest.raises(kind) as err:
            await adapter.upsert("lim", [doc])
        assert getattr(err.value, "field", None) == field
    assert not [s for s in server.seen[before:] if s.path.endswith("/upsert")]


async def test_zero_vectors_with_cosine(adapter: PineconeAdapter) -> None:
    # The application refuses them first (Capabilities.zero_vector_refused: see
    # test_the_gateway_validates_before_pinecone); should one reach the adapter,
    # Pinecone's own refusal comes back as INVALID_ARGUMENT.
    assert adapter.capabilities.zero_vector_refused == frozenset(Metric)
    await adapter.create_collection(spec("zero", 2))
    with pytest.raises(InvalidArgument) as err:
        await adapter.upsert("zero", [Document(id="a", vector=vec(0, 0))])
    assert err.value.field == "documents"
    assert "non-zero value" in err.value.message


async def test_the_gateway_validates_before_pinecone(
    server: PineconeTestServer, adapter: PineconeAdapter, tmp_path: Any
) -> None:
    """What the application checks once (zero vectors in a cosine collection, native
    parameter names) never reaches Pinecone, on every path to it."""
    from vectorgate_server.app import Gateway, Target
    from vectorgate_server.domain import DocumentBatch
    from vectorgate_server.embeddings import EmbeddingRegistry
    from vectorgate_server.storage import Database, IndexRegistry, filter_from_json, filter_to_json

    db = Database(tmp_path / "vg.db")
    gateway = Gateway(
        stores={"pc": adapter},
        default_store="pc",
        embeddings=EmbeddingRegistry(),
        indexes=IndexRegistry(db, encode_filter=filter_to_json, decode_filter=filter_from_json),
        database=db,
    )
    try:
        await adapter.create_collection(spec("gw", 2, embedding_model="none"))
        target = Target(adapter, "gw")
        sent = len(server.seen)
        zero = vec(0, 0)
        with pytest.raises(InvalidVector) as err:
            await gateway.upsert(target, [Document("a", "", vec(1, 0)), Document("b", "", zero)])
        assert err.value.field == "documents[1].vector"
        # Pinecone documents no refusal of zero query vectors: those pass.
        await gateway.query_vector(target, None, zero)
        await adapter.create_collection(spec("gw-l2", 2, metric=Metric.L2, embedding_model="none"))
        with pytest.raises(InvalidVector) as err:
            await gateway.upsert(Target(adapter, "gw-l2"), [Document("z", "", zero)])
        assert err.value.field == "documents[0].vector" and "L2" in err.value.message
        batch = DocumentBatch(ids=["a", "b"], vectors=np.array([[1, 0], [0, 0]], np.float32))
        with pytest.raises(InvalidVector) as err:
            await gateway.upsert_columns(target, batch)
        assert err.value.field == "columns.vectors" and "row 1 (id 'b')" in err.value.message
        with pytest.raises(InvalidArgument) as err:
            await gateway.search(
                target, SearchQuery(vector=vec(1, 0), top_k=1, native_params={"ef": 10})
            )
        assert err.value.field == "native_params.ef"
        assert "not a pinecone search parameter" in err.value.message
        assert not [s for s in server.seen[sent:] if s.path.endswith(("/upsert", "/query"))]
    finally:
        db.close()


async def test_large_writes_are_split_into_requests(
    server: PineconeTestServer, adapter: PineconeAdapter
) -> None:
    await adapter.create_collection(spec("bulk", 4))
    docs = [
        Document(id=f"d{i:04}", vector=vec(1, i, 0, 0), metadata={"g": "all"}) for i in range(1001)
    ]
    await adapter.upsert("bulk", docs)
    upserts = [s for s in server.seen if s.path.endswith("/vectors/upsert")]
    assert len(upserts) == 2
    assert await adapter.count("bulk") == 1001
    assert await adapter.count("bulk", Condition("g", Op.EQ, "all")) == 1001  # 2 pages
    # 2 MB per request: 60 documents of ~38 KB text each need two requests.
    server.seen.clear()
    heavy = [Document(id=f"h{i}", text="z" * 38_000, vector=vec(0, 0, 1, i)) for i in range(60)]
    await adapter.upsert("bulk", heavy)
    assert len([s for s in server.seen if s.path.endswith("/vectors/upsert")]) == 2
    await adapter.delete("bulk", ids=[d.id for d in docs])
    assert await adapter.count("bulk") == 60


async def test_from_config_uses_the_controller_host_env(
    server: PineconeTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.reset()
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", server.url)
    config = PineconeConfig(
        name="pc-conf",
        api_key=server.api_key,
        environment="eu-west-1",
        namespace="tenant-a",
        index_name="configured",
    )
    a = PineconeAdapter.from_config(config)
    await a.start()
    try:
        assert a.store == "pc-conf"
        await a.create_collection(spec("configured", 2))
        assert server.indexes["configured"].deployment == {
            "deployment_type": "managed",
            "cloud": "aws",
            "region": "eu-west-1",
        }
        await a.upsert("configured", [Document(id="a", vector=vec(1, 0))])
        assert set(server.indexes["configured"].namespaces) == {"tenant-a"}
        assert await a.count("configured") == 1
    finally:
        await a.close()


async def test_api_keys_are_projects_for_the_contract_factory(server: PineconeTestServer) -> None:
    server.reset()
    first = make_adapter(server, api_key=server.project_key("location-1"))
    again = make_adapter(server, api_key=server.project_key("location-1"))
    other = make_adapter(server, api_key=server.project_key("location-2"))
    for a in (first, again, other):
        await a.start()
    try:
        await first.create_collection(spec("shared", 2))
        await first.upsert("shared", [Document(id="a", vector=vec(1, 0))])
        assert await again.list_collections() == ["shared"]
        assert await again.count("shared") == 1
        assert await other.list_collections() == []
        with pytest.raises(NotFound):
            await other.count("shared")
    finally:
        for a in (first, again, other):
            await a.close()


async def test_a_recreated_index_is_found_on_its_new_host(
    server: PineconeTestServer, adapter: PineconeAdapter
) -> None:
    await adapter.create_collection(spec("moved", 2))
    await adapter.upsert("moved", [Document(id="a", vector=vec(1, 0))])
    other = make_adapter(server)
    await other.start()
    try:
        await other.drop_collection("moved")
        await other.create_collection(spec("moved", 2))
        await other.upsert("moved", [Document(id="b", vector=vec(0, 1))])
    finally:
        await other.close()
    hits = await adapter.search("moved", SearchQuery(vector=vec(1, 0), top_k=5))
    assert [h.id for h in hits] == ["b"]


async def test_index_with_the_first_spec_format_opens(
    server: PineconeTestServer, adapter: PineconeAdapter
) -> None:
    """Tags as the adapter wrote them before the shared spec codec still open."""
    import asyncio
    import json

    old = json.dumps(  # the old writer's document: flat index entries, "created"
        {
            "name": "Legacy_Docs",
            "text_field": "body",
            "embedding_model": "minilm",
            "index_type": "SERVERLESS",
            "index_params": {"region": "us-west-2"},
            "created": "2026-11-02T08:30:00+00:00",
        },
        ensure_ascii=True,
        sort_keys=True,
        separators=(",", ":"),
    )
    tags = {"vectorgate": "1"}
    tags.update({f"vg_spec{i // 120}": old[i : i + 120] for i in range(0, len(old), 120)})
    pc = AsyncPinecone(api_key=server.api_key, host=server.url)
    await pc.indexes.create(
        name=index_name_for("Legacy_Docs"),
        schema={
            "fields": {"_values": {"type": "dense_vector", "dimension": 2, "metric": "cosine"}}
        },
        tags=tags,
        timeout=-1,
    )
    await pc.close()
    await asyncio.sleep(server.ready_after)

    assert "Legacy_Docs" in await adapter.list_collections()
    info = await adapter.describe_collection("Legacy_Docs")
    assert (info.dimension, info.metric, info.text_field) == (2, Metric.COSINE, "body")
    assert info.embedding_model == "minilm"
    assert info.index == IndexSpec(type="SERVERLESS", params={"region": "us-west-2"})
    assert info.create_time is not None and info.create_time.year == 2026
    # The typed layout applies: filters work.
    await adapter.upsert(
        "Legacy_Docs", [Document(id="a", text="t", vector=vec(1, 0), metadata={"n": 1})]
    )
    assert await adapter.count("Legacy_Docs", Condition("n", Op.EQ, 1)) == 1


async def test_upsert_columns_is_native_and_writes_what_upsert_writes(
    adapter: PineconeAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No per-row documents: the batch's columns become the backend's rows, typed as
    ``upsert`` types them (ints stay ints, absent values absent)."""
    await check_native_columns(adapter, monkeypatch, "columnar")
