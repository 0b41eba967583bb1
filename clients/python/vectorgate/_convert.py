"""Conversions between plain Python values and the vectorgate.v1 messages, in one place."""

from __future__ import annotations

from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from datetime import UTC, datetime
from typing import Any, Generic, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
from google.protobuf import timestamp_pb2

from vectorgate import _values
from vectorgate._filters import filter_to_dict
from vectorgate._types import (
    CollectionInfo,
    Document,
    Explanation,
    Hit,
    HitSource,
    IndexStatus,
    Passage,
    RetrieveResult,
    SearchResults,
    TargetFailure,
    VirtualIndex,
)
from vectorgate.v1 import (
    index_admin_service_pb2,
    search_service_pb2,
    types_pb2,
    upsert_service_pb2,
)

VectorLike: TypeAlias = Sequence[float] | npt.NDArray[Any]
DocumentLike: TypeAlias = Document | Mapping[str, Any] | types_pb2.Document

_LE_FLOAT32 = np.dtype("<f4")

_METRICS: dict[str, types_pb2.DistanceMetric] = {
    "cosine": types_pb2.DISTANCE_METRIC_COSINE,
    "l2": types_pb2.DISTANCE_METRIC_L2,
    "ip": types_pb2.DISTANCE_METRIC_INNER_PRODUCT,
}
_METRIC_NAMES = {number: name for name, number in _METRICS.items()}

_DOCUMENT_KEYS = frozenset({"id", "text", "vector", "metadata"})


# -- vectors -------------------------------------------------------------------------------


def pack_vector(vector: VectorLike, out: types_pb2.Vector | None = None) -> types_pb2.Vector:
    """Packs a 1-D sequence or array of numbers as little-endian float32 into ``Vector.packed``."""
    array = np.asarray(vector, dtype=_LE_FLOAT32)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"a vector must be a non-empty 1-D sequence of numbers, got shape {array.shape}"
        )
    pb = types_pb2.Vector() if out is None else out
    pb.packed = array.tobytes()
    return pb


def unpack_vector(pb: types_pb2.Vector) -> list[float]:
    """The components of a Vector message, from ``packed`` or ``values``."""
    if pb.packed:
        if len(pb.packed) % 4:
            raise ValueError(f"packed vector has {len(pb.packed)} bytes, not a multiple of 4")
        floats: list[float] = np.frombuffer(pb.packed, dtype=_LE_FLOAT32).tolist()
        return floats
    return list(pb.values)


# -- Struct <-> dict: the shared codec (vectorgate._values), re-exported -----------------

dict_to_struct = _values.dict_to_struct
struct_to_dict = _values.struct_to_dict
value_to_python = _values.struct_value_to_python


def metadata_from_proto(pb: types_pb2.Document | types_pb2.Hit | Any) -> dict[str, Any]:
    """The metadata of a Document, Hit or Passage: its typed form when the server sent it."""
    if len(pb.typed_metadata):
        return _values.typed_map_to_dict(pb.typed_metadata)
    return _values.struct_to_dict(pb.metadata)


# -- documents -----------------------------------------------------------------------------


def fill_document(pb: types_pb2.Document, doc: DocumentLike, path: str = "document") -> None:
    """Writes a Document dataclass, a document dict or a Document message into ``pb``."""
    if isinstance(doc, types_pb2.Document):
        pb.CopyFrom(doc)
        return
    doc_id: object
    text: object
    vector: Any
    metadata: Any
    if isinstance(doc, Document):
        doc_id, text, vector, metadata = doc.id, doc.text, doc.vector, doc.metadata
    elif isinstance(doc, Mapping):
        unknown = set(doc) - _DOCUMENT_KEYS
        if unknown:
            raise ValueError(
                f"{path}: unknown key(s) {sorted(map(str, unknown))}; "
                f"a document has 'id', 'text', 'vector' and 'metadata'"
            )
        if "id" not in doc:
            raise ValueError(f"{path}: 'id' is required")
        doc_id, text = doc["id"], doc.get("text")
        vector, metadata = doc.get("vector"), doc.get("metadata")
    else:
        raise TypeError(f"{path}: expected a Document or a dict, got {type(doc).__name__}")
    if not isinstance(doc_id, str):
        raise TypeError(f"{path}.id: expected a str, got {type(doc_id).__name__}")
    pb.id = doc_id
    if text is not None:
        if not isinstance(text, str):
            raise TypeError(f"{path}.text: expected a str, got {type(text).__name__}")
        pb.text = text
    if vector is not None:
        try:
            pack_vector(vector, pb.vector)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{path}.vector: {exc}") from None
    if metadata:
        # Typed: ints stay exact int64, floats stay floats (3.0 is not 3).
        _values.fill_typed_map(pb.typed_metadata, metadata, f"{path}.metadata")


def document_from_proto(pb: types_pb2.Document) -> Document:
    """A Document dataclass from a Document message."""
    return Document(
        id=pb.id,
        text=pb.text,
        vector=unpack_vector(pb.vector) if pb.HasField("vector") else None,
        metadata=metadata_from_proto(pb),
    )


BatchRequest = TypeVar(
    "BatchRequest",
    upsert_service_pb2.UpsertDocumentsRequest,
    upsert_service_pb2.BulkUpsertDocumentsRequest,
)


class BatchBuilder(Generic[BatchRequest]):
    """Fills upsert requests with converted documents, ``batch_size`` per request."""

    def __init__(self, new_request: Callable[[], BatchRequest], batch_size: int) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self._new_request: Callable[[], BatchRequest] = new_request
        self._batch_size = batch_size
        self._request: BatchRequest | None = None
        self._count = 0

    def add(self, doc: DocumentLike) -> BatchRequest | None:
        """Adds one document; returns the request when it is full."""
        if self._request is None:
            self._request = self._new_request()
        fill_document(self._request.documents.add(), doc, f"documents[{self._count}]")
        self._count += 1
        if len(self._request.documents) < self._batch_size:
            return None
        full, self._request = self._request, None
        return full

    def flush(self) -> BatchRequest | None:
        """The last, partly filled request, if any."""
        last, self._request = self._request, None
        return last


def iter_batches(
    documents: Iterable[DocumentLike], builder: BatchBuilder[BatchRequest]
) -> Iterator[BatchRequest]:
    """Lazily converts ``documents`` into full requests."""
    if isinstance(documents, str | bytes | Mapping | Document | types_pb2.Document):
        raise TypeError(
            f"documents must be an iterable of documents, got a single {type(documents).__name__}"
        )
    for doc in documents:
        request = builder.add(doc)
        if request is not None:
            yield request
    last = builder.flush()
    if last is not None:
        yield last


async def aiter_batches(
    documents: Iterable[DocumentLike] | AsyncIterable[DocumentLike],
    builder: BatchBuilder[BatchRequest],
) -> AsyncIterator[BatchRequest]:
    """Lazily converts ``documents``, a plain or an async iterable, into full requests."""
    if not isinstance(documents, AsyncIterable):
        for request in iter_batches(documents, builder):
            yield request
        return
    async for doc in documents:
        full = builder.add(doc)
        if full is not None:
            yield full
    last = builder.flush()
    if last is not None:
        yield last


# -- other messages ------------------------------------------------------------------------


def metric_to_proto(metric: str) -> types_pb2.DistanceMetric:
    """The DistanceMetric for ``"cosine"``, ``"l2"`` or ``"ip"``."""
    try:
        return _METRICS[metric.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"metric must be one of {', '.join(_METRICS)}, got {metric!r}") from None


def _timestamp(pb: timestamp_pb2.Timestamp) -> datetime:
    return pb.ToDatetime(tzinfo=UTC)


def collection_from_proto(pb: types_pb2.Collection) -> CollectionInfo:
    """A CollectionInfo from a Collection message."""
    return CollectionInfo(
        name=pb.name,
        store=pb.store,
        dimension=pb.dimension,
        metric=_METRIC_NAMES.get(pb.metric, ""),
        text_field=pb.text_field,
        embedding_model=pb.embedding_model,
        index_type=pb.index.type,
        index_params=struct_to_dict(pb.index.params),
        document_count=pb.document_count,
        backend=pb.backend,
        create_time=_timestamp(pb.create_time) if pb.HasField("create_time") else None,
        index_status=(
            _index_status(pb.index_status)
            if pb.HasField("index_status")
            and pb.index_status.state != types_pb2.IndexStatus.STATE_UNSPECIFIED
            else None
        ),
    )


_INDEX_STATES = {
    types_pb2.IndexStatus.STATE_NONE: "none",
    types_pb2.IndexStatus.STATE_BUILDING: "building",
    types_pb2.IndexStatus.STATE_READY: "ready",
}


def _index_status(pb: types_pb2.IndexStatus) -> IndexStatus:
    return IndexStatus(
        state=_INDEX_STATES.get(pb.state, ""),
        type=pb.type,
        params=struct_to_dict(pb.params),
        indexed_rows=pb.indexed_rows,
        unindexed_rows=pb.unindexed_rows,
        auto_index_min_rows=pb.auto_index_min_rows,
    )


_RETRIEVERS = {types_pb2.RETRIEVER_DENSE: "dense", types_pb2.RETRIEVER_KEYWORD: "keyword"}


def source_from_proto(pb: types_pb2.HitSource) -> HitSource:
    """A HitSource dataclass from a HitSource message."""
    return HitSource(
        store=pb.store,
        collection=pb.collection,
        retriever=_RETRIEVERS.get(pb.retriever, ""),
        rank=pb.rank,
        score=pb.score,
        raw_score=pb.raw_score,
        contribution=pb.contribution,
    )


def failure_from_proto(pb: search_service_pb2.TargetFailure) -> TargetFailure:
    """A TargetFailure dataclass from a TargetFailure message."""
    return TargetFailure(
        store=pb.store,
        collection=pb.collection,
        stage=pb.stage,
        code=pb.code,
        reason=pb.reason,
        message=pb.message,
    )


def hit_from_proto(pb: types_pb2.Hit) -> Hit:
    """A Hit dataclass from a Hit message."""
    return Hit(
        id=pb.id,
        score=pb.score,
        raw_score=pb.raw_score,
        text=pb.text,
        metadata=metadata_from_proto(pb),
        store=pb.store,
        collection=pb.collection,
        vector=unpack_vector(pb.vector) if pb.HasField("vector") else None,
        sources=tuple(source_from_proto(s) for s in pb.sources),
    )


def search_results_from_proto(pb: search_service_pb2.SearchResponse) -> SearchResults:
    """The hits and failures of a SearchResponse."""
    return SearchResults(
        [hit_from_proto(hit) for hit in pb.hits],
        [failure_from_proto(f) for f in pb.failures],
    )


def retrieve_from_proto(pb: search_service_pb2.RetrieveResponse) -> RetrieveResult:
    """A RetrieveResult from a RetrieveResponse."""
    return RetrieveResult(
        context=pb.context,
        passages=[
            Passage(
                citation=p.citation,
                id=p.id,
                store=p.store,
                collection=p.collection,
                text=p.text,
                metadata=metadata_from_proto(p),
                score=p.score,
                token_count=p.token_count,
                truncated=p.truncated,
                sources=tuple(source_from_proto(s) for s in p.sources),
            )
            for p in pb.passages
        ],
        token_count=pb.token_count,
        omitted_count=pb.omitted_count,
        failures=[failure_from_proto(f) for f in pb.failures],
    )


def explanation_from_proto(pb: search_service_pb2.SearchExplanation) -> Explanation:
    """An Explanation from a SearchExplanation message."""
    return Explanation(
        backend=pb.backend,
        native_filter=pb.native_filter,
        native_params=struct_to_dict(pb.native_params),
    )


def index_from_proto(pb: index_admin_service_pb2.VirtualIndex) -> VirtualIndex:
    """A VirtualIndex dataclass from a VirtualIndex message."""
    return VirtualIndex(
        index_name=pb.index_name,
        collection=pb.litellm_params.vector_store_index,
        store=pb.litellm_params.vector_store_name,
        policy_filter=filter_to_dict(pb.policy_filter) if pb.HasField("policy_filter") else None,
        description=pb.description,
        create_time=_timestamp(pb.create_time) if pb.HasField("create_time") else None,
    )
