import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IndexGrant(_message.Message):
    __slots__ = ("index_name", "index_permissions")
    INDEX_NAME_FIELD_NUMBER: _ClassVar[int]
    INDEX_PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    index_name: str
    index_permissions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, index_name: _Optional[str] = ..., index_permissions: _Optional[_Iterable[str]] = ...) -> None: ...

class KeyInfo(_message.Message):
    __slots__ = ("token", "key_alias", "allowed_vector_store_indexes", "models", "metadata", "expires", "create_time", "created_by", "key_prefix")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    KEY_ALIAS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_VECTOR_STORE_INDEXES_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    KEY_PREFIX_FIELD_NUMBER: _ClassVar[int]
    token: str
    key_alias: str
    allowed_vector_store_indexes: _containers.RepeatedCompositeFieldContainer[IndexGrant]
    models: _containers.RepeatedScalarFieldContainer[str]
    metadata: _struct_pb2.Struct
    expires: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    created_by: str
    key_prefix: str
    def __init__(self, token: _Optional[str] = ..., key_alias: _Optional[str] = ..., allowed_vector_store_indexes: _Optional[_Iterable[_Union[IndexGrant, _Mapping]]] = ..., models: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., expires: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., key_prefix: _Optional[str] = ...) -> None: ...

class GenerateKeyRequest(_message.Message):
    __slots__ = ("allowed_vector_store_indexes", "models", "key_alias", "duration", "metadata", "key")
    ALLOWED_VECTOR_STORE_INDEXES_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    KEY_ALIAS_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    allowed_vector_store_indexes: _containers.RepeatedCompositeFieldContainer[IndexGrant]
    models: _containers.RepeatedScalarFieldContainer[str]
    key_alias: str
    duration: str
    metadata: _struct_pb2.Struct
    key: str
    def __init__(self, allowed_vector_store_indexes: _Optional[_Iterable[_Union[IndexGrant, _Mapping]]] = ..., models: _Optional[_Iterable[str]] = ..., key_alias: _Optional[str] = ..., duration: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., key: _Optional[str] = ...) -> None: ...

class GenerateKeyResponse(_message.Message):
    __slots__ = ("key", "info")
    KEY_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    key: str
    info: KeyInfo
    def __init__(self, key: _Optional[str] = ..., info: _Optional[_Union[KeyInfo, _Mapping]] = ...) -> None: ...

class GetKeyRequest(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class GetKeyResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: KeyInfo
    def __init__(self, info: _Optional[_Union[KeyInfo, _Mapping]] = ...) -> None: ...

class ListKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[KeyInfo]
    def __init__(self, keys: _Optional[_Iterable[_Union[KeyInfo, _Mapping]]] = ...) -> None: ...

class UpdateKeyRequest(_message.Message):
    __slots__ = ("key", "allowed_vector_store_indexes", "models", "key_alias", "duration", "metadata", "update_indexes")
    KEY_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_VECTOR_STORE_INDEXES_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    KEY_ALIAS_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    UPDATE_INDEXES_FIELD_NUMBER: _ClassVar[int]
    key: str
    allowed_vector_store_indexes: _containers.RepeatedCompositeFieldContainer[IndexGrant]
    models: _containers.RepeatedScalarFieldContainer[str]
    key_alias: str
    duration: str
    metadata: _struct_pb2.Struct
    update_indexes: bool
    def __init__(self, key: _Optional[str] = ..., allowed_vector_store_indexes: _Optional[_Iterable[_Union[IndexGrant, _Mapping]]] = ..., models: _Optional[_Iterable[str]] = ..., key_alias: _Optional[str] = ..., duration: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., update_indexes: _Optional[bool] = ...) -> None: ...

class UpdateKeyResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: KeyInfo
    def __init__(self, info: _Optional[_Union[KeyInfo, _Mapping]] = ...) -> None: ...

class DeleteKeyRequest(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, keys: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteKeyResponse(_message.Message):
    __slots__ = ("deleted_keys",)
    DELETED_KEYS_FIELD_NUMBER: _ClassVar[int]
    deleted_keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, deleted_keys: _Optional[_Iterable[str]] = ...) -> None: ...
