"""The configuration model of a Milvus store (:mod:`vectorgate_server.adapters.milvus`)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from .base import (
    BaseStoreConfig,
    MetricName,
    default_metric_of,
)


class MilvusConfig(BaseStoreConfig):
    """Milvus / Zilliz Cloud / Milvus Lite. ``uri`` wins over ``host``/``port``."""

    location_fields: ClassVar[tuple[str, ...]] = ("host", "uri")
    default_location: ClassVar[dict[str, str]] = {"host": "localhost"}

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
    def default_metric(self) -> MetricName | None:
        """``metric``, else ``metric_type`` when it is one the gateway knows."""
        return default_metric_of(self.metric, self.metric_type)

    @property
    def auth_token(self) -> SecretStr | None:
        """``token`` or ``api_key`` (synonyms)."""
        return self.token if self.token is not None else self.api_key
