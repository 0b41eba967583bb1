"""The configuration model of a Qdrant store (server or embedded)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, model_validator

from .base import (
    BaseStoreConfig,
)


class QdrantConfig(BaseStoreConfig):
    """Qdrant server (``url``) or embedded Qdrant (``path``: a directory or ``:memory:``).

    ``path`` runs Qdrant's own engine in-process (qdrant-edge, see
    :mod:`vectorgate_server.adapters.qdrant.edge`); ``url`` talks to a server.
    """

    dimension_field: ClassVar[str] = "vector_size"
    location_fields: ClassVar[tuple[str, ...]] = ("url", "path")
    default_location: ClassVar[dict[str, str]] = {"url": "http://localhost:6333"}

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

    @model_validator(mode="after")
    def _check(self) -> QdrantConfig:
        if self.url and self.path:
            raise ValueError("set either 'url' (server) or 'path' (embedded), not both")
        return self
