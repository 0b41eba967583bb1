"""The async interface every backend adapter implements.

An adapter owns one configured store (one client / connection pool) and speaks
domain types only: it never imports protobuf, never sees HTTP or gRPC, and
raises :mod:`vectorgate_server.errors` exceptions. Blocking SDK calls run off
the event loop. The contract suite (:mod:`vectorgate.testing`, run on every
backend by ``tests/contract``) is the definition of "an adapter works".

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

Optional capability: keyword (full-text) search. An adapter whose backend can
rank documents by keyword relevance (BM25 or similar) on their text sets
``Capabilities.keyword_search`` and implements :class:`SupportsKeywordSearch`:

``async keyword_search(name, query: KeywordQuery) -> list[Hit]``
    The ``query.top_k`` documents of collection ``name`` most relevant to
    ``query.text``, best first, among those matching ``query.filter`` (applied inside the
    backend before ranking, as for ``search``). ``Hit.score`` and
    ``Hit.raw_score`` are the backend's relevance score (higher is better;
    not comparable with vector scores, which is why results are fused by
    rank). Documents without matching terms are not returned. Index upkeep
    (building, refreshing) happens off the request path where the backend
    allows it.

Callers go through :func:`keyword_search`, which raises
:class:`~vectorgate_server.errors.Unsupported` (``UNIMPLEMENTED``) for
adapters without the capability, so adapters that lack it need no code.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from .. import domain
from ..errors import Unsupported, VectorgateError


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend can do. The service answers UNIMPLEMENTED from these before calling it."""

    metrics: frozenset[domain.Metric] = frozenset(domain.Metric)
    filter_ops: frozenset[domain.Op] = frozenset(domain.Op)
    #: Boolean combinations in filters (and / or / not).
    filter_boolean: bool = True
    delete_by_filter: bool = True
    #: Index types accepted in ``CollectionSpec.index.type`` (upper case); empty = any.
    index_types: frozenset[str] = frozenset()
    #: Max documents per backend write call; :func:`upsert` and :func:`upsert_columns`
    #: split larger batches, so an adapter's ``upsert`` never gets more.
    max_write_batch: int = 10_000
    #: Native search parameters accepted in ``SearchQuery.native_params``.
    native_params: frozenset[str] = field(default_factory=frozenset)
    #: Keyword (full-text) search: the adapter implements :class:`SupportsKeywordSearch`.
    keyword_search: bool = False
    #: How metadata numbers are stored. ``"typed"``: an int stays an int (int64,
    #: exact) and a float a float (``3.0`` reads back as ``3.0``). ``"double"``:
    #: every number is a 64-bit float, so integral numbers read back as ints
    #: and the application refuses integers beyond 2**53 (in metadata and in
    #: filter values) instead of letting the backend round them.
    metadata_numbers: Literal["typed", "double"] = "typed"
    #: Range conditions (GT/GTE/LT/LTE) compare integers exactly. When False the
    #: backend compares ranges as 64-bit floats: the application refuses range
    #: bounds of magnitude 2**53 or more, the only ones that could then be wrong.
    exact_int_ranges: bool = True
    #: Strings (ids, text, metadata values) may contain the NUL character (U+0000).
    #: When False the application refuses a document holding one, naming the field.
    nul_in_strings: bool = True
    #: The metrics whose collections the backend refuses the all-zero vector in (its
    #: cosine is undefined); empty: none. The application refuses it first, naming the
    #: field, in written documents, and in query vectors too when
    #: ``zero_vector_refused_in_queries``.
    zero_vector_refused: frozenset[domain.Metric] = frozenset()
    zero_vector_refused_in_queries: bool = False


@runtime_checkable
class Adapter(Protocol):
    """One configured store."""

    #: Configured store name.
    store: str
    #: Backend kind: "lancedb", "milvus", "qdrant", "opensearch", "pinecone", "pgvector".
    backend: str
    capabilities: Capabilities

    async def start(self) -> None:
        """Connect / open. Called once before any other method."""

    async def close(self) -> None:
        """Release connections. Idempotent."""

    async def create_collection(self, spec: domain.CollectionSpec) -> domain.CollectionInfo:
        """Create a collection; ``AlreadyExists`` if present."""

    async def describe_collection(self, name: str) -> domain.CollectionInfo:
        """Describe a collection including ``document_count``; ``NotFound`` if absent."""

    async def list_collections(self) -> list[str]:
        """Names of all collections, sorted."""

    async def drop_collection(self, name: str) -> None:
        """Drop a collection; ``NotFound`` if absent."""

    async def count(self, name: str, filter: domain.Filter | None = None) -> int:
        """Number of documents, optionally matching a filter."""

    async def upsert(self, name: str, documents: Sequence[domain.Document]) -> None:
        """Insert or replace by id. Every document carries a vector of the right dimension."""

    async def get(
        self, name: str, ids: Sequence[str], include_vectors: bool
    ) -> list[domain.Document]:
        """Documents with these ids, in the order given; missing ids omitted."""

    async def delete(
        self, name: str, ids: Sequence[str] | None = None, filter: domain.Filter | None = None
    ) -> None:
        """Delete documents whose id is in ``ids`` or that match ``filter``."""

    async def search(self, name: str, query: domain.SearchQuery) -> list[domain.Hit]:
        """Nearest neighbours of ``query.vector`` among documents matching ``query.filter``."""

    async def explain(self, name: str, query: domain.SearchQuery) -> domain.Explanation:
        """The native filter and parameters ``search`` would send, without running it."""

    async def scan(
        self, name: str, *, after: str | None, limit: int, include_vectors: bool
    ) -> list[domain.Document]:
        """The next ``limit`` documents in scan order after the document with id ``after``.

        The scan order is a fixed total order on document ids (ascending id, code
        point order, unless the adapter documents another key derived from the id
        alone, e.g. Qdrant's point id). ``after=None`` starts at the beginning;
        the last id of a page, passed as ``after``, gives the next page, so the
        last id copied is a stable, resumable cursor (it need not still exist).
        An empty list means the end. ``NotFound`` for an unknown collection; a
        backend that cannot enumerate documents raises ``Unsupported``.
        """


@runtime_checkable
class SupportsKeywordSearch(Protocol):
    """The optional keyword-search method (see the module docstring)."""

    async def keyword_search(self, name: str, query: domain.KeywordQuery) -> list[domain.Hit]:
        """The ``query.top_k`` documents most relevant to ``query.text``, best first."""
        ...


@runtime_checkable
class SupportsColumnarUpsert(Protocol):
    """The optional columnar write: ``upsert`` of a :class:`DocumentBatch` as columns.

    Same semantics as ``upsert`` (insert or replace by id, idempotent, durable
    and visible on return). The batch is validated (ids unique and valid,
    vectors finite of the collection's dimension, metadata typed), so the
    adapter only builds the backend's native columns or bulk format from it.
    """

    async def upsert_columns(self, name: str, batch: domain.DocumentBatch) -> None:
        """Insert or replace the batch's rows by id."""
        ...


async def upsert(adapter: Adapter, name: str, documents: Sequence[domain.Document]) -> None:
    """Write documents in calls of at most ``capabilities.max_write_batch`` each.

    The one place writes are split: adapters write what they are given in one
    backend call (or what their SDK does with it), and never split themselves.
    """
    size = adapter.capabilities.max_write_batch
    for start in range(0, len(documents), size):
        with _positions_from(start):
            await adapter.upsert(name, documents[start : start + size])


async def upsert_columns(adapter: Adapter, name: str, batch: domain.DocumentBatch) -> None:
    """Write a columnar batch: natively where the adapter can, else as documents;
    split as :func:`upsert` splits."""
    size = adapter.capabilities.max_write_batch
    for start in range(0, len(batch), size):
        part = batch.rows(start, start + size) if len(batch) > size else batch
        with _positions_from(start):
            if isinstance(adapter, SupportsColumnarUpsert):
                await adapter.upsert_columns(name, part)
            else:
                await adapter.upsert(name, part.documents())


#: A row position as adapters name it in a field path or message: ``documents[3]``,
#: ``ids[3]``, ``texts[3]``, ``values[3]`` (a metadata column's row) or ``row 3``.
_ROW_POSITION = re.compile(r"\b(documents|ids|texts|values)\[(\d+)\]|\brow (\d+)\b")


@contextlib.contextmanager
def _positions_from(offset: int) -> Iterator[None]:
    """Row positions an adapter names in one split write, made positions in the request."""
    try:
        yield
    except VectorgateError as exc:
        if offset:

            def shift(match: re.Match[str]) -> str:
                if match.group(3) is not None:
                    return f"row {int(match.group(3)) + offset}"
                return f"{match.group(1)}[{int(match.group(2)) + offset}]"

            exc.message = _ROW_POSITION.sub(shift, exc.message)
            exc.args = (exc.message,)
            if exc.field is not None:
                exc.field = _ROW_POSITION.sub(shift, exc.field)
                exc.metadata["field"] = exc.field
        raise


def supports_keyword_search(adapter: Adapter) -> bool:
    """Whether ``adapter`` declares and implements keyword search."""
    return adapter.capabilities.keyword_search and isinstance(adapter, SupportsKeywordSearch)


async def keyword_search(
    adapter: Adapter,
    name: str,
    text: str,
    top_k: int,
    filter: domain.Filter | None = None,
    *,
    output: domain.OutputFields = domain.OutputFields(),  # noqa: B008 (frozen, immutable)
) -> list[domain.Hit]:
    """Keyword search on ``adapter``; ``Unsupported`` where the backend has none."""
    if not supports_keyword_search(adapter):
        raise Unsupported(
            backend=adapter.backend,
            operation="keyword search",
            detail="use mode DENSE, or a store whose backend has full-text search",
        )
    assert isinstance(adapter, SupportsKeywordSearch)
    return await adapter.keyword_search(name, domain.KeywordQuery(text, top_k, filter, output))


def unsupported_ops(filter: domain.Filter, capabilities: Capabilities) -> list[str]:
    """Names of the filter operators in ``filter`` that the backend cannot express."""
    from ..domain import And, Condition, Not, Or

    missing: list[str] = []

    def walk(node: domain.Filter) -> None:
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


def url_without_credentials(url: str) -> str:
    """``url`` without user, password, query or fragment: safe to put in messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
