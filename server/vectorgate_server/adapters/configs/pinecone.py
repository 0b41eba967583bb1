"""The configuration model of a Pinecone store (:mod:`vectorgate_server.adapters.pinecone`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr

from .base import (
    BaseStoreConfig,
)


class PineconeConfig(BaseStoreConfig):
    """Pinecone (serverless or pod-based)."""

    collection_field: ClassVar[str] = "index_name"

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
