"""Pinecone adapter: the ``pinecone`` 10.2 SDK's asyncio client over REST (API ``2026-07``).

Collection mapping
==================

One Pinecone index per collection: dimension and metric are properties of a
Pinecone index, exactly as they are of a vectorgate collection. Each index is
a serverless ("managed") index with the single dense field ``_values`` (what
the SDK's vector API, ``upsert``/``query``/``fetch``, addresses), created in
the configured ``cloud``/``region``. All data goes to the configured
``namespace`` of each index (the default namespace when unset).

Index names allow lower-case letters, digits and ``-`` (1-45 characters).
A collection name that is already such a name, starts with a letter and has
no ``--`` is used as is; any other name maps to
``<readable-part>--<sha256 prefix>`` and the exact name is recovered from the
index's tags. ``--`` never occurs in an identity-mapped name, so the two
forms cannot collide.

The collection spec (name, text field, embedding model, index spec, create
time) is persisted as JSON in the index's ``tags`` (Pinecone tag values are
at most 120 printable ASCII characters, so the JSON is split over
``vg_spec0``, ``vg_spec1``, ...; ``vectorgate: "1"`` marks the layout).
Dimension and metric come from the index schema. An index without those tags
(not created by vectorgate) is described from its schema and read and written
in the *raw* layout (metadata as is, text in the ``text`` key); metadata
filters on it raise ``Unsupported``, because the typed layout below is what
makes Pinecone's filters exact.

Documents
=========

Metadata is stored in the typed layout of :mod:`vectorgate_server.filters.pinecone`
(type-prefixed keys, a presence list, the exact id and the text under reserved
``_vg:`` keys). Pinecone ids are 1-512 ASCII characters without NUL: ids are
percent-encoded where needed (``%`` and anything outside printable ASCII), and
an id whose encoding is longer than 512 characters is rejected. Pinecone's
limits are checked before sending: 40 KB of metadata per vector (text and
reserved keys included), 1,000 vectors and 2 MB per upsert request (larger
batches are split). Within one upsert call the last document with an id wins.

A metadata key keeps one type per collection, as a column does elsewhere:
before writing, the type each key already has is looked up with one
``fetch_by_metadata`` on the presence list (cached per adapter), and a
document giving a key another type is rejected with
``InvalidArgument(field="documents[i].metadata.<key>")``, nothing of the
batch written. (Two gateways racing to introduce a new key with different
types can both succeed; filters stay exact regardless, since each type has
its own stored name.)

Read-your-writes
================

Pinecone is eventually consistent. Every write response carries the log
sequence number it committed at (``x-pinecone-request-lsn``) and every query
response how far the index has caught up (``x-pinecone-max-indexed-lsn``)
(https://docs.pinecone.io/guides/index-data/check-data-freshness).
After a write, the adapter polls a one-result query until the index has
reached the write's LSN, so ``get``, ``count`` and ``search`` see it; when the
backend sends no LSN headers it polls ``fetch`` (or ``fetch_by_metadata``)
until the write is visible. Either wait is bounded by
``consistency_timeout_s``; past it the write raises ``Unavailable`` (it was
accepted, but is not visible yet).

Scores
======

Pinecone returns cosine *similarity* for ``cosine``, the *squared* Euclidean
distance for ``euclidean`` and the dot product for ``dotproduct``
(https://docs.pinecone.io/guides/index-data/indexing-overview#similarity-metrics:
euclidean "returns a similarity score equal to the squared Euclidean distance"); the
squared distance is square-rooted into the canonical Euclidean distance
before :func:`~vectorgate_server.domain.normalise_score`.

Counting with a filter pages through ``fetch_by_metadata`` (exact,
server-side), because ``describe_index_stats`` rejects filters on serverless
indexes (https://docs.pinecone.io/reference/api/2025-10/data-plane/describeindexstats:
"Serverless indexes do not support filtering"). Deleting by filter is Pinecone's
own delete-by-metadata. Filter semantics the typed layout relies on (a list
"takes on" each of its values; ``$ne``/``$nin`` need the field):
https://docs.pinecone.io/guides/search/filter-by-metadata.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar, cast
from urllib.parse import quote, unquote

import orjson
from pinecone import (
    ApiError,
    AsyncIndex,
    AsyncPinecone,
    ConflictError,
    FailedPreconditionError,
    ForbiddenError,
    IndexInitFailedError,
    IndexTerminatedError,
    NotFoundError,
    PayloadTooLargeError,
    PaymentRequiredError,
    PineconeConnectionError,
    PineconeError,
    PineconeTimeoutError,
    PineconeTypeError,
    PineconeValueError,
    RateLimitError,
    ResponseParsingError,
    ServiceError,
    UnauthorizedError,
)
from pinecone._internal.adapters.vectors_adapter import extract_response_info
from pinecone.models.indexes.index import IndexModel
from pinecone.models.indexes.schema import DenseVectorField
from pinecone.models.response_info import ResponseInfo

from ..config import PineconeConfig
from ..domain import (
    NAME_RE,
    CollectionInfo,
    CollectionSpec,
    Document,
    Explanation,
    Filter,
    FloatArray,
    Hit,
    IndexSpec,
    Metadata,
    Metric,
    SearchQuery,
    as_float32,
    normalise_score,
)
from ..errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
    Unsupported,
    VectorgateError,
)
from ..filters.common import FieldType
from ..filters.pinecone import (
    KEYS_KEY,
    compile_filter,
    decode_metadata,
    encode_metadata,
    stored_names,
    stored_type,
)
from ..retry import backend_error, http_code
from .base import Capabilities
from .spec import StoredSpec, decode_spec, new_field_types, spec_json

__all__ = [
    "DENSE_FIELD",
    "PineconeAdapter",
    "canonical_score",
    "decode_id",
    "encode_id",
    "index_name_for",
]

BACKEND = "pinecone"
#: The dense field of a vector (non-document) index.
DENSE_FIELD = "_values"
# Vendor documentation these limits follow (the test server cites the same pages):
# - index names: https://docs.pinecone.io/troubleshooting/restrictions-on-index-names
#   ("lowercase alphanumeric Latin characters and dashes"; identifier limits: 45 characters)
MAX_INDEX_NAME = 45
# - record ids: https://docs.pinecone.io/reference/api/database-limits/identifier-limits
#   (record id: 512 characters, ASCII except \0)
MAX_ID_CHARS = 512
# - https://www.pinecone.io/docs/metadata-filtering/ ("Pinecone supports 40kb of metadata
#   per vector")
MAX_METADATA_BYTES = 40 * 1024
# - https://docs.pinecone.io/reference/api/database-limits/operation-limits ("Max batch size
#   for records with vectors: 1,000 records, up to 2 MB total")
MAX_UPSERT_VECTORS = 1000
#: Pinecone's 2 MB request limit, with room for the envelope.
MAX_UPSERT_BYTES = 2 * 1024 * 1024 - 16 * 1024
# - https://www.pinecone.io/docs/limits/ ("Max vectors per fetch or delete request is 1,000")
MAX_DELETE_IDS = 1000
#: Fewer than the documented 1,000: fetch ids travel in the URL (see MAX_FETCH_URL_CHARS).
MAX_FETCH_IDS = 100
#: Ids per ``list`` call (the API's maximum: https://docs.pinecone.io/guides/manage-data/list-record-ids).
LIST_PAGE_SIZE = 100
#: Scan positions remembered per adapter (one per copy in progress is the norm).
_MAX_SCAN_POSITIONS = 64
#: Keep fetch URLs (ids travel in the query string) comfortably short.
MAX_FETCH_URL_CHARS = 6000
FETCH_PAGE = 1000
#: https://www.pinecone.io/docs/limits/: top_k is at most 1,000 when values or metadata
#: are included (10,000 otherwise).
MAX_TOP_K_WITH_DATA = 1000
DEFAULT_NAMESPACE = "__default__"

_METRIC_TO_PINECONE = {Metric.COSINE: "cosine", Metric.L2: "euclidean", Metric.IP: "dotproduct"}
_METRIC_FROM_PINECONE = {v: k for k, v in _METRIC_TO_PINECONE.items()}

#: Tag marking the layout of indexes created by vectorgate.
LAYOUT_TAG = "vectorgate"
LAYOUT_VERSION = "1"
SPEC_TAG_PREFIX = "vg_spec"
#: https://docs.pinecone.io/guides/manage-data/manage-indexes: tag values are at most 120
#: characters (keys 80, alphanumeric, ``_`` or ``-``).
MAX_TAG_VALUE = 120
#: vectorgate's own bound on the tags it writes (keeps the spec small).
MAX_TAGS = 20
#: Index types accepted in ``CollectionSpec.index.type`` ("" means serverless).
INDEX_TYPES = frozenset({"SERVERLESS"})
#: Index parameters accepted in ``CollectionSpec.index.params``.
INDEX_PARAMS = frozenset({"cloud", "region", "deletion_protection"})
NATIVE_PARAMS = frozenset({"scan_factor", "max_candidates"})

_PLAIN_NAME_RE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
#: Characters kept as is in Pinecone ids: printable ASCII except ``%``.
_ID_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")

T = TypeVar("T")


# --------------------------------------------------------------------------- mappings


def index_name_for(collection: str) -> str:
    """The Pinecone index name of a collection (see the module docstring)."""
    if len(collection) <= MAX_INDEX_NAME and _PLAIN_NAME_RE.fullmatch(collection):
        return collection
    readable = re.sub(r"[^a-z0-9]+", "-", collection.lower()).strip("-")[:20].strip("-")
    digest = hashlib.sha256(collection.encode()).hexdigest()[:20]
    return f"{readable or 'vg'}--{digest}"


def encode_id(doc_id: str) -> str:
    """The Pinecone id of a document id: ``%`` and non-printable-ASCII percent-encoded."""
    return quote(doc_id, safe=_ID_SAFE, encoding="utf-8", errors="strict")


def decode_id(pinecone_id: str) -> str:
    """Inverse of :func:`encode_id`."""
    return unquote(pinecone_id, encoding="utf-8", errors="strict")


def canonical_score(metric: Metric, raw: float) -> float:
    """The canonical value of a Pinecone score: L2 scores are squared distances."""
    if metric is Metric.L2:
        return math.sqrt(max(raw, 0.0))
    return raw


def _spec_tags(spec: StoredSpec, field: str) -> dict[str, str]:
    # Tag values are printable ASCII: JSON with every non-ASCII character escaped.
    text = spec_json(spec)
    chunks = [text[i : i + MAX_TAG_VALUE] for i in range(0, len(text), MAX_TAG_VALUE)]
    if len(chunks) > MAX_TAGS - 1:
        raise InvalidArgument(
            f"{field}: the collection spec is {len(text)} characters as JSON; Pinecone index "
            f"tags hold at most {(MAX_TAGS - 1) * MAX_TAG_VALUE}",
            field=field,
        )
    tags = {LAYOUT_TAG: LAYOUT_VERSION}
    tags.update({f"{SPEC_TAG_PREFIX}{i}": chunk for i, chunk in enumerate(chunks)})
    return tags


def _spec_from_tags(
    tags: Mapping[str, str] | None, collection: str | None = None
) -> StoredSpec | None:
    """The spec in an index's tags (None: not a vectorgate index, or not ``collection``'s)."""
    if not tags or tags.get(LAYOUT_TAG) != LAYOUT_VERSION:
        return None
    parts: list[str] = []
    i = 0
    while f"{SPEC_TAG_PREFIX}{i}" in tags:
        parts.append(tags[f"{SPEC_TAG_PREFIX}{i}"])
        i += 1
    spec = decode_spec("".join(parts))
    if spec is None or (collection is not None and spec.name != collection):
        return None
    return spec


# --------------------------------------------------------------------------- handles


@dataclass(slots=True)
class _Handle:
    """A collection's index: its data-plane client and what is needed to use it."""

    collection: str
    index_name: str
    client: AsyncIndex
    dimension: int
    metric: Metric
    typed: bool
    text_field: str
    #: Established type of each metadata key (a key keeps one type per collection).
    key_types: dict[str, FieldType] = field(default_factory=dict)


@dataclass(slots=True)
class _Pending:
    """What a write must make visible, for the no-LSN fallback."""

    present: list[str]
    absent: list[str]
    gone_filter: dict[str, Any] | None = None


class PineconeAdapter:
    """One Pinecone project (store): indexes are collections."""

    backend = BACKEND
    capabilities = Capabilities(
        metrics=frozenset(Metric),
        filter_boolean=True,
        delete_by_filter=True,
        index_types=INDEX_TYPES,
        max_write_batch=MAX_UPSERT_VECTORS,
        native_params=NATIVE_PARAMS,
        # "Number (integer or floating point, gets converted to a 64 bit floating point)":
        # Pinecone's metadata documentation (Filter by metadata, supported metadata types).
        metadata_numbers="double",
        # Pinecone refuses an all-zero dense vector in a cosine index ("Dense vectors must
        # contain at least one non-zero value"); the application refuses it first. Its
        # documentation says nothing of query vectors, so those pass.
        zero_vector_cosine="refused_in_writes",
    )

    def __init__(
        self,
        store: str,
        *,
        api_key: str,
        control_host: str | None = None,
        cloud: str = "aws",
        region: str = "us-east-1",
        namespace: str = "",
        index_name: str | None = None,
        index_host: str | None = None,
        timeout_s: float = 30.0,
        ready_timeout_s: float = 300.0,
        consistency_timeout_s: float = 60.0,
        poll_interval_s: float = 0.05,
    ) -> None:
        """``control_host`` defaults to ``PINECONE_CONTROLLER_HOST``, then Pinecone's API.

        ``index_host`` is the data-plane host of the collection ``index_name``
        (skips the host lookup for it). ``ready_timeout_s`` bounds waiting for
        an index to become ready or gone; ``consistency_timeout_s`` bounds
        read-your-writes.
        """
        self.store = store
        self._api_key = api_key
        self._control_host = control_host
        self._cloud = cloud
        self._region = region
        self._namespace = namespace
        self._fixed_collection = index_name
        self._fixed_host = index_host
        self._timeout_s = timeout_s
        self._ready_timeout_s = ready_timeout_s
        self._consistency_timeout_s = consistency_timeout_s
        self._poll_interval_s = poll_interval_s
        self._pc: AsyncPinecone | None = None
        self._handles: dict[str, _Handle] = {}
        self._lock = asyncio.Lock()
        #: (collection, last Pinecone id of a scan page) -> where listing continues.
        self._scan_positions: dict[tuple[str, str], _ScanPosition] = {}

    @classmethod
    def from_config(cls, config: PineconeConfig) -> PineconeAdapter:
        """The adapter for a configured store (not yet started).

        The control-plane host comes from ``PINECONE_CONTROLLER_HOST`` when
        set (the SDK's own variable), else Pinecone's public API. For new
        collections, ``region`` falls back to ``environment``, then to
        ``us-east-1``; ``cloud`` to ``aws``.
        """
        return cls(
            config.name,
            api_key=config.api_key.get_secret_value(),
            cloud=config.cloud or "aws",
            region=config.region or config.environment or "us-east-1",
            namespace=config.namespace or "",
            index_name=config.index_name,
            index_host=config.host,
            timeout_s=config.timeout_s or 30.0,
        )

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Create the client (no network call: connections open on first use)."""
        self._connect()

    def _connect(self) -> AsyncPinecone:
        if self._pc is None:
            try:
                self._pc = AsyncPinecone(
                    api_key=self._api_key, host=self._control_host, timeout=self._timeout_s
                )
            except PineconeError as exc:
                raise Unavailable(
                    f"pinecone store {self.store!r}: cannot create the client: "
                    f"{type(exc).__name__}",
                    metadata={"store": self.store},
                ) from None
        return self._pc

    async def close(self) -> None:
        """Close the control-plane and every index client. Idempotent."""
        handles, self._handles = list(self._handles.values()), {}
        for handle in handles:
            await handle.client.close()
        if self._pc is not None:
            pc, self._pc = self._pc, None
            await pc.close()

    @property
    def _client(self) -> AsyncPinecone:
        # After close() the client is created again on use: the adapter holds
        # no other state that closing invalidates.
        return self._connect()

    # ------------------------------------------------------------------ errors

    def _fail(
        self,
        exc: Exception,
        *,
        collection: str | None = None,
        field: str | None = None,
        action: str = "call",
    ) -> NoReturn:
        """Raise the domain error for an SDK error."""
        where = f"pinecone store {self.store!r}"
        if collection is not None:
            where += f", collection {collection!r}"
        message = getattr(exc, "message", "") or type(exc).__name__
        error: VectorgateError
        if isinstance(exc, NotFoundError) and collection is not None:
            error = self._not_found(collection)
        elif isinstance(exc, ConflictError) and collection is not None:
            error = AlreadyExists(
                f"collection {collection!r} already exists in store {self.store!r}",
                reason="COLLECTION_ALREADY_EXISTS",
                metadata={"collection": collection, "store": self.store},
            )
        elif isinstance(exc, UnauthorizedError | ForbiddenError):
            status = 401 if isinstance(exc, UnauthorizedError) else 403
            auth = backend_error(
                http_code(status),
                store=self.store,
                backend=BACKEND,
                where=where,
                cause=f"Pinecone refused the configured API key ({action}): {message}",
            )
            assert auth is not None  # 401 and 403 are auth failures in the table
            error = auth
        elif isinstance(exc, PaymentRequiredError | FailedPreconditionError):
            error = FailedPrecondition(f"{where}: Pinecone refused to {action}: {message}")
        elif isinstance(exc, RateLimitError | ServiceError):
            error = Unavailable(f"{where}: Pinecone is unavailable ({action}): {message}")
        elif isinstance(exc, PayloadTooLargeError):
            error = InvalidArgument(f"{where}: request too large: {message}", field=field)
        elif isinstance(exc, ApiError):
            if exc.status_code >= 500:
                error = Unavailable(f"{where}: Pinecone failed ({action}): {message}")
            else:
                error = InvalidArgument(
                    f"{where}: Pinecone rejected {action}: {message}", field=field
                )
        elif isinstance(exc, PineconeTimeoutError):
            error = Unavailable(f"{where}: Pinecone timed out ({action})")
        elif isinstance(exc, PineconeConnectionError):
            error = Unavailable(f"{where}: cannot reach Pinecone ({action}): {message}")
        elif isinstance(exc, PineconeValueError | PineconeTypeError):
            error = InvalidArgument(f"{where}: {message}", field=field)
        elif isinstance(exc, IndexInitFailedError | IndexTerminatedError):
            error = Unavailable(f"{where}: the index is not usable: {message}")
        elif isinstance(exc, ResponseParsingError):
            error = Unavailable(f"{where}: unexpected response from Pinecone ({action})")
        else:
            error = Unavailable(f"{where}: Pinecone call failed ({action}): {type(exc).__name__}")
        if isinstance(error, Unavailable):
            error.metadata.setdefault("store", self.store)
            # The SDK retried already (RetryConfig: 408/429/5xx and transport errors),
            # bounded by the caller's deadline, which cancels the call: none on top.
            error.retryable = False
        raise error from None

    def _not_found(self, collection: str) -> NotFound:
        return NotFound(
            f"collection {collection!r} not found in store {self.store!r}",
            reason="COLLECTION_NOT_FOUND",
            metadata={"collection": collection, "store": self.store},
        )

    async def _control(
        self,
        call: Callable[[], Awaitable[T]],
        *,
        collection: str | None = None,
        field: str | None = None,
        action: str,
    ) -> T:
        try:
            return await call()
        except PineconeError as exc:
            self._fail(exc, collection=collection, field=field, action=action)

    async def _data(
        self,
        handle: _Handle,
        call: Callable[[AsyncIndex], Awaitable[T]],
        *,
        field: str | None = None,
        action: str,
    ) -> T:
        try:
            return await call(handle.client)
        except (NotFoundError, PineconeConnectionError) as exc:
            # The index may have been dropped (its host gone) or dropped and
            # recreated (a new host): ask the control plane, and retry once on
            # the current host when the index exists.
            await self._forget(handle.collection)
            if not await self._exists(handle.index_name):
                raise self._not_found(handle.collection) from None
            if isinstance(exc, PineconeConnectionError):
                self._fail(exc, collection=handle.collection, field=field, action=action)
            fresh = await self._handle(handle.collection)
            try:
                return await call(fresh.client)
            except NotFoundError:
                raise self._not_found(handle.collection) from None
            except PineconeError as again:
                self._fail(again, collection=handle.collection, field=field, action=action)
        except PineconeError as exc:
            self._fail(exc, collection=handle.collection, field=field, action=action)

    async def _exists(self, index: str) -> bool:
        try:
            await self._client.indexes.describe(index)
        except NotFoundError:
            return False
        except PineconeError:
            return True
        return True

    # ------------------------------------------------------------------ collections

    def _deployment(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "deployment_type": "managed",
            "cloud": str(params.get("cloud", self._cloud)),
            "region": str(params.get("region", self._region)),
        }

    @staticmethod
    def _check_index_spec(index: IndexSpec) -> None:
        if index.type and index.type.upper() not in INDEX_TYPES:
            raise InvalidArgument(
                f"collection.index.type: Pinecone indexes are serverless; accepted types: "
                f"{', '.join(sorted(INDEX_TYPES))} (got {index.type!r})",
                field="collection.index.type",
            )
        for key, value in index.params.items():
            field = f"collection.index.params.{key}"
            if key not in INDEX_PARAMS:
                raise InvalidArgument(
                    f"{field}: not a Pinecone index parameter (accepted: "
                    f"{', '.join(sorted(INDEX_PARAMS))})",
                    field=field,
                )
            if not isinstance(value, str) or not value:
                raise InvalidArgument(f"{field}: must be a non-empty string", field=field)
            if key == "deletion_protection" and value not in ("enabled", "disabled"):
                raise InvalidArgument(f"{field}: 'enabled' or 'disabled'", field=field)

    async def create_collection(self, spec: CollectionSpec) -> CollectionInfo:
        """Create a serverless index with the spec in its tags; wait until it is ready."""
        self._check_index_spec(spec.index)
        name = index_name_for(spec.name)
        created = datetime.now(UTC).replace(microsecond=0)
        stored = StoredSpec.of(spec, create_time=created, name=spec.name)
        tags = _spec_tags(stored, "collection")
        params = spec.index.params
        schema = {
            "fields": {
                DENSE_FIELD: {
                    "type": "dense_vector",
                    "dimension": spec.dimension,
                    "metric": _METRIC_TO_PINECONE[spec.metric],
                }
            }
        }
        await self._control(
            lambda: self._client.indexes.create(
                name=name,
                schema=schema,
                deployment=self._deployment(params),
                deletion_protection=params.get("deletion_protection"),
                tags=tags,
                timeout=-1,
            ),
            collection=spec.name,
            field="collection",
            action="create the index",
        )
        model = await self._wait_ready(spec.name, name)
        await self._forget(spec.name)
        return self._info(spec.name, model, count=0)

    async def _wait_ready(self, collection: str, index: str) -> IndexModel:
        deadline = time.monotonic() + self._ready_timeout_s
        delay = self._poll_interval_s
        while True:
            model = await self._describe(collection, index)
            if model.status.ready and model.host:
                return model
            if model.status.state in ("InitializationFailed", "Terminating", "Disabled"):
                raise Unavailable(
                    f"pinecone store {self.store!r}, collection {collection!r}: index "
                    f"{index!r} is {model.status.state}"
                )
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"pinecone store {self.store!r}, collection {collection!r}: index "
                    f"{index!r} not ready after {self._ready_timeout_s:g}s"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    async def _describe(self, collection: str, index: str) -> IndexModel:
        return await self._control(
            lambda: self._client.indexes.describe(index),
            collection=collection,
            action="describe the index",
        )

    def _info(self, collection: str, model: IndexModel, count: int | None) -> CollectionInfo:
        dimension, metric = self._vector_field(collection, model)
        spec = _spec_from_tags(model.tags, collection)
        if spec is None:
            return CollectionInfo(
                name=collection,
                dimension=dimension,
                metric=metric,
                text_field="text",
                index=IndexSpec(type="SERVERLESS"),
                document_count=count,
            )
        return spec.info(collection, dimension=dimension, metric=metric, document_count=count)

    def _vector_field(self, collection: str, model: IndexModel) -> tuple[int, Metric]:
        dense = [f for f in model.schema.fields.values() if isinstance(f, DenseVectorField)]
        field = model.schema.fields.get(DENSE_FIELD)
        if not isinstance(field, DenseVectorField) or len(dense) != 1:
            raise Unsupported(
                backend=BACKEND,
                operation="schema-based (document) indexes",
                detail=f"index of collection {collection!r} has no single {DENSE_FIELD!r} "
                "dense vector field",
            )
        metric = _METRIC_FROM_PINECONE.get(field.metric)
        if metric is None:
            raise Unsupported(backend=BACKEND, operation=f"metric {field.metric!r}")
        return field.dimension, metric

    async def describe_collection(self, name: str) -> CollectionInfo:
        """The spec from tags, dimension/metric from the schema, count from index stats."""
        index = index_name_for(name)
        model = await self._wait_ready(name, index)
        handle = await self._handle(name, model)
        return self._info(name, model, count=await self._count_all(handle))

    async def list_collections(self) -> list[str]:
        """Collections: indexes with a vectorgate spec, plus plain-named foreign indexes."""

        async def names() -> list[str]:
            out: list[str] = []
            async for model in self._client.indexes.list():
                spec = _spec_from_tags(model.tags)
                name = spec.name if spec is not None else ""
                if name and index_name_for(name) == model.name:
                    out.append(name)
                elif (
                    spec is None
                    and "--" not in model.name
                    and NAME_RE.fullmatch(model.name)
                    and DENSE_FIELD in model.schema.fields
                ):
                    out.append(model.name)
            return sorted(out)

        return await self._control(names, action="list indexes")

    async def drop_collection(self, name: str) -> None:
        """Delete the index and wait until it is gone."""
        index = index_name_for(name)
        await self._forget(name)
        await self._control(
            lambda: self._client.indexes.delete(index, timeout=-1),
            collection=name,
            action="delete the index",
        )
        deadline = time.monotonic() + self._ready_timeout_s
        delay = self._poll_interval_s
        while await self._exists(index):
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"pinecone store {self.store!r}, collection {name!r}: index {index!r} "
                    f"still exists {self._ready_timeout_s:g}s after deletion"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    # ------------------------------------------------------------------ handles

    async def _handle(self, collection: str, model: IndexModel | None = None) -> _Handle:
        handle = self._handles.get(collection)
        if handle is not None:
            return handle
        async with self._lock:
            handle = self._handles.get(collection)
            if handle is not None:
                return handle
            index = index_name_for(collection)
            if model is None:
                model = await self._describe(collection, index)
            dimension, metric = self._vector_field(collection, model)
            spec = _spec_from_tags(model.tags, collection)
            typed = spec is not None
            host = model.host
            if collection == self._fixed_collection and self._fixed_host:
                host = self._fixed_host
            if not host:
                model = await self._wait_ready(collection, index)
                host = model.host
            assert host is not None
            client = await self._client.index(host=host)
            handle = _Handle(
                collection=collection,
                index_name=index,
                client=client,
                dimension=dimension,
                metric=metric,
                typed=typed,
                text_field=spec.text_field if spec is not None else "text",
            )
            self._handles[collection] = handle
            return handle

    async def _forget(self, collection: str) -> None:
        handle = self._handles.pop(collection, None)
        if handle is not None:
            await handle.client.close()

    def _compile(self, handle: _Handle, f: Filter, path: str = "filter") -> dict[str, Any]:
        if not handle.typed:
            raise Unsupported(
                backend=BACKEND,
                operation="metadata filters on an index not created by vectorgate",
                detail="Pinecone's filters are exact only over vectorgate's typed metadata layout",
            )
        return compile_filter(f, path)

    # ------------------------------------------------------------------ counting

    async def _count_all(self, handle: _Handle) -> int:
        stats = await self._data(
            handle, lambda c: c.describe_index_stats(), action="describe index stats"
        )
        keys = (self._namespace,) if self._namespace else (DEFAULT_NAMESPACE, "")
        for key in keys:
            summary = stats.namespaces.get(key)
            if summary is not None:
                return int(summary.vector_count)
        return 0

    async def count(self, name: str, filter: Filter | None = None) -> int:
        """Index stats without a filter; with one, pages of ``fetch_by_metadata``."""
        handle = await self._handle(name)
        if filter is None:
            return await self._count_all(handle)
        native = self._compile(handle, filter)
        return len(await self._ids_matching(handle, native))

    async def _ids_matching(self, handle: _Handle, native: dict[str, Any]) -> list[str]:
        ids: list[str] = []
        token: str | None = None
        while True:
            page = await self._data(
                handle,
                lambda c, t=token: c.fetch_by_metadata(  # type: ignore[misc]
                    filter=native,
                    namespace=self._namespace,
                    limit=FETCH_PAGE,
                    pagination_token=t,
                ),
                field="filter",
                action="fetch by metadata",
            )
            ids.extend(page.vectors)
            token = page.pagination.next if page.pagination is not None else None
            if not token:
                return ids

    # ------------------------------------------------------------------ writes

    def _record(self, handle: _Handle, i: int, doc: Document) -> dict[str, Any]:
        field = f"documents[{i}]"
        if handle.typed:
            pid = encode_id(doc.id)
        else:
            pid = doc.id
            if not pid.isascii() or "\x00" in pid:
                raise InvalidArgument(
                    f"{field}.id: this index was not created by vectorgate; its Pinecone ids "
                    "must be ASCII without NUL",
                    field=f"{field}.id",
                )
        if len(pid) > MAX_ID_CHARS:
            raise InvalidArgument(
                f"{field}.id: Pinecone ids are at most {MAX_ID_CHARS} ASCII characters; this id "
                f"takes {len(pid)} once non-ASCII characters and '%' are escaped",
                field=f"{field}.id",
            )
        vector = as_float32(cast(FloatArray, doc.vector))
        if handle.typed:
            metadata = encode_metadata(doc.id, doc.text, dict(doc.metadata))
        else:
            metadata = dict(doc.metadata)
            if doc.text:
                metadata[handle.text_field] = doc.text
        user_size = len(orjson.dumps(doc.metadata))
        size = len(orjson.dumps(metadata))
        if size > MAX_METADATA_BYTES:
            where = f"{field}.metadata" if user_size > MAX_METADATA_BYTES // 2 else f"{field}.text"
            raise InvalidArgument(
                f"{where}: Pinecone stores at most {MAX_METADATA_BYTES} bytes of metadata per "
                f"vector (text included); this document needs {size}",
                field=where,
            )
        record: dict[str, Any] = {"id": pid, "values": vector.tolist()}
        if metadata:
            record["metadata"] = metadata
        return record

    def _batches(self, records: Sequence[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        size = 0
        for record in records:
            record_size = len(orjson.dumps(record)) + 1
            full = len(batch) >= MAX_UPSERT_VECTORS or size + record_size > MAX_UPSERT_BYTES
            if batch and full:
                yield batch
                batch, size = [], 0
            batch.append(record)
            size += record_size
        if batch:
            yield batch

    async def _key_type(self, handle: _Handle, key: str) -> FieldType | None:
        """The type ``key`` has in the collection (None: no document has it)."""
        known = handle.key_types.get(key)
        if known is not None:
            return known
        page = await self._data(
            handle,
            lambda c: c.fetch_by_metadata(
                filter={KEYS_KEY: {"$in": stored_names(key)}},
                namespace=self._namespace,
                limit=1,
            ),
            action="look up metadata types",
        )
        for vector in page.vectors.values():
            for stored in vector.metadata or {}:
                found = stored_type(stored)
                if found is not None and found[0] == key:
                    handle.key_types[key] = found[1]
                    return found[1]
        return None

    async def _check_types(
        self, handle: _Handle, documents: Sequence[Document]
    ) -> dict[str, FieldType]:
        """A metadata key keeps one type per collection, as in every other backend.

        The type a key already has is looked up with ``fetch_by_metadata`` on
        the presence list (then cached); a key new to the collection takes the
        type of its first occurrence in the batch.
        """
        keys = list(dict.fromkeys(k for doc in documents for k in doc.metadata))
        established: dict[str, FieldType] = {}
        for key in keys:
            kind = await self._key_type(handle, key)
            if kind is not None:
                established[key] = kind
        established.update(new_field_types(handle.collection, documents, established))
        return established

    async def upsert(self, name: str, documents: Sequence[Document]) -> None:
        """Validated, batched upserts; returns once the writes are visible.

        Within one call, a later document with the same id replaces an earlier one.
        """
        if not documents:
            return
        handle = await self._handle(name)
        built = [self._record(handle, i, doc) for i, doc in enumerate(documents)]
        types = await self._check_types(handle, documents) if handle.typed else {}
        last = {record["id"]: record for record in built}
        records = list(last.values())
        lsn: int | None = None
        for batch in self._batches(records):
            response = await self._data(
                handle,
                lambda c, b=batch: c.upsert(  # type: ignore[misc]
                    vectors=b, namespace=self._namespace, show_progress=False
                ),
                field="documents",
                action="upsert",
            )
            lsn = _max_lsn(lsn, response.response_info)
        handle.key_types.update(types)
        await self._await_visible(handle, lsn, _Pending([r["id"] for r in records], []))

    async def delete(
        self, name: str, ids: Sequence[str] | None = None, filter: Filter | None = None
    ) -> None:
        """Delete by ids (batches of 1,000) and/or by filter; returns once visible."""
        handle = await self._handle(name)
        native = self._compile(handle, filter) if filter is not None else None
        pids = [p for p in dict.fromkeys(self._pid(handle, i) for i in ids or ()) if p]
        lsn: int | None = None
        for start in range(0, len(pids), MAX_DELETE_IDS):
            chunk = pids[start : start + MAX_DELETE_IDS]
            lsn = _max_lsn(lsn, await self._delete_call(handle, {"ids": chunk}, "ids"))
        if native is not None:
            lsn = _max_lsn(lsn, await self._delete_call(handle, {"filter": native}, "filter"))
        await self._await_visible(handle, lsn, _Pending([], pids, native))

    async def _delete_call(
        self, handle: _Handle, body: dict[str, Any], field: str
    ) -> ResponseInfo | None:
        """``POST /vectors/delete`` and the response's LSN info.

        ``AsyncIndex.delete`` discards the response, and with it the LSN that
        read-your-writes needs, so the same request (the body ``delete``
        builds) goes through the index client's own HTTP client. Without that
        client, ``delete`` is used and visibility is checked on the data.
        """
        body = {"namespace": self._namespace, **body}
        http = getattr(handle.client, "_http", None)
        post = getattr(http, "post", None)
        if post is None:
            await self._data(
                handle,
                lambda c: c.delete(
                    ids=body.get("ids"), filter=body.get("filter"), namespace=self._namespace
                ),
                field=field,
                action="delete",
            )
            return None
        response = await self._data(
            handle, lambda c: post("/vectors/delete", json=body), field=field, action="delete"
        )
        return extract_response_info(response)

    def _pid(self, handle: _Handle, doc_id: str) -> str | None:
        pid = encode_id(doc_id) if handle.typed else doc_id
        if not pid or len(pid) > MAX_ID_CHARS or not pid.isascii() or "\x00" in pid:
            return None  # cannot exist in the index
        return pid

    async def _await_visible(self, handle: _Handle, lsn: int | None, pending: _Pending) -> None:
        """Poll until the index has caught up with ``lsn`` (or, without LSNs, the data)."""
        deadline = time.monotonic() + self._consistency_timeout_s
        delay = self._poll_interval_s
        probe = [0.0] * handle.dimension
        probe[0] = 1.0
        while True:
            if lsn is not None:
                response = await self._data(
                    handle,
                    lambda c: c.query(top_k=1, vector=probe, namespace=self._namespace),
                    action="check write visibility",
                )
                reconciled = (
                    response.response_info.lsn_reconciled
                    if (response.response_info is not None)
                    else None
                )
                if reconciled is None:
                    lsn = None  # this backend reports no LSNs: check the data instead
                    continue
                if reconciled >= lsn:
                    return
            elif await self._data_visible(handle, pending):
                return
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"pinecone store {self.store!r}, collection {handle.collection!r}: the write "
                    f"was accepted but is not visible after {self._consistency_timeout_s:g}s"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    async def _data_visible(self, handle: _Handle, pending: _Pending) -> bool:
        wanted = pending.present + pending.absent
        found: set[str] = set()
        for chunk in _fetch_chunks(wanted):
            response = await self._data(
                handle,
                lambda c, ch=chunk: c.fetch(ids=ch, namespace=self._namespace),  # type: ignore[misc]
                action="check write visibility",
            )
            found.update(response.vectors)
        if any(p not in found for p in pending.present) or any(p in found for p in pending.absent):
            return False
        if pending.gone_filter is not None:
            page = await self._data(
                handle,
                lambda c: c.fetch_by_metadata(
                    filter=pending.gone_filter or {}, namespace=self._namespace, limit=1
                ),
                action="check write visibility",
            )
            return not page.vectors
        return True

    # ------------------------------------------------------------------ reads

    def _document(
        self, handle: _Handle, pid: str, metadata: Mapping[str, Any] | None
    ) -> tuple[str, str, Metadata]:
        stored = dict(metadata or {})
        if handle.typed:
            doc_id, text, md = decode_metadata(stored)
            return doc_id if doc_id is not None else decode_id(pid), text, md
        text = stored.pop(handle.text_field, "")
        md = {k: _plain_value(v) for k, v in stored.items()}
        return pid, text if isinstance(text, str) else "", md

    async def get(self, name: str, ids: Sequence[str], include_vectors: bool) -> list[Document]:
        """Fetch in URL-sized chunks; documents in the order of ``ids`` (each id once)."""
        handle = await self._handle(name)
        pids = [p for p in dict.fromkeys(self._pid(handle, i) for i in ids) if p is not None]
        fetched: dict[str, Document] = {}
        for chunk in _fetch_chunks(pids):
            response = await self._data(
                handle,
                lambda c, ch=chunk: c.fetch(ids=ch, namespace=self._namespace),  # type: ignore[misc]
                field="ids",
                action="fetch",
            )
            for pid, vector in response.vectors.items():
                doc_id, text, md = self._document(handle, pid, vector.metadata)
                fetched[doc_id] = Document(
                    id=doc_id,
                    text=text,
                    vector=as_float32(vector.values) if include_vectors else None,
                    metadata=md,
                )
        return [fetched[i] for i in dict.fromkeys(ids) if i in fetched]

    async def scan(
        self, name: str, *, after: str | None, limit: int, include_vectors: bool
    ) -> list[Document]:
        """The next ``limit`` documents in Pinecone id order after document ``after``.

        ``list`` pages ids (at most 100 a call) in ascending order of the stored
        Pinecone id (the percent-encoded document id), which is the scan order;
        its pagination token is opaque, so it cannot start after a given id.
        Where the previous page of this adapter ended, the listing continues from
        the remembered token; any other cursor (a resume) lists from the start
        and skips ids up to the cursor's Pinecone id. The page is then fetched.
        """
        handle = await self._handle(name)
        if limit <= 0:
            return []
        cursor = None if after is None else (encode_id(after) if handle.typed else after)
        position = self._scan_positions.pop((name, cursor), None) if cursor is not None else None
        if position is None:
            position = _ScanPosition(buffer=[], token=None, exhausted=False, skip_to=cursor)
        pids: list[str] = []
        while len(pids) < limit:
            if position.buffer:
                take = limit - len(pids)
                pids.extend(position.buffer[:take])
                position.buffer = position.buffer[take:]
                continue
            if position.exhausted:
                break
            token = position.token
            response = await self._data(
                handle,
                lambda c, t=token: c.list_paginated(  # type: ignore[misc]
                    limit=LIST_PAGE_SIZE, pagination_token=t, namespace=self._namespace
                ),
                action="list",
            )
            ids = [str(item.id) for item in response.vectors]
            skip_to = position.skip_to
            if skip_to is not None:
                ids = [i for i in ids if i > skip_to]
            position.buffer = ids
            nxt = response.pagination.next if response.pagination is not None else None
            position.token = nxt or None
            position.exhausted = position.token is None
        if not pids:
            return []
        if len(self._scan_positions) >= _MAX_SCAN_POSITIONS:
            self._scan_positions.pop(next(iter(self._scan_positions)))
        self._scan_positions[(name, pids[-1])] = position
        fetched: dict[str, Document] = {}
        for chunk in _fetch_chunks(pids):
            fetch = await self._data(
                handle,
                lambda c, ch=chunk: c.fetch(ids=ch, namespace=self._namespace),  # type: ignore[misc]
                field="ids",
                action="fetch",
            )
            for pid, vector in fetch.vectors.items():
                doc_id, text, md = self._document(handle, pid, vector.metadata)
                fetched[pid] = Document(
                    id=doc_id,
                    text=text,
                    vector=as_float32(vector.values) if include_vectors else None,
                    metadata=md,
                )
        return [fetched[p] for p in pids if p in fetched]

    def _check_native(self, params: Mapping[str, Any], top_k: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in params.items():
            field = f"native_params.{key}"
            if key == "scan_factor":
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int | float)
                    or not math.isfinite(value)
                    or value <= 0
                ):
                    raise InvalidArgument(f"{field}: a positive number", field=field)
                out[key] = float(value)
            elif key == "max_candidates":
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                if isinstance(value, bool) or not isinstance(value, int) or value < top_k:
                    raise InvalidArgument(
                        f"{field}: an integer of at least top_k ({top_k})", field=field
                    )
                out[key] = value
            else:
                raise InvalidArgument(
                    f"{field}: not a Pinecone query parameter (accepted: "
                    f"{', '.join(sorted(NATIVE_PARAMS))})",
                    field=field,
                )
        return out

    def _query_args(self, handle: _Handle, query: SearchQuery) -> dict[str, Any]:
        args: dict[str, Any] = {
            "top_k": query.top_k,
            "namespace": self._namespace,
            "include_values": query.output.vector,
            "include_metadata": query.output.text or query.output.metadata,
        }
        if (args["include_values"] or args["include_metadata"]) and (
            query.top_k > MAX_TOP_K_WITH_DATA
        ):
            raise InvalidArgument(
                f"top_k: Pinecone returns at most {MAX_TOP_K_WITH_DATA} results with metadata "
                "or vectors",
                field="top_k",
            )
        args.update(self._check_native(query.native_params, query.top_k))
        if query.filter is not None:
            args["filter"] = self._compile(handle, query.filter)
        return args

    async def search(self, name: str, query: SearchQuery) -> list[Hit]:
        """One Pinecone query with the filter pushed down; scores made canonical."""
        handle = await self._handle(name)
        args = self._query_args(handle, query)
        vector = self._query_vector(handle, query).tolist()
        field = (
            "native_params"
            if query.native_params
            else ("filter" if query.filter is not None else "vector")
        )
        response = await self._data(
            handle, lambda c: c.query(vector=vector, **args), field=field, action="query"
        )
        hits: list[Hit] = []
        for match in response.matches:
            doc_id, text, md = self._document(handle, match.id, match.metadata)
            raw = float(match.score)
            hits.append(
                Hit(
                    id=doc_id,
                    score=normalise_score(handle.metric, canonical_score(handle.metric, raw)),
                    raw_score=raw,
                    text=text if query.output.text else "",
                    metadata=query.output.project(md),
                    vector=as_float32(match.values) if query.output.vector else None,
                    store=self.store,
                    collection=name,
                )
            )
        return hits

    @staticmethod
    def _query_vector(handle: _Handle, query: SearchQuery) -> FloatArray:
        return as_float32(query.vector)

    async def explain(self, name: str, query: SearchQuery) -> Explanation:
        """The filter JSON and query parameters :meth:`search` would send."""
        handle = await self._handle(name)
        self._query_vector(handle, query)
        args = self._query_args(handle, query)
        args["metric"] = _METRIC_TO_PINECONE[handle.metric]
        native = args.pop("filter", None)
        text = orjson.dumps(native).decode() if native is not None else ""
        return Explanation(backend=BACKEND, native_filter=text, native_params=args)


# --------------------------------------------------------------------------- helpers


@dataclass(slots=True)
class _ScanPosition:
    """Where a ``scan`` listing stands: ids listed but not returned, and the next token."""

    buffer: list[str]
    token: str | None
    exhausted: bool
    #: Ids up to this Pinecone id are skipped (listing restarted for a cursor).
    skip_to: str | None


def _max_lsn(current: int | None, info: ResponseInfo | None) -> int | None:
    committed = info.lsn_committed if info is not None else None
    if committed is None:
        return current
    return committed if current is None else max(current, committed)


def _fetch_chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    chunk: list[str] = []
    size = 0
    for pid in ids:
        cost = len(quote(pid, safe="")) + 5
        if chunk and (len(chunk) >= MAX_FETCH_IDS or size + cost > MAX_FETCH_URL_CHARS):
            yield chunk
            chunk, size = [], 0
        chunk.append(pid)
        size += cost
    if chunk:
        yield chunk


def _plain_value(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
