"""What every store's configuration model shares: the common fields and their checks.

Each adapter owns its configuration model, in a module of this package named after it
(:mod:`.lancedb`, :mod:`.milvus`, ...): importing one needs no backend SDK, so the loader
(:mod:`vectorgate_server.config`) validates every store type of a file whatever is
installed. The common fields live here, in :class:`BaseStoreConfig`, once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Final, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

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

#: Keys whose values are secrets: never echoed in errors, wrapped in SecretStr in free-form dicts.
SECRET_KEY_RE: Final = re.compile(
    r"(api_?key|apikey|password|passwd|secret|token|credential|master_key|database_url"
    r"|private_key|access_key|dsn)",
    re.IGNORECASE,
)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


METRIC_ALIASES: Final[Mapping[str, MetricName]] = {
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


def default_metric_of(metric: MetricName | None, metric_type: str | None) -> MetricName | None:
    if metric is not None or metric_type is None:
        return metric
    return METRIC_ALIASES.get(metric_type.lower())


class EmbeddingEndpointConfig(StrictModel):
    """Connection settings of a remote embedding model (LiteLLM ``litellm_embedding_config``)."""

    api_base: str | None = None
    api_key: SecretStr | None = None
    api_version: str | None = None


class BaseStoreConfig(StrictModel):
    """Fields shared by every store type. Use the concrete subclasses."""

    #: Which field holds the vector dimension; the other spelling is accepted as an alias.
    dimension_field: ClassVar[str] = "dimensions"
    #: Which field names the store's default collection / table / index.
    collection_field: ClassVar[str] = "collection_name"
    #: The fields that say where the store is, and what to set when none of them is.
    location_fields: ClassVar[tuple[str, ...]] = ()
    default_location: ClassVar[dict[str, str]] = {}

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
    #: Most backend calls in flight at once, for every backend (stores whose SDK blocks
    #: also run them in this many threads of their own); more wait, no longer than the
    #: caller's deadline (else ``timeout_s``).
    max_concurrency: int = Field(default=8, ge=1, le=1024)
    #: Defaults of the backend's search parameters, under each query's ``native_params``
    #: (Milvus: also LiteLLM's ``annsField``, ``searchParams``, ...). A key the backend
    #: does not know is refused when the gateway is built. Values of secret-looking keys
    #: are ``SecretStr``.
    native_defaults: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _default_location(cls, data: Any) -> Any:
        if (
            cls.default_location
            and isinstance(data, Mapping)
            and not any(data.get(f) for f in cls.location_fields)
        ):
            return {**data, **cls.default_location}
        return data

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
            return METRIC_ALIASES.get(value.strip().lower(), value)
        return value

    @field_validator("native_defaults", mode="after")
    @classmethod
    def _protect_native_defaults(cls, value: dict[str, Any]) -> dict[str, Any]:
        return protect_mapping(value)

    @property
    def collection(self) -> str | None:
        """The default collection / table / index of this store, if configured."""
        value = getattr(self, self.collection_field, None)
        return str(value) if value is not None else None

    @property
    def dimension(self) -> int | None:
        """The configured vector dimension, if any."""
        value = getattr(self, self.dimension_field, None)
        return int(value) if value is not None else None

    @property
    def default_metric(self) -> MetricName | None:
        """Metric of new collections whose request names none."""
        return self.metric


def split_csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def is_secret_key(key: str) -> bool:
    return bool(SECRET_KEY_RE.search(key))


def protect_mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    """Copy of ``value`` with secret-looking string values wrapped in SecretStr."""
    return {str(k): _protect_secrets(v, str(k)) for k, v in value.items()}


def _protect_secrets(value: Any, key: str) -> Any:
    """Wrap string values under secret-looking keys in SecretStr (recursively)."""
    if isinstance(value, Mapping):
        return {k: _protect_secrets(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_protect_secrets(v, key) for v in value]
    if isinstance(value, str) and key and is_secret_key(key):
        return SecretStr(value)
    return value
