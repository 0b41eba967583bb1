import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DistanceMetric(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DISTANCE_METRIC_UNSPECIFIED: _ClassVar[DistanceMetric]
    DISTANCE_METRIC_COSINE: _ClassVar[DistanceMetric]
    DISTANCE_METRIC_L2: _ClassVar[DistanceMetric]
    DISTANCE_METRIC_INNER_PRODUCT: _ClassVar[DistanceMetric]

class FilterOperator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILTER_OPERATOR_UNSPECIFIED: _ClassVar[FilterOperator]
    FILTER_OPERATOR_EQ: _ClassVar[FilterOperator]
    FILTER_OPERATOR_NE: _ClassVar[FilterOperator]
    FILTER_OPERATOR_GT: _ClassVar[FilterOperator]
    FILTER_OPERATOR_GTE: _ClassVar[FilterOperator]
    FILTER_OPERATOR_LT: _ClassVar[FilterOperator]
    FILTER_OPERATOR_LTE: _ClassVar[FilterOperator]
    FILTER_OPERATOR_IN: _ClassVar[FilterOperator]
    FILTER_OPERATOR_NIN: _ClassVar[FilterOperator]
    FILTER_OPERATOR_CONTAINS: _ClassVar[FilterOperator]

class Retriever(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RETRIEVER_UNSPECIFIED: _ClassVar[Retriever]
    RETRIEVER_DENSE: _ClassVar[Retriever]
    RETRIEVER_KEYWORD: _ClassVar[Retriever]
DISTANCE_METRIC_UNSPECIFIED: DistanceMetric
DISTANCE_METRIC_COSINE: DistanceMetric
DISTANCE_METRIC_L2: DistanceMetric
DISTANCE_METRIC_INNER_PRODUCT: DistanceMetric
FILTER_OPERATOR_UNSPECIFIED: FilterOperator
FILTER_OPERATOR_EQ: FilterOperator
FILTER_OPERATOR_NE: FilterOperator
FILTER_OPERATOR_GT: FilterOperator
FILTER_OPERATOR_GTE: FilterOperator
FILTER_OPERATOR_LT: FilterOperator
FILTER_OPERATOR_LTE: FilterOperator
FILTER_OPERATOR_IN: FilterOperator
FILTER_OPERATOR_NIN: FilterOperator
FILTER_OPERATOR_CONTAINS: FilterOperator
RETRIEVER_UNSPECIFIED: Retriever
RETRIEVER_DENSE: Retriever
RETRIEVER_KEYWORD: Retriever

class Vector(_message.Message):
    __slots__ = ("values", "packed")
    VALUES_FIELD_NUMBER: _ClassVar[int]
    PACKED_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    packed: bytes
    def __init__(self, values: _Optional[_Iterable[float]] = ..., packed: _Optional[bytes] = ...) -> None: ...

class IndexSpec(_message.Message):
    __slots__ = ("type", "params")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    type: str
    params: _struct_pb2.Struct
    def __init__(self, type: _Optional[str] = ..., params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Collection(_message.Message):
    __slots__ = ("name", "store", "dimension", "metric", "text_field", "embedding_model", "index", "document_count", "backend", "create_time", "index_status")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_MODEL_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    INDEX_STATUS_FIELD_NUMBER: _ClassVar[int]
    name: str
    store: str
    dimension: int
    metric: DistanceMetric
    text_field: str
    embedding_model: str
    index: IndexSpec
    document_count: int
    backend: str
    create_time: _timestamp_pb2.Timestamp
    index_status: IndexStatus
    def __init__(self, name: _Optional[str] = ..., store: _Optional[str] = ..., dimension: _Optional[int] = ..., metric: _Optional[_Union[DistanceMetric, str]] = ..., text_field: _Optional[str] = ..., embedding_model: _Optional[str] = ..., index: _Optional[_Union[IndexSpec, _Mapping]] = ..., document_count: _Optional[int] = ..., backend: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., index_status: _Optional[_Union[IndexStatus, _Mapping]] = ...) -> None: ...

class IndexStatus(_message.Message):
    __slots__ = ("state", "type", "params", "indexed_rows", "unindexed_rows", "auto_index_min_rows")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[IndexStatus.State]
        STATE_NONE: _ClassVar[IndexStatus.State]
        STATE_BUILDING: _ClassVar[IndexStatus.State]
        STATE_READY: _ClassVar[IndexStatus.State]
    STATE_UNSPECIFIED: IndexStatus.State
    STATE_NONE: IndexStatus.State
    STATE_BUILDING: IndexStatus.State
    STATE_READY: IndexStatus.State
    STATE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    INDEXED_ROWS_FIELD_NUMBER: _ClassVar[int]
    UNINDEXED_ROWS_FIELD_NUMBER: _ClassVar[int]
    AUTO_INDEX_MIN_ROWS_FIELD_NUMBER: _ClassVar[int]
    state: IndexStatus.State
    type: str
    params: _struct_pb2.Struct
    indexed_rows: int
    unindexed_rows: int
    auto_index_min_rows: int
    def __init__(self, state: _Optional[_Union[IndexStatus.State, str]] = ..., type: _Optional[str] = ..., params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., indexed_rows: _Optional[int] = ..., unindexed_rows: _Optional[int] = ..., auto_index_min_rows: _Optional[int] = ...) -> None: ...

class Document(_message.Message):
    __slots__ = ("id", "text", "vector", "metadata", "typed_metadata")
    class TypedMetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: FilterValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[FilterValue, _Mapping]] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    TYPED_METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    text: str
    vector: Vector
    metadata: _struct_pb2.Struct
    typed_metadata: _containers.MessageMap[str, FilterValue]
    def __init__(self, id: _Optional[str] = ..., text: _Optional[str] = ..., vector: _Optional[_Union[Vector, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., typed_metadata: _Optional[_Mapping[str, FilterValue]] = ...) -> None: ...

class DocumentColumns(_message.Message):
    __slots__ = ("ids", "dimension", "vectors", "texts", "metadata")
    IDS_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    dimension: int
    vectors: bytes
    texts: _containers.RepeatedScalarFieldContainer[str]
    metadata: _containers.RepeatedCompositeFieldContainer[MetadataColumn]
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., dimension: _Optional[int] = ..., vectors: _Optional[bytes] = ..., texts: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Iterable[_Union[MetadataColumn, _Mapping]]] = ...) -> None: ...

class MetadataColumn(_message.Message):
    __slots__ = ("key", "values")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    key: str
    values: _containers.RepeatedCompositeFieldContainer[FilterValue]
    def __init__(self, key: _Optional[str] = ..., values: _Optional[_Iterable[_Union[FilterValue, _Mapping]]] = ...) -> None: ...

class FilterValue(_message.Message):
    __slots__ = ("string_value", "int_value", "float_value", "bool_value", "list_value")
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    FLOAT_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    LIST_VALUE_FIELD_NUMBER: _ClassVar[int]
    string_value: str
    int_value: int
    float_value: float
    bool_value: bool
    list_value: FilterValueList
    def __init__(self, string_value: _Optional[str] = ..., int_value: _Optional[int] = ..., float_value: _Optional[float] = ..., bool_value: _Optional[bool] = ..., list_value: _Optional[_Union[FilterValueList, _Mapping]] = ...) -> None: ...

class FilterValueList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[FilterValue]
    def __init__(self, values: _Optional[_Iterable[_Union[FilterValue, _Mapping]]] = ...) -> None: ...

class FieldCondition(_message.Message):
    __slots__ = ("field", "op", "value")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    field: str
    op: FilterOperator
    value: FilterValue
    def __init__(self, field: _Optional[str] = ..., op: _Optional[_Union[FilterOperator, str]] = ..., value: _Optional[_Union[FilterValue, _Mapping]] = ...) -> None: ...

class FilterList(_message.Message):
    __slots__ = ("filters",)
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    filters: _containers.RepeatedCompositeFieldContainer[Filter]
    def __init__(self, filters: _Optional[_Iterable[_Union[Filter, _Mapping]]] = ...) -> None: ...

class Filter(_message.Message):
    __slots__ = ("condition", "all_of", "any_of", "negate")
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    ALL_OF_FIELD_NUMBER: _ClassVar[int]
    ANY_OF_FIELD_NUMBER: _ClassVar[int]
    NEGATE_FIELD_NUMBER: _ClassVar[int]
    condition: FieldCondition
    all_of: FilterList
    any_of: FilterList
    negate: Filter
    def __init__(self, condition: _Optional[_Union[FieldCondition, _Mapping]] = ..., all_of: _Optional[_Union[FilterList, _Mapping]] = ..., any_of: _Optional[_Union[FilterList, _Mapping]] = ..., negate: _Optional[_Union[Filter, _Mapping]] = ...) -> None: ...

class Hit(_message.Message):
    __slots__ = ("id", "score", "raw_score", "text", "metadata", "store", "collection", "vector", "sources", "typed_metadata")
    class TypedMetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: FilterValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[FilterValue, _Mapping]] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    RAW_SCORE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    TYPED_METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    score: float
    raw_score: float
    text: str
    metadata: _struct_pb2.Struct
    store: str
    collection: str
    vector: Vector
    sources: _containers.RepeatedCompositeFieldContainer[HitSource]
    typed_metadata: _containers.MessageMap[str, FilterValue]
    def __init__(self, id: _Optional[str] = ..., score: _Optional[float] = ..., raw_score: _Optional[float] = ..., text: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., store: _Optional[str] = ..., collection: _Optional[str] = ..., vector: _Optional[_Union[Vector, _Mapping]] = ..., sources: _Optional[_Iterable[_Union[HitSource, _Mapping]]] = ..., typed_metadata: _Optional[_Mapping[str, FilterValue]] = ...) -> None: ...

class HitSource(_message.Message):
    __slots__ = ("store", "collection", "retriever", "rank", "score", "raw_score", "contribution")
    STORE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    RETRIEVER_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    RAW_SCORE_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    store: str
    collection: str
    retriever: Retriever
    rank: int
    score: float
    raw_score: float
    contribution: float
    def __init__(self, store: _Optional[str] = ..., collection: _Optional[str] = ..., retriever: _Optional[_Union[Retriever, str]] = ..., rank: _Optional[int] = ..., score: _Optional[float] = ..., raw_score: _Optional[float] = ..., contribution: _Optional[float] = ...) -> None: ...
