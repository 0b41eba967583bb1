"""vectorgate configuration: pydantic models and the YAML / environment loader.

The configuration file is YAML and deliberately compatible with LiteLLM proxy
configs: a LiteLLM ``config.yaml`` with a ``vector_store_registry`` and a
``model_list`` loads unchanged, and LiteLLM-only sections (``litellm_settings``,
``environment_variables``, ...) are ignored.

Use :func:`load_config`; it returns a frozen :class:`Config` or raises
:class:`ConfigError`, whose ``str()`` is a short, user-facing list of
``key.path: reason`` lines (never a traceback).

Stores
------
``vector_stores`` (mapping name -> block) and ``vector_store_registry``
(LiteLLM list) are normalised into one insertion-ordered mapping,
:attr:`Config.stores`, of per-backend models:

=============  =========================  ========================  ===================
``type``       class                      default collection field  dimension field
=============  =========================  ========================  ===================
``lancedb``    :class:`LanceDBConfig`     ``table_name``            ``dimensions``
``milvus``     :class:`MilvusConfig`      ``collection_name``       ``dimensions``
``qdrant``     :class:`QdrantConfig`      ``collection_name``       ``vector_size``
``opensearch`` :class:`OpenSearchConfig`  ``index_name``            ``dimensions``
``pinecone``   :class:`PineconeConfig`    ``index_name``            ``dimensions``
``pgvector``   :class:`PgvectorConfig`    ``collection_name``       ``dimensions``
=============  =========================  ========================  ===================

Every store model has ``name``, ``type``, ``origin`` and the uniform accessors
``collection`` and ``dimension``. Tell the backend apart with ``store.type``
(a ``Literal``, which narrows the union for type checkers) or ``isinstance``.

Precedence
----------
For every setting: a value written in the file > the environment variable >
the built-in default.

* ``os.environ/NAME`` string values are replaced by the environment variable
  ``NAME`` when the file is loaded; an unset (or empty) variable is an error.
  Sections that vectorgate ignores and disabled stores are not resolved.
* ``LANCEDB_URI``, ``MILVUS_HOST`` (``host``, ``host:port`` or a URI / Milvus
  Lite file), ``QDRANT_URL``, ``OPENSEARCH_HOSTS`` (comma-separated) and
  ``PINECONE_API_KEY`` fill the matching field of every configured store of
  that type that left it unset; when no store of that type is configured
  (enabled or disabled), they define one named after the type.
  ``MILVUS_API_BASE`` / ``MILVUS_API_KEY`` (LiteLLM's names) are lower-priority
  fallbacks for Milvus stores only; they never define a store.
* A LanceDB store without ``uri`` uses ``<server.data_dir>/lancedb``. When no
  store is enabled at all, a LanceDB store named ``lancedb`` is added.
* The default store is the top-level ``default_store`` key, else
  ``VECTOR_STORE_TYPE`` (a store name, or a type with exactly one store), else
  the first store.
* ``general_settings.master_key`` / ``database_url`` fall back to
  ``VECTORGATE_MASTER_KEY`` / ``DATABASE_URL``.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import os
import re
import types
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import (
    Annotated,
    Any,
    ClassVar,
    Final,
    Literal,
    TypeAlias,
    Union,
    cast,
    get_args,
    get_origin,
)

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

__all__ = [
    "DEFAULT_STORE_NAME",
    "STORE_TYPES",
    "BaseStoreConfig",
    "Config",
    "ConfigError",
    "EmbeddingEndpointConfig",
    "EmbeddingModelConfig",
    "EmbeddingSettings",
    "GeneralSettings",
    "LanceDBConfig",
    "LimitsSettings",
    "MetricName",
    "MilvusConfig",
    "OpenSearchAuth",
    "OpenSearchConfig",
    "PgvectorConfig",
    "PineconeConfig",
    "QdrantConfig",
    "RagSettings",
    "RouterRagSettings",
    "RouterSettings",
    "ServerSettings",
    "StoreConfig",
    "StoreOrigin",
    "StoreType",
    "load_config",
]

StoreType: TypeAlias = Literal["lancedb", "milvus", "qdrant", "opensearch", "pinecone", "pgvector"]
STORE_TYPES: Final[tuple[StoreType, ...]] = (
    "lancedb",
    "milvus",
    "qdrant",
    "opensearch",
    "pinecone",
    "pgvector",
)
MetricName: TypeAlias = Literal["cosine", "l2", "ip"]
#: Where a store definition came from.
StoreOrigin: TypeAlias = Literal["vector_stores", "vector_store_registry", "environment", "default"]
#: Name of the LanceDB store added when no store is configured.
DEFAULT_STORE_NAME: Final = "lancedb"

_MIB: Final = 1024 * 1024
_ENV_REF_PREFIX: Final = "os.environ/"
_ENV_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STORE_NAME_RE: Final = re.compile(r"[^\s/]{1,128}")
#: Keys whose values are secrets: never echoed in errors, wrapped in SecretStr in free-form dicts.
_SECRET_KEY_RE: Final = re.compile(
    r"(api_?key|apikey|password|passwd|secret|token|credential|master_key|database_url"
    r"|private_key|access_key|dsn)",
    re.IGNORECASE,
)

_TOP_LEVEL_KEYS: Final = frozenset(
    {
        "vector_stores",
        "vector_store_registry",
        "default_store",
        "model_list",
        "embedding",
        "general_settings",
        "router_settings",
        "rag_settings",
        "server",
        "limits",
    }
)
#: LiteLLM proxy sections that may appear in a shared config; vectorgate ignores them.
_IGNORED_LITELLM_SECTIONS: Final = frozenset(
    {
        "litellm_settings",
        "environment_variables",
        "callback_settings",
        "credential_list",
        "guardrails",
        "mcp_servers",
        "mcp_aliases",
        "search_tools",
        "prompts",
        "files_settings",
        "finetune_settings",
        "assistant_settings",
        "pass_through_endpoints",
        "model_group_settings",
    }
)


# --------------------------------------------------------------------------- errors


class ConfigError(Exception):
    """Invalid configuration.

    ``str(err)`` is a header line followed by one ``key.path: reason`` line per
    problem; ``err.errors`` holds those lines and ``err.source`` the file name.
    """

    def __init__(self, errors: Iterable[str], *, source: str | Path | None = None) -> None:
        self.errors: tuple[str, ...] = tuple(errors) or ("invalid configuration",)
        self.source: str | None = str(source) if source is not None else None
        where = f" in {self.source}" if self.source else ""
        lines = [f"invalid vectorgate configuration{where}:"]
        lines.extend(f"  {line}" for line in self.errors)
        super().__init__("\n".join(lines))


# --------------------------------------------------------------------------- models


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


_METRIC_ALIASES: Final[Mapping[str, MetricName]] = {
    "cosine": "cosine",
    "cos": "cosine",
    "l2": "l2",
    "euclidean": "l2",
    "euclid": "l2",
    "ip": "ip",
    "dot": "ip",
    "inner_product": "ip",
    "innerproduct": "ip",
}


class EmbeddingEndpointConfig(_Model):
    """Connection settings of a remote embedding model (LiteLLM ``litellm_embedding_config``)."""

    api_base: str | None = None
    api_key: SecretStr | None = None
    api_version: str | None = None


class BaseStoreConfig(_Model):
    """Fields shared by every store type. Use the concrete subclasses."""

    #: Which field holds the vector dimension; the other spelling is accepted as an alias.
    dimension_field: ClassVar[str] = "dimensions"

    #: Store name (the ``vector_stores`` key or ``vector_store_name``).
    name: str
    #: Backend type; each subclass narrows it to one ``Literal``.
    type: StoreType
    #: Where the definition came from.
    origin: StoreOrigin = "vector_stores"
    #: Model used to embed text for this store (``model_list`` name, provider model or local).
    embedding_model: str | None = None
    #: Endpoint of a remote embedding model (LiteLLM ``litellm_embedding_config``).
    embedding_config: EmbeddingEndpointConfig | None = None
    #: Default distance metric for new collections.
    metric: MetricName | None = None
    #: Per-call backend timeout in seconds.
    timeout_s: float | None = Field(default=None, gt=0)
    #: Most backend calls in flight at once (stores whose SDK blocks run them in this
    #: many threads of their own); more wait, no longer than the caller's deadline.
    max_concurrency: int = Field(default=8, ge=1, le=1024)
    #: Backend-native default parameters (e.g. Milvus ``annsField``, ``limit``). Values of
    #: secret-looking keys are ``SecretStr``.
    native_defaults: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _dimension_alias(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        canonical = cls.dimension_field
        alias = "vector_size" if canonical == "dimensions" else "dimensions"
        if alias not in data:
            return data
        out = dict(data)
        value = out.pop(alias)
        if canonical in out and out[canonical] is not None and out[canonical] != value:
            raise ValueError(f"'{canonical}' and '{alias}' are both set and differ; set only one")
        if out.get(canonical) is None:
            out[canonical] = value
        return out

    @field_validator("metric", mode="before")
    @classmethod
    def _normalise_metric(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _METRIC_ALIASES.get(value.strip().lower(), value)
        return value

    @field_validator("native_defaults", mode="after")
    @classmethod
    def _protect_native_defaults(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _protect_mapping(value)

    @property
    def collection(self) -> str | None:
        """The default collection / table / index of this store, if configured."""
        return None

    @property
    def dimension(self) -> int | None:
        """The configured vector dimension, if any."""
        return None


#: Index types a LanceDB store's automatic index may be (the adapter's INDEX_TYPES, or FLAT).
_LANCEDB_AUTO_INDEX_TYPES: Final = frozenset(
    {
        "FLAT",
        "IVF_FLAT",
        "IVF_SQ",
        "IVF_PQ",
        "IVF_RQ",
        "IVF_HNSW_FLAT",
        "IVF_HNSW_SQ",
        "IVF_HNSW_PQ",
    }
)


class LanceDBConfig(BaseStoreConfig):
    """Embedded LanceDB (local directory, ``s3://...`` or LanceDB Cloud ``db://...``)."""

    type: Literal["lancedb"] = "lancedb"
    #: Database location; default ``<server.data_dir>/lancedb`` (or ``LANCEDB_URI``).
    uri: str
    table_name: str | None = None
    #: LanceDB Cloud API key.
    api_key: SecretStr | None = None
    dimensions: int | None = Field(default=None, ge=1)
    #: A collection gets its ANN index, built in the background, once it holds
    #: this many rows; below, and until the build is done, search is exact.
    index_min_rows: int = Field(default=50_000, ge=1)
    #: The index of collections created without an index type (``IVF_SQ``), or
    #: ``FLAT`` for none: those collections then stay exact at any size.
    auto_index_type: str = "IVF_SQ"

    @field_validator("auto_index_type", mode="after")
    @classmethod
    def _auto_index_type(cls, value: str) -> str:
        kind = value.strip().upper() or "FLAT"
        if kind not in _LANCEDB_AUTO_INDEX_TYPES:
            accepted = ", ".join(sorted(_LANCEDB_AUTO_INDEX_TYPES))
            raise ValueError(f"unknown LanceDB index type {value!r} (accepted: {accepted})")
        return kind

    @property
    def collection(self) -> str | None:
        return self.table_name

    @property
    def dimension(self) -> int | None:
        return self.dimensions


class MilvusConfig(BaseStoreConfig):
    """Milvus / Zilliz Cloud / Milvus Lite. ``uri`` wins over ``host``/``port``."""

    type: Literal["milvus"] = "milvus"
    host: str | None = None
    port: int = Field(default=19530, ge=1, le=65535)
    #: ``http(s)://host:port`` or a Milvus Lite file path (``./milvus.db``).
    uri: str | None = None
    token: SecretStr | None = None
    api_key: SecretStr | None = None
    db_name: str | None = None
    collection_name: str | None = None
    index_type: str | None = None
    #: Milvus metric name (``L2``, ``IP``, ``COSINE``, ...), upper-cased.
    metric_type: str | None = None
    index_params: dict[str, Any] = Field(default_factory=dict)
    #: Field holding the document text (LiteLLM ``milvus_text_field``).
    text_field: str | None = None
    dimensions: int | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _default_host(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and not data.get("host") and not data.get("uri"):
            return {**data, "host": "localhost"}
        return data

    @field_validator("index_type", "metric_type", mode="after")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value is not None else None

    @model_validator(mode="after")
    def _check(self) -> MilvusConfig:
        if (
            self.token is not None
            and self.api_key is not None
            and self.token.get_secret_value() != self.api_key.get_secret_value()
        ):
            raise ValueError("set either 'token' or 'api_key', not both")
        if (
            self.metric is not None
            and self.metric_type is not None
            and self.metric_type.lower() != self.metric
        ):
            raise ValueError(
                f"'metric' ({self.metric}) and 'metric_type' ({self.metric_type}) disagree"
            )
        return self

    @property
    def connection_uri(self) -> str:
        """``uri`` if set, else ``http://host:port``."""
        if self.uri:
            return self.uri
        return f"http://{self.host or 'localhost'}:{self.port}"

    @property
    def is_lite(self) -> bool:
        """True when ``uri`` is a Milvus Lite database file rather than a server."""
        return bool(self.uri) and "://" not in (self.uri or "")

    @property
    def auth_token(self) -> SecretStr | None:
        """``token`` or ``api_key`` (synonyms)."""
        return self.token if self.token is not None else self.api_key

    @property
    def collection(self) -> str | None:
        return self.collection_name

    @property
    def dimension(self) -> int | None:
        return self.dimensions


class QdrantConfig(BaseStoreConfig):
    """Qdrant server (``url``) or embedded Qdrant (``path``: a directory or ``:memory:``).

    ``path`` runs Qdrant's own engine in-process (qdrant-edge, see
    :mod:`vectorgate_server.adapters.qdrant_edge`); ``url`` talks to a server.
    """

    dimension_field: ClassVar[str] = "vector_size"

    type: Literal["qdrant"] = "qdrant"
    #: Server URL; ``http://localhost:6333`` when neither ``url`` nor ``path`` is set.
    url: str | None = None
    path: str | None = None
    api_key: SecretStr | None = None
    prefer_grpc: bool = True
    #: Keyword (BM25) search: collections vectorgate creates get a sparse text vector with
    #: IDF, and keyword / hybrid search is served. Off: neither (UNIMPLEMENTED).
    keyword_search: bool = True
    collection_name: str | None = None
    vector_size: int | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _default_url(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and not data.get("url") and not data.get("path"):
            return {**data, "url": "http://localhost:6333"}
        return data

    @model_validator(mode="after")
    def _check(self) -> QdrantConfig:
        if self.url and self.path:
            raise ValueError("set either 'url' (server) or 'path' (embedded), not both")
        return self

    @property
    def collection(self) -> str | None:
        return self.collection_name

    @property
    def dimension(self) -> int | None:
        return self.vector_size


class OpenSearchAuth(_Model):
    """OpenSearch authentication: HTTP basic or AWS SigV4."""

    type: Literal["basic", "aws_sigv4"] = "basic"
    username: str | None = None
    password: SecretStr | None = None
    #: AWS region (SigV4); default from the AWS environment.
    region: str | None = None
    #: ``es`` (managed OpenSearch) or ``aoss`` (OpenSearch Serverless).
    service: Literal["es", "aoss"] = "es"

    @model_validator(mode="after")
    def _check(self) -> OpenSearchAuth:
        if self.type == "basic" and (self.username is None or self.password is None):
            raise ValueError("basic auth needs 'username' and 'password'")
        return self


class OpenSearchConfig(BaseStoreConfig):
    """OpenSearch cluster (k-NN plugin)."""

    type: Literal["opensearch"] = "opensearch"
    hosts: list[str] = Field(default_factory=lambda: ["http://localhost:9200"], min_length=1)
    index_name: str | None = None
    auth: OpenSearchAuth | None = None
    dimensions: int | None = Field(default=None, ge=1)
    engine: Literal["lucene", "faiss", "nmslib"] | None = None
    space_type: Literal["l2", "cosinesimil", "innerproduct", "l1", "linf", "hamming"] | None = None
    verify_certs: bool = True

    @field_validator("hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _split_csv(value)
        return value

    @property
    def collection(self) -> str | None:
        return self.index_name

    @property
    def dimension(self) -> int | None:
        return self.dimensions


class PineconeConfig(BaseStoreConfig):
    """Pinecone (serverless or pod-based)."""

    type: Literal["pinecone"] = "pinecone"
    api_key: SecretStr
    #: Pod environment / region (e.g. ``us-east-1``).
    environment: str | None = None
    cloud: Literal["aws", "gcp", "azure"] | None = None
    region: str | None = None
    index_name: str | None = None
    #: Index host URL (skips the control-plane lookup).
    host: str | None = None
    namespace: str | None = None
    dimensions: int | None = Field(default=None, ge=1)

    @property
    def collection(self) -> str | None:
        return self.index_name

    @property
    def dimension(self) -> int | None:
        return self.dimensions


_PG_PREFIX_RE: Final = re.compile(r"[a-z_][a-z0-9_]{0,15}")
_PG_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_PG_INDEX_TYPES: Final[Mapping[str, str]] = {
    "HNSW": "HNSW",
    "IVFFLAT": "IVFFLAT",
    "IVF_FLAT": "IVFFLAT",
    "FLAT": "FLAT",
}


class PgvectorConfig(BaseStoreConfig):
    """PostgreSQL with the pgvector extension: one table per collection."""

    type: Literal["pgvector"] = "pgvector"
    #: libpq connection string or URI (``postgresql://user:password@host:5432/db``).
    dsn: SecretStr
    #: Schema holding the tables (created if missing).
    schema_name: str = "public"
    #: Prefix of every table vectorgate creates (catalog and collections).
    table_prefix: str = "vg_"
    collection_name: str | None = None
    #: ANN index of new collections that name none: ``HNSW`` (default), ``IVFFLAT`` or
    #: ``FLAT`` (no index: exact search).
    index_type: str | None = None
    index_params: dict[str, Any] = Field(default_factory=dict)
    #: ``COSINE``, ``L2`` or ``IP`` (same as ``metric``; the seeds' spelling).
    metric_type: str | None = None
    dimensions: int | None = Field(default=None, ge=1)
    #: A collection gets its ANN index once it holds this many rows; below, search is exact.
    index_min_rows: int = Field(default=20_000, ge=1)
    #: PostgreSQL text search configuration of new collections (keyword search).
    text_search_config: str = "english"
    pool_min_size: int = Field(default=1, ge=0)
    pool_max_size: int = Field(default=10, ge=1)

    @field_validator("index_type", "metric_type", mode="after")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.strip().upper() if value is not None else None

    @model_validator(mode="after")
    def _check(self) -> PgvectorConfig:
        if not _PG_PREFIX_RE.fullmatch(self.table_prefix):
            raise ValueError(
                f"table_prefix {self.table_prefix!r}: 1-16 characters, lower-case letters, "
                "digits and '_', not starting with a digit"
            )
        if not _PG_NAME_RE.fullmatch(self.schema_name):
            raise ValueError(f"schema_name {self.schema_name!r} is not a plain SQL identifier")
        if not _PG_NAME_RE.fullmatch(self.text_search_config):
            raise ValueError(
                f"text_search_config {self.text_search_config!r} is not a configuration name"
            )
        if self.index_type is not None and self.index_type not in _PG_INDEX_TYPES:
            raise ValueError(
                f"index_type {self.index_type!r}: expected HNSW, IVFFLAT (or IVF_FLAT) or FLAT"
            )
        if self.metric_type is not None:
            metric = _METRIC_ALIASES.get(self.metric_type.lower())
            if metric is None:
                raise ValueError(f"metric_type {self.metric_type!r}: expected COSINE, L2 or IP")
            if self.metric is not None and self.metric != metric:
                raise ValueError(
                    f"'metric' ({self.metric}) and 'metric_type' ({self.metric_type}) disagree"
                )
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("pool_min_size must not exceed pool_max_size")
        return self

    @property
    def default_index_type(self) -> str:
        """The index type of new collections that name none (canonical spelling)."""
        return _PG_INDEX_TYPES[self.index_type] if self.index_type else "HNSW"

    @property
    def collection(self) -> str | None:
        return self.collection_name

    @property
    def dimension(self) -> int | None:
        return self.dimensions


#: Any store configuration; discriminated on ``type``.
StoreConfig: TypeAlias = Annotated[
    LanceDBConfig
    | MilvusConfig
    | QdrantConfig
    | OpenSearchConfig
    | PineconeConfig
    | PgvectorConfig,
    Field(discriminator="type"),
]

_STORE_CLASSES: Final[Mapping[str, type[BaseStoreConfig]]] = {
    "lancedb": LanceDBConfig,
    "milvus": MilvusConfig,
    "qdrant": QdrantConfig,
    "opensearch": OpenSearchConfig,
    "pinecone": PineconeConfig,
    "pgvector": PgvectorConfig,
}


class ServerSettings(_Model):
    """Listener and process settings (``server:``)."""

    host: str = "127.0.0.1"
    #: gRPC port; 0 lets the OS pick one.
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    #: HTTP/REST port; 0 lets the OS pick one.
    http_port: int = Field(default=4000, ge=0, le=65535)
    #: Directory for local state (LanceDB, key database); relative to the working directory.
    data_dir: Path = Path("./vectorgate-data")
    #: Largest request: a gRPC message, or an HTTP body (refused with 413 as it streams in).
    max_message_bytes: int = Field(default=64 * _MIB, ge=1024)
    #: HTTP: seconds a client gets to send a request's headers (slowloris); 0 = no limit.
    header_timeout_s: float = Field(default=10.0, ge=0)
    #: HTTP: longest stall of a request body while the server waits for it; also the
    #: grace before ``body_min_bytes_per_s`` applies. 0 = no limit.
    body_timeout_s: float = Field(default=30.0, ge=0)
    #: HTTP: the average rate (bytes/s) a body must keep up after ``body_timeout_s``.
    body_min_bytes_per_s: float = Field(default=500.0, gt=0)
    #: Seconds in-flight requests get to finish on shutdown.
    grace_period_s: float = Field(default=10.0, ge=0)


class LimitsSettings(_Model):
    """Request limits enforced by the gateway (``limits:``)."""

    max_top_k: int = Field(default=1000, ge=1)
    max_batch_documents: int = Field(default=1000, ge=1)
    max_text_bytes: int = Field(default=_MIB, ge=1)
    max_metadata_bytes: int = Field(default=64 * 1024, ge=1)
    max_dimension: int = Field(default=8192, ge=1)


class EmbeddingSettings(_Model):
    """Local embedding defaults (``embedding:``)."""

    default_model: str = "all-MiniLM-L6-v2"
    #: ONNX Runtime intra-op threads; None = runtime default.
    threads: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=32, ge=1)


class EmbeddingModelConfig(_Model):
    """One ``model_list`` deployment (LiteLLM style)."""

    #: User-facing name (``model_name``); several deployments may share it.
    name: str
    #: Provider model string, e.g. ``azure/text-embedding-3-large``.
    model: str
    api_base: str | None = None
    api_key: SecretStr | None = None
    api_version: str | None = None
    #: Other ``litellm_params``; secret-looking values are ``SecretStr``.
    params: dict[str, Any] = Field(default_factory=dict)
    model_info: dict[str, Any] = Field(default_factory=dict)


class GeneralSettings(_Model):
    """``general_settings``; other LiteLLM keys in this section are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)

    #: Admin key (or ``VECTORGATE_MASTER_KEY``).
    master_key: SecretStr | None = None
    #: Key database URL (or ``DATABASE_URL``).
    database_url: SecretStr | None = None


class RouterRagSettings(_Model):
    """``router_settings.rag_settings``."""

    vector_store: str | None = None
    top_k: int = Field(default=5, ge=1)
    rerank: bool = False
    rerank_model: str | None = None


class RouterSettings(_Model):
    """``router_settings``; other LiteLLM router keys are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)

    routing_strategy: str | None = None
    rag_enabled: bool = False
    rag_settings: RouterRagSettings | None = None


class RagSettings(_Model):
    """Top-level ``rag_settings``: multi-store retrieval."""

    #: Stores queried together; empty = the default store only.
    stores: list[str] = Field(default_factory=list)
    merge_strategy: Literal["reciprocal_rank_fusion"] = "reciprocal_rank_fusion"
    top_k: int = Field(default=5, ge=1)
    rerank: bool = False
    rerank_model: str | None = None
    rrf_k: int = Field(default=60, ge=1)
    #: Per-store weight for fusion (default 1.0).
    weights: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)


class Config(_Model):
    """The loaded, normalised configuration."""

    #: Every enabled store, by name, in definition order.
    stores: dict[str, StoreConfig]
    #: Name of the store used when a request names none.
    default_store: str
    server: ServerSettings = Field(default_factory=ServerSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    #: ``model_list`` deployments in file order (names may repeat).
    embedding_models: list[EmbeddingModelConfig] = Field(default_factory=list)
    general_settings: GeneralSettings = Field(default_factory=GeneralSettings)
    rag_settings: RagSettings = Field(default_factory=RagSettings)
    router_settings: RouterSettings = Field(default_factory=RouterSettings)
    #: The file the configuration was read from, if any.
    source_path: Path | None = None

    @model_validator(mode="after")
    def _check(self) -> Config:
        if not self.stores:
            raise ValueError("at least one store is required")
        for key, store in self.stores.items():
            if store.name != key:
                raise ValueError(f"store {key!r} has name {store.name!r}")
        if self.default_store not in self.stores:
            raise ValueError(f"default_store {self.default_store!r} is not a configured store")
        return self

    def get_store(self, name: str | None = None) -> StoreConfig:
        """The store called ``name`` (the default store when None); KeyError if unknown."""
        return self.stores[self.default_store if name is None else name]

    def get_embedding_model(self, name: str) -> EmbeddingModelConfig | None:
        """The first ``model_list`` deployment named ``name``."""
        return next((m for m in self.embedding_models if m.name == name), None)

    def redacted_dict(self) -> dict[str, Any]:
        """JSON-compatible dump with every secret replaced by ``**********``."""
        return self.model_dump(mode="json")


# --------------------------------------------------------------------------- raw file models


class _RegistryParams(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, coerce_numbers_to_str=True)

    vector_store_id: str
    custom_llm_provider: str
    api_key: SecretStr | None = None
    api_base: str | None = None
    litellm_embedding_model: str | None = None
    litellm_embedding_config: EmbeddingEndpointConfig | None = None


class _RegistryEntry(_Model):
    vector_store_name: str
    litellm_params: _RegistryParams
    vector_store_description: str | None = None
    vector_store_metadata: dict[str, Any] | None = None


class _ModelParams(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, coerce_numbers_to_str=True)

    model: str
    api_base: str | None = None
    api_key: SecretStr | None = None
    api_version: str | None = None


class _ModelListEntry(_Model):
    model_name: str
    litellm_params: _ModelParams
    model_info: dict[str, Any] = Field(default_factory=dict)


class _Sections(_Model):
    default_store: str | None = None
    server: ServerSettings = Field(default_factory=ServerSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    model_list: list[_ModelListEntry] = Field(default_factory=list)
    general_settings: GeneralSettings = Field(default_factory=GeneralSettings)
    router_settings: RouterSettings = Field(default_factory=RouterSettings)
    rag_settings: RagSettings = Field(default_factory=RagSettings)


# --------------------------------------------------------------------------- helpers


def _split_csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY_RE.search(key))


def _protect_mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    """Copy of ``value`` with secret-looking string values wrapped in SecretStr."""
    return {str(k): _protect_secrets(v, str(k)) for k, v in value.items()}


def _protect_secrets(value: Any, key: str) -> Any:
    """Wrap string values under secret-looking keys in SecretStr (recursively)."""
    if isinstance(value, Mapping):
        return {k: _protect_secrets(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_protect_secrets(v, key) for v in value]
    if isinstance(value, str) and key and _is_secret_key(key):
        return SecretStr(value)
    return value


def _path(prefix: str, *parts: str | int) -> str:
    out = prefix
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else part
    return out


def _short_repr(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Errors:
    """Accumulates ``key.path: reason`` lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        #: Paths whose value could not be resolved; validation errors on them are follow-ups.
        self.unresolved: set[str] = set()

    def add(self, path: str, reason: str) -> None:
        self.lines.append(f"{path}: {reason}" if path else reason)

    def add_validation(self, path: str, reason: str) -> None:
        """Like :meth:`add`, but drop errors caused by an unresolved ``os.environ/`` value."""
        for bad in self.unresolved:
            if path == bad or bad.startswith((f"{path}.", f"{path}[")):
                return
        self.add(path, reason)

    def __bool__(self) -> bool:
        return bool(self.lines)


def _model_of(annotation: Any) -> Any:
    """Strip Optional / Annotated wrappers."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _allowed_keys(model: type[BaseModel] | None, loc: Sequence[str | int]) -> list[str]:
    """Field names of the model that contains ``loc[-1]``, for "did you mean" hints."""
    current: Any = model
    for part in loc[:-1]:
        current = _model_of(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) in (list, dict):
            current = get_args(current)[-1]
        else:
            return []
    current = _model_of(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        names = list(current.model_fields)
        if issubclass(current, BaseStoreConfig):
            names = [n for n in names if n not in ("name", "origin")]
        return names
    return []


def _describe(err: ErrorDetails, key: str, allowed: Sequence[str]) -> str:
    etype = err["type"]
    msg = err["msg"]
    if etype == "extra_forbidden":
        close = difflib.get_close_matches(key, allowed, n=1)
        return f"unknown key (did you mean '{close[0]}'?)" if close else "unknown key"
    if etype == "missing":
        return "field required"
    if etype in ("value_error", "assertion_error"):
        for prefix in ("Value error, ", "Assertion failed, "):
            msg = msg.removeprefix(prefix)
        return msg
    if etype.endswith("_parsing") and ", " in msg:
        msg = msg.split(", ", 1)[0]
    if key and _is_secret_key(key):
        return msg
    return f"{msg}, got {_short_repr(err.get('input'))}"


def _pydantic_errors(
    exc: ValidationError,
    prefix: str,
    errors: _Errors,
    *,
    model: type[BaseModel] | None,
    rename: Mapping[str, str] | None = None,
    notes: Mapping[str, str] | None = None,
) -> None:
    """Translate a ValidationError into ``key.path: reason`` lines under ``prefix``."""
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        key = str(loc[-1]) if loc and isinstance(loc[-1], str) else ""
        reason = _describe(err, key, _allowed_keys(model, loc))
        if loc and isinstance(loc[0], str):
            first = loc[0]
            if notes and first in notes:
                reason += f" (from {notes[first]})"
            if rename and first in rename:
                loc[0] = rename[first]
        errors.add_validation(_path(prefix, *loc), reason)


def _resolve_env_refs(value: Any, path: str, environ: Mapping[str, str], errors: _Errors) -> Any:
    """Replace ``os.environ/NAME`` strings; turn YAML dates into ISO strings."""
    if isinstance(value, Mapping):
        return {
            k: _resolve_env_refs(v, _path(path, str(k)), environ, errors) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_resolve_env_refs(v, _path(path, i), environ, errors) for i, v in enumerate(value)]
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_ENV_REF_PREFIX):
        name = value[len(_ENV_REF_PREFIX) :]
        if not _ENV_NAME_RE.fullmatch(name):
            errors.add(path, f"invalid environment variable reference {value!r}")
            errors.unresolved.add(path)
            return None
        resolved = environ.get(name)
        if not resolved:
            state = "is not set" if resolved is None else "is empty"
            errors.add(path, f"environment variable {name} {state}")
            errors.unresolved.add(path)
            return None
        return resolved
    return value


# --------------------------------------------------------------------------- YAML


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"duplicate key {key!r}",
                key_node.start_mark,
            )
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(["config file not found"], source=path) from None
    except IsADirectoryError:
        raise ConfigError(["config path is a directory, not a file"], source=path) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"file is not valid UTF-8 ({exc.reason})"], source=path) from None
    except OSError as exc:
        raise ConfigError([f"cannot read config file: {exc.strerror}"], source=path) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ConfigError([f"{where}{problem}"], source=path) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"invalid YAML: {exc}"], source=path) from None


# --------------------------------------------------------------------------- stores


class _RawStore:
    """A store definition before validation, with what is needed to report errors."""

    def __init__(
        self,
        data: dict[str, Any],
        prefix: str,
        rename: Mapping[str, str] | None = None,
    ) -> None:
        self.data = data
        self.prefix = prefix
        self.rename: dict[str, str] = dict(rename or {})
        #: field -> environment variable it was filled from.
        self.notes: dict[str, str] = {}

    @property
    def type(self) -> str:
        return str(self.data["type"])

    @property
    def name(self) -> str:
        return str(self.data["name"])


_BOOL: Final = TypeAdapter(bool)


def _store_type_for(name: str, raw_type: Any, path: str, errors: _Errors) -> str | None:
    if raw_type is None:
        if name in _STORE_CLASSES:
            return name
        errors.add(
            _path(path, "type"),
            f"field required (the store name {name!r} is not a store type; "
            f"set type to one of {', '.join(STORE_TYPES)})",
        )
        return None
    if not isinstance(raw_type, str) or raw_type.strip().lower() not in _STORE_CLASSES:
        errors.add(
            _path(path, "type"),
            f"unknown store type {_short_repr(raw_type)}; expected one of {', '.join(STORE_TYPES)}",
        )
        return None
    return raw_type.strip().lower()


def _check_store_name(name: Any, path: str, errors: _Errors) -> str | None:
    if not isinstance(name, str) or not _STORE_NAME_RE.fullmatch(name):
        errors.add(
            path,
            f"invalid store name {_short_repr(name)} (1-128 characters, no whitespace or '/')",
        )
        return None
    return name


def _collect_vector_stores(
    section: Any,
    environ: Mapping[str, str],
    errors: _Errors,
    disabled: dict[str, str],
) -> list[_RawStore]:
    """Raw ``vector_stores`` blocks; disabled ones are recorded in ``disabled`` and dropped."""
    if section is None:
        return []
    if not isinstance(section, Mapping):
        errors.add(
            "vector_stores",
            f"expected a mapping of store name to settings, got {_short_repr(section)}",
        )
        return []
    out: list[_RawStore] = []
    for raw_name, raw_block in section.items():
        path = _path("vector_stores", str(raw_name))
        name = _check_store_name(raw_name, path, errors)
        if name is None:
            continue
        block: Any = {} if raw_block is None else raw_block
        if not isinstance(block, Mapping):
            errors.add(path, f"expected a mapping of store settings, got {_short_repr(block)}")
            continue
        enabled_raw = _resolve_env_refs(
            block.get("enabled", True), _path(path, "enabled"), environ, errors
        )
        try:
            enabled = _BOOL.validate_python(enabled_raw)
        except ValidationError:
            errors.add(
                _path(path, "enabled"),
                f"Input should be a valid boolean, got {_short_repr(enabled_raw)}",
            )
            continue
        type_raw = _resolve_env_refs(block.get("type"), _path(path, "type"), environ, errors)
        if not enabled:
            disabled[name] = (type_raw if isinstance(type_raw, str) else name).strip().lower()
            continue
        store_type = _store_type_for(name, type_raw, path, errors)
        data: dict[str, Any] = {}
        for key, value in block.items():
            if key in ("enabled", "type"):
                continue
            if key in ("name", "origin"):
                errors.add(_path(path, str(key)), "unknown key (the store name is the mapping key)")
                continue
            data[str(key)] = _resolve_env_refs(value, _path(path, str(key)), environ, errors)
        if store_type is None:
            continue
        data.update(name=name, type=store_type, origin="vector_stores")
        out.append(_RawStore(data, path))
    return out


#: Store field <- litellm_params key, per provider (besides the common mapping).
_REGISTRY_COLLECTION_FIELD: Final[Mapping[str, str]] = {
    "lancedb": "table_name",
    "milvus": "collection_name",
    "qdrant": "collection_name",
    "opensearch": "index_name",
    "pinecone": "index_name",
    "pgvector": "collection_name",
}
_REGISTRY_BASE_FIELD: Final[Mapping[str, str]] = {
    "lancedb": "uri",
    "milvus": "uri",
    "qdrant": "url",
    "opensearch": "hosts",
    "pinecone": "host",
    "pgvector": "dsn",
}
#: LiteLLM-native parameter -> store field, per provider (kept in native_defaults too).
_REGISTRY_NATIVE_FIELDS: Final[Mapping[str, Mapping[str, str]]] = {
    "milvus": {"milvus_text_field": "text_field", "dbName": "db_name"},
}


def _collect_registry(section: Any, environ: Mapping[str, str], errors: _Errors) -> list[_RawStore]:
    """Raw stores from a LiteLLM ``vector_store_registry`` list."""
    if section is None:
        return []
    if not isinstance(section, list):
        errors.add("vector_store_registry", f"expected a list, got {_short_repr(section)}")
        return []
    out: list[_RawStore] = []
    for index, raw_entry in enumerate(section):
        path = _path("vector_store_registry", index)
        resolved = _resolve_env_refs(raw_entry, path, environ, errors)
        try:
            entry = _RegistryEntry.model_validate(resolved)
        except ValidationError as exc:
            _pydantic_errors(exc, path, errors, model=_RegistryEntry)
            continue
        name = _check_store_name(entry.vector_store_name, _path(path, "vector_store_name"), errors)
        params = entry.litellm_params
        params_path = _path(path, "litellm_params")
        provider = params.custom_llm_provider.strip().lower()
        if provider not in _STORE_CLASSES:
            errors.add(
                _path(params_path, "custom_llm_provider"),
                f"unsupported provider {params.custom_llm_provider!r}; "
                f"vectorgate supports {', '.join(STORE_TYPES)}",
            )
            continue
        if name is None:
            continue
        store_cls = _STORE_CLASSES[provider]
        collection_field = _REGISTRY_COLLECTION_FIELD[provider]
        base_field = _REGISTRY_BASE_FIELD[provider]
        rename: dict[str, str] = {
            collection_field: "vector_store_id",
            "embedding_model": "litellm_embedding_model",
            "embedding_config": "litellm_embedding_config",
            base_field: "api_base",
        }
        data: dict[str, Any] = {
            "name": name,
            "type": provider,
            "origin": "vector_store_registry",
            collection_field: params.vector_store_id,
        }
        if params.api_base is not None:
            api_base = params.api_base
            data[base_field] = _split_csv(api_base) if base_field == "hosts" else api_base
        if params.litellm_embedding_model is not None:
            data["embedding_model"] = params.litellm_embedding_model
        if params.litellm_embedding_config is not None:
            data["embedding_config"] = params.litellm_embedding_config
        native: dict[str, Any] = dict(params.model_extra or {})
        if params.api_key is not None:
            if "api_key" in store_cls.model_fields:
                data["api_key"] = params.api_key
            else:
                native["api_key"] = params.api_key
        for native_key, field_name in _REGISTRY_NATIVE_FIELDS.get(provider, {}).items():
            if native_key in native and field_name not in data:
                data[field_name] = native[native_key]
                rename[field_name] = native_key
        reserved = {"name", "origin", "type", "native_defaults"}
        for key, value in native.items():
            if key in store_cls.model_fields and key not in reserved and key not in data:
                data[key] = value
        data["native_defaults"] = native
        out.append(_RawStore(data, params_path, rename))
    return out


#: (env var, store type, field it fills).
_BACKEND_ENV: Final[tuple[tuple[str, StoreType, str], ...]] = (
    ("LANCEDB_URI", "lancedb", "uri"),
    ("MILVUS_HOST", "milvus", "host"),
    ("QDRANT_URL", "qdrant", "url"),
    ("OPENSEARCH_HOSTS", "opensearch", "hosts"),
    ("PINECONE_API_KEY", "pinecone", "api_key"),
)


def _env_value(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def _parse_milvus_host(value: str) -> dict[str, Any] | str:
    """``MILVUS_HOST`` -> fields, or an error message."""
    if "://" in value or value.endswith(".db") or value.startswith(("/", "./", "../")):
        return {"uri": value}
    if value.count(":") == 1:
        host, port = value.split(":")
        if not host or not port.isdigit():
            return f"expected host, host:port or a URI, got {value!r}"
        return {"host": host, "port": int(port)}
    return {"host": value}


def _backend_fields(env_name: str, value: str) -> dict[str, Any] | str:
    if env_name == "MILVUS_HOST":
        return _parse_milvus_host(value)
    if env_name == "LANCEDB_URI":
        return {"uri": value}
    if env_name == "QDRANT_URL":
        return {"url": value}
    if env_name == "OPENSEARCH_HOSTS":
        hosts = _split_csv(value)
        return {"hosts": hosts} if hosts else f"no hosts in {value!r}"
    return {"api_key": SecretStr(value)}


def _is_unset(store: _RawStore, env_name: str) -> bool:
    data = store.data
    if env_name == "MILVUS_HOST":
        return not data.get("host") and not data.get("uri")
    if env_name == "QDRANT_URL":
        return not data.get("url") and not data.get("path")
    field = next(f for n, _, f in _BACKEND_ENV if n == env_name)
    return not data.get(field)


def _apply_backend_env(
    stores: dict[str, _RawStore],
    disabled: Mapping[str, str],
    environ: Mapping[str, str],
    data_dir: Path,
    errors: _Errors,
) -> None:
    for env_name, store_type, _ in _BACKEND_ENV:
        value = _env_value(environ, env_name)
        if value is None:
            continue
        fields = _backend_fields(env_name, value)
        if isinstance(fields, str):
            errors.add(env_name, fields)
            continue
        matching = [s for s in stores.values() if s.type == store_type]
        for store in matching:
            if _is_unset(store, env_name):
                for key, field_value in fields.items():
                    if store.data.get(key) is None:
                        store.data[key] = field_value
                        store.notes[key] = env_name
        if matching or store_type in disabled.values():
            continue
        if store_type in stores or store_type in disabled:
            errors.add(
                env_name,
                f"cannot define store {store_type!r}: that name is already used by a store "
                f"of another type",
            )
            continue
        store = _RawStore(
            {"name": store_type, "type": store_type, "origin": "environment", **fields},
            _path("vector_stores", store_type),
        )
        store.notes = {key: env_name for key in fields}
        stores[store_type] = store

    # LiteLLM-compatible fallbacks for Milvus; never define a store.
    api_base = _env_value(environ, "MILVUS_API_BASE")
    api_key = _env_value(environ, "MILVUS_API_KEY")
    for store in stores.values():
        if store.type != "milvus":
            continue
        if api_base and not store.data.get("host") and not store.data.get("uri"):
            store.data["uri"] = api_base
            store.notes["uri"] = "MILVUS_API_BASE"
        if api_key and store.data.get("token") is None and store.data.get("api_key") is None:
            store.data["api_key"] = SecretStr(api_key)
            store.notes["api_key"] = "MILVUS_API_KEY"

    default_uri = str(data_dir / "lancedb")
    for store in stores.values():
        if store.type == "lancedb" and not store.data.get("uri"):
            store.data["uri"] = default_uri


def _validate_store(raw: _RawStore, errors: _Errors) -> StoreConfig | None:
    store_cls = _STORE_CLASSES[raw.type]
    try:
        return cast("StoreConfig", store_cls.model_validate(raw.data))
    except ValidationError as exc:
        _pydantic_errors(
            exc, raw.prefix, errors, model=store_cls, rename=raw.rename, notes=raw.notes
        )
        return None


def _select_default(
    explicit: str | None,
    store_types: Mapping[str, str],
    disabled: Mapping[str, str],
    environ: Mapping[str, str],
    errors: _Errors,
) -> str | None:
    configured = ", ".join(store_types) or "none"
    if explicit is not None:
        if explicit in store_types:
            return explicit
        state = "is disabled" if explicit in disabled else "is not configured"
        errors.add("default_store", f"store {explicit!r} {state} (configured: {configured})")
        return None
    wanted = _env_value(environ, "VECTOR_STORE_TYPE")
    if wanted is not None:
        if wanted in store_types:
            return wanted
        wanted_type = wanted.lower()
        if wanted_type not in _STORE_CLASSES:
            errors.add(
                "VECTOR_STORE_TYPE",
                f"{wanted!r} is neither a configured store ({configured}) nor a store type "
                f"({', '.join(STORE_TYPES)})",
            )
            return None
        of_type = [name for name, kind in store_types.items() if kind == wanted_type]
        if len(of_type) == 1:
            return of_type[0]
        if not of_type:
            errors.add(
                "VECTOR_STORE_TYPE", f"no enabled store of type {wanted_type!r} is configured"
            )
        else:
            errors.add(
                "VECTOR_STORE_TYPE",
                f"{len(of_type)} stores have type {wanted_type!r} ({', '.join(of_type)}); "
                f"name one of them or set default_store",
            )
        return None
    return next(iter(store_types), None)


def _check_references(
    sections: _Sections,
    stores: Mapping[str, StoreConfig],
    raw_stores: Mapping[str, _RawStore],
    disabled: Mapping[str, str],
    errors: _Errors,
) -> None:
    configured = ", ".join(raw_stores) or "none"

    def check(path: str, name: str) -> bool:
        if name in raw_stores:
            return True
        state = "is disabled" if name in disabled else "is not configured"
        errors.add(path, f"store {name!r} {state} (configured: {configured})")
        return False

    rag = sections.rag_settings
    seen: set[str] = set()
    for index, name in enumerate(rag.stores):
        path = _path("rag_settings.stores", index)
        if name in seen:
            errors.add(path, f"store {name!r} is listed twice")
        seen.add(name)
        check(path, name)
    for name in rag.weights:
        path = _path("rag_settings.weights", name)
        if check(path, name) and rag.stores and name not in rag.stores:
            errors.add(path, f"store {name!r} is not listed in rag_settings.stores")
    limits = sections.limits
    if rag.top_k > limits.max_top_k:
        errors.add("rag_settings.top_k", f"exceeds limits.max_top_k ({limits.max_top_k})")
    router_rag = sections.router_settings.rag_settings
    if router_rag is not None:
        if router_rag.vector_store is not None:
            check("router_settings.rag_settings.vector_store", router_rag.vector_store)
        if router_rag.top_k > limits.max_top_k:
            errors.add(
                "router_settings.rag_settings.top_k",
                f"exceeds limits.max_top_k ({limits.max_top_k})",
            )
    for name, store in stores.items():
        dimension = store.dimension
        if dimension is not None and dimension > limits.max_dimension:
            raw = raw_stores[name]
            field = store.dimension_field
            errors.add(
                _path(raw.prefix, raw.rename.get(field, field)),
                f"{dimension} exceeds limits.max_dimension ({limits.max_dimension})",
            )


# --------------------------------------------------------------------------- loader


def _sections_data(
    document: Mapping[Any, Any], environ: Mapping[str, str], errors: _Errors
) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in document.items():
        if key in ("vector_stores", "vector_store_registry") or key in _IGNORED_LITELLM_SECTIONS:
            continue
        if key not in _TOP_LEVEL_KEYS:
            known = sorted(_TOP_LEVEL_KEYS | _IGNORED_LITELLM_SECTIONS)
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            errors.add(str(key), f"unknown top-level key{hint}")
            continue
        if value is None:
            continue
        data[key] = _resolve_env_refs(value, key, environ, errors)
    general = data.get("general_settings")
    if general is None or isinstance(general, Mapping):
        general = dict(general or {})
        for field, env_name in (
            ("master_key", "VECTORGATE_MASTER_KEY"),
            ("database_url", "DATABASE_URL"),
        ):
            env_value = _env_value(environ, env_name)
            if general.get(field) is None and env_value is not None:
                general[field] = env_value
        if general:
            data["general_settings"] = general
    return data


def _validate_sections(data: Mapping[str, Any], errors: _Errors) -> _Sections:
    """Validate each section on its own so one bad section keeps the others' checks."""
    valid: dict[str, Any] = {}
    for key, value in data.items():
        try:
            _Sections.model_validate({key: value})
        except ValidationError as exc:
            _pydantic_errors(exc, "", errors, model=_Sections)
        else:
            valid[key] = value
    return _Sections.model_validate(valid)


def _embedding_models(entries: Sequence[_ModelListEntry]) -> list[EmbeddingModelConfig]:
    models: list[EmbeddingModelConfig] = []
    for entry in entries:
        params = entry.litellm_params
        models.append(
            EmbeddingModelConfig(
                name=entry.model_name,
                model=params.model,
                api_base=params.api_base,
                api_key=params.api_key,
                api_version=params.api_version,
                params=_protect_mapping(params.model_extra or {}),
                model_info=_protect_mapping(entry.model_info),
            )
        )
    return models


def load_config(
    path: str | Path | None,
    environ: Mapping[str, str] | None = None,
    *,
    server_overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Load and validate the configuration.

    ``path`` is a YAML file; None (or "") means built-in defaults plus
    environment variables. ``environ`` defaults to ``os.environ``. Values in
    the file win over environment variables (see the module docstring for the
    full precedence rules). ``server_overrides`` (command-line flags) win over
    the file's ``server:`` section and are applied before anything derived from
    it, such as the embedded store's location under ``data_dir``. Raises
    :class:`ConfigError` listing every problem.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    source = Path(path) if path else None
    document: Any = _read_yaml(source) if source is not None else None
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise ConfigError(
            [f"the top level must be a mapping of sections, got {_short_repr(document)}"],
            source=source,
        )
    if server_overrides:
        server_section = document.get("server")
        base = dict(server_section) if isinstance(server_section, Mapping) else {}
        document = {**document, "server": {**base, **server_overrides}}

    errors = _Errors()
    section_data = _sections_data(document, env, errors)
    sections = _validate_sections(section_data, errors)

    disabled: dict[str, str] = {}
    raw_stores: dict[str, _RawStore] = {}
    for raw in _collect_vector_stores(document.get("vector_stores"), env, errors, disabled):
        raw_stores[raw.name] = raw
    for raw in _collect_registry(document.get("vector_store_registry"), env, errors):
        if raw.name in raw_stores or raw.name in disabled:
            where = raw_stores[raw.name].prefix if raw.name in raw_stores else "vector_stores"
            errors.add(
                _path(raw.prefix.removesuffix(".litellm_params"), "vector_store_name"),
                f"store {raw.name!r} is already defined at {where.removesuffix('.litellm_params')}",
            )
            continue
        raw_stores[raw.name] = raw

    _apply_backend_env(raw_stores, disabled, env, sections.server.data_dir, errors)
    if not raw_stores:
        default = _RawStore(
            {
                "name": DEFAULT_STORE_NAME,
                "type": "lancedb",
                "origin": "default",
                "uri": str(sections.server.data_dir / "lancedb"),
            },
            _path("vector_stores", DEFAULT_STORE_NAME),
        )
        raw_stores[DEFAULT_STORE_NAME] = default

    stores: dict[str, StoreConfig] = {}
    for name, raw in raw_stores.items():
        validated = _validate_store(raw, errors)
        if validated is not None:
            stores[name] = validated

    store_types = {name: raw.type for name, raw in raw_stores.items()}
    default_store = _select_default(sections.default_store, store_types, disabled, env, errors)
    _check_references(sections, stores, raw_stores, disabled, errors)
    if errors or default_store is None:
        raise ConfigError(errors.lines, source=source)

    try:
        return Config(
            stores=stores,
            default_store=default_store,
            server=sections.server,
            limits=sections.limits,
            embedding=sections.embedding,
            embedding_models=_embedding_models(sections.model_list),
            general_settings=sections.general_settings,
            rag_settings=sections.rag_settings,
            router_settings=sections.router_settings,
            source_path=source,
        )
    except ValidationError as exc:
        _pydantic_errors(exc, "", errors, model=Config)
        raise ConfigError(errors.lines, source=source) from None
