"""The async interface every backend adapter implements.

An adapter owns one configured store (one client / connection pool) and speaks
domain types only: it never imports protobuf, never sees HTTP or gRPC, and
raises :mod:`vectorgate_server.errors` exceptions. Blocking SDK calls run off
the event loop. The contract suite in ``tests/contract`` is the definition of
"an adapter works".

Semantics every adapter must honour:

* ``upsert`` replaces documents by id (idempotent) and returns only once the
  documents are durable and visible to ``get``, ``count`` and ``search``
  (read-your-writes).
* ``search`` applies the filter inside the backend, before ranking, and
  returns at most ``top_k`` hits best first, ``score`` normalised by
  :func:`vectorgate_server.domain.normalise_score` and ``raw_score`` as the
  backend returned it.
* A filter the backend cannot express raises :class:`~vectorgate_server.errors.Unsupported`;
  it is never dropped nor applied after retrieval.
* Unknown collections raise ``NotFound`` (reason ``COLLECTION_NOT_FOUND``),
  duplicates ``AlreadyExists``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..domain import (
    CollectionInfo,
    CollectionSpec,
    Document,
    Explanation,
    Filter,
    Hit,
    Metric,
    Op,
    SearchQuery,
)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend can do. The service answers UNIMPLEMENTED from these before calling it."""

    metrics: frozenset[Metric] = frozenset(Metric)
    filter_ops: frozenset[Op] = frozenset(Op)
    #: Boolean combinations in filters (and / or / not).
    filter_boolean: bool = True
    delete_by_filter: bool = True
    #: Index types accepted in ``CollectionSpec.index.type`` (upper case); empty = any.
    index_types: frozenset[str] = frozenset()
    #: Max documents per backend write call; the adapter splits larger batches.
    max_write_batch: int = 10_000
    #: Native search parameters accepted in ``SearchQuery.native_params``.
    native_params: frozenset[str] = field(default_factory=frozenset)


@runtime_checkable
class Adapter(Protocol):
    """One configured store."""

    #: Configured store name.
    store: str
    #: Backend kind: "lancedb", "milvus", "qdrant", "opensearch", "pinecone".
    backend: str
    capabilities: Capabilities

    async def start(self) -> None:
        """Connect / open. Called once before any other method."""

    async def close(self) -> None:
        """Release connections. Idempotent."""

    async def create_collection(self, spec: CollectionSpec) -> CollectionInfo:
        """Create a collection; ``AlreadyExists`` if present."""

    async def describe_collection(self, name: str) -> CollectionInfo:
        """Describe a collection including ``document_count``; ``NotFound`` if absent."""

    async def list_collections(self) -> list[str]:
        """Names of all collections, sorted."""

    async def drop_collection(self, name: str) -> None:
        """Drop a collection; ``NotFound`` if absent."""

    async def count(self, name: str, filter: Filter | None = None) -> int:
        """Number of documents, optionally matching a filter."""

    async def upsert(self, name: str, documents: Sequence[Document]) -> None:
        """Insert or replace by id. Every document carries a vector of the right dimension."""

    async def get(self, name: str, ids: Sequence[str], include_vectors: bool) -> list[Document]:
        """Documents with these ids, in the order given; missing ids omitted."""

    async def delete(
        self, name: str, ids: Sequence[str] | None = None, filter: Filter | None = None
    ) -> None:
        """Delete documents whose id is in ``ids`` or that match ``filter``."""

    async def search(self, name: str, query: SearchQuery) -> list[Hit]:
        """Nearest neighbours of ``query.vector`` among documents matching ``query.filter``."""

    async def explain(self, name: str, query: SearchQuery) -> Explanation:
        """The native filter and parameters ``search`` would send, without running it."""


def unsupported_ops(filter: Filter, capabilities: Capabilities) -> list[str]:
    """Names of the filter operators in ``filter`` that the backend cannot express."""
    from ..domain import And, Condition, Not, Or

    missing: list[str] = []

    def walk(node: Filter) -> None:
        if isinstance(node, Condition):
            if node.op not in capabilities.filter_ops and node.op.name not in missing:
                missing.append(node.op.name)
            return
        if not capabilities.filter_boolean:
            name = {And: "AND", Or: "OR", Not: "NOT"}[type(node)]
            if name not in missing:
                missing.append(name)
        children = node.filters if isinstance(node, And | Or) else (node.filter,)
        for child in children:
            walk(child)

    walk(filter)
    return missing
