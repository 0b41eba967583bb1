"""The one collection-spec model and codec every adapter persists its spec with.

The fixtures below are the exact documents the adapters wrote before they
shared the codec (one per backend, as their old writers built them), so a
collection created by an earlier release keeps opening.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from vectorgate_server.adapters.spec import (
    SPEC_VERSION,
    StoredSpec,
    decode_spec,
    encode_spec,
    new_column_types,
    new_field_types,
    spec_json,
    value_type,
)
from vectorgate_server.domain import CollectionSpec, Document, DocumentBatch, IndexSpec, Metric
from vectorgate_server.errors import InvalidArgument
from vectorgate_server.filters.common import FieldType

CREATED = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)

#: LanceDB schema metadata and OpenSearch ``_meta`` (``"version": 1``).
LANCEDB_V1 = json.dumps(
    {
        "version": 1,
        "dimension": 4,
        "metric": "l2",
        "text_field": "body",
        "embedding_model": "none",
        "index": {"type": "IVF_PQ", "params": {"num_partitions": 8}},
        "create_time": CREATED.isoformat(),
    },
    sort_keys=True,
)
#: Qdrant collection metadata (``"format": 1``, keyword-search entry).
QDRANT_F1 = {
    "format": 1,
    "dimension": 8,
    "metric": "cosine",
    "text_field": "text",
    "embedding_model": "minilm",
    "index": {"type": "HNSW", "params": {"m": 16}},
    "create_time": CREATED.isoformat(),
    "keyword": {"sparse_vector": "vg_text_bm25", "tokenizer": "word", "k1": 1.2},
}
#: Qdrant Edge ``vectorgate.json``: as Qdrant, plus the metadata key types.
EDGE_F1 = {**QDRANT_F1, "fields": {"year": "number", "tags": "string_list"}}
#: pgvector catalog ``spec`` column (no create time: it has its own column).
PGVECTOR_F1 = {
    "format": 1,
    "dimension": 3,
    "metric": "ip",
    "text_field": "text",
    "embedding_model": "",
    "index": {"type": "HNSW", "params": {"m": 12}},
    "text_search_config": "simple",
}
#: Pinecone index tags, joined: flat index entries, ``created``, no dimension/metric.
PINECONE_OLD = json.dumps(
    {
        "name": "Docs_2",
        "text_field": "text",
        "embedding_model": "minilm",
        "index_type": "SERVERLESS",
        "index_params": {"cloud": "aws"},
        "created": CREATED.isoformat(),
    },
    ensure_ascii=True,
    sort_keys=True,
    separators=(",", ":"),
)


def test_round_trip_keeps_everything() -> None:
    spec = StoredSpec(
        dimension=5,
        metric=Metric.IP,
        text_field="body",
        embedding_model="minilm",
        index=IndexSpec("HNSW", {"m": 8, "engine": "faiss"}),
        create_time=CREATED,
        name="Ünïcode-name",
        fields={"b": FieldType.BOOL, "a": FieldType.STRING},
        extra={"keyword": {"sparse_vector": "v"}},
    )
    assert decode_spec(encode_spec(spec)) == spec
    text = spec_json(spec)
    assert text.isascii() and " " not in text
    assert decode_spec(text) == spec
    assert decode_spec(text.encode()) == spec
    assert json.loads(text)["version"] == SPEC_VERSION


def test_of_a_create_request() -> None:
    request = CollectionSpec("c", 3, Metric.L2, "t", "m", IndexSpec("FLAT"))
    stored = StoredSpec.of(request, index=IndexSpec("HNSW", {"m": 4}), create_time=CREATED)
    assert (stored.dimension, stored.metric, stored.text_field) == (3, Metric.L2, "t")
    assert stored.index == IndexSpec("HNSW", {"m": 4})
    info = stored.info("c", document_count=2)
    assert (info.name, info.dimension, info.document_count, info.create_time) == (
        "c",
        3,
        2,
        CREATED,
    )
    # The backend's own dimension and metric win over the stored ones.
    assert stored.info("c", dimension=9, metric=Metric.IP).dimension == 9


def test_reads_the_lancedb_and_opensearch_format() -> None:
    spec = decode_spec(LANCEDB_V1)
    assert spec == StoredSpec(
        dimension=4,
        metric=Metric.L2,
        text_field="body",
        embedding_model="none",
        index=IndexSpec("IVF_PQ", {"num_partitions": 8}),
        create_time=CREATED,
    )
    assert decode_spec(json.loads(LANCEDB_V1)) == spec


def test_reads_the_qdrant_and_edge_format() -> None:
    spec = decode_spec(QDRANT_F1)
    assert spec is not None
    assert (spec.dimension, spec.metric, spec.embedding_model) == (8, Metric.COSINE, "minilm")
    assert spec.index == IndexSpec("HNSW", {"m": 16}) and spec.create_time == CREATED
    assert spec.extra == {"keyword": QDRANT_F1["keyword"]}  # kept verbatim, "format" dropped
    edge = decode_spec(EDGE_F1)
    assert edge is not None
    assert edge.fields == {"year": FieldType.NUMBER, "tags": FieldType.STRING_LIST}
    # Written back in the current format, it reads the same.
    assert decode_spec(encode_spec(edge)) == edge


def test_reads_the_pgvector_format() -> None:
    spec = decode_spec(PGVECTOR_F1)
    assert spec is not None
    assert (spec.dimension, spec.metric, spec.create_time) == (3, Metric.IP, None)
    assert spec.extra == {"text_search_config": "simple"}


def test_reads_the_old_pinecone_format() -> None:
    spec = decode_spec(PINECONE_OLD)
    assert spec is not None
    assert spec.name == "Docs_2"
    assert (spec.dimension, spec.metric) == (None, None)  # from the index schema
    assert spec.index == IndexSpec("SERVERLESS", {"cloud": "aws"})
    assert spec.create_time == CREATED
    assert spec.extra == {}
    info = spec.info("Docs_2", dimension=4, metric=Metric.COSINE)
    assert (info.dimension, info.metric, info.embedding_model) == (4, Metric.COSINE, "minilm")


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "not json",
        b"\xff",
        "[1, 2]",
        {"dimension": "four", "metric": "cosine"},
        {"dimension": 4, "metric": "hamming"},
    ],
)
def test_unreadable_specs_are_none_not_errors(raw: object) -> None:
    assert decode_spec(raw) is None


def test_malformed_sub_entries_are_dropped() -> None:
    spec = decode_spec(
        {"dimension": 4, "metric": "l2", "index": {"type": "X", "params": [1]}, "fields": 3}
    )
    assert spec is not None
    assert spec.index == IndexSpec("X", {}) and spec.fields == {}


def test_unknown_field_types_are_skipped() -> None:
    spec = decode_spec({"dimension": 2, "metric": "l2", "fields": {"a": "bool", "b": "blob"}})
    assert spec is not None and spec.fields == {"a": FieldType.BOOL}


def test_value_types() -> None:
    assert value_type(True) is FieldType.BOOL
    assert value_type(3) is FieldType.NUMBER
    assert value_type(2.5) is FieldType.NUMBER
    assert value_type("x") is FieldType.STRING
    assert value_type(["x"]) is FieldType.STRING_LIST
    assert value_type([]) is FieldType.STRING_LIST


def _docs(*metadata: dict[str, object]) -> list[Document]:
    return [
        Document(id=str(i), vector=np.ones(2, np.float32), metadata=m)  # type: ignore[arg-type]
        for i, m in enumerate(metadata)
    ]


def test_new_field_types_one_type_per_key() -> None:
    known = {"year": FieldType.NUMBER}
    new = new_field_types("c", _docs({"year": 1, "a": "x"}, {"b": [], "a": "y"}), known)
    assert new == {"a": FieldType.STRING, "b": FieldType.STRING_LIST}
    with pytest.raises(InvalidArgument) as err:
        new_field_types("c", _docs({"year": 1}, {"year": "1999"}), known)
    assert err.value.field == "documents[1].metadata.year"
    assert "'c'" in err.value.message and "number" in err.value.message
    # A key new to the collection takes its first type in the batch.
    with pytest.raises(InvalidArgument) as err:
        new_field_types("c", _docs({"k": True}, {}, {"k": 1}), {}, field="items")
    assert err.value.field == "items[2].metadata.k"
    # bool is not a number
    with pytest.raises(InvalidArgument):
        new_field_types("c", _docs({"year": False}), known)


def _columns(**metadata: list[object]) -> DocumentBatch:
    rows = len(next(iter(metadata.values())))
    return DocumentBatch(
        ids=[f"d{i}" for i in range(rows)],
        vectors=np.zeros((rows, 2), dtype=np.float32),
        metadata=metadata,  # type: ignore[arg-type]
    )


def test_new_column_types_is_the_same_rule_by_column() -> None:
    known = {"year": FieldType.NUMBER}
    batch = _columns(year=[1, None], a=[None, "x"], b=[[], None], none=[None, None])
    assert new_column_types("c", batch, known) == {
        "a": FieldType.STRING,
        "b": FieldType.STRING_LIST,
    }
    # A column of another type than the collection's: the column is named.
    with pytest.raises(InvalidArgument) as err:
        new_column_types("c", _columns(a=["x", None], year=[None, "1999"]), known)
    assert err.value.field == "columns.metadata[1]"
    assert "'c'" in err.value.message and "number" in err.value.message
    # Two types in one column: the value is named (bool is not a number).
    with pytest.raises(InvalidArgument) as err:
        new_column_types("c", _columns(k=[1, None, True]), {}, field="requests[0].columns")
    assert err.value.field == "requests[0].columns.metadata[0].values[2]"
