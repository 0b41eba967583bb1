"""The configuration model of an OpenSearch store (:mod:`vectorgate_server.adapters.opensearch`)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from .base import (
    BaseStoreConfig,
    StrictModel,
    split_csv,
)


class OpenSearchAuth(StrictModel):
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

    collection_field: ClassVar[str] = "index_name"

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
            return split_csv(value)
        return value
