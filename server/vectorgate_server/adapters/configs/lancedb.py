"""The configuration model of a LanceDB store (:mod:`vectorgate_server.adapters.lancedb`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr

from .base import (
    BaseStoreConfig,
)


class LanceDBConfig(BaseStoreConfig):
    """Embedded LanceDB (local directory, ``s3://...`` or LanceDB Cloud ``db://...``)."""

    collection_field: ClassVar[str] = "table_name"

    type: Literal["lancedb"] = "lancedb"
    #: Database location; default ``<server.data_dir>/lancedb`` (or ``LANCEDB_URI``).
    uri: str
    table_name: str | None = None
    #: LanceDB Cloud API key.
    api_key: SecretStr | None = None
    dimensions: int | None = Field(default=None, ge=1)
