import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vectorgate.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IndexTarget(_message.Message):
    __slots__ = ("vector_store_index", "vector_store_name")
    VECTOR_STORE_INDEX_FIELD_NUMBER: _ClassVar[int]
    VECTOR_STORE_NAME_FIELD_NUMBER: _ClassVar[int]
    vector_store_index: str
    vector_store_name: str
    def __init__(self, vector_store_index: _Optional[str] = ..., vector_store_name: _Optional[str] = ...) -> None: ...

class VirtualIndex(_message.Message):
    __slots__ = ("index_name", "litellm_params", "policy_filter", "description", "create_time")
    INDEX_NAME_FIELD_NUMBER: _ClassVar[int]
    LITELLM_PARAMS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FILTER_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    index_name: str
    litellm_params: IndexTarget
    policy_filter: _types_pb2.Filter
    description: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, index_name: _Optional[str] = ..., litellm_params: _Optional[_Union[IndexTarget, _Mapping]] = ..., policy_filter: _Optional[_Union[_types_pb2.Filter, _Mapping]] = ..., description: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateIndexRequest(_message.Message):
    __slots__ = ("index_name", "litellm_params", "policy_filter", "description")
    INDEX_NAME_FIELD_NUMBER: _ClassVar[int]
    LITELLM_PARAMS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FILTER_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    index_name: str
    litellm_params: IndexTarget
    policy_filter: _types_pb2.Filter
    description: str
    def __init__(self, index_name: _Optional[str] = ..., litellm_params: _Optional[_Union[IndexTarget, _Mapping]] = ..., policy_filter: _Optional[_Union[_types_pb2.Filter, _Mapping]] = ..., description: _Optional[str] = ...) -> None: ...

class CreateIndexResponse(_message.Message):
    __slots__ = ("index",)
    INDEX_FIELD_NUMBER: _ClassVar[int]
    index: VirtualIndex
    def __init__(self, index: _Optional[_Union[VirtualIndex, _Mapping]] = ...) -> None: ...

class GetIndexRequest(_message.Message):
    __slots__ = ("index_name",)
    INDEX_NAME_FIELD_NUMBER: _ClassVar[int]
    index_name: str
    def __init__(self, index_name: _Optional[str] = ...) -> None: ...

class GetIndexResponse(_message.Message):
    __slots__ = ("index",)
    INDEX_FIELD_NUMBER: _ClassVar[int]
    index: VirtualIndex
    def __init__(self, index: _Optional[_Union[VirtualIndex, _Mapping]] = ...) -> None: ...

class ListIndexesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListIndexesResponse(_message.Message):
    __slots__ = ("indexes", "next_page_token")
    INDEXES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    indexes: _containers.RepeatedCompositeFieldContainer[VirtualIndex]
    next_page_token: str
    def __init__(self, indexes: _Optional[_Iterable[_Union[VirtualIndex, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteIndexRequest(_message.Message):
    __slots__ = ("index_name",)
    INDEX_NAME_FIELD_NUMBER: _ClassVar[int]
    index_name: str
    def __init__(self, index_name: _Optional[str] = ...) -> None: ...

class DeleteIndexResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
