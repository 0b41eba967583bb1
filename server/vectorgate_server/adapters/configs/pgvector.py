"""The configuration model of a pgvector store (:mod:`vectorgate_server.adapters.pgvector`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from .base import (
    METRIC_ALIASES,
    BaseStoreConfig,
    MetricName,
    default_metric_of,
)

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
            metric = METRIC_ALIASES.get(self.metric_type.lower())
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
    def default_metric(self) -> MetricName | None:
        """``metric``, else ``metric_type`` (synonyms)."""
        return default_metric_of(self.metric, self.metric_type)

    @property
    def default_index_type(self) -> str:
        """The index type of new collections that name none (canonical spelling)."""
        return _PG_INDEX_TYPES[self.index_type] if self.index_type else "HNSW"
