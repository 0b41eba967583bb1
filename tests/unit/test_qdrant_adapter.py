"""Qdrant adapter on qdrant-client's local mode: scores, layout, persistence and errors.

The shared contract suite (``tests/contract``) covers the adapter protocol; these
tests pin what is specific to Qdrant: the score conversion checked against
numpy, the payload layout, the semantic gaps the filter compiler closes, the
spec stored in collection metadata, validation and error translation.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import AsyncQdrantClient
from qdrant_client import grpc as qgrpc
from qdrant_client import models as qm
from qdrant_client.conversions.conversion import GrpcToRest, RestToGrpc

from vectorgate_server.adapters.base import Adapter
from vectorgate_server.adapters.configs import QdrantConfig
from vectorgate_server.adapters.qdrant import SPEC_METADATA_KEY, QdrantAdapter
from vectorgate_server.adapters.qdrant.adapter import _points
from vectorgate_server.adapters.qdrant.layout import _Layout
from vectorgate_server.domain import (
    And,
    CollectionSpec,
    Condition,
    Document,
    Filter,
    IndexSpec,
    Metric,
    Not,
    Op,
    Or,
    OutputFields,
    SearchQuery,
    normalise_score,
)
from vectorgate_server.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    Unavailable,
    Unsupported,
)
from vectorgate_server.filters.qdrant import compile_filter, point_id

DIM = 8


@pytest.fixture
async def adapter(tmp_path: Path) -> AsyncIterator[QdrantAdapter]:
    a = QdrantAdapter("q", path=str(tmp_path / "qdrant"))
    await a.start()
    try:
        yield a
    finally:
        await a.close()


def vectors(n: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, DIM)).astype(np.float32)


def query(
    vector: np.ndarray, top_k: int = 10, filter: Filter | None = None, **kw: object
) -> SearchQuery:
    return SearchQuery(vector=vector, top_k=top_k, filter=filter, **kw)  # type: ignore[arg-type]


def test_is_an_adapter_and_from_config(tmp_path: Path) -> None:
    local = QdrantAdapter.from_config(QdrantConfig(name="q", path=str(tmp_path)))
    assert isinstance(local, Adapter) and local.is_local and local.store == "q"
    remote = QdrantAdapter.from_config(
        QdrantConfig(name="r", url="https://user:pw@example.invalid:6333", api_key="s3cret")
    )
    assert not remote.is_local
    assert remote.location == "https://example.invalid:6333"
    assert remote.capabilities.native_params == {"hnsw_ef", "exact", "indexed_only"}
    assert remote.capabilities.filter_ops == set(Op)
    assert remote.capabilities.metrics == set(Metric)


# --------------------------------------------------------------------------- scores


@pytest.mark.parametrize("metric", list(Metric))
async def test_scores_match_numpy(adapter: QdrantAdapter, metric: Metric) -> None:
    data = vectors(20)
    await adapter.create_collection(CollectionSpec(name="s", dimension=DIM, metric=metric))
    await adapter.upsert(
        "s", [Document(id=f"d{i}", vector=v, text=f"t{i}") for i, v in enumerate(data)]
    )
    q = vectors(1, seed=3)[0]
    hits = await adapter.search("s", query(q, top_k=20))
    assert len(hits) == 20
    d64, q64 = data.astype(np.float64), q.astype(np.float64)
    if metric is Metric.COSINE:
        canonical = d64 @ q64 / (np.linalg.norm(d64, axis=1) * np.linalg.norm(q64))
    elif metric is Metric.L2:
        canonical = np.linalg.norm(d64 - q64, axis=1)
    else:
        canonical = d64 @ q64
    expected = {f"d{i}": float(c) for i, c in enumerate(canonical)}
    for hit in hits:
        assert hit.raw_score == pytest.approx(expected[hit.id], rel=1e-5, abs=1e-5)
        assert hit.score == pytest.approx(normalise_score(metric, expected[hit.id]), rel=1e-5)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


async def test_cosine_vectors_come_back_as_given(adapter: QdrantAdapter) -> None:
    data = vectors(5) * np.float32(3.5)
    await adapter.create_collection(CollectionSpec(name="c", dimension=DIM))
    await adapter.upsert("c", [Document(id=f"d{i}", vector=v) for i, v in enumerate(data)])
    docs = await adapter.get("c", [f"d{i}" for i in range(5)], include_vectors=True)
    for i, doc in enumerate(docs):
        assert doc.vector is not None and doc.vector.dtype == np.float32
        np.testing.assert_allclose(doc.vector, data[i], rtol=1e-6, atol=1e-6)
    hits = await adapter.search("c", query(data[0], top_k=1, output=OutputFields(vector=True)))
    assert hits[0].id == "d0" and hits[0].vector is not None
    np.testing.assert_allclose(hits[0].vector, data[0], rtol=1e-6, atol=1e-6)


async def test_cosine_vectors_come_back_as_given_after_reopen(tmp_path: Path) -> None:
    # qdrant-client's local mode reloads persisted cosine vectors unnormalised.
    path = str(tmp_path / "store")
    data = vectors(4) * np.float32(2.5)
    a = QdrantAdapter("q", path=path)
    await a.start()
    await a.create_collection(CollectionSpec(name="c", dimension=DIM))
    await a.upsert("c", [Document(id=f"d{i}", vector=v) for i, v in enumerate(data)])
    await a.close()
    b = QdrantAdapter("q", path=path)
    await b.start()
    try:
        docs = await b.get("c", [f"d{i}" for i in range(4)], include_vectors=True)
        for i, doc in enumerate(docs):
            assert doc.vector is not None
            np.testing.assert_allclose(doc.vector, data[i], rtol=1e-6, atol=1e-6)
    finally:
        await b.close()


# --------------------------------------------------------------------------- layout


async def test_payload_layout_and_point_ids(adapter: QdrantAdapter, tmp_path: Path) -> None:
    await adapter.create_collection(CollectionSpec(name="l", dimension=DIM, text_field="body"))
    meta = {"tags": ["a", "b"], "n": 3, "id_like": "x", "a.b": True}
    await adapter.upsert(
        "l", [Document(id="doc/1", text="hello", vector=vectors(1)[0], metadata=meta)]
    )
    assert adapter._client is not None
    records = await adapter._call(adapter._client.retrieve("l", ids=[point_id("doc/1")]), "l")
    assert records[0].id == point_id("doc/1")
    assert records[0].payload == {
        "id": "doc/1",
        "body": "hello",
        "metadata": meta,
        "_vectorgate": {
            "lists": ["tags"],
            "norm": pytest.approx(float(np.linalg.norm(vectors(1)[0]))),
        },
    }
    (doc,) = await adapter.get("l", ["doc/1"], include_vectors=False)
    assert (doc.id, doc.text, doc.metadata, doc.vector) == ("doc/1", "hello", meta, None)


async def test_reserved_text_field_is_rejected(adapter: QdrantAdapter) -> None:
    for name in ("id", "metadata", "_vectorgate"):
        with pytest.raises(InvalidArgument) as info:
            await adapter.create_collection(
                CollectionSpec(name="t", dimension=DIM, text_field=name)
            )
        assert info.value.field == "collection.text_field"
    assert await adapter.list_collections() == []


# --------------------------------------------------------------------------- filter semantics

DOCS: dict[str, dict[str, object]] = {
    "s_a": {"s": "a"},
    "s_b": {"s": "b"},
    "l_two": {"l": ["a", "b"]},
    "l_one": {"l": ["a"]},
    "l_empty": {"l": []},
    "n_int": {"n": 5},
    "n_float": {"n": 5.0},
    "n_half": {"n": 5.5},
    "n_one": {"n": 1},
    "b_true": {"b": True},
    "b_false": {"b": False},
    "missing": {"other": "a"},
    "dotted": {"x.y": "a"},
}


@pytest.fixture
async def semantic(adapter: QdrantAdapter) -> QdrantAdapter:
    await adapter.create_collection(CollectionSpec(name="f", dimension=DIM))
    data = vectors(len(DOCS))
    await adapter.upsert(
        "f",
        [
            Document(id=doc_id, vector=data[i], metadata=meta)  # type: ignore[arg-type]
            for i, (doc_id, meta) in enumerate(DOCS.items())
        ],
    )
    return adapter


async def matching(adapter: QdrantAdapter, f: Filter) -> set[str]:
    hits = await adapter.search("f", query(vectors(1, seed=1)[0], top_k=100, filter=f))
    ids = {h.id for h in hits}
    assert await adapter.count("f", f) == len(ids)
    return ids


ALL = set(DOCS)
LISTS = {"l_two", "l_one", "l_empty"}


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        # scalar operators never look inside lists
        (Condition("s", Op.EQ, "a"), {"s_a"}),
        (Condition("l", Op.EQ, "a"), set()),
        (Condition("l", Op.IN, ("a", "b")), set()),
        (Condition("l", Op.NE, "a"), ALL),
        (Condition("l", Op.NIN, ("a",)), ALL),
        # CONTAINS needs a list
        (Condition("l", Op.CONTAINS, "a"), {"l_two", "l_one"}),
        (Condition("s", Op.CONTAINS, "a"), set()),
        (Not(Condition("l", Op.CONTAINS, "a")), ALL - {"l_two", "l_one"}),
        # ints and floats compare numerically; bools are not numbers
        (Condition("n", Op.EQ, 5), {"n_int", "n_float"}),
        (Condition("n", Op.EQ, 5.0), {"n_int", "n_float"}),
        (Condition("n", Op.IN, (5, 5.5)), {"n_int", "n_float", "n_half"}),
        (Condition("n", Op.GTE, 5), {"n_int", "n_float", "n_half"}),
        (Condition("n", Op.GT, 5), {"n_half"}),
        (Condition("n", Op.EQ, True), set()),
        (Condition("b", Op.EQ, 1), set()),
        (Condition("b", Op.LT, 2), set()),
        (Condition("b", Op.EQ, True), {"b_true"}),
        (Condition("b", Op.IN, (True, False)), {"b_true", "b_false"}),
        (Condition("b", Op.NE, True), ALL - {"b_true"}),
        # strings never equal numbers
        (Condition("s", Op.EQ, 5), set()),
        (Condition("n", Op.EQ, "5"), set()),
        # missing fields
        (Condition("other", Op.NE, "a"), ALL - {"missing"}),
        (Not(Condition("other", Op.EQ, "a")), ALL - {"missing"}),
        (Condition("nope", Op.LT, 100), set()),
        # dotted keys are one key
        (Condition("x.y", Op.EQ, "a"), {"dotted"}),
        # id
        (Condition("id", Op.IN, ("n_int", "missing", "absent")), {"n_int", "missing"}),
        (Condition("id", Op.NE, "n_int"), ALL - {"n_int"}),
        # boolean structure
        (
            Or(
                (
                    Condition("s", Op.EQ, "a"),
                    And((Condition("n", Op.GT, 5), Not(Condition("id", Op.EQ, "x")))),
                )
            ),
            {"s_a", "n_half"},
        ),
        # injection-looking values match nothing
        (Condition("s", Op.EQ, 'x" or id != "'), set()),
        (Condition("id", Op.EQ, "x' OR 1=1 --"), set()),
        (Condition("l", Op.CONTAINS, '\\"); drop'), set()),
    ],
)
async def test_filter_semantics(semantic: QdrantAdapter, f: Filter, expected: set[str]) -> None:
    assert await matching(semantic, f) == expected


async def test_delete_by_filter_and_ids(semantic: QdrantAdapter) -> None:
    await semantic.delete("f", filter=Condition("l", Op.CONTAINS, "a"))
    await semantic.delete("f", ids=["missing", "absent"])
    assert await semantic.count("f") == len(DOCS) - 3
    got = await semantic.get("f", ["l_two", "missing", "n_int"], False)
    assert [d.id for d in got] == ["n_int"]


async def test_metadata_types_are_fixed_per_key(adapter: QdrantAdapter, tmp_path: Path) -> None:
    await adapter.create_collection(CollectionSpec(name="t", dimension=DIM))
    v = vectors(2)
    await adapter.upsert("t", [Document(id="a", vector=v[0], metadata={"k": 1, "s": "x"})])
    # A second adapter on the same storage shares its client and sees the types.
    other = QdrantAdapter("q2", path=str(tmp_path / "qdrant"))
    await other.start()
    try:
        with pytest.raises(InvalidArgument) as info:
            await other.upsert("t", [Document(id="b", vector=v[1], metadata={"k": "one"})])
        assert info.value.field == "documents[0].metadata.k"
        await other.upsert("t", [Document(id="b", vector=v[1], metadata={"new": True})])
        # The first adapter cached the layout before "new" was typed: it refreshes.
        with pytest.raises(InvalidArgument) as info:
            await adapter.upsert("t", [Document(id="c", vector=v[1], metadata={"new": 1.5})])
        assert info.value.field == "documents[0].metadata.new"
    finally:
        await other.close()
    # Closing one adapter leaves the shared storage open for the other.
    assert await adapter.count("t") == 2
    assert adapter._client is not None
    described = await adapter._call(adapter._client.get_collection("t"), "t")
    fields = {
        k: v for k, v in (described.config.metadata or {}).items() if k.startswith("vectorgate:")
    }
    assert fields == {
        "vectorgate:field:k": "number",
        "vectorgate:field:s": "string",
        "vectorgate:field:new": "bool",
    }


# --------------------------------------------------------------------------- spec persistence


async def test_spec_survives_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    a = QdrantAdapter("q", path=path)
    await a.start()
    spec = CollectionSpec(
        name="persist-me",
        dimension=DIM,
        metric=Metric.IP,
        text_field="body",
        embedding_model="local/minilm",
        index=IndexSpec("hnsw", {"m": 8, "ef_construct": 64.0}),
    )
    created = await a.create_collection(spec)
    await a.upsert("persist-me", [Document(id="a", vector=vectors(1)[0], text="x")])
    await a.close()
    await a.close()  # idempotent

    b = QdrantAdapter("q", path=path)
    await b.start()
    try:
        info = await b.describe_collection("persist-me")
        assert info.dimension == DIM and info.metric is Metric.IP
        assert info.text_field == "body" and info.embedding_model == "local/minilm"
        assert info.index == IndexSpec("HNSW", {"m": 8, "ef_construct": 64})
        assert info.create_time == created.create_time and info.create_time is not None
        assert info.document_count == 1
        (doc,) = await b.get("persist-me", ["a"], False)
        assert doc.text == "x"
    finally:
        await b.close()


async def test_foreign_collection_is_described_from_its_schema(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    raw = AsyncQdrantClient(path=path)
    await raw.create_collection(
        "foreign", vectors_config={"dense": qm.VectorParams(size=4, distance=qm.Distance.EUCLID)}
    )
    await raw.upsert(
        "foreign",
        [qm.PointStruct(id=1, vector={"dense": [1.0, 0, 0, 0]}, payload={"text": "hi"})],
    )
    await raw.close()
    a = QdrantAdapter("q", path=path)
    await a.start()
    try:
        info = await a.describe_collection("foreign")
        assert (info.dimension, info.metric, info.document_count) == (4, Metric.L2, 1)
        assert info.create_time is None and info.index.type == "HNSW"
        hits = await a.search("foreign", query(np.array([1, 0, 0, 0], dtype=np.float32)))
        assert [(h.id, h.text, h.raw_score, h.score) for h in hits] == [("1", "hi", 0.0, 1.0)]
    finally:
        await a.close()


# --------------------------------------------------------------------------- validation


async def test_index_specs(adapter: QdrantAdapter) -> None:
    flat = await adapter.create_collection(
        CollectionSpec(name="flat", dimension=DIM, index=IndexSpec("flat"))
    )
    assert flat.index == IndexSpec("FLAT")
    explanation = await adapter.explain("flat", query(vectors(1)[0]))
    assert explanation.native_params == {"limit": 10, "exact": True}
    bad: list[tuple[IndexSpec, str]] = [
        (IndexSpec("FLAT", {"m": 4}), "collection.index.params.m"),
        (IndexSpec("HNSW", {"nlist": 4}), "collection.index.params.nlist"),
        (IndexSpec("HNSW", {"m": 2.5}), "collection.index.params.m"),
        (IndexSpec("HNSW", {"m": True}), "collection.index.params.m"),
        (IndexSpec("HNSW", {"ef_construct": 2}), "collection.index.params.ef_construct"),
    ]
    for index, field in bad:
        with pytest.raises(InvalidArgument) as info:
            await adapter.create_collection(CollectionSpec(name="bad", dimension=DIM, index=index))
        assert info.value.field == field
    with pytest.raises(InvalidArgument) as info:
        await adapter.create_collection(
            CollectionSpec(name="bad", dimension=DIM, index=IndexSpec("IVF_FLAT"))
        )
    assert info.value.field == "collection.index.type"
    assert await adapter.list_collections() == ["flat"]


async def test_native_params_and_explain(adapter: QdrantAdapter) -> None:
    await adapter.create_collection(CollectionSpec(name="n", dimension=DIM))
    q = query(
        vectors(1)[0],
        filter=Condition("k", Op.GT, 1),
        native_params={"hnsw_ef": 64.0, "exact": False, "indexed_only": True},
    )
    explanation = await adapter.explain("n", q)
    assert explanation.backend == "qdrant"
    assert explanation.native_params == {
        "limit": 10,
        "hnsw_ef": 64,
        "exact": False,
        "indexed_only": True,
    }
    assert json.loads(explanation.native_filter) == {
        "must": [{"key": "metadata.k", "range": {"gt": 1.0}}]
    }
    assert await adapter.search("n", q) == []
    for params, field in [
        ({"ef": 10}, "native_params.ef"),
        ({"hnsw_ef": 0}, "native_params.hnsw_ef"),
        ({"hnsw_ef": "64"}, "native_params.hnsw_ef"),
        ({"exact": 1}, "native_params.exact"),
        ({"indexed_only": "yes"}, "native_params.indexed_only"),
    ]:
        with pytest.raises(InvalidArgument) as info:
            await adapter.search("n", query(vectors(1)[0], native_params=params))
        assert info.value.field == field


# --------------------------------------------------------------------------- errors


async def test_not_found_and_already_exists(adapter: QdrantAdapter) -> None:
    v = vectors(1)[0]
    calls = [
        adapter.describe_collection("nope"),
        adapter.drop_collection("nope"),
        adapter.count("nope"),
        adapter.upsert("nope", [Document(id="a", vector=v)]),
        adapter.get("nope", ["a"], False),
        adapter.delete("nope", ids=["a"]),
        adapter.delete("nope", filter=Condition("k", Op.EQ, 1)),
        adapter.search("nope", query(v)),
        adapter.explain("nope", query(v)),
    ]
    for call in calls:
        with pytest.raises(NotFound) as info:
            await call
        assert info.value.reason == "COLLECTION_NOT_FOUND"
    await adapter.create_collection(CollectionSpec(name="dup", dimension=DIM))
    with pytest.raises(AlreadyExists):
        await adapter.create_collection(CollectionSpec(name="dup", dimension=DIM))
    await adapter.drop_collection("dup")
    with pytest.raises(NotFound):
        await adapter.upsert("dup", [Document(id="a", vector=v)])


async def test_collection_metadata_holds_the_spec(adapter: QdrantAdapter) -> None:
    await adapter.create_collection(CollectionSpec(name="m", dimension=DIM, embedding_model="x"))
    assert adapter._client is not None
    described = await adapter._call(adapter._client.get_collection("m"), "m")
    stored = (described.config.metadata or {})[SPEC_METADATA_KEY]
    assert stored["dimension"] == DIM and stored["metric"] == "cosine"
    assert stored["embedding_model"] == "x" and stored["index"] == {"type": "", "params": {}}


@pytest.mark.parametrize("prefer_grpc", [False, True])
async def test_unreachable_server_is_unavailable_without_credentials(prefer_grpc: bool) -> None:
    a = QdrantAdapter(
        "remote",
        url="http://127.0.0.1:9",
        api_key="s3cret-key",
        prefer_grpc=prefer_grpc,
        timeout_s=2,
    )
    with pytest.warns(UserWarning, match="insecure connection"):
        await a.start()
    try:
        with pytest.raises(Unavailable) as info:
            await a.list_collections()
        message = str(info.value)
        assert info.value.reason == "BACKEND_UNAVAILABLE"
        assert "remote" in message and "qdrant" in message and "127.0.0.1:9" in message
        assert "s3cret" not in message
    finally:
        await a.close()


async def test_closed_adapter_is_unavailable(tmp_path: Path) -> None:
    a = QdrantAdapter("q", path=":memory:")
    await a.start()
    await a.close()
    with pytest.raises(Unavailable):
        await a.list_collections()


async def test_storage_locked_by_another_client_is_unavailable(tmp_path: Path) -> None:
    path = str(tmp_path / "locked")
    raw = AsyncQdrantClient(path=path)
    try:
        other = QdrantAdapter("q2", path=path)
        with pytest.raises(Unavailable) as info:
            await other.start()
        assert "q2" in str(info.value) and "already open" in str(info.value)
    finally:
        await raw.close()


async def test_upsert_translates_documents(adapter: QdrantAdapter) -> None:
    """Documents come validated from the application layer; the adapter translates them."""
    await adapter.create_collection(CollectionSpec(name="v", dimension=DIM))
    good = vectors(1)[0]
    # a metadata key keeps its type; a conflicting batch is refused whole
    with pytest.raises(InvalidArgument) as info:
        await adapter.upsert(
            "v",
            [
                Document(id="ok", vector=good, metadata={"k": "s"}),
                Document(id="a", vector=good, metadata={"k": 1}),
            ],
        )
    assert info.value.field == "documents[1].metadata.k"
    assert await adapter.count("v") == 0
    # integral doubles beyond 64 bits are stored as numbers and compare numerically
    await adapter.upsert("v", [Document(id="big", vector=good, metadata={"k": 10**20})])
    assert await adapter.count("v", Condition("k", Op.GT, 1e19)) == 1
    (doc,) = await adapter.get("v", ["big"], False)
    assert doc.metadata == {"k": 1e20}
    # repeated ids in one batch: the last one wins
    await adapter.upsert(
        "v",
        [Document(id="r", vector=good, text="first"), Document(id="r", vector=good, text="last")],
    )
    (doc,) = await adapter.get("v", ["r", "r"], False)
    assert doc.text == "last"


async def test_unsupported_foreign_distance(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    raw = AsyncQdrantClient(path=path)
    await raw.create_collection(
        "manhattan", vectors_config=qm.VectorParams(size=4, distance=qm.Distance.MANHATTAN)
    )
    await raw.close()
    a = QdrantAdapter("q", path=path)
    await a.start()
    try:
        with pytest.raises(Unsupported) as info:
            await a.describe_collection("manhattan")
        assert info.value.backend == "qdrant"
    finally:
        await a.close()


# --------------------------------------------------------------------------- gRPC wire format
# No Qdrant server runs here; these pin that what the adapter sends survives
# qdrant-client's REST -> gRPC conversion (the default transport, prefer_grpc=True).


def _without_empty(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_empty(v) for k, v in value.items() if v not in (None, [])}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


@pytest.mark.parametrize(
    "f",
    [
        And(
            (
                Or((Condition("genre", Op.IN, ("a", "b")), Condition("a.b", Op.GT, 1.5))),
                Not(Condition("tags", Op.CONTAINS, "x")),
                Condition("id", Op.NIN, ("d1", "d2")),
                Condition("ok", Op.IN, (True, False)),
                Condition("n", Op.EQ, 5),
                Condition("n", Op.NE, -2.25),
                Condition("s", Op.EQ, 'x" or id != "'),
            )
        ),
        Condition("id", Op.EQ, "doc"),
    ],
)
def test_filters_survive_grpc_conversion(f: Filter) -> None:
    compiled = compile_filter(f)
    back = GrpcToRest.convert_filter(RestToGrpc.convert_filter(compiled))
    assert _without_empty(back.model_dump()) == _without_empty(compiled.model_dump())


def test_points_and_collection_metadata_survive_grpc_conversion() -> None:
    layout = _Layout(
        dimension=3,
        metric=Metric.COSINE,
        text_field="body",
        vector_name=None,
        index=IndexSpec(),
        fields={},
    )
    meta = {"l": [], "tags": ["a"], "a.b": 1, "f": 2.5, "f2": 3.0, "b": True, "big": 2**40}
    doc = Document(id="x", text="t", vector=np.array([1, 2, 3], dtype=np.float32), metadata=meta)
    points, new_fields = _points([doc], layout, "c")
    assert set(new_fields) == set(meta)
    grpc_point = RestToGrpc.convert_point_struct(points[0])
    payload = GrpcToRest.convert_payload(grpc_point.payload)
    assert payload == points[0].payload
    assert isinstance(payload["metadata"]["big"], int)
    assert isinstance(payload["metadata"]["f2"], float)
    assert grpc_point.id.uuid == point_id("x")

    stored = {SPEC_METADATA_KEY: {"dimension": 3, "index": {"type": "HNSW", "params": {"m": 8}}}}
    message = qgrpc.CreateCollection(
        collection_name="c", metadata=RestToGrpc.convert_payload(stored)
    )
    assert GrpcToRest.convert_payload(message.metadata) == stored
