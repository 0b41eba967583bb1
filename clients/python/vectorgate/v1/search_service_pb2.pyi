from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from vectorgate.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FusionMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FUSION_METHOD_UNSPECIFIED: _ClassVar[FusionMethod]
    FUSION_METHOD_RRF: _ClassVar[FusionMethod]
    FUSION_METHOD_WEIGHTED: _ClassVar[FusionMethod]

class SearchMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_MODE_UNSPECIFIED: _ClassVar[SearchMode]
    SEARCH_MODE_DENSE: _ClassVar[SearchMode]
    SEARCH_MODE_KEYWORD: _ClassVar[SearchMode]
    SEARCH_MODE_HYBRID: _ClassVar[SearchMode]
FUSION_METHOD_UNSPECIFIED: FusionMethod
FUSION_METHOD_RRF: FusionMethod
FUSION_METHOD_WEIGHTED: FusionMethod
SEARCH_MODE_UNSPECIFIED: SearchMode
SEARCH_MODE_DENSE: SearchMode
SEARCH_MODE_KEYWORD: SearchMode
SEARCH_MODE_HYBRID: SearchMode

class SearchRequest(_message.Message):
    __slots__ = ("collection", "store", "text", "vector", "top_k", "filter", "output_fields", "native_params", "score_threshold", "explain", "targets", "rag_group", "fusion", "mode", "hybrid", "rerank")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELDS_FIELD_NUMBER: _ClassVar[int]
    NATIVE_PARAMS_FIELD_NUMBER: _ClassVar[int]
    SCORE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    RAG_GROUP_FIELD_NUMBER: _ClassVar[int]
    FUSION_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    HYBRID_FIELD_NUMBER: _ClassVar[int]
    RERANK_FIELD_NUMBER: _ClassVar[int]
    collection: str
    store: str
    text: str
    vector: _types_pb2.Vector
    top_k: int
    filter: _types_pb2.Filter
    output_fields: _containers.RepeatedScalarFieldContainer[str]
    native_params: _struct_pb2.Struct
    score_threshold: float
    explain: bool
    targets: _containers.RepeatedCompositeFieldContainer[SearchTarget]
    rag_group: str
    fusion: FusionOptions
    mode: SearchMode
    hybrid: HybridOptions
    rerank: RerankOptions
    def __init__(self, collection: _Optional[str] = ..., store: _Optional[str] = ..., text: _Optional[str] = ..., vector: _Optional[_Union[_types_pb2.Vector, _Mapping]] = ..., top_k: _Optional[int] = ..., filter: _Optional[_Union[_types_pb2.Filter, _Mapping]] = ..., output_fields: _Optional[_Iterable[str]] = ..., native_params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., score_threshold: _Optional[float] = ..., explain: _Optional[bool] = ..., targets: _Optional[_Iterable[_Union[SearchTarget, _Mapping]]] = ..., rag_group: _Optional[str] = ..., fusion: _Optional[_Union[FusionOptions, _Mapping]] = ..., mode: _Optional[_Union[SearchMode, str]] = ..., hybrid: _Optional[_Union[HybridOptions, _Mapping]] = ..., rerank: _Optional[_Union[RerankOptions, _Mapping]] = ...) -> None: ...

class SearchTarget(_message.Message):
    __slots__ = ("store", "collection", "weight")
    STORE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    store: str
    collection: str
    weight: float
    def __init__(self, store: _Optional[str] = ..., collection: _Optional[str] = ..., weight: _Optional[float] = ...) -> None: ...

class FusionOptions(_message.Message):
    __slots__ = ("method", "rrf_k", "candidates")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    RRF_K_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    method: FusionMethod
    rrf_k: int
    candidates: int
    def __init__(self, method: _Optional[_Union[FusionMethod, str]] = ..., rrf_k: _Optional[int] = ..., candidates: _Optional[int] = ...) -> None: ...

class HybridOptions(_message.Message):
    __slots__ = ("dense_weight", "keyword_weight")
    DENSE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    dense_weight: float
    keyword_weight: float
    def __init__(self, dense_weight: _Optional[float] = ..., keyword_weight: _Optional[float] = ...) -> None: ...

class RerankOptions(_message.Message):
    __slots__ = ("enabled", "model", "top_n", "candidates", "mmr_lambda")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TOP_N_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    MMR_LAMBDA_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    model: str
    top_n: int
    candidates: int
    mmr_lambda: float
    def __init__(self, enabled: _Optional[bool] = ..., model: _Optional[str] = ..., top_n: _Optional[int] = ..., candidates: _Optional[int] = ..., mmr_lambda: _Optional[float] = ...) -> None: ...

class SearchExplanation(_message.Message):
    __slots__ = ("backend", "native_filter", "native_params")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    NATIVE_FILTER_FIELD_NUMBER: _ClassVar[int]
    NATIVE_PARAMS_FIELD_NUMBER: _ClassVar[int]
    backend: str
    native_filter: str
    native_params: _struct_pb2.Struct
    def __init__(self, backend: _Optional[str] = ..., native_filter: _Optional[str] = ..., native_params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits", "explanation", "failures")
    HITS_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[_types_pb2.Hit]
    explanation: SearchExplanation
    failures: _containers.RepeatedCompositeFieldContainer[TargetFailure]
    def __init__(self, hits: _Optional[_Iterable[_Union[_types_pb2.Hit, _Mapping]]] = ..., explanation: _Optional[_Union[SearchExplanation, _Mapping]] = ..., failures: _Optional[_Iterable[_Union[TargetFailure, _Mapping]]] = ...) -> None: ...

class TargetFailure(_message.Message):
    __slots__ = ("store", "collection", "stage", "code", "reason", "message")
    STORE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    store: str
    collection: str
    stage: str
    code: str
    reason: str
    message: str
    def __init__(self, store: _Optional[str] = ..., collection: _Optional[str] = ..., stage: _Optional[str] = ..., code: _Optional[str] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class RetrieveRequest(_message.Message):
    __slots__ = ("search", "max_tokens")
    SEARCH_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    search: SearchRequest
    max_tokens: int
    def __init__(self, search: _Optional[_Union[SearchRequest, _Mapping]] = ..., max_tokens: _Optional[int] = ...) -> None: ...

class Passage(_message.Message):
    __slots__ = ("citation", "id", "store", "collection", "text", "metadata", "score", "token_count", "truncated", "sources", "typed_metadata")
    class TypedMetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.FilterValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.FilterValue, _Mapping]] = ...) -> None: ...
    CITATION_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_COUNT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    TYPED_METADATA_FIELD_NUMBER: _ClassVar[int]
    citation: int
    id: str
    store: str
    collection: str
    text: str
    metadata: _struct_pb2.Struct
    score: float
    token_count: int
    truncated: bool
    sources: _containers.RepeatedCompositeFieldContainer[_types_pb2.HitSource]
    typed_metadata: _containers.MessageMap[str, _types_pb2.FilterValue]
    def __init__(self, citation: _Optional[int] = ..., id: _Optional[str] = ..., store: _Optional[str] = ..., collection: _Optional[str] = ..., text: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., score: _Optional[float] = ..., token_count: _Optional[int] = ..., truncated: _Optional[bool] = ..., sources: _Optional[_Iterable[_Union[_types_pb2.HitSource, _Mapping]]] = ..., typed_metadata: _Optional[_Mapping[str, _types_pb2.FilterValue]] = ...) -> None: ...

class RetrieveResponse(_message.Message):
    __slots__ = ("context", "passages", "token_count", "omitted_count", "failures")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    PASSAGES_FIELD_NUMBER: _ClassVar[int]
    TOKEN_COUNT_FIELD_NUMBER: _ClassVar[int]
    OMITTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    context: str
    passages: _containers.RepeatedCompositeFieldContainer[Passage]
    token_count: int
    omitted_count: int
    failures: _containers.RepeatedCompositeFieldContainer[TargetFailure]
    def __init__(self, context: _Optional[str] = ..., passages: _Optional[_Iterable[_Union[Passage, _Mapping]]] = ..., token_count: _Optional[int] = ..., omitted_count: _Optional[int] = ..., failures: _Optional[_Iterable[_Union[TargetFailure, _Mapping]]] = ...) -> None: ...
