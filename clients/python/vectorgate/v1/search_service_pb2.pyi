from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from vectorgate.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchRequest(_message.Message):
    __slots__ = ("collection", "store", "text", "vector", "top_k", "filter", "output_fields", "native_params", "score_threshold", "explain")
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
    def __init__(self, collection: _Optional[str] = ..., store: _Optional[str] = ..., text: _Optional[str] = ..., vector: _Optional[_Union[_types_pb2.Vector, _Mapping]] = ..., top_k: _Optional[int] = ..., filter: _Optional[_Union[_types_pb2.Filter, _Mapping]] = ..., output_fields: _Optional[_Iterable[str]] = ..., native_params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., score_threshold: _Optional[float] = ..., explain: _Optional[bool] = ...) -> None: ...

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
    __slots__ = ("hits", "explanation")
    HITS_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[_types_pb2.Hit]
    explanation: SearchExplanation
    def __init__(self, hits: _Optional[_Iterable[_Union[_types_pb2.Hit, _Mapping]]] = ..., explanation: _Optional[_Union[SearchExplanation, _Mapping]] = ...) -> None: ...
