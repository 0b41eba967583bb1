"""Property tests: filter compilers, the vector codec and request validation.

* Random filter trees over random metadata: the LanceDB adapter (its SQL run
  against a real table) and the Qdrant adapter (local mode) select exactly the
  documents :func:`vectorgate.testing.reference.matches` selects.
* The other compilers (Milvus, OpenSearch, Pinecone) raise nothing but domain
  errors, and every string reaches their output escaped.
* The vector codec round-trips, rejects NaN/Inf, and never crashes on bytes.
* Random protobuf requests to the real handlers raise only domain errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vectorgate.testing.reference import matches
from vectorgate.v1 import search_service_pb2 as spb
from vectorgate.v1 import types_pb2
from vectorgate.v1 import upsert_service_pb2 as upb
from vectorgate_server import convert
from vectorgate_server.adapters.base import Adapter
from vectorgate_server.adapters.lancedb import LanceDBAdapter
from vectorgate_server.app import Gateway
from vectorgate_server.domain import (
    And,
    CollectionSpec,
    Condition,
    Document,
    Filter,
    Metric,
    Not,
    Op,
    Or,
    OutputFields,
    SearchQuery,
)
from vectorgate_server.embeddings import EmbeddingRegistry
from vectorgate_server.errors import VectorgateError
from vectorgate_server.filters import milvus as milvus_filters
from vectorgate_server.filters import opensearch as opensearch_filters
from vectorgate_server.filters import pinecone as pinecone_filters
from vectorgate_server.services.handlers import implementations
from vectorgate_server.services.registry import CallContext
from vectorgate_server.storage import Database, IndexRegistry, filter_from_json, filter_to_json

DIM = 4
COLLECTION = "props"
#: Characters that break naive quoting in SQL, JSON and Milvus expressions.
TRICKY = "ab'\"\\%_é\n` "

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)

# --------------------------------------------------------------------------- data

strings = st.text(alphabet=TRICKY, max_size=4)
numbers = st.one_of(
    st.integers(min_value=-4, max_value=4),
    st.sampled_from([-1.5, 0.0, 0.5, 2.25, 1e20, -0.0]),
)
scalars = st.one_of(strings, numbers, st.booleans())

FIELDS = ["color", "price", "in_stock", "tags", "id", "missing"]


def _corpus() -> list[tuple[str, dict[str, Any]]]:
    rng = random.Random(7)
    docs = []
    for i in range(60):
        meta: dict[str, Any] = {}
        if rng.random() < 0.8:
            meta["color"] = "".join(rng.choice(TRICKY) for _ in range(rng.randint(0, 2)))
        if rng.random() < 0.8:
            meta["price"] = rng.choice([-2, -1, 0, 1, 2, 3, 0.5, 2.25, -1.5])
        if rng.random() < 0.8:
            meta["in_stock"] = rng.random() < 0.5
        if rng.random() < 0.7:
            meta["tags"] = sorted({rng.choice(["a", "b", "'", '"', "\\", "é"]) for _ in range(2)})
        docs.append((f"d{i}" if i % 7 else f"d'{i}", meta))
    return docs


CORPUS = _corpus()


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    field = draw(st.sampled_from(FIELDS))
    op = draw(st.sampled_from(list(Op)))
    if op in (Op.IN, Op.NIN):
        kind = draw(st.sampled_from([strings, numbers, st.booleans()]))
        value: Any = tuple(draw(st.lists(kind, min_size=1, max_size=3)))
    elif op in (Op.GT, Op.GTE, Op.LT, Op.LTE):
        value = draw(numbers)
    elif op is Op.CONTAINS:
        value = draw(strings)
    else:
        value = draw(scalars)
    if field == "id":
        op = draw(st.sampled_from([Op.EQ, Op.NE, Op.IN, Op.NIN]))
        ids = st.sampled_from([d for d, _ in CORPUS[:5]] + ["nope", "'"])
        value = (
            tuple(draw(st.lists(ids, min_size=1, max_size=3)))
            if op in (Op.IN, Op.NIN)
            else draw(ids)
        )
    return Condition(field, op, value)


filters: st.SearchStrategy[Filter] = st.recursive(
    conditions(),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda fs: And(tuple(fs))),
        st.lists(children, min_size=1, max_size=3).map(lambda fs: Or(tuple(fs))),
        children.map(Not),
    ),
    max_leaves=6,
)


def expected(f: Filter) -> set[str]:
    return {doc_id for doc_id, meta in CORPUS if matches(f, doc_id, meta)}


# --------------------------------------------------------------------------- real engines


class Engine:
    """An adapter holding the corpus, driven from a private event loop."""

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter
        self.loop = asyncio.new_event_loop()
        self.run(adapter.start())
        spec = CollectionSpec(
            name=COLLECTION,
            dimension=DIM,
            metric=Metric.COSINE,
            text_field="text",
            embedding_model="none",
        )
        self.run(adapter.create_collection(spec))
        rng = np.random.default_rng(0)
        docs = [
            Document(id=doc_id, vector=rng.random(DIM, dtype=np.float32) + 0.1, metadata=meta)
            for doc_id, meta in CORPUS
        ]
        self.run(adapter.upsert(COLLECTION, docs))

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def select(self, f: Filter) -> set[str]:
        query = SearchQuery(
            vector=np.ones(DIM, dtype=np.float32),
            top_k=len(CORPUS) + 5,
            filter=f,
            output=OutputFields(text=False, metadata=False),
        )
        return {hit.id for hit in self.run(self.adapter.search(COLLECTION, query))}

    def close(self) -> None:
        self.run(self.adapter.close())
        self.loop.close()


@pytest.fixture(scope="module")
def lance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = Engine(LanceDBAdapter("props", str(tmp_path_factory.mktemp("lance"))))
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def qdrant() -> Iterator[Engine]:
    pytest.importorskip("qdrant_client")
    from vectorgate_server.adapters.qdrant import QdrantAdapter

    engine = Engine(QdrantAdapter("props", path=":memory:"))
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def qdrant_edge() -> Iterator[Engine]:
    pytest.importorskip("qdrant_edge")
    from vectorgate_server.adapters.qdrant_edge import QdrantEdgeAdapter

    engine = Engine(QdrantEdgeAdapter("props", path=":memory:"))
    yield engine
    engine.close()


@SETTINGS
@given(f=filters)
def test_lancedb_sql_selects_what_the_reference_selects(lance: Engine, f: Filter) -> None:
    got = lance.select(f)
    assert got == expected(f), f


@SETTINGS
@given(f=filters)
def test_qdrant_local_selects_what_the_reference_selects(qdrant: Engine, f: Filter) -> None:
    got = qdrant.select(f)
    assert got == expected(f), f


@SETTINGS
@given(f=filters)
def test_qdrant_edge_selects_what_the_reference_selects(qdrant_edge: Engine, f: Filter) -> None:
    got = qdrant_edge.select(f)
    assert got == expected(f), f


# --------------------------------------------------------------------------- other compilers

_MILVUS_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _strings_in(f: Filter) -> list[str]:
    if isinstance(f, And | Or):
        return [s for child in f.filters for s in _strings_in(child)]
    if isinstance(f, Not):
        return _strings_in(f.filter)
    values = f.value if isinstance(f.value, tuple) else (f.value,)
    return [v for v in values if isinstance(v, str)]


@SETTINGS
@given(f=filters)
def test_milvus_expression_escapes_every_string(f: Filter) -> None:
    try:
        expr = milvus_filters.compile_filter(f)
    except VectorgateError:
        return
    # Outside well-formed string literals, no quote or backslash survives.
    rest = _MILVUS_STRING.sub("", expr)
    assert '"' not in rest and "\\" not in rest and "'" not in rest, expr
    for literal in _MILVUS_STRING.findall(expr):
        assert "\n" not in literal


@SETTINGS
@given(f=filters)
def test_opensearch_and_pinecone_raise_only_domain_errors(f: Filter) -> None:
    import json

    for compile_filter in (opensearch_filters.compile_filter, pinecone_filters.compile_filter):
        try:
            compiled = compile_filter(f)
        except VectorgateError:
            continue
        # The output is JSON data: every string is carried as a JSON string, intact.
        encoded = json.dumps(compiled)
        assert json.loads(encoded) == compiled


@SETTINGS
@given(f=filters)
def test_filter_protobuf_round_trip(f: Filter) -> None:
    assert convert.filter_from_pb(convert.filter_to_pb(f)) == _normalised(f)


def _normalised(f: Filter) -> Filter:
    if isinstance(f, And):
        return And(tuple(_normalised(c) for c in f.filters))
    if isinstance(f, Or):
        return Or(tuple(_normalised(c) for c in f.filters))
    if isinstance(f, Not):
        return Not(_normalised(f.filter))
    value = f.value
    if isinstance(value, tuple):
        return Condition(f.field, f.op, tuple(_num(v) for v in value))
    return Condition(f.field, f.op, _num(value))


def _num(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


# --------------------------------------------------------------------------- vector codec

floats32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@SETTINGS
@given(values=st.lists(floats32, min_size=1, max_size=64), packed=st.booleans())
def test_vector_round_trip(values: list[float], packed: bool) -> None:
    array = np.array(values, dtype=np.float32)
    pb = convert.encode_vector(array, packed=packed)
    decoded = convert.decode_vector(types_pb2.Vector.FromString(pb.SerializeToString()), "v")
    assert decoded.dtype == np.float32
    assert np.array_equal(decoded, array)


@SETTINGS
@given(
    values=st.lists(floats32, min_size=1, max_size=16),
    bad=st.sampled_from([math.nan, math.inf, -math.inf]),
    where=st.integers(min_value=0, max_value=15),
    packed=st.booleans(),
)
def test_non_finite_components_are_rejected(
    values: list[float], bad: float, where: int, packed: bool
) -> None:
    where %= len(values)
    values[where] = bad
    pb = convert.encode_vector(np.array(values, dtype=np.float32), packed=packed)
    with pytest.raises(VectorgateError) as info:
        convert.decode_vector(pb, "v")
    assert info.value.field is not None and info.value.field.endswith(f"[{where}]")


@SETTINGS
@given(raw=st.binary(max_size=64))
def test_random_packed_bytes_never_crash(raw: bytes) -> None:
    try:
        array = convert.decode_vector(types_pb2.Vector(packed=raw), "v")
    except VectorgateError:
        return
    assert len(raw) % 4 == 0 and array.shape == (len(raw) // 4,)
    assert np.isfinite(array).all()


doc_vectors = st.one_of(
    st.none(),
    st.lists(st.floats(width=32), min_size=1, max_size=4).map(
        lambda v: types_pb2.Vector(packed=np.array(v, dtype="<f4").tobytes())
    ),
    st.lists(st.floats(width=32), min_size=0, max_size=4).map(lambda v: types_pb2.Vector(values=v)),
    st.binary(max_size=10).map(lambda b: types_pb2.Vector(packed=b)),
)


@SETTINGS
@given(vectors=st.lists(doc_vectors, max_size=6))
def test_batch_vector_decoding_equals_one_by_one(vectors: list[types_pb2.Vector | None]) -> None:
    docs = []
    for v in vectors:
        doc = types_pb2.Document(id="x")
        if v is not None:
            doc.vector.CopyFrom(v)
        docs.append(doc)

    def one_by_one() -> list[Any]:
        return [
            convert.decode_vector(d.vector, f"documents[{i}].vector")
            if d.HasField("vector")
            else None
            for i, d in enumerate(docs)
        ]

    try:
        expected_vectors = one_by_one()
    except VectorgateError as err:
        with pytest.raises(type(err)) as info:
            convert.decode_document_vectors(docs)
        assert info.value.field == err.field
        return
    got = convert.decode_document_vectors(docs)
    assert len(got) == len(expected_vectors)
    for a, b in zip(got, expected_vectors, strict=True):
        if b is None:
            assert a is None
        else:
            assert a is not None and a.dtype == np.float32 and np.array_equal(a, b)


# --------------------------------------------------------------------------- request validation


class _NoEmbedder:
    """An embedder that is never loaded: random texts get embedded cheaply."""

    name = "fake-mini"
    dimension = DIM
    max_batch = 32

    async def embed(self, texts: Any) -> Any:
        return self.embed_sync(texts)

    def embed_sync(self, texts: Any) -> Any:
        return np.ones((len(texts), DIM), dtype=np.float32)


@pytest.fixture(scope="module")
def services(lance: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    registry = EmbeddingRegistry()
    registry.register(_NoEmbedder(), default=True)  # type: ignore[arg-type]
    db = Database(Path(tmp_path_factory.mktemp("state")) / "state.db")
    indexes = IndexRegistry(db, encode_filter=filter_to_json, decode_filter=filter_from_json)
    gateway = Gateway(
        stores={"props": lance.adapter},
        default_store="props",
        embeddings=registry,
        indexes=indexes,
        database=db,
    )
    lance.run(indexes.load())
    spec = CollectionSpec(
        name="scratch", dimension=DIM, metric=Metric.COSINE, text_field="text", embedding_model=""
    )
    lance.run(lance.adapter.create_collection(spec))
    yield implementations(gateway)
    db.close()


names = st.one_of(st.sampled_from([COLLECTION, "", "nope", "9bad", "a" * 200]), st.text(max_size=8))
pb_vectors = st.one_of(
    st.builds(lambda v: types_pb2.Vector(values=v), st.lists(st.floats(width=32), max_size=6)),
    st.builds(lambda b: types_pb2.Vector(packed=b), st.binary(max_size=24)),
)


OUTPUT_FIELDS = ["text", "vector", "metadata", "metadata.x", "bad", ""]


@st.composite
def search_requests(draw: st.DrawFn) -> spb.SearchRequest:
    request = spb.SearchRequest(
        collection=draw(names),
        store=draw(st.sampled_from(["", "props", "other"])),
        top_k=draw(st.integers(min_value=-2, max_value=2000)),
        score_threshold=draw(st.floats(width=32)),
    )
    if draw(st.booleans()):
        request.vector.CopyFrom(draw(pb_vectors))
    elif draw(st.booleans()):
        request.text = draw(st.text(max_size=20))
    if draw(st.booleans()):
        with contextlib.suppress(VectorgateError):
            request.filter.CopyFrom(convert.filter_to_pb(draw(filters)))
    request.output_fields.extend(
        draw(
            st.lists(
                st.sampled_from(["text", "vector", "metadata", "metadata.x", "bad", ""]), max_size=3
            )
        )
    )
    if draw(st.booleans()):
        request.native_params.update({draw(st.sampled_from(["nprobes", "ef", "x"])): draw(scalars)})
    request.explain = draw(st.booleans())
    return request


@st.composite
def upsert_requests(draw: st.DrawFn) -> upb.UpsertDocumentsRequest:
    request = upb.UpsertDocumentsRequest(collection=draw(names))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        doc = request.documents.add(id=draw(st.text(max_size=6)), text=draw(st.text(max_size=10)))
        if draw(st.booleans()):
            doc.vector.CopyFrom(draw(pb_vectors))
        if draw(st.booleans()):
            key = draw(st.sampled_from(["color", "price", "in_stock", "tags", "bad key", "_x", ""]))
            doc.metadata.update({key: draw(st.one_of(scalars, st.lists(strings, max_size=2)))})
    return request


def _ctx() -> CallContext:
    return CallContext(request_id="prop")


@SETTINGS
@given(request=search_requests())
def test_random_search_requests_raise_only_domain_errors(
    services: Any, lance: Engine, request: spb.SearchRequest
) -> None:
    with contextlib.suppress(VectorgateError):
        lance.run(services["SearchService"].Search(request, _ctx()))


@SETTINGS
@given(request=upsert_requests())
def test_random_upsert_requests_raise_only_domain_errors(
    services: Any, lance: Engine, request: upb.UpsertDocumentsRequest
) -> None:
    # Only writes into a scratch collection: the corpus the filter tests use stays intact.
    if request.collection == COLLECTION:
        request.collection = "scratch"
    with contextlib.suppress(VectorgateError):
        lance.run(services["UpsertService"].UpsertDocuments(request, _ctx()))


@SETTINGS
@given(raw=st.binary(max_size=200))
def test_random_bytes_as_requests_raise_only_domain_errors(
    services: Any, lance: Engine, raw: bytes
) -> None:
    try:
        request = spb.SearchRequest.FromString(raw)
    except DecodeError:
        return
    assume(request.collection != "")
    with contextlib.suppress(VectorgateError):
        lance.run(services["SearchService"].Search(request, _ctx()))
