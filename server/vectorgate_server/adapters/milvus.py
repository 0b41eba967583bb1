"""Milvus adapter (``pymilvus.MilvusClient``): a Milvus server, Zilliz Cloud or Milvus Lite.

Client
------
pymilvus 3.0's ``AsyncMilvusClient`` cannot create an indexed collection on
Milvus Lite (its ``create_index`` waits through ``AllocTimestamp``, which Milvus
Lite does not implement), so the adapter uses the synchronous ``MilvusClient``
for both engines and runs every call in one of the store's own bounded worker
threads (:class:`~vectorgate_server.workers.StoreWorkers`, ``max_concurrency``),
never on the event loop nor the shared default pool. Every call carries a
timeout (``timeout_s``, default 60 s), which also bounds pymilvus' own retries
while a server is unreachable.

A ``uri`` ending in ``.db`` (without ``://``) is a Milvus Lite database file:
pymilvus starts Milvus Lite's in-process gRPC server for it; ``close`` stops
it once no adapter of this process uses the file any more.

Storage layout of collections vectorgate creates
------------------------------------------------
* ``id``: ``VARCHAR(512)`` primary key (the document id);
* ``vector``: ``FLOAT_VECTOR(dimension)``, indexed as the spec asks;
* ``<text_field>`` (default ``text``): ``VARCHAR(65535)``, the document text;
* ``metadata_str`` / ``metadata_num`` / ``metadata_bool`` / ``metadata_list``:
  ``JSON`` objects holding the metadata, split by value type
  (strings, numbers, bools, lists of strings);
* where the engine has full-text search (see *Keyword search*): the text
  field is analysed (``enable_analyzer``, the standard analyzer) and a BM25
  function fills ``text_bm25``, a ``SPARSE_FLOAT_VECTOR`` indexed
  ``SPARSE_INVERTED_INDEX`` with metric ``BM25``.

Why typed JSON fields rather than the dynamic field: Milvus Lite 3.x
evaluates filters in Python with three-valued logic, where ``true == 1`` and
``1 > 0`` hold for a bool and an ordering comparison against a string is
*unknown*; keeping each type in its own field makes every portable condition
look only at values of its own type, on the server and on Lite alike (see
:mod:`vectorgate_server.filters.milvus`). Lite's upsert also merges, rather
than replaces, dynamic keys of an existing row, while JSON fields are
replaced. The dynamic field stays disabled. As with typed columns, a
metadata key keeps one type per collection: an upsert giving a key a value of
another type than the stored documents (or an earlier document of the batch)
is rejected before anything is written (one ``exists`` query per batch).

Index: ``FLAT`` (exact search) unless the spec, or else the store's
``index_type`` / ``index_params``, names ``IVF_FLAT``, ``IVF_SQ8``,
``IVF_PQ`` (servers only), ``HNSW`` or ``AUTOINDEX``; parameters are checked
(name, integer, range) and those Milvus 2.3 requires are filled in
(``nlist`` 128, ``M`` 16, ``efConstruction`` 200).

The collection spec (dimension, metric, text field, embedding model, index
spec, create time) is stored as JSON in the collection property
``vectorgate.spec`` (Milvus Lite drops schema descriptions; both engines keep
properties) and, for people browsing the server, in the schema description.
Collections are created with consistency level ``Strong``, and every read
(search, query, count, get) asks for ``Strong`` unless the caller passes
``consistencyLevel``: an ``upsert`` is visible to the next read
(read-your-writes). ``count`` is a ``count(*)`` query, which needs no flush.

Collection names may contain ``-``, which Milvus forbids: such a name (or
one that starts with the escape prefix) is stored as ``_vg_`` + the name with
``_`` written ``_u`` and ``-`` written ``_d``; every other name is used as is,
so existing collections keep their names.

Collections vectorgate did not create
-------------------------------------
Described and searched from their schema: the primary key (``VARCHAR`` or
``INT64``; ids are ``str(pk)``), the vector field (``annsField``, else the
only or first ``FLOAT_VECTOR`` field), its index (type, params, metric) and
the text field (``milvus_text_field``, else the configured ``text_field``,
else a ``VARCHAR`` field named ``text``). A hit's metadata is every other
output field (and dynamic key): strings, numbers, bools and lists of strings
as they are, other values (JSON objects, numeric arrays) as JSON strings.
Filters compile against the schema fields and, with the dynamic field
enabled, ``$meta`` keys.

Scores
------
Milvus returns cosine similarity for ``COSINE``, the *squared* Euclidean
distance for ``L2`` and the inner product for ``IP``. The canonical value is
the raw value, except for ``L2`` where it is ``sqrt(max(raw, 0))``;
``score = normalise_score(metric, canonical)`` and ``raw_score`` is Milvus'
number unchanged.

Keyword search
--------------
:meth:`MilvusAdapter.keyword_search` ranks documents by BM25 through Milvus's
own full-text search: a BM25 function turns the analysed text field into a
sparse vector on write, and a search of that field with the query *text*
(``metric_type`` ``BM25``) ranks by relevance, the compiled filter applied
before ranking. It needs Milvus 2.5 or later, or Milvus Lite (in process or as
``milvus-lite server``); ``start`` reads the engine's version and sets
``capabilities.keyword_search`` accordingly (``False`` until then, and on
older servers such as 2.3). On such engines ``create_collection`` adds the
analyzer, the sparse field and the function, and records it in the
``vectorgate.spec`` property (``"keyword": {"function": "BM25", ...}``). A
collection without the function (created before, or on an older server) and
a foreign collection without a BM25 function fed by its text field cannot be
searched by keyword: ``Unsupported`` naming the collection and the reason
(copy it into a new collection to add the function).

Scores: BM25 relevance is strictly positive for a matching document (Milvus's
IDF is ``log(1 + (N - df + 0.5) / (df + 0.5))``). A Milvus server returns it
as the hit's ``distance``; Milvus Lite 3.x returns it negated (its sparse
search ranks by ascending distance, ``-score``). ``score`` is therefore
``abs(distance)`` on either engine, hits are ordered by it, and ``raw_score``
is the distance as returned. Non-matching documents are never returned.

Analyzer: the standard analyzer of each engine, which differ on text without
spaces: a server splits CJK text into single ideographs, Milvus Lite keeps a
run of word characters (regex ``\\w+``, so a whole CJK phrase) as one term. Emoji
and punctuation are not terms; a query without any word character matches
nothing (answered without a call).

Native search parameters
------------------------
Named as in LiteLLM's Milvus vector store: ``limit`` (must equal ``top_k``;
``top_k`` is the one way to size results), ``offset``, ``dbName`` (must
equal the configured database), ``annsField``, ``outputFields``
(Milvus field names to return, ``id`` meaning the primary key; they replace
the metadata part of the projection, so on a vectorgate collection name the
``metadata_*`` fields to keep metadata), ``filter``
(a Milvus boolean expression, ANDed with the compiled filter as
``(native) and (compiled)``; its brackets and quotes must balance),
``groupingField`` (Milvus Lite and servers >= 2.4; older servers ignore it
silently, so it is refused there), ``searchParams`` (``metric_type`` must be
the collection's; ``params``: ``nprobe``, ``ef``, ``level``, ``radius``,
``range_filter``), ``partitionNames`` (must exist), ``consistencyLevel``
(``Strong``, ``Bounded``, ``Session``, ``Eventually``) and
``milvus_text_field``. The store's ``native_defaults`` (e.g. a LiteLLM
registry entry's ``annsField``, ``milvus_text_field``, ``limit``) supply
defaults: ``annsField``, ``milvus_text_field``, ``outputFields`` and
``filter`` describe a collection vectorgate did not create and apply to such
collections only (and only where the named fields exist);
``consistencyLevel`` and ``searchParams.params`` apply to every collection; a
default ``limit`` is ignored (``top_k`` governs). Keys that are not Milvus
search parameters (LiteLLM-only settings) are ignored.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit, urlunsplit

import grpc
from pymilvus import DataType, Function, FunctionType, MilvusClient, MilvusException

from .. import deadline
from ..config import MilvusConfig
from ..domain import (
    CollectionInfo,
    CollectionSpec,
    Document,
    Explanation,
    Filter,
    FloatArray,
    Hit,
    IndexSpec,
    Metadata,
    MetadataValue,
    Metric,
    OutputFields,
    SearchQuery,
    as_float32,
    normalise_score,
)
from ..errors import (
    AlreadyExists,
    InvalidArgument,
    LimitExceeded,
    NotFound,
    Unavailable,
    Unsupported,
    VectorgateError,
)
from ..filters.common import FieldType, metadata_type
from ..filters.milvus import (
    METADATA_FIELDS,
    VECTORGATE_SCHEMA,
    FilterSchema,
    and_expressions,
    canonical_int_id,
    check_native_expression,
    compile_filter,
    match_nothing,
    string_literal,
)
from ..workers import DEFAULT_LIMIT, StoreWorkers
from .base import Capabilities

__all__ = [
    "NATIVE_PARAMS",
    "SPEC_PROPERTY",
    "MilvusAdapter",
    "collection_name",
    "milvus_name",
]

log = logging.getLogger(__name__)


def _drop_mvcc_fallback_warning(record: logging.LogRecord) -> bool:
    """Milvus Lite returns no session timestamp, so every ``query_iterator`` (``scan``)
    would warn that it falls back to a client-side one; that fallback is what we want."""
    return "failed to get mvccTs" not in record.getMessage()


logging.getLogger("pymilvus.client.iterator.query_iterator").addFilter(_drop_mvcc_fallback_warning)

T = TypeVar("T")

BACKEND: Final = "milvus"
#: Collection property holding the vectorgate spec (JSON).
SPEC_PROPERTY: Final = "vectorgate.spec"
_SPEC_FORMAT: Final = 1
_DESCRIPTION_PREFIX: Final = "vectorgate collection; spec: "

#: Keepalive of the gateway's gRPC channel to Milvus. pymilvus pings every 10 s,
#: even with no call in flight; gRPC servers take that as abuse and answer GOAWAY
#: ``too_many_pings`` (ENHANCE_YOUR_CALM): the C-core server (Milvus Lite) allows
#: one ping per 5 minutes with calls in flight and none on an idle connection
#: (``grpc.http2.min_ping_interval_without_data_ms``, ``max_ping_strikes`` 2), and
#: grpc-go (Milvus) enforces ``keepalive.EnforcementPolicy`` (MinTime 5 minutes
#: unless configured). So: no pings without calls, and at most one every 6 minutes
#: during a call (to notice a peer that vanished mid-call).
KEEPALIVE_TIME_MS: Final = 360_000
KEEPALIVE_TIMEOUT_MS: Final = 20_000


def grpc_options() -> dict[str, int]:
    """The channel options the gateway gives pymilvus (keepalive the servers accept)."""
    return {
        "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS,
        "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
        "grpc.keepalive_permit_without_calls": 0,
    }


ID_FIELD: Final = "id"
VECTOR_FIELD: Final = "vector"
#: The sparse field a BM25 function fills from the text field (full-text collections).
SPARSE_FIELD: Final = "text_bm25"
_BM25_FUNCTION: Final = "text_bm25"
ID_MAX_LENGTH: Final = 512
TEXT_MAX_LENGTH: Final = 65535
_RESERVED_FIELDS: Final = frozenset(
    {ID_FIELD, VECTOR_FIELD, SPARSE_FIELD, *METADATA_FIELDS.values()}
)
#: Milvus servers with BM25 functions (full-text search).
_FULL_TEXT_SERVER: Final = (2, 5)
#: Any word character: a query without one has no terms for the standard analyzer.
_WORD_RE: Final = re.compile(r"\w")
_FIELD_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")

#: Prefix of escaped collection names (see :func:`milvus_name`).
_NAME_PREFIX: Final = "_vg_"
_MAX_COLLECTION_NAME: Final = 255

_METRIC_NAMES: Final[Mapping[Metric, str]] = {
    Metric.COSINE: "COSINE",
    Metric.L2: "L2",
    Metric.IP: "IP",
}
_METRICS_BY_NAME: Final[Mapping[str, Metric]] = {v: k for k, v in _METRIC_NAMES.items()}

#: Index types and their build parameters: name -> (min, max).
_INT32_MAX: Final = 2**31 - 1
_INDEX_PARAMS: Final[Mapping[str, Mapping[str, tuple[int, int]]]] = {
    "FLAT": {},
    "AUTOINDEX": {},
    "IVF_FLAT": {"nlist": (1, 65536)},
    "IVF_SQ8": {"nlist": (1, 65536)},
    "IVF_PQ": {"nlist": (1, 65536), "m": (1, 65536), "nbits": (1, 16)},
    "HNSW": {"M": (2, 2048), "efConstruction": (1, _INT32_MAX)},
}
#: Build parameters Milvus 2.3 requires, filled in when not given (newer servers and
#: Milvus Lite have defaults of their own; these make the index the same everywhere).
_INDEX_DEFAULTS: Final[Mapping[str, Mapping[str, int]]] = {
    "IVF_FLAT": {"nlist": 128},
    "IVF_SQ8": {"nlist": 128},
    "IVF_PQ": {"nlist": 128, "nbits": 8},
    "HNSW": {"M": 16, "efConstruction": 200},
}
#: Build parameters without a default.
_INDEX_REQUIRED: Final[Mapping[str, frozenset[str]]] = {"IVF_PQ": frozenset({"m"})}
#: Milvus Lite 3.x has no IVF_PQ.
_LITE_INDEX_TYPES: Final = frozenset(_INDEX_PARAMS) - {"IVF_PQ"}
_DEFAULT_INDEX: Final = "FLAT"

#: ``searchParams.params`` keys: name -> (min, max, integral).
_SEARCH_PARAMS: Final[Mapping[str, tuple[float, float, bool]]] = {
    "nprobe": (1, 65536, True),
    "ef": (1, 32768, True),
    "level": (1, 10, True),
    "radius": (-math.inf, math.inf, False),
    "range_filter": (-math.inf, math.inf, False),
}
_CONSISTENCY_LEVELS: Final[Mapping[str, str]] = {
    name.lower(): name for name in ("Strong", "Bounded", "Session", "Eventually")
}
#: Native search parameters, named as LiteLLM's Milvus vector store names them.
NATIVE_PARAMS: Final = frozenset(
    {
        "limit",
        "offset",
        "dbName",
        "annsField",
        "outputFields",
        "filter",
        "groupingField",
        "searchParams",
        "partitionNames",
        "consistencyLevel",
        "milvus_text_field",
    }
)
#: Milvus' bound on offset + limit.
_MAX_WINDOW: Final = 16384
_MAX_WRITE_BATCH: Final = 1000
_MAX_READ_BATCH: Final = 1000
#: Rows per ``query_iterator`` round trip of ``scan`` (Milvus caps a query window at 16384).
_ITERATOR_BATCH: Final = 4096
_DEFAULT_TIMEOUT_S: Final = 60.0
#: Metadata keys per type-check query (three ``exists`` terms each).
_TYPE_CHECK_KEYS: Final = 100
_TYPE_NAMES: Final[Mapping[FieldType, str]] = {
    FieldType.STRING: "string",
    FieldType.NUMBER: "number",
    FieldType.BOOL: "bool",
    FieldType.STRING_LIST: "list-of-strings",
}

_INT_TYPES: Final = frozenset({DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64})
_FLOAT_TYPES: Final = frozenset({DataType.FLOAT, DataType.DOUBLE})
_GROUPABLE_TYPES: Final = _INT_TYPES | {DataType.VARCHAR, DataType.BOOL}
_VECTOR_TYPES: Final = frozenset(
    t
    for t in DataType
    if t.name.endswith("VECTOR") or t.name in {"FLOAT16_VECTOR", "BFLOAT16_VECTOR"}
)

_UNAVAILABLE_GRPC: Final = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
    }
)
#: pymilvus / Milvus codes meaning "could not reach or use the server".
_UNAVAILABLE_CODES: Final = frozenset({2, 8, 9})
_NOT_FOUND_RE: Final = re.compile(
    r"collection not found|can't find collection|collection '[^']*' does not exist",
    re.IGNORECASE,
)
_PARSE_ERROR_RE: Final = re.compile(
    r"cannot parse expression|parse|unknown escape|syntax|token|"
    r"field .* not (exist|found)|not found in schema|cannot be used|invalid expression",
    re.IGNORECASE,
)


# --------------------------------------------------------------------------- names


def milvus_name(name: str) -> str:
    """The Milvus collection name for a vectorgate collection name (reversible).

    Names without ``-`` (and not starting with the escape prefix) are used as
    they are; others become ``_vg_`` + the name with ``_`` -> ``_u`` and
    ``-`` -> ``_d``.
    """
    if "-" not in name and not name.startswith(_NAME_PREFIX):
        return name
    return _NAME_PREFIX + name.replace("_", "_u").replace("-", "_d")


def collection_name(stored: str) -> str:
    """The vectorgate name of a Milvus collection (inverse of :func:`milvus_name`)."""
    if not stored.startswith(_NAME_PREFIX):
        return stored
    out: list[str] = []
    rest = stored[len(_NAME_PREFIX) :]
    i = 0
    while i < len(rest):
        ch = rest[i]
        if ch != "_":
            out.append(ch)
            i += 1
            continue
        code = rest[i + 1 : i + 2]
        if code == "u":
            out.append("_")
        elif code == "d":
            out.append("-")
        else:
            return stored  # not an escaped name: a native collection with this prefix
        i += 2
    return "".join(out)


# --------------------------------------------------------------------------- Milvus Lite servers

_LITE_LOCK = threading.Lock()
_LITE_USERS: dict[str, int] = {}


def _lite_acquire(path: str) -> None:
    with _LITE_LOCK:
        _LITE_USERS[path] = _LITE_USERS.get(path, 0) + 1


def _lite_release(path: str) -> None:
    with _LITE_LOCK:
        users = _LITE_USERS.get(path, 0) - 1
        if users > 0:
            _LITE_USERS[path] = users
            return
        _LITE_USERS.pop(path, None)
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(path)


# --------------------------------------------------------------------------- layouts


@dataclass(frozen=True, slots=True)
class _Layout:
    """What the adapter knows about one collection's schema."""

    name: str
    stored: str
    pk: str
    pk_is_int: bool
    #: FLOAT_VECTOR fields -> dimension, in schema order.
    vectors: Mapping[str, int]
    anns_field: str
    #: Every non-vector field -> its data type (including the primary key).
    scalars: Mapping[str, DataType]
    text_field: str | None
    dynamic: bool
    metric: Metric
    index: IndexSpec
    vectorgate: bool
    embedding_model: str = ""
    create_time: datetime | None = None
    #: ARRAY fields of VARCHAR elements (usable with CONTAINS).
    string_arrays: frozenset[str] = frozenset()
    #: Nullable fields (Milvus 2.5+ and Milvus Lite).
    nullable: frozenset[str] = frozenset()
    #: SPARSE_FLOAT_VECTOR fields (not searchable by vector here; never written).
    sparse_fields: frozenset[str] = frozenset()
    #: The sparse field a BM25 function fills from ``text_field`` (keyword search), if any.
    keyword_field: str | None = None

    @property
    def dimension(self) -> int:
        return self.vectors[self.anns_field]

    @property
    def varchar_fields(self) -> frozenset[str]:
        return frozenset(n for n, t in self.scalars.items() if t == DataType.VARCHAR)

    def filter_schema(self) -> FilterSchema:
        if self.vectorgate:
            return VECTORGATE_SCHEMA
        fields: dict[str, tuple[FieldType, bool]] = {}
        for name, dtype in self.scalars.items():
            kind = FieldType.STRING_LIST if name in self.string_arrays else _field_type(dtype)
            if kind is not None and name not in (self.pk, self.text_field):
                fields[name] = (kind, name in self.nullable)
        excluded = {self.pk, *self.vectors}
        if self.text_field:
            excluded.add(self.text_field)
        return FilterSchema(
            id_field=self.pk,
            id_is_int=self.pk_is_int,
            typed_json=None,
            fields=fields,
            dynamic=self.dynamic,
            excluded=frozenset(excluded),
        )


def _field_type(dtype: DataType) -> FieldType | None:
    if dtype in _INT_TYPES or dtype in _FLOAT_TYPES:
        return FieldType.NUMBER
    if dtype == DataType.VARCHAR:
        return FieldType.STRING
    if dtype == DataType.BOOL:
        return FieldType.BOOL
    return None


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything a search sends to Milvus."""

    anns_field: str
    limit: int
    offset: int
    filter: str
    output_fields: list[str]
    search_params: dict[str, Any]
    consistency_level: str
    text_field: str | None
    partition_names: list[str] | None = None
    group_by_field: str | None = None

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "anns_field": self.anns_field,
            "limit": self.limit,
            "filter": self.filter,
            "output_fields": self.output_fields,
            "search_params": self.search_params,
            "consistency_level": self.consistency_level,
        }
        if self.offset:
            out["offset"] = self.offset
        if self.partition_names:
            out["partition_names"] = self.partition_names
        if self.group_by_field:
            out["group_by_field"] = self.group_by_field
        return out


@dataclass(slots=True)
class _Defaults:
    """Validated ``native_defaults`` of the store."""

    values: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- adapter


class MilvusAdapter:
    """One Milvus store (a server, Zilliz Cloud or a Milvus Lite file)."""

    backend = BACKEND

    def __init__(
        self,
        store: str,
        uri: str,
        *,
        token: str | None = None,
        db_name: str | None = None,
        timeout_s: float | None = None,
        index_type: str | None = None,
        index_params: Mapping[str, Any] | None = None,
        metric_type: str | None = None,
        text_field: str | None = None,
        native_defaults: Mapping[str, Any] | None = None,
        max_concurrency: int = DEFAULT_LIMIT,
    ) -> None:
        self.store = store
        self._uri = uri
        self._token = token or ""
        self._db_name = db_name or ""
        self._timeout = timeout_s or _DEFAULT_TIMEOUT_S
        #: The store's own bounded threads: pymilvus blocks, so never the shared pool.
        self.workers = StoreWorkers(store, max_concurrency, wait_s=self._timeout)
        self._lite_path: str | None = None
        if "://" not in uri:
            if not uri.endswith(".db"):
                raise ValueError(
                    f"store {store!r}: a Milvus Lite uri must be a file path ending in "
                    f"'.db', got {uri!r}"
                )
            self._lite_path = str(Path(uri).expanduser().resolve())
        self._index_type = (index_type or "").upper() or None
        self._index_params = dict(index_params or {})
        if self._index_type is not None:
            self._check_index(self._index_type, self._index_params, 1, "index_type")
        self._metric_default = _METRICS_BY_NAME.get((metric_type or "").upper())
        self._text_field = text_field
        self._defaults = self._validate_defaults(native_defaults or {})
        index_types = _LITE_INDEX_TYPES if self.is_lite else frozenset(_INDEX_PARAMS)
        #: ``keyword_search`` is decided by ``start`` from the engine's version.
        self.capabilities = Capabilities(
            metrics=frozenset(Metric),
            delete_by_filter=True,
            index_types=index_types,
            max_write_batch=_MAX_WRITE_BATCH,
            native_params=NATIVE_PARAMS,
            keyword_search=False,
        )
        self._client: MilvusClient | None = None
        self._server_version = ""
        #: Whether the engine has BM25 functions (known once started).
        self._full_text = False
        self._layouts: dict[str, _Layout] = {}
        self._loaded: set[str] = set()
        self._lite_acquired = False

    @classmethod
    def from_config(cls, config: MilvusConfig) -> MilvusAdapter:
        """The adapter of a configured Milvus store (not yet started)."""
        token = config.auth_token
        uri = config.connection_uri
        if config.is_lite:
            uri = str(Path(uri).expanduser())
        return cls(
            config.name,
            uri,
            token=token.get_secret_value() if token is not None else None,
            db_name=config.db_name,
            timeout_s=config.timeout_s,
            index_type=config.index_type,
            index_params=config.index_params,
            metric_type=config.metric_type or (config.metric or None),
            text_field=config.text_field,
            native_defaults=config.native_defaults,
            max_concurrency=config.max_concurrency,
        )

    # ------------------------------------------------------------------ properties

    @property
    def is_lite(self) -> bool:
        """True for a Milvus Lite database file."""
        return self._lite_path is not None

    @property
    def db_name(self) -> str:
        """The configured database (``default`` when none is configured)."""
        return self._db_name or "default"

    @property
    def server_version(self) -> str:
        """The engine's version as it reports it (empty until started)."""
        return self._server_version

    @property
    def full_text_search(self) -> bool:
        """Whether the engine has BM25 full-text search (known once started)."""
        return self._full_text

    @property
    def display_uri(self) -> str:
        """The uri without credentials, for messages."""
        if self._lite_path is not None:
            return self._lite_path
        parts = urlsplit(self._uri)
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._client is not None:
            return
        self._client = await self.workers.run(self._connect)
        self._full_text = _has_full_text(self._server_version, lite=self.is_lite)
        self.capabilities = dataclasses.replace(self.capabilities, keyword_search=self._full_text)

    def _connect(self) -> MilvusClient:
        uri = self._uri
        if self._lite_path is not None:
            Path(self._lite_path).parent.mkdir(parents=True, exist_ok=True)
            uri = self._lite_path
            _lite_acquire(self._lite_path)
            self._lite_acquired = True
        try:
            # Embedded Lite too: pymilvus reaches its server over a gRPC channel.
            client = MilvusClient(
                uri=uri,
                token=self._token,
                db_name=self._db_name,
                timeout=self._timeout,
                grpc_options=grpc_options(),
            )
            self._server_version = str(client.get_server_version(timeout=self._timeout))
        except (MilvusException, grpc.RpcError, OSError) as exc:
            self._release_lite()
            raise Unavailable(
                f"milvus store {self.store!r} at {self.display_uri} is unavailable: {_message(exc)}"
            ) from exc
        return client

    async def close(self) -> None:
        client, self._client = self._client, None
        self._layouts.clear()
        self._loaded.clear()
        if client is not None:
            await self.workers.run(self._close_client, client)
        self.workers.close()

    def _close_client(self, client: MilvusClient) -> None:
        try:
            client.close()
        except Exception:  # closing must not fail
            log.debug("closing milvus client of store %s failed", self.store, exc_info=True)
        self._release_lite()

    def _release_lite(self) -> None:
        if self._lite_path is not None and self._lite_acquired:
            self._lite_acquired = False
            _lite_release(self._lite_path)

    # ------------------------------------------------------------------ calls

    def require_client(self) -> MilvusClient:
        """The connected ``MilvusClient`` (for the native REST passthrough).

        ``Unavailable`` if the adapter is not started. Calls on it bypass the
        adapter: run them with :meth:`run_client`, and after creating or
        dropping a collection through it, call :meth:`forget_collection`.
        """
        return self._require_client()

    async def run_client(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A blocking client call in the store's bounded threads, with the store's
        timeout cut to the caller's deadline (SDK errors are not translated)."""
        kwargs.setdefault("timeout", deadline.bound(self._timeout))
        return await self.workers.run(fn, *args, **kwargs)

    def forget_collection(self, name: str) -> None:
        """Drop what the adapter cached about collection ``name`` (schema, load state)."""
        self._forget(name)

    def _require_client(self) -> MilvusClient:
        if self._client is None:
            raise Unavailable(f"milvus store {self.store!r} at {self.display_uri} is not connected")
        return self._client

    async def _call(
        self,
        what: str,
        fn: Callable[..., T],
        *args: Any,
        collection: str | None = None,
        **kwargs: Any,
    ) -> T:
        """Run a blocking client call in a thread, translating SDK errors."""
        kwargs.setdefault("timeout", deadline.bound(self._timeout))
        try:
            return await self.workers.run(fn, *args, **kwargs)
        except MilvusException as exc:
            raise self._translate(exc, what, collection) from exc
        except grpc.RpcError as exc:
            raise self._unavailable(what, exc) from exc

    def _translate(
        self, exc: MilvusException, what: str, collection: str | None
    ) -> VectorgateError | MilvusException:
        code = exc.code
        message = _message(exc)
        if collection is not None and (code == 100 or _NOT_FOUND_RE.search(message)):
            self._forget(collection)
            return NotFound(
                f"collection {collection!r} does not exist in store {self.store!r}",
                metadata={"store": self.store, "collection": collection},
            )
        if (
            isinstance(code, grpc.StatusCode) and code in _UNAVAILABLE_GRPC
        ) or code in _UNAVAILABLE_CODES:
            return self._unavailable(what, exc)
        return exc

    def _unavailable(self, what: str, exc: BaseException) -> Unavailable:
        return Unavailable(
            f"milvus store {self.store!r} at {self.display_uri}: {what} failed: {_message(exc)}",
            metadata={"store": self.store, "backend": BACKEND},
        )

    def _forget(self, name: str) -> None:
        self._layouts.pop(name, None)
        self._loaded.discard(name)

    # ------------------------------------------------------------------ collections

    async def create_collection(self, spec: CollectionSpec) -> CollectionInfo:
        client = self._require_client()
        stored = self._stored_name(spec.name, "collection.name")
        text_field = spec.text_field or "text"
        if not _FIELD_NAME_RE.fullmatch(text_field) or text_field in _RESERVED_FIELDS:
            raise InvalidArgument(
                f"collection.text_field: {text_field!r} cannot be a Milvus field of a "
                f"vectorgate collection (use letters, digits and '_', not "
                f"{', '.join(sorted(_RESERVED_FIELDS))})",
                field="collection.text_field",
            )
        index = self._index_for(spec)
        metric_name = _METRIC_NAMES[spec.metric]
        created = datetime.now(UTC)
        full_text = self._full_text
        document: dict[str, Any] = {
            "format": _SPEC_FORMAT,
            "name": spec.name,
            "dimension": spec.dimension,
            "metric": spec.metric.value,
            "text_field": text_field,
            "embedding_model": spec.embedding_model,
            "index": {"type": index.type, "params": dict(index.params)},
            "create_time": created.isoformat(),
        }
        if full_text:
            document["keyword"] = {
                "function": "BM25",
                "sparse_field": SPARSE_FIELD,
                "analyzer": "standard",
            }
        encoded = json.dumps(document, sort_keys=True, separators=(",", ":"))
        schema = MilvusClient.create_schema(
            auto_id=False,
            enable_dynamic_field=False,
            description=_DESCRIPTION_PREFIX + encoded,
        )
        schema.add_field(ID_FIELD, DataType.VARCHAR, is_primary=True, max_length=ID_MAX_LENGTH)
        schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=spec.dimension)
        if full_text:
            # The standard analyzer (each engine's default); see "Keyword search".
            schema.add_field(
                text_field, DataType.VARCHAR, max_length=TEXT_MAX_LENGTH, enable_analyzer=True
            )
        else:
            schema.add_field(text_field, DataType.VARCHAR, max_length=TEXT_MAX_LENGTH)
        for json_field in METADATA_FIELDS.values():
            schema.add_field(json_field, DataType.JSON)
        if full_text:
            schema.add_field(SPARSE_FIELD, DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(
                Function(
                    name=_BM25_FUNCTION,
                    function_type=FunctionType.BM25,
                    input_field_names=[text_field],
                    output_field_names=[SPARSE_FIELD],
                )
            )
        index_params = MilvusClient.prepare_index_params()
        index_params.add_index(
            VECTOR_FIELD,
            index_type=index.type,
            metric_type=metric_name,
            params=dict(index.params),
        )
        if full_text:
            index_params.add_index(
                SPARSE_FIELD, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25"
            )
        if await self._call("has_collection", client.has_collection, stored):
            raise AlreadyExists(
                f"collection {spec.name!r} already exists in store {self.store!r}",
                field="collection.name",
            )
        self._forget(spec.name)
        try:
            await self._call(
                "create_collection",
                client.create_collection,
                stored,
                schema=schema,
                index_params=index_params,
                consistency_level="Strong",
                properties={SPEC_PROPERTY: encoded},
            )
        except MilvusException as exc:
            message = _message(exc)
            if "already exist" in message.lower():
                raise AlreadyExists(
                    f"collection {spec.name!r} already exists in store {self.store!r}",
                    field="collection.name",
                ) from exc
            if re.search(r"exceed|limit|quota", message, re.IGNORECASE):
                raise LimitExceeded(
                    f"collection: milvus refused to create {spec.name!r}: {message}",
                    field="collection",
                ) from exc
            raise InvalidArgument(
                f"collection: milvus refused to create {spec.name!r}: {message}",
                field="collection",
            ) from exc
        return CollectionInfo(
            name=spec.name,
            dimension=spec.dimension,
            metric=spec.metric,
            text_field=text_field,
            embedding_model=spec.embedding_model,
            index=index,
            document_count=0,
            create_time=created,
        )

    def _index_for(self, spec: CollectionSpec) -> IndexSpec:
        if spec.index.type:
            kind = spec.index.type.upper()
            params = dict(spec.index.params)
            path = "collection.index"
        elif spec.index.params:
            raise InvalidArgument(
                "collection.index.type: required when index params are given",
                field="collection.index.type",
            )
        elif self._index_type is not None:
            kind, params, path = self._index_type, dict(self._index_params), "index_type"
        else:
            kind, params, path = _DEFAULT_INDEX, {}, "collection.index"
        self._check_index(kind, params, spec.dimension, path)
        return IndexSpec(type=kind, params={**_INDEX_DEFAULTS.get(kind, {}), **params})

    def _check_index(self, kind: str, params: Mapping[str, Any], dimension: int, path: str) -> None:
        type_field = f"{path}.type" if path.startswith("collection") else path
        allowed = _INDEX_PARAMS.get(kind)
        if allowed is None or (self.is_lite and kind not in _LITE_INDEX_TYPES):
            accepted = sorted(_LITE_INDEX_TYPES if self.is_lite else _INDEX_PARAMS)
            raise InvalidArgument(
                f"{type_field}: index type {kind!r} is not supported by this Milvus store "
                f"(accepted: {', '.join(accepted)})",
                field=type_field,
            )
        for key, value in params.items():
            pfield = f"{path}.params.{key}" if path.startswith("collection") else path
            bounds = allowed.get(key)
            if bounds is None:
                raise InvalidArgument(
                    f"{pfield}: {kind} takes no parameter {key!r} "
                    f"(accepted: {', '.join(sorted(allowed)) or 'none'})",
                    field=pfield,
                )
            number = _as_int(value)
            if number is None or not bounds[0] <= number <= bounds[1]:
                raise InvalidArgument(
                    f"{pfield}: must be an integer between {bounds[0]} and {bounds[1]}",
                    field=pfield,
                )
            if kind == "IVF_PQ" and key == "m" and dimension % number:
                raise InvalidArgument(
                    f"{pfield}: must divide the dimension ({dimension})", field=pfield
                )
        for key in sorted(_INDEX_REQUIRED.get(kind, frozenset()) - set(params)):
            pfield = f"{path}.params.{key}" if path.startswith("collection") else path
            raise InvalidArgument(f"{pfield}: {kind} requires {key!r}", field=pfield)

    async def describe_collection(self, name: str) -> CollectionInfo:
        layout = await self._layout(name)
        count = await self._count(layout, "")
        return CollectionInfo(
            name=name,
            dimension=layout.dimension,
            metric=layout.metric,
            text_field=layout.text_field or "",
            embedding_model=layout.embedding_model,
            index=layout.index,
            document_count=count,
            create_time=layout.create_time,
        )

    async def list_collections(self) -> list[str]:
        client = self._require_client()
        names: list[str] = await self._call("list_collections", client.list_collections)
        return sorted(collection_name(n) for n in names)

    async def drop_collection(self, name: str) -> None:
        client = self._require_client()
        stored = self._stored_name(name, "name")
        self._forget(name)
        if not await self._call("has_collection", client.has_collection, stored):
            raise NotFound(
                f"collection {name!r} does not exist in store {self.store!r}",
                metadata={"store": self.store, "collection": name},
            )
        await self._call("drop_collection", client.drop_collection, stored, collection=name)

    # ------------------------------------------------------------------ documents

    async def count(self, name: str, filter: Filter | None = None) -> int:
        layout = await self._layout(name)
        expr = compile_filter(filter, schema=layout.filter_schema()) if filter else ""
        return await self._count(layout, expr)

    async def _count(self, layout: _Layout, expr: str) -> int:
        client = self._require_client()
        rows = await self._read(
            layout,
            "count",
            client.query,
            layout.stored,
            filter=expr,
            output_fields=["count(*)"],
            consistency_level="Strong",
        )
        return int(rows[0]["count(*)"]) if rows else 0

    async def upsert(self, name: str, documents: Sequence[Document]) -> None:
        client = self._require_client()
        layout = await self._layout(name)
        by_id: dict[str, dict[str, Any]] = {}
        for i, doc in enumerate(documents):
            # Milvus keeps every copy of an id repeated in one batch: the last one wins here.
            by_id.pop(doc.id, None)
            by_id[doc.id] = self._row(layout, i, doc)
        rows = list(by_id.values())
        if layout.vectorgate:
            await self._check_types(layout, documents)
        for start in range(0, len(rows), _MAX_WRITE_BATCH):
            batch = rows[start : start + _MAX_WRITE_BATCH]
            try:
                await self._call("upsert", client.upsert, layout.stored, batch, collection=name)
            except MilvusException as exc:
                # Rows of vectorgate collections are checked above; a collection of
                # another schema may still refuse a row (a required field missing...).
                if layout.vectorgate and not exc.is_input_error:
                    raise
                raise InvalidArgument(
                    f"documents: milvus rejected the write to {name!r}: {_message(exc)}",
                    field="documents",
                ) from exc

    async def _check_types(self, layout: _Layout, documents: Sequence[Document]) -> None:
        """A metadata key keeps one type per collection: reject a batch that changes it.

        Checked within the batch, then against the stored documents (one query
        for any stored value of a batch key in another type's field), before
        anything is written.
        """
        first: dict[str, tuple[FieldType, int]] = {}
        for i, doc in enumerate(documents):
            for key, value in doc.metadata.items():
                path = f"documents[{i}].metadata.{key}"
                kind = _checked_type(value, path)
                seen = first.get(key)
                if seen is None:
                    first[key] = (kind, i)
                elif seen[0] is not kind:
                    raise InvalidArgument(
                        f"{path}: a {_TYPE_NAMES[kind]} value, but documents[{seen[1]}] gives "
                        f"{key!r} a {_TYPE_NAMES[seen[0]]} value in the same batch",
                        field=path,
                    )
        keys = list(first)
        client = self._require_client()
        for start in range(0, len(keys), _TYPE_CHECK_KEYS):
            chunk = keys[start : start + _TYPE_CHECK_KEYS]
            terms = [
                f"exists {json_field}[{string_literal(key)}]"
                for key in chunk
                for other, json_field in METADATA_FIELDS.items()
                if other is not first[key][0]
            ]
            rows = await self._read(
                layout,
                "upsert type check",
                client.query,
                layout.stored,
                filter=" or ".join(f"({t})" for t in terms),
                output_fields=list(METADATA_FIELDS.values()),
                limit=1,
                consistency_level="Strong",
            )
            conflicts: list[tuple[int, str, FieldType]] = []
            for row in rows:
                for stored_type, json_field in METADATA_FIELDS.items():
                    values = row.get(json_field)
                    if not isinstance(values, Mapping):
                        continue
                    for key in values:
                        wanted = first.get(str(key))
                        if wanted is not None and wanted[0] is not stored_type:
                            conflicts.append((wanted[1], str(key), stored_type))
            if conflicts:
                index, key, stored_type = min(conflicts)
                path = f"documents[{index}].metadata.{key}"
                raise InvalidArgument(
                    f"{path}: collection {layout.name!r} holds {key!r} as "
                    f"{_TYPE_NAMES[stored_type]} values, not {_TYPE_NAMES[first[key][0]]}",
                    field=path,
                )

    def _row(self, layout: _Layout, i: int, doc: Document) -> dict[str, Any]:
        path = f"documents[{i}]"
        if doc.vector is None:
            raise InvalidArgument(f"{path}.vector: a vector is required", field=f"{path}.vector")
        vector = as_float32(doc.vector)
        if vector.shape != (layout.dimension,):
            raise InvalidArgument(
                f"{path}.vector: expected {layout.dimension} dimensions, got {vector.shape}",
                field=f"{path}.vector",
            )
        row: dict[str, Any] = {layout.anns_field: vector.tolist()}
        if layout.pk_is_int:
            pk = canonical_int_id(doc.id)
            if pk is None:
                raise InvalidArgument(
                    f"{path}.id: collection {layout.name!r} has INT64 ids; {doc.id!r} is not one",
                    field=f"{path}.id",
                )
            row[layout.pk] = pk
        else:
            row[layout.pk] = doc.id
        if layout.text_field is not None:
            if len(doc.text.encode()) > TEXT_MAX_LENGTH:
                raise LimitExceeded(
                    f"{path}.text: longer than {TEXT_MAX_LENGTH} bytes, the most a Milvus "
                    "VARCHAR field holds",
                    field=f"{path}.text",
                )
            row[layout.text_field] = doc.text
        if layout.vectorgate:
            typed: dict[str, dict[str, MetadataValue]] = {f: {} for f in METADATA_FIELDS.values()}
            for key, value in doc.metadata.items():
                kind = _checked_type(value, f"{path}.metadata.{key}")
                typed[METADATA_FIELDS[kind]][key] = value
            row.update(typed)
            return row
        for key, value in doc.metadata.items():
            mpath = f"{path}.metadata.{key}"
            _checked_type(value, mpath)
            if key in row or key in layout.vectors or key in layout.sparse_fields:
                raise InvalidArgument(
                    f"{mpath}: {key!r} is a reserved field of collection {layout.name!r}",
                    field=mpath,
                )
            if key not in layout.scalars and not layout.dynamic:
                raise InvalidArgument(
                    f"{mpath}: collection {layout.name!r} has no field {key!r} and no "
                    "dynamic field",
                    field=mpath,
                )
            row[key] = value
        return row

    async def get(self, name: str, ids: Sequence[str], include_vectors: bool) -> list[Document]:
        client = self._require_client()
        layout = await self._layout(name)
        wanted = list(dict.fromkeys(ids))
        output = self._default_output(layout, text=True, metadata=True, vector=include_vectors)
        found: dict[str, Document] = {}
        for start in range(0, len(wanted), _MAX_READ_BATCH):
            chunk = wanted[start : start + _MAX_READ_BATCH]
            expr = compile_filter(_ids_filter(chunk), "ids", schema=layout.filter_schema())
            rows = await self._read(
                layout,
                "get",
                client.query,
                layout.stored,
                filter=expr,
                output_fields=output,
                consistency_level="Strong",
            )
            for row in rows:
                doc = self._document(layout, row, include_vectors)
                found[doc.id] = doc
        return [found[i] for i in wanted if i in found]

    async def scan(
        self, name: str, *, after: str | None, limit: int, include_vectors: bool
    ) -> list[Document]:
        """The next ``limit`` documents in id order after ``after``.

        A plain ``query`` with a limit returns an arbitrary subset (segments are
        not merged in key order), so a page is read with ``query_iterator``,
        which returns primary keys in ascending order, filtered by
        ``pk > cursor``. Integer primary keys (existing collections) order
        numerically, not as strings, so they cannot be scanned by string cursor.
        """
        client = self._require_client()
        layout = await self._layout(name)
        if limit <= 0:
            return []
        if layout.pk_is_int:
            raise Unsupported(
                backend=BACKEND,
                operation="scan",
                detail=f"collection {name!r} has an integer primary key",
            )
        expr = "" if after is None else f"{layout.pk} > {string_literal(after)}"
        output = self._default_output(layout, text=True, metadata=True, vector=include_vectors)
        rows = await self._read(
            layout,
            "scan",
            _scan_page,
            client,
            layout.stored,
            expr=expr,
            output_fields=output,
            limit=limit,
        )
        docs = [self._document(layout, row, include_vectors) for row in rows]
        docs.sort(key=lambda d: d.id)
        return docs[:limit]

    async def delete(
        self, name: str, ids: Sequence[str] | None = None, filter: Filter | None = None
    ) -> None:
        client = self._require_client()
        layout = await self._layout(name)
        schema = layout.filter_schema()
        parts: list[str] = []
        if ids:
            parts.append(
                compile_filter(_ids_filter(list(dict.fromkeys(ids))), "ids", schema=schema)
            )
        if filter is not None:
            parts.append(compile_filter(filter, schema=schema) or _match_all(schema))
        nothing = match_nothing(schema)
        parts = [p for p in parts if p and p != nothing]
        if not parts:
            return
        expr = parts[0] if len(parts) == 1 else " or ".join(f"({p})" for p in parts)
        await self._call("delete", client.delete, layout.stored, filter=expr, collection=name)

    # ------------------------------------------------------------------ search

    async def search(self, name: str, query: SearchQuery) -> list[Hit]:
        client = self._require_client()
        layout = await self._layout(name)
        plan = await self._plan(layout, query)
        try:
            results = await self._read(
                layout,
                "search",
                client.search,
                layout.stored,
                data=[as_float32(query.vector).tolist()],
                **plan.kwargs(),
            )
        except MilvusException as exc:
            raise self._search_error(exc, query) from exc
        hits: list[Hit] = []
        for raw in results[0] if results else []:
            hits.append(self._hit(layout, plan, query.output, raw))
        return hits[: query.top_k]

    async def keyword_search(
        self,
        name: str,
        text: str,
        top_k: int,
        filter: Filter | None = None,
        *,
        output: OutputFields = OutputFields(),  # noqa: B008 (frozen, immutable)
    ) -> list[Hit]:
        """BM25 full-text search of the collection's text (see *Keyword search* above).

        The filter is compiled as for ``search`` and applied inside Milvus
        before ranking. ``Unsupported`` where the engine or the collection has
        no BM25 function.
        """
        client = self._require_client()
        layout = await self._layout(name)
        if top_k < 1 or top_k > _MAX_WINDOW:
            raise InvalidArgument(
                f"top_k: must be between 1 and {_MAX_WINDOW} for a milvus keyword search",
                field="top_k",
            )
        sparse_field = self._keyword_field(layout)
        compiled = compile_filter(filter, schema=layout.filter_schema()) if filter else ""
        defaults = self._defaults.values
        native_filter = defaults["filter"] if "filter" in defaults and not layout.vectorgate else ""
        expr = and_expressions(native_filter, compiled)
        if not _WORD_RE.search(text) or expr == match_nothing(layout.filter_schema()):
            return []
        plan = _Plan(
            anns_field=sparse_field,
            limit=top_k,
            offset=0,
            filter=expr,
            output_fields=self._output_fields(
                layout, output, layout.anns_field, layout.text_field, None
            ),
            search_params={"metric_type": "BM25", "params": {}},
            consistency_level=defaults.get("consistencyLevel", "Strong"),
            text_field=layout.text_field,
        )
        results = await self._read(
            layout, "keyword search", client.search, layout.stored, data=[text], **plan.kwargs()
        )
        hits: list[Hit] = []
        for raw in results[0] if results else []:
            distance = float(raw["distance"])
            if distance == 0.0 or not math.isfinite(distance):
                continue  # no query term in the document
            hit = self._make_hit(
                layout,
                output,
                raw,
                score=abs(distance),
                raw_score=distance,
                text_field=layout.text_field,
                vector_field=layout.anns_field,
            )
            hit.store = self.store
            hit.collection = name
            hits.append(hit)
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits[:top_k]

    def _keyword_field(self, layout: _Layout) -> str:
        """The sparse BM25 field of ``layout``; ``Unsupported`` saying why there is none."""
        if layout.keyword_field is not None and self._full_text:
            return layout.keyword_field
        if not self._full_text:
            detail = (
                f"collection {layout.name!r}: Milvus {self._server_version or '(unknown)'} "
                "of this store has no full-text search (BM25 functions need Milvus 2.5 or "
                "later, or Milvus Lite)"
            )
        elif layout.vectorgate:
            detail = (
                f"collection {layout.name!r} was created without a BM25 function (before "
                "the store had full-text search); copy it into a new collection "
                "(vectorgate copy) to search it by keyword"
            )
        else:
            field_name = repr(layout.text_field) if layout.text_field else "(none found)"
            detail = (
                f"collection {layout.name!r} has no BM25 function on its text field {field_name}"
            )
        raise Unsupported(backend=BACKEND, operation="keyword search", detail=detail)

    async def explain(self, name: str, query: SearchQuery) -> Explanation:
        layout = await self._layout(name)
        plan = await self._plan(layout, query)
        params = {"collection_name": layout.stored, **plan.kwargs()}
        return Explanation(backend=BACKEND, native_filter=plan.filter, native_params=params)

    def _search_error(
        self, exc: MilvusException, query: SearchQuery
    ) -> VectorgateError | MilvusException:
        # Unavailability and missing collections were translated already: what is left is
        # Milvus refusing the request, and the caller's native filter / searchParams are
        # the only parts of it Milvus evaluates unchecked (a bare literal, a non-boolean
        # expression, a bad parameter): their error, never an internal one.
        message = _message(exc)
        native = query.native_params
        filter_given = "filter" in native
        about_filter = bool(_PARSE_ERROR_RE.search(message)) or any(
            word in message.lower() for word in ("expr", "filter")
        )
        if filter_given and ("searchParams" not in native or about_filter):
            return InvalidArgument(
                f"native_params.filter: milvus cannot evaluate the expression: {message}",
                field="native_params.filter",
            )
        if "searchParams" in native:
            return InvalidArgument(
                f"native_params.searchParams: milvus rejected the search: {message}",
                field="native_params.searchParams",
            )
        return exc

    async def _plan(self, layout: _Layout, query: SearchQuery) -> _Plan:
        native = dict(query.native_params)
        defaults = self._defaults.values
        unknown = sorted(set(native) - NATIVE_PARAMS)
        if unknown:
            key = unknown[0]
            raise InvalidArgument(
                f"native_params.{key}: not a milvus search parameter "
                f"(accepted: {', '.join(sorted(NATIVE_PARAMS))})",
                field=f"native_params.{key}",
            )

        if "limit" in native:
            limit = _int_param(native, "limit", minimum=1)
            if limit != query.top_k:
                raise InvalidArgument(
                    f"native_params.limit: {limit} differs from top_k ({query.top_k}); "
                    "top_k sets the number of results (omit limit or make them equal)",
                    field="native_params.limit",
                )
        offset = _int_param(native, "offset", minimum=0) if "offset" in native else 0
        if offset + query.top_k > _MAX_WINDOW:
            raise InvalidArgument(
                f"native_params.offset: offset + top_k must not exceed {_MAX_WINDOW}",
                field="native_params.offset",
            )
        if "dbName" in native:
            db = _str_param(native, "dbName")
            if db != self.db_name:
                raise InvalidArgument(
                    f"native_params.dbName: store {self.store!r} serves database "
                    f"{self.db_name!r}, not {db!r} (databases come from the configuration)",
                    field="native_params.dbName",
                )

        anns_field = layout.anns_field
        if "annsField" in native:
            anns_field = _str_param(native, "annsField")
            if anns_field not in layout.vectors:
                raise InvalidArgument(
                    f"native_params.annsField: {anns_field!r} is not a float vector field of "
                    f"collection {layout.name!r} (vector fields: {', '.join(layout.vectors)})",
                    field="native_params.annsField",
                )
        if layout.vectors[anns_field] != query.vector.shape[0]:
            raise InvalidArgument(
                f"native_params.annsField: {anns_field!r} has dimension "
                f"{layout.vectors[anns_field]}, the query vector {query.vector.shape[0]}",
                field="native_params.annsField",
            )
        metric = (
            layout.metric
            if anns_field == layout.anns_field
            else await self._metric_of(layout, anns_field)
        )

        text_field = layout.text_field
        if "milvus_text_field" in native:
            text_field = _str_param(native, "milvus_text_field")
            if text_field not in layout.varchar_fields or text_field == layout.pk:
                raise InvalidArgument(
                    f"native_params.milvus_text_field: {text_field!r} is not a VARCHAR field of "
                    f"collection {layout.name!r}",
                    field="native_params.milvus_text_field",
                )

        requested: tuple[str, ...] | None = None
        if "outputFields" in native:
            requested = tuple(_str_list_param(native, "outputFields", allow_empty=True))
            for name in requested:
                known = name == "id" or name in layout.scalars or name in layout.vectors
                if not known and not layout.dynamic:
                    raise InvalidArgument(
                        f"native_params.outputFields: collection {layout.name!r} has no "
                        f"field {name!r}",
                        field="native_params.outputFields",
                    )
        elif "outputFields" in defaults and not layout.vectorgate:
            requested = tuple(
                n
                for n in defaults["outputFields"]
                if n in layout.scalars or n in layout.vectors or layout.dynamic
            )

        native_filter = ""
        if "filter" in native:
            native_filter = _str_param(native, "filter")
            problem = check_native_expression(native_filter)
            if problem:
                raise InvalidArgument(
                    f"native_params.filter: {problem}", field="native_params.filter"
                )
        elif "filter" in defaults and not layout.vectorgate:
            native_filter = defaults["filter"]
        compiled = (
            compile_filter(query.filter, schema=layout.filter_schema()) if query.filter else ""
        )
        expr = and_expressions(native_filter, compiled)

        search_params: dict[str, Any] = {"metric_type": _METRIC_NAMES[metric], "params": {}}
        if "searchParams" in native:
            search_params["params"] = _search_params(
                native["searchParams"], metric, query.top_k, "native_params.searchParams"
            )
        elif "searchParams" in defaults:
            search_params["params"] = dict(defaults["searchParams"].get("params", {}))

        consistency = "Strong"
        if "consistencyLevel" in native:
            consistency = _consistency(native["consistencyLevel"], "native_params.consistencyLevel")
        elif "consistencyLevel" in defaults:
            consistency = defaults["consistencyLevel"]

        partitions: list[str] | None = None
        if "partitionNames" in native:
            partitions = _str_list_param(native, "partitionNames")
            existing = set(
                await self._call(
                    "list_partitions",
                    self._require_client().list_partitions,
                    layout.stored,
                    collection=layout.name,
                )
            )
            missing = [p for p in partitions if p not in existing]
            if missing:
                raise InvalidArgument(
                    f"native_params.partitionNames: collection {layout.name!r} has no "
                    f"partition {missing[0]!r}",
                    field="native_params.partitionNames",
                )

        group_by: str | None = None
        if "groupingField" in native:
            group_by = _str_param(native, "groupingField")
            if group_by not in layout.scalars or layout.scalars[group_by] not in _GROUPABLE_TYPES:
                raise InvalidArgument(
                    f"native_params.groupingField: {group_by!r} is not an integer, string or "
                    f"bool field of collection {layout.name!r}",
                    field="native_params.groupingField",
                )
            if not self._supports_grouping():
                raise Unsupported(
                    backend=BACKEND,
                    operation="native param groupingField",
                    detail=f"Milvus {self._server_version} ignores it (grouping search needs "
                    "Milvus 2.4 or later)",
                )

        output = self._output_fields(layout, query.output, anns_field, text_field, requested)
        return _Plan(
            anns_field=anns_field,
            limit=query.top_k,
            offset=offset,
            filter=expr,
            output_fields=output,
            search_params=search_params,
            consistency_level=consistency,
            text_field=text_field,
            partition_names=partitions,
            group_by_field=group_by,
        )

    def _supports_grouping(self) -> bool:
        if self.is_lite or not self._server_version:
            return True
        match = re.search(r"(\d+)\.(\d+)", self._server_version)
        if match is None:
            return True
        return (int(match.group(1)), int(match.group(2))) >= (2, 4)

    async def _metric_of(self, layout: _Layout, vector_field: str) -> Metric:
        metric, _ = await self._index_of(layout.stored, vector_field, layout.name)
        return metric

    def _output_fields(
        self,
        layout: _Layout,
        output: OutputFields,
        anns_field: str,
        text_field: str | None,
        requested: tuple[str, ...] | None,
    ) -> list[str]:
        fields: list[str] = [layout.pk]
        if output.text and text_field:
            fields.append(text_field)
        if output.vector:
            fields.append(anns_field)
        if output.metadata:
            if requested is not None:
                fields.extend(n for n in requested if n != "id")
            elif layout.vectorgate:
                fields.extend(METADATA_FIELDS.values())
            else:
                fields.extend(n for n in layout.scalars if n not in (layout.pk, text_field))
                if layout.dynamic:
                    fields.append("$meta")
        return list(dict.fromkeys(fields))

    def _default_output(
        self, layout: _Layout, *, text: bool, metadata: bool, vector: bool
    ) -> list[str]:
        return self._output_fields(
            layout,
            OutputFields(text=text, metadata=metadata, vector=vector),
            layout.anns_field,
            layout.text_field,
            None,
        )

    def _hit(
        self, layout: _Layout, plan: _Plan, output: OutputFields, raw: Mapping[str, Any]
    ) -> Hit:
        distance = float(raw["distance"])
        metric = _METRICS_BY_NAME[plan.search_params["metric_type"]]
        canonical = math.sqrt(max(distance, 0.0)) if metric is Metric.L2 else distance
        return self._make_hit(
            layout,
            output,
            raw,
            score=normalise_score(metric, canonical),
            raw_score=distance,
            text_field=plan.text_field,
            vector_field=plan.anns_field,
        )

    def _make_hit(
        self,
        layout: _Layout,
        output: OutputFields,
        raw: Mapping[str, Any],
        *,
        score: float,
        raw_score: float,
        text_field: str | None,
        vector_field: str,
    ) -> Hit:
        entity: Mapping[str, Any] = raw.get("entity") or {}
        # pymilvus keys the hit by the primary key's name (Milvus Lite) or "id" (server).
        pk = raw.get(layout.pk)
        if pk is None:
            pk = raw.get("id", entity.get(layout.pk))
        text = ""
        if output.text and text_field:
            value = entity.get(text_field)
            text = value if isinstance(value, str) else ""
        vector: FloatArray | None = None
        if output.vector and vector_field in entity:
            vector = as_float32(entity[vector_field])
        metadata: Metadata = {}
        if output.metadata:
            skip = {layout.pk, vector_field}
            if text_field:
                skip.add(text_field)
            metadata = output.project(self._metadata(layout, entity, skip))
        return Hit(
            id=str(pk),
            score=score,
            raw_score=raw_score,
            text=text,
            metadata=metadata,
            vector=vector,
        )

    def _metadata(
        self, layout: _Layout, entity: Mapping[str, Any], skip: Iterable[str]
    ) -> Metadata:
        if layout.vectorgate:
            merged: Metadata = {}
            for json_field in METADATA_FIELDS.values():
                values = entity.get(json_field)
                if isinstance(values, Mapping):
                    for key, value in values.items():
                        merged.setdefault(str(key), _metadata_value(value))
            return merged
        skipped = set(skip) | set(layout.vectors)
        out: Metadata = {}
        for key, value in entity.items():
            if key in skipped or value is None:
                continue
            if key == "$meta" and isinstance(value, Mapping):
                for dkey, dvalue in value.items():
                    if dvalue is not None and dkey not in skipped:
                        out.setdefault(str(dkey), _metadata_value(dvalue))
                continue
            out[str(key)] = _metadata_value(value)
        return out

    def _document(self, layout: _Layout, row: Mapping[str, Any], include_vectors: bool) -> Document:
        text = ""
        if layout.text_field:
            value = row.get(layout.text_field)
            text = value if isinstance(value, str) else ""
        vector: FloatArray | None = None
        if include_vectors and layout.anns_field in row:
            vector = as_float32(row[layout.anns_field])
        skip = {layout.pk, layout.anns_field}
        if layout.text_field:
            skip.add(layout.text_field)
        return Document(
            id=str(row[layout.pk]),
            text=text,
            vector=vector,
            metadata=self._metadata(layout, row, skip),
        )

    # ------------------------------------------------------------------ layouts

    def _stored_name(self, name: str, field_name: str) -> str:
        stored = milvus_name(name)
        if len(stored) > _MAX_COLLECTION_NAME:
            raise InvalidArgument(
                f"{field_name}: {name!r} is too long for a Milvus collection name once "
                "'-' and '_' are escaped",
                field=field_name,
            )
        return stored

    async def _read(
        self, layout: _Layout, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T:
        """A read that needs the collection loaded; loads it (again) when Milvus says so."""
        await self._ensure_loaded(layout)
        try:
            return await self._call(what, fn, *args, collection=layout.name, **kwargs)
        except MilvusException as exc:
            if exc.code != 101 and "not loaded" not in _message(exc).lower():
                raise
        self._loaded.discard(layout.name)
        await self._ensure_loaded(layout)
        return await self._call(what, fn, *args, collection=layout.name, **kwargs)

    async def _ensure_loaded(self, layout: _Layout) -> None:
        if layout.name in self._loaded:
            return
        client = self._require_client()
        state = await self._call(
            "get_load_state", client.get_load_state, layout.stored, collection=layout.name
        )
        if str(getattr(state.get("state"), "name", state.get("state"))) != "Loaded":
            await self._call(
                "load_collection", client.load_collection, layout.stored, collection=layout.name
            )
        self._loaded.add(layout.name)

    async def _layout(self, name: str) -> _Layout:
        cached = self._layouts.get(name)
        if cached is not None:
            return cached
        client = self._require_client()
        stored = self._stored_name(name, "collection")
        # Asking first keeps pymilvus from logging a traceback for every unknown name.
        if not await self._call("has_collection", client.has_collection, stored):
            raise NotFound(
                f"collection {name!r} does not exist in store {self.store!r}",
                metadata={"store": self.store, "collection": name},
            )
        described: dict[str, Any] = await self._call(
            "describe_collection", client.describe_collection, stored, collection=name
        )
        layout = await self._parse_layout(name, stored, described)
        self._layouts[name] = layout
        return layout

    async def _parse_layout(self, name: str, stored: str, described: Mapping[str, Any]) -> _Layout:
        pk = ""
        pk_is_int = False
        vectors: dict[str, int] = {}
        scalars: dict[str, DataType] = {}
        string_arrays: set[str] = set()
        nullable: set[str] = set()
        sparse: set[str] = set()
        for fdesc in described.get("fields", []):
            fname = str(fdesc["name"])
            dtype = fdesc["type"]
            if dtype == DataType.ARRAY and fdesc.get("element_type") == DataType.VARCHAR:
                string_arrays.add(fname)
            if fdesc.get("nullable"):
                nullable.add(fname)
            if fdesc.get("is_primary"):
                pk = fname
                pk_is_int = dtype == DataType.INT64
                if not pk_is_int and dtype != DataType.VARCHAR:
                    raise Unsupported(
                        backend=BACKEND, operation=f"primary key of type {dtype.name}"
                    )
            if dtype == DataType.FLOAT_VECTOR:
                vectors[fname] = int(fdesc.get("params", {}).get("dim", 0))
            elif dtype == DataType.SPARSE_FLOAT_VECTOR:
                sparse.add(fname)
            elif dtype in _VECTOR_TYPES:
                continue  # binary / sparse / half-precision vectors are not searchable here
            else:
                scalars[fname] = dtype
        if not vectors:
            raise Unsupported(
                backend=BACKEND,
                operation="collections without a FLOAT_VECTOR field",
                detail=f"collection {name!r}",
            )
        properties = described.get("properties") or {}
        spec = _parse_spec(properties.get(SPEC_PROPERTY))
        if spec is None:
            spec = _parse_spec(_spec_from_description(str(described.get("description", ""))))
        dynamic = bool(described.get("enable_dynamic_field"))
        bm25 = _bm25_outputs(described.get("functions"), sparse)
        if spec is not None and VECTOR_FIELD in vectors and pk == ID_FIELD:
            spec_text = str(spec.get("text_field") or "text")
            index = spec.get("index") or {}
            keyword = spec.get("keyword")
            sparse_field = keyword.get("sparse_field") if isinstance(keyword, Mapping) else None
            return _Layout(
                name=name,
                stored=stored,
                pk=pk,
                pk_is_int=pk_is_int,
                vectors=vectors,
                anns_field=VECTOR_FIELD,
                scalars=scalars,
                text_field=spec_text if spec_text in scalars else None,
                dynamic=dynamic,
                metric=Metric(spec.get("metric", "cosine")),
                index=IndexSpec(
                    type=str(index.get("type", "")), params=dict(index.get("params", {}))
                ),
                vectorgate=True,
                embedding_model=str(spec.get("embedding_model", "")),
                create_time=_parse_time(spec.get("create_time")),
                sparse_fields=frozenset(sparse),
                keyword_field=(
                    sparse_field
                    if isinstance(sparse_field, str) and bm25.get(sparse_field) == spec_text
                    else None
                ),
            )
        anns_field = next(iter(vectors))
        default_anns = self._defaults.values.get("annsField")
        if isinstance(default_anns, str) and default_anns in vectors:
            anns_field = default_anns
        text_field: str | None = None
        for candidate in (self._defaults.values.get("milvus_text_field"), self._text_field, "text"):
            if (
                isinstance(candidate, str)
                and scalars.get(candidate) == DataType.VARCHAR
                and candidate != pk
            ):
                text_field = candidate
                break
        metric, index_spec = await self._index_of(stored, anns_field, name)
        created = described.get("created_timestamp")
        return _Layout(
            name=name,
            stored=stored,
            pk=pk,
            pk_is_int=pk_is_int,
            vectors=vectors,
            anns_field=anns_field,
            scalars=scalars,
            text_field=text_field,
            dynamic=dynamic,
            metric=metric,
            index=index_spec,
            vectorgate=False,
            embedding_model="",
            create_time=_hybrid_time(created),
            string_arrays=frozenset(string_arrays),
            nullable=frozenset(nullable),
            sparse_fields=frozenset(sparse),
            keyword_field=next(
                (out for out, source in bm25.items() if text_field and source == text_field),
                None,
            ),
        )

    async def _index_of(
        self, stored: str, vector_field: str, name: str
    ) -> tuple[Metric, IndexSpec]:
        client = self._require_client()
        fallback = self._metric_default or Metric.COSINE
        names: list[str] = await self._call(
            "list_indexes", client.list_indexes, stored, field_name=vector_field, collection=name
        )
        if not names:
            return fallback, IndexSpec()
        described: dict[str, Any] = await self._call(
            "describe_index", client.describe_index, stored, names[0], collection=name
        )
        metric_name = str(described.get("metric_type", "")).upper()
        metric = _METRICS_BY_NAME.get(metric_name)
        if metric is None:
            raise Unsupported(
                backend=BACKEND,
                operation=f"metric {metric_name or 'unknown'}",
                detail=f"collection {name!r}, vector field {vector_field!r}",
            )
        info_keys = {
            "metric_type",
            "index_type",
            "field_name",
            "index_name",
            "total_rows",
            "indexed_rows",
            "pending_index_rows",
            "state",
        }
        params = {str(k): _maybe_number(v) for k, v in described.items() if k not in info_keys}
        return metric, IndexSpec(type=str(described.get("index_type", "")), params=params)

    # ------------------------------------------------------------------ defaults

    def _validate_defaults(self, raw: Mapping[str, Any]) -> _Defaults:
        """Pick and check the native search parameters among ``native_defaults``."""
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in NATIVE_PARAMS or key == "limit":
                continue  # LiteLLM-only settings, and top_k governs the result count
            where = f"store {self.store!r}: native_defaults.{key}"
            if key == "dbName":
                if value != self.db_name:
                    raise ValueError(f"{where}: {value!r} differs from db_name {self.db_name!r}")
                continue
            if key in {"annsField", "milvus_text_field", "filter"}:
                if not isinstance(value, str) or not value:
                    raise ValueError(f"{where}: expected a non-empty string")
                if key == "filter":
                    problem = check_native_expression(value)
                    if problem:
                        raise ValueError(f"{where}: {problem}")
                values[key] = value
            elif key == "outputFields":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ValueError(f"{where}: expected a list of field names")
                values[key] = list(value)
            elif key == "consistencyLevel":
                try:
                    values[key] = _consistency(value, key)
                except InvalidArgument as exc:
                    raise ValueError(f"{where}: {exc.message}") from exc
            elif key == "searchParams":
                if not isinstance(value, Mapping):
                    raise ValueError(f"{where}: expected a mapping")
                try:
                    params = _search_params(value, None, 1, key)
                except InvalidArgument as exc:
                    raise ValueError(f"{where}: {exc.message}") from exc
                values[key] = {"params": params}
            # offset, groupingField, partitionNames: per-request only
        return _Defaults(values)


# --------------------------------------------------------------------------- helpers


def _message(exc: BaseException) -> str:
    if isinstance(exc, MilvusException):
        return str(exc.message)
    if isinstance(exc, grpc.RpcError):
        details = exc.details() if hasattr(exc, "details") else None
        return str(details or exc)
    return str(exc)


def _scan_page(
    client: MilvusClient,
    collection: str,
    *,
    expr: str,
    output_fields: list[str],
    limit: int,
    timeout: float | None,
) -> list[dict[str, Any]]:
    """The first ``limit`` rows (ascending primary key) matching ``expr``."""
    iterator = client.query_iterator(
        collection,
        batch_size=min(limit, _ITERATOR_BATCH),
        filter=expr,
        output_fields=output_fields,
        timeout=timeout,
    )
    rows: list[dict[str, Any]] = []
    try:
        while len(rows) < limit:
            batch = iterator.next()
            if not batch:
                break
            rows.extend(batch)
    finally:
        iterator.close()
    return rows[:limit]


def _bm25_outputs(functions: object, sparse_fields: Iterable[str]) -> dict[str, str]:
    """Sparse field -> its text field, for each BM25 function of a described collection."""
    out: dict[str, str] = {}
    if not isinstance(functions, list):
        return out
    sparse = set(sparse_fields)
    for function in functions:
        if not isinstance(function, Mapping):
            continue
        kind = function.get("type")
        name = getattr(kind, "name", kind)
        if name != "BM25" and kind != FunctionType.BM25.value:
            continue
        inputs = function.get("input_field_names") or []
        outputs = function.get("output_field_names") or []
        if len(inputs) == 1 and len(outputs) == 1 and outputs[0] in sparse:
            out[str(outputs[0])] = str(inputs[0])
    return out


def _has_full_text(version: str, *, lite: bool) -> bool:
    """Whether an engine reporting ``version`` has BM25 functions.

    Milvus Lite reports ``milvus_lite-X.Y.Z`` (also as ``milvus-lite server``);
    its 3.x line, like servers from 2.5 on, has them. An unparseable version
    of a server counts as without (creating the function would fail).
    """
    match = re.search(r"(\d+)\.(\d+)", version)
    if match is None:
        return lite
    release = (int(match.group(1)), int(match.group(2)))
    return release >= _FULL_TEXT_SERVER


def _ids_filter(ids: Sequence[str]) -> Filter:
    from ..domain import Condition, Op

    return Condition("id", Op.IN, tuple(ids))


def _match_all(schema: FilterSchema) -> str:
    return f"not ({match_nothing(schema)})"


def _checked_type(value: object, path: str) -> FieldType:
    kind = metadata_type(value)
    if kind is None:
        raise InvalidArgument(
            f"{path}: metadata values are strings, numbers, bools or lists of strings",
            field=path,
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgument(f"{path}: numbers must be finite", field=path)
    return kind


def _metadata_value(value: Any) -> MetadataValue:
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return json.dumps(value, sort_keys=True, default=str)


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _maybe_number(value: Any) -> Any:
    if isinstance(value, str):
        if re.fullmatch(r"-?\d+", value):
            return int(value)
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _parse_spec(raw: object) -> dict[str, Any] | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        spec = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(spec, dict) or spec.get("format") != _SPEC_FORMAT:
        return None
    if spec.get("metric") not in {m.value for m in Metric}:
        return None
    return spec


def _spec_from_description(description: str) -> str | None:
    if description.startswith(_DESCRIPTION_PREFIX):
        return description[len(_DESCRIPTION_PREFIX) :]
    return None


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _hybrid_time(value: object) -> datetime | None:
    """A Milvus hybrid timestamp (physical milliseconds << 18) as a datetime."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return None
    return datetime.fromtimestamp((value >> 18) / 1000, UTC)


def _int_param(native: Mapping[str, Any], key: str, *, minimum: int) -> int:
    value = native[key]
    number = _as_int(value)
    if number is None or number < minimum:
        raise InvalidArgument(
            f"native_params.{key}: must be an integer >= {minimum}, got {value!r}",
            field=f"native_params.{key}",
        )
    return number


def _str_param(native: Mapping[str, Any], key: str) -> str:
    value = native[key]
    if not isinstance(value, str) or not value:
        raise InvalidArgument(
            f"native_params.{key}: must be a non-empty string", field=f"native_params.{key}"
        )
    return value


def _str_list_param(native: Mapping[str, Any], key: str, *, allow_empty: bool = False) -> list[str]:
    value = native[key]
    if (
        not isinstance(value, list | tuple)
        or not all(isinstance(v, str) and v for v in value)
        or (not value and not allow_empty)
    ):
        raise InvalidArgument(
            f"native_params.{key}: must be a list of non-empty strings",
            field=f"native_params.{key}",
        )
    return list(value)


def _consistency(value: object, path: str) -> str:
    level = _CONSISTENCY_LEVELS.get(value.lower()) if isinstance(value, str) else None
    if level is None:
        raise InvalidArgument(
            f"{path}: must be one of {', '.join(_CONSISTENCY_LEVELS.values())}, got {value!r}",
            field=path,
        )
    return level


def _search_params(value: object, metric: Metric | None, top_k: int, path: str) -> dict[str, Any]:
    """Validate ``searchParams`` (``{"metric_type": ..., "params": {...}}``); return ``params``."""
    if not isinstance(value, Mapping):
        raise InvalidArgument(
            f"{path}: must be an object with 'metric_type' and/or 'params'", field=path
        )
    unknown = sorted(set(value) - {"metric_type", "params"})
    if unknown:
        raise InvalidArgument(
            f"{path}.{unknown[0]}: unknown key (accepted: metric_type, params)",
            field=f"{path}.{unknown[0]}",
        )
    if "metric_type" in value:
        given = value["metric_type"]
        if not isinstance(given, str) or given.upper() not in _METRICS_BY_NAME:
            raise InvalidArgument(
                f"{path}.metric_type: must be one of COSINE, L2, IP", field=f"{path}.metric_type"
            )
        if metric is not None and _METRICS_BY_NAME[given.upper()] is not metric:
            raise InvalidArgument(
                f"{path}.metric_type: {given!r} differs from the collection's metric "
                f"{_METRIC_NAMES[metric]!r}",
                field=f"{path}.metric_type",
            )
    raw = value.get("params", {})
    if not isinstance(raw, Mapping):
        raise InvalidArgument(f"{path}.params: must be an object", field=f"{path}.params")
    params: dict[str, Any] = {}
    for key, item in raw.items():
        kpath = f"{path}.params.{key}"
        bounds = _SEARCH_PARAMS.get(key)
        if bounds is None:
            raise InvalidArgument(
                f"{kpath}: unknown search parameter "
                f"(accepted: {', '.join(sorted(_SEARCH_PARAMS))})",
                field=kpath,
            )
        low, high, integral = bounds
        if integral:
            number: float | None = _as_int(item)
        elif isinstance(item, int | float) and not isinstance(item, bool) and math.isfinite(item):
            number = float(item)
        else:
            number = None
        if number is None or not low <= number <= high:
            kind = "an integer" if integral else "a finite number"
            raise InvalidArgument(f"{kpath}: must be {kind} in range", field=kpath)
        if key == "ef" and number < top_k:
            raise InvalidArgument(f"{kpath}: must be at least top_k ({top_k})", field=kpath)
        params[key] = number
    return params
