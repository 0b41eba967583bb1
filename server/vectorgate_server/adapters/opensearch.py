"""OpenSearch (k-NN plugin) through ``opensearch-py``'s ``AsyncOpenSearch``.

Index layout (one index per collection)
---------------------------------------

The index name is the collection name, reversibly mapped to OpenSearch's rules
(lower case, no leading ``_``): an upper-case letter ``X`` becomes ``~x`` and a
leading ``_`` becomes ``~_`` (``~`` never occurs in a collection name), after
an optional ``index_prefix``. Settings ``index.knn: true`` (``false`` for a
``FLAT`` collection, which builds no graph) and the mapping::

    dynamic: strict
    _meta: {vectorgate: {<the collection spec>}}
    properties:
      id:       keyword
      text:     text                 (the collection's text_field)
      vector:   knn_vector {dimension, method: {name: hnsw, engine, space_type,
                parameters: {m, ef_construction, ...}}}   (no method for FLAT)
      metadata: object with typed sub-objects str / num / bool / strs
    dynamic_templates: metadata.str.* and metadata.strs.* -> keyword,
                       metadata.num.* -> double, metadata.bool.* -> boolean

The typed metadata layout (see :mod:`vectorgate_server.filters.opensearch`)
keeps filters exact despite OpenSearch's query-value coercion. Metadata keys
are mapped dynamically (``dynamic: true`` below ``metadata`` only), so a new
key needs no mapping update; ``.`` in a key is written ``~``. The spec in
``_meta`` (dimension, metric, text field, embedding model, index spec, create
time) is what ``describe_collection`` returns after a
restart; an index vectorgate did not create is described from its mapping
(its first ``knn_vector`` field, preferring one named ``vector``).

Operations
----------

* Writes use ``_bulk`` with ``refresh=wait_for`` (returns once the documents
  are searchable: read-your-writes); per-item errors become domain errors
  naming the document. Deletes by id use ``_bulk`` too, by filter
  ``_delete_by_query`` with ``refresh=true``. ``upsert`` reads the mapping
  first: OpenSearch would auto-create a missing index on ``index`` actions, and
  the mapping holds the metadata key types (one type per key and collection,
  as on every backend; a whole batch is checked before anything is written).
* ``get`` uses ``_mget``; ``count`` uses ``_count``.
* Search: HNSW collections use the approximate ``knn`` query with the filter
  inside it (efficient filtering: applied during the graph search, never
  after); engines that cannot filter inside the graph (nmslib, faiss before
  2.9) and ``FLAT`` collections use exact k-NN: ``script_score`` with the
  ``knn_score`` script over a ``bool`` filter, which scores only matching
  documents. ``native_params.exact: true`` forces the exact path.
* Keyword search (``keyword_search``): a ``match`` query on the collection's
  text field (analysed by the field's analyzer, ``standard`` for collections
  vectorgate creates; any query word may match) as the ``bool``'s ``must``
  clause, the compiled filter as its ``filter`` clauses (they restrict, they do
  not score), ``size`` = top_k, ``track_total_hits: false``. Scores are
  OpenSearch's ``_score`` (Lucene BM25: positive, higher is better), returned
  as both ``score`` and ``raw_score``. A foreign index needs its text field
  (``text``) mapped as ``text``; otherwise keyword search is ``FailedPrecondition``.

Scores
------

OpenSearch returns a transformed score per space type; :func:`canonical_score`
inverts it exactly (``raw_score`` is the number OpenSearch returned):

* ``l2``: ``s = 1 / (1 + d²)`` -> ``d = sqrt(1/s - 1)``;
* ``innerproduct``: ``s = dot + 1`` if ``dot > 0`` else ``1 / (1 - dot)`` ->
  ``dot = s - 1`` if ``s > 1`` else ``1 - 1/s``;
* ``cosinesimil``: from OpenSearch 2.19 every path returns ``(1 + cos) / 2``
  -> ``cos = 2s - 1``. Before 2.19 the ``knn_score`` script returned
  ``1 + cos`` (-> ``cos = s - 1``) and approximate nmslib / faiss searches
  ``1 / (2 - cos)`` (-> ``cos = 2 - 1/s``); Lucene always ``(1 + cos) / 2``.

The cluster version is read once (``GET /``) to pick the right inversion.
Scores are float32, so the canonical values carry float32 precision (an L2
distance near 0 is known to about ``sqrt(6e-8)``).

Vendor documentation
--------------------

The OpenSearch behaviour this adapter relies on (and the project's OpenSearch
test server emulates), with the page it follows:

* index names lower case, not starting with ``_``:
  https://docs.opensearch.org/latest/api-reference/index-apis/create-index/ (index naming
  restrictions: "must be lowercase", "can't begin with underscores or hyphens");
* ``dynamic: strict`` refuses unmapped fields, ``dynamic`` below an object overrides it:
  https://docs.opensearch.org/latest/mappings/mapping-parameters/dynamic/ ;
  ``_meta`` keeps application data in the mapping:
  https://docs.opensearch.org/latest/mappings/metadata-fields/meta/ ;
* an ``index`` action on a missing index creates it (``action.auto_create_index``):
  https://docs.opensearch.org/latest/api-reference/document-apis/index-document/ ;
* ``_bulk``: per-item results, ``errors: true`` when an item failed, ``refresh=wait_for``
  returns once the writes are visible to search:
  https://docs.opensearch.org/latest/api-reference/document-apis/bulk/ ;
* search sees writes only after a refresh (near real time), while get/mget are real time:
  https://docs.opensearch.org/latest/api-reference/index-apis/refresh/ and
  https://docs.opensearch.org/latest/api-reference/document-apis/get-documents/ (``realtime``);
* ``_delete_by_query`` with ``refresh``:
  https://docs.opensearch.org/latest/api-reference/document-apis/delete-by-query/ ;
* the ``knn`` query with ``filter`` (efficient filtering, applied during the search) and
  ``method_parameters.ef_search``:
  https://docs.opensearch.org/latest/vector-search/filter-search-knn/efficient-knn-filtering/
  and https://docs.opensearch.org/latest/query-dsl/specialized/k-nn/ ;
* exact k-NN with the ``knn_score`` script over a filter:
  https://docs.opensearch.org/latest/vector-search/vector-search-techniques/knn-score-script/ ;
* the score of each space type (the inversions above):
  https://docs.opensearch.org/latest/mappings/supported-field-types/knn-spaces
  ("l2: score = 1 / (1 + d)" with d the squared distance, ...);
* ``match`` scored with BM25 (the default similarity), ``track_total_hits``:
  https://docs.opensearch.org/latest/query-dsl/full-text/match/ and
  https://docs.opensearch.org/latest/api-reference/search-apis/search/ ;
* the cosine scores before 2.19 (the second set of inversions above): approximate
  search "NMSLIB and Faiss: score = 1 / (1 + d); Lucene: score = (2 - d) / 2" and the
  ``knn_score`` script "score = 2 - d", with d = 1 - cos:
  https://docs.opensearch.org/2.18/search-plugins/knn/approximate-knn/ and
  https://docs.opensearch.org/2.18/search-plugins/knn/knn-score-script/ ;
* a zero vector is refused with ``cosinesimil`` ("Requests containing the zero vector will
  be rejected"): https://docs.opensearch.org/latest/mappings/supported-field-types/knn-spaces/ ;
* the version gates: efficient filtering with faiss HNSW "OpenSearch version 2.9 and
  later" (https://docs.opensearch.org/latest/vector-search/filter-search-knn/index/),
  "Starting with version 2.16, you can provide method_parameters in a search request"
  (https://docs.opensearch.org/latest/query-dsl/specialized/k-nn/index/), Lucene
  ``innerproduct`` "supported in OpenSearch 2.13 and later" and faiss ``cosinesimil``
  "supported in OpenSearch 2.19 and later"
  (https://docs.opensearch.org/latest/mappings/supported-field-types/knn-methods-engines/);
* ``index.knn: false`` (``FLAT``) builds no graph, "approximate k-NN search functionality
  will be disabled" and the exact script still works:
  https://docs.opensearch.org/latest/vector-search/settings/ ;
* at most ``index.max_result_window`` (default 10000) hits per search, "The maximum value
  of from + size":
  https://docs.opensearch.org/latest/install-and-configure/configuring-opensearch/index-settings/ ;
* ``scan`` pages with ``sort`` and ``search_after`` ("You can use search_after only when
  sorting is applied"):
  https://docs.opensearch.org/latest/search-plugins/searching-data/paginate/ ;
* ``_mget`` (per-document ``found``) and ``_count``:
  https://docs.opensearch.org/latest/api-reference/document-apis/multi-get/ and
  https://docs.opensearch.org/latest/api-reference/search-apis/count/ ;
* a keyword value longer than Lucene's term limit (32,766 UTF-8 bytes) fails its item:
  https://lucene.apache.org/core/9_12_0/core/org/apache/lucene/index/IndexWriter.html
  (``MAX_TERM_LENGTH``), the engine OpenSearch indexes with.

Requirements: OpenSearch 2.x / 3.x with the k-NN plugin; ``method_parameters``
(``native_params.ef_search``) needs 2.16, Lucene ``innerproduct`` 2.13, faiss
``cosinesimil`` 2.19. AWS SigV4 needs ``botocore``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar, cast

from opensearchpy import AsyncOpenSearch
from opensearchpy import exceptions as os_exc

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
    KeywordQuery,
    Metric,
    Op,
    OutputFields,
    SearchQuery,
    as_float32,
    normalise_score,
)
from ..errors import (
    AlreadyExists,
    BackendAuthFailed,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    Unavailable,
    Unsupported,
    VectorgateError,
)
from ..filters.common import FieldType
from ..filters.opensearch import (
    GROUPS,
    INT_GROUP,
    METADATA_FIELD,
    compile_filter,
    decode_metadata,
    encode_metadata,
    metadata_key,
)
from ..retry import backend_error, http_code
from .base import Capabilities
from .params import positive_int
from .params import validate_native_params as _validate_native_params
from .spec import StoredSpec, decode_spec, encode_spec, new_field_types

if TYPE_CHECKING:
    from ..config import OpenSearchConfig

__all__ = [
    "BACKEND",
    "ENGINES",
    "INDEX_TYPES",
    "NATIVE_PARAMS",
    "SPEC_META_KEY",
    "OpenSearchAdapter",
    "canonical_score",
    "decode_index_name",
    "encode_index_name",
]

log = logging.getLogger(__name__)


class _NoTraceback(logging.Filter):
    """opensearch-py logs each failed request with the transport's traceback; the adapter
    maps the failure itself (a connection error is UNAVAILABLE with the host), so the SDK's
    line is kept and its traceback dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


logging.getLogger("opensearch").addFilter(_NoTraceback())

BACKEND: Final = "opensearch"
#: Key of the collection spec in the index mapping's ``_meta``.
SPEC_META_KEY: Final = "vectorgate"

ID_FIELD: Final = "id"
#: The default ``index.max_result_window``: the most hits one search returns.
_MAX_RESULT_WINDOW: Final = 10_000
#: Largest ``scan`` page.
_MAX_SCAN_PAGE: Final = _MAX_RESULT_WINDOW
VECTOR_FIELD: Final = "vector"
DEFAULT_TEXT_FIELD: Final = "text"

ENGINES: Final = ("lucene", "faiss", "nmslib")
DEFAULT_ENGINE: Final = "lucene"
#: ``IndexSpec.type`` values: HNSW (approximate, the default) or FLAT (exact only).
INDEX_TYPES: Final = frozenset({"HNSW", "FLAT"})
#: HNSW index parameters (all positive integers but ``engine``).
_HNSW_PARAMS: Final = ("engine", "m", "ef_construction", "ef_search")
#: Native search parameters: name -> kind.
NATIVE_PARAMS: Final[Mapping[str, str]] = {"ef_search": "int", "exact": "bool"}

_SPACE_TYPES: Final = {Metric.COSINE: "cosinesimil", Metric.L2: "l2", Metric.IP: "innerproduct"}
_METRIC_OF_SPACE: Final = {v: k for k, v in _SPACE_TYPES.items()}
_RESERVED_TEXT_FIELDS: Final = frozenset({ID_FIELD, VECTOR_FIELD, METADATA_FIELD})
_MAX_INDEX_NAME_BYTES: Final = 255
#: Seconds a cached index layout is trusted before the mapping is read again.
_LAYOUT_TTL_S: Final = 30.0
#: The field an OpenSearch error reason names: ``field [a.b]`` or ``field="a.b"``.
_FIELD_IN_REASON: Final = re.compile(r"field(?: \[([^\]]+)\]|=\"([^\"]+)\")")
#: Errors OpenSearch returns for queries over its size limits (boolean clauses, terms).
_TOO_BIG_QUERY: Final = re.compile(
    r"too_many_nested_clauses|too_many_clauses|maxClauseCount|number of terms \[\d+\] used"
)
_CREDENTIALS_IN_URL: Final = re.compile(r"(//)[^/@\s]+@")
_VERSION_RE: Final = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")

T = TypeVar("T")


# --------------------------------------------------------------------------- names


def encode_index_name(name: str, prefix: str = "") -> str:
    """The index name of collection ``name``: ``X`` -> ``~x``, a leading ``_`` -> ``~_``."""
    out: list[str] = []
    for i, ch in enumerate(name):
        if "A" <= ch <= "Z":
            out.append("~" + ch.lower())
        elif ch == "_" and i == 0:
            out.append("~_")
        else:
            out.append(ch)
    return prefix + "".join(out)


def decode_index_name(index: str, prefix: str = "") -> str | None:
    """The collection name of an index, or None when it is not one vectorgate can name."""
    if not index.startswith(prefix):
        return None
    raw = index[len(prefix) :]
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "~":
            nxt = raw[i + 1 : i + 2]
            if "a" <= nxt <= "z":
                out.append(nxt.upper())
            elif nxt == "_" and i == 0:
                out.append("_")
            else:
                return None
            i += 2
            continue
        if ch == "_" and i == 0:
            return None
        out.append(ch)
        i += 1
    name = "".join(out)
    if not NAME_RE.fullmatch(name) or encode_index_name(name, prefix) != index:
        return None
    return name


# --------------------------------------------------------------------------- scores


def canonical_score(
    metric: Metric,
    raw: float,
    *,
    exact: bool,
    engine: str | None,
    version: tuple[int, int],
) -> float:
    """The canonical value (cosine similarity, Euclidean distance, inner product) of a score.

    ``exact`` says whether the score came from the ``knn_score`` script
    (``script_score``) or the approximate ``knn`` query; ``engine`` and the
    cluster ``version`` matter for cosine before OpenSearch 2.19.
    """
    if metric is Metric.L2:
        if raw <= 0.0:
            return math.inf
        return math.sqrt(max(1.0 / raw - 1.0, 0.0))
    if metric is Metric.IP:
        if raw > 1.0:
            return raw - 1.0
        if raw <= 0.0:
            return -math.inf
        return 1.0 - 1.0 / raw
    modern = version >= (2, 19)
    if exact:
        return 2.0 * raw - 1.0 if modern else raw - 1.0
    if modern or engine == "lucene":
        return 2.0 * raw - 1.0
    if raw <= 0.0:
        return -1.0
    return 2.0 - 1.0 / raw


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True, slots=True)
class _Layout:
    """What the adapter needs to know of one index (read from its mapping and settings)."""

    index: str
    spec: StoredSpec | None
    vector_field: str
    dimension: int
    metric: Metric
    text_field: str
    #: The k-NN method's engine, or None when the field has no ANN graph.
    engine: str | None
    #: Whether the approximate ``knn`` query can run (``index.knn`` and a method).
    ann: bool
    creation_date: datetime | None
    #: Metadata key -> the type its values have in this index (from the mapping).
    types: Mapping[str, FieldType] = field(default_factory=dict)
    #: The mapping type of ``text_field`` (``text`` when it is full-text searchable), or
    #: None when the index does not map it.
    text_type: str | None = None
    loaded_at: float = field(default_factory=time.monotonic)

    @property
    def space_type(self) -> str:
        return _SPACE_TYPES[self.metric]

    @property
    def index_spec(self) -> IndexSpec:
        if self.spec is not None:
            return self.spec.index
        return IndexSpec(type="HNSW" if self.ann else "FLAT", params={})


def validate_index_spec(index: IndexSpec, default_engine: str) -> IndexSpec:
    """The index spec normalised (upper-case type, engine resolved), or ``InvalidArgument``."""
    index_type = index.type.strip().upper() or "HNSW"
    if index_type not in INDEX_TYPES:
        raise InvalidArgument(
            f"collection.index.type: unknown OpenSearch index type {index.type!r} "
            "(accepted: HNSW, FLAT, or empty for HNSW)",
            field="collection.index.type",
        )
    if index_type == "FLAT":
        for key in index.params:
            raise InvalidArgument(
                f"collection.index.params.{key}: index type 'FLAT' (exact k-NN) takes no "
                "parameters",
                field=f"collection.index.params.{key}",
            )
        return IndexSpec(type="FLAT", params={})
    params: dict[str, Any] = {}
    for key, value in index.params.items():
        path = f"collection.index.params.{key}"
        if key not in _HNSW_PARAMS:
            raise InvalidArgument(
                f"{path}: not a parameter of HNSW (accepted: {', '.join(_HNSW_PARAMS)})",
                field=path,
            )
        if key == "engine":
            if not isinstance(value, str) or value.lower() not in ENGINES:
                raise InvalidArgument(
                    f"{path}: must be one of {', '.join(ENGINES)}, got {value!r}", field=path
                )
            params[key] = value.lower()
            continue
        number = positive_int(value)
        if number is None:
            raise InvalidArgument(f"{path}: must be a positive integer, got {value!r}", field=path)
        params[key] = number
    engine = params.setdefault("engine", default_engine)
    if "ef_search" in params and engine == "lucene":
        raise InvalidArgument(
            "collection.index.params.ef_search: the lucene engine has no index-time ef_search "
            "(use native_params.ef_search at search time, or engine faiss / nmslib)",
            field="collection.index.params.ef_search",
        )
    return IndexSpec(type="HNSW", params=dict(sorted(params.items())))


def validate_native_params(params: Mapping[str, Any]) -> dict[str, int | bool]:
    """The native search parameters, validated, or ``InvalidArgument``."""
    return _validate_native_params(params, NATIVE_PARAMS, BACKEND)


def _mapped_type(props: Mapping[str, Any], path: str) -> str | None:
    """The mapping type of the field at dotted ``path`` (``object`` for objects), or None."""
    node: Any = {"properties": props}
    for part in path.split("."):
        children = node.get("properties") if isinstance(node, Mapping) else None
        node = children.get(part) if isinstance(children, Mapping) else None
        if node is None:
            return None
    return str(node.get("type", "object")) if isinstance(node, Mapping) else None


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _error_body(exc: os_exc.TransportError) -> dict[str, Any]:
    """The JSON error body of a failed request (opensearch-py parses it only sometimes)."""
    info = exc.info
    if isinstance(info, Mapping):
        return dict(info)
    error = exc.error
    if isinstance(error, str) and error.lstrip().startswith("{"):
        with contextlib.suppress(ValueError):
            parsed = json.loads(error)
            if isinstance(parsed, dict):
                return parsed
    return {}


def _error_type(body: Mapping[str, Any]) -> str:
    error = body.get("error")
    if isinstance(error, Mapping):
        return str(error.get("type", ""))
    return ""


def _error_reason(body: Mapping[str, Any]) -> str:
    error = body.get("error")
    if isinstance(error, Mapping):
        causes = error.get("root_cause")
        if isinstance(causes, list) and causes and isinstance(causes[0], Mapping):
            return str(causes[0].get("reason", "")) or str(error.get("reason", ""))
        return str(error.get("reason", ""))
    return str(error or "")


def _item_reason(error: Mapping[str, Any]) -> str:
    reason = str(error.get("reason", ""))
    cause = error.get("caused_by")
    if isinstance(cause, Mapping) and cause.get("reason"):
        reason = f"{reason}: {cause['reason']}" if reason else str(cause["reason"])
    return reason


def _parse_version(number: str) -> tuple[int, int]:
    match = _VERSION_RE.search(number)
    if match is None:
        return (99, 0)
    return (int(match.group(1)), int(match.group(2)))


# --------------------------------------------------------------------------- adapter


class OpenSearchAdapter:
    """An OpenSearch cluster (k-NN plugin) as a store."""

    backend = BACKEND

    def __init__(
        self,
        store: str,
        hosts: Sequence[str],
        *,
        http_auth: Any = None,
        connection_class: Any = None,
        verify_certs: bool = True,
        engine: str | None = None,
        space_type: str | None = None,
        timeout_s: float | None = None,
        index_prefix: str = "",
        max_write_batch: int = 500,
        max_retries: int = 0,
    ) -> None:
        """An adapter (not started) on the cluster at ``hosts``.

        ``http_auth`` is a ``(user, password)`` tuple or a request signer
        (``AWSV4SignerAsyncAuth``, which needs ``connection_class``
        ``AsyncHttpConnection``); ``engine`` the default k-NN engine of new
        collections (lucene); ``space_type`` the metric assumed for indexes
        whose mapping names none; ``index_prefix`` namespaces the indexes
        (only indexes with the prefix are collections).
        """
        if engine is not None and engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}")
        if space_type is not None and space_type not in _METRIC_OF_SPACE:
            raise ValueError(
                f"space_type {space_type!r} has no vectorgate metric "
                f"(supported: {', '.join(sorted(_METRIC_OF_SPACE))})"
            )
        if index_prefix and (
            index_prefix != index_prefix.lower() or index_prefix[0] in "_-+" or "~" in index_prefix
        ):
            raise ValueError("index_prefix must be lower case and not start with _, - or +")
        if max_write_batch < 1:
            raise ValueError("max_write_batch must be positive")
        self.store = store
        self.hosts = list(hosts)
        self.engine = engine or DEFAULT_ENGINE
        self.default_space_type = space_type
        self.index_prefix = index_prefix
        self.timeout_s = timeout_s or 30.0
        self._http_auth = http_auth
        self._connection_class = connection_class
        self._verify_certs = verify_certs
        self._max_retries = max_retries
        self.capabilities = Capabilities(
            metrics=frozenset(Metric),
            filter_ops=frozenset(Op),
            filter_boolean=True,
            delete_by_filter=True,
            index_types=INDEX_TYPES,
            max_write_batch=max_write_batch,
            native_params=frozenset(NATIVE_PARAMS),
            keyword_search=True,
            # cosinesimil refuses the zero vector (documented above): the application
            # refuses it first, naming the field.
            zero_vector_refused=frozenset({Metric.COSINE}),
            zero_vector_refused_in_queries=True,
        )
        self._client: AsyncOpenSearch | None = None
        self._layouts: dict[str, _Layout] = {}
        self._version: tuple[int, int] | None = None

    @classmethod
    def from_config(cls, config: OpenSearchConfig) -> OpenSearchAdapter:
        """The adapter of a configured OpenSearch store."""
        from ..errors import BackendUnavailable

        if config.space_type is not None and config.space_type not in _METRIC_OF_SPACE:
            raise BackendUnavailable(
                f"store {config.name!r}: space_type {config.space_type!r} has no vectorgate "
                f"metric (use one of {', '.join(sorted(_METRIC_OF_SPACE))})"
            )
        http_auth: Any = None
        connection_class: Any = None
        auth = config.auth
        if auth is not None and auth.type == "basic":
            assert auth.username is not None and auth.password is not None
            http_auth = (auth.username, auth.password.get_secret_value())
        elif auth is not None and auth.type == "aws_sigv4":
            http_auth, connection_class = _sigv4_auth(config.name, auth.region, auth.service)
        return cls(
            config.name,
            config.hosts,
            http_auth=http_auth,
            connection_class=connection_class,
            verify_certs=config.verify_certs,
            engine=config.engine,
            space_type=config.space_type,
            timeout_s=config.timeout_s,
        )

    def __repr__(self) -> str:
        return f"OpenSearchAdapter(store={self.store!r}, hosts={len(self.hosts)})"

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Create the client (connections are opened on first use)."""
        kwargs: dict[str, Any] = {
            "hosts": self.hosts,
            "verify_certs": self._verify_certs,
            "timeout": self.timeout_s,
            # The gateway's one retry policy (retry.py) retries reads within the caller's
            # deadline: opensearch-py's own retries (to the next node) stay off unless
            # asked for, so they never stack on it.
            "max_retries": self._max_retries,
            "retry_on_timeout": False,
        }
        if self._http_auth is not None:
            kwargs["http_auth"] = self._http_auth
        if self._connection_class is not None:
            kwargs["connection_class"] = self._connection_class
        self._client = AsyncOpenSearch(**kwargs)

    async def close(self) -> None:
        """Close the client's connections. Idempotent."""
        client, self._client = self._client, None
        self._layouts.clear()
        if client is not None:
            await client.close()

    @property
    def client(self) -> AsyncOpenSearch:
        """The client; ``Unavailable`` when the adapter is not started."""
        if self._client is None:
            raise Unavailable(
                f"store {self.store!r} ({BACKEND}) is not open", metadata={"store": self.store}
            )
        return self._client

    # ------------------------------------------------------------------ errors

    def _index_name(self, name: str) -> str:
        index = encode_index_name(name, self.index_prefix)
        if len(index.encode()) > _MAX_INDEX_NAME_BYTES:
            raise InvalidArgument(
                f"collection.name: {name!r} maps to an OpenSearch index name longer than "
                f"{_MAX_INDEX_NAME_BYTES} bytes",
                field="collection.name",
            )
        return index

    def _not_found(self, name: str) -> NotFound:
        self._layouts.pop(name, None)
        return NotFound(
            f"collection {name!r} not found in store {self.store!r}",
            reason="COLLECTION_NOT_FOUND",
            metadata={"collection": name, "store": self.store},
        )

    def _unavailable(self, exc: Exception, what: str) -> Unavailable:
        detail = type(exc).__name__
        if isinstance(exc, os_exc.TransportError) and not isinstance(exc, os_exc.ConnectionError):
            detail = f"HTTP {exc.status_code} {_error_type(_error_body(exc)) or ''}".strip()
        elif isinstance(exc, os_exc.ConnectionTimeout):
            detail = "timed out"
        text = _CREDENTIALS_IN_URL.sub(r"\1***@", detail)
        # Where it tried (credentials in a host URL masked): what an operator fixes.
        hosts = ", ".join(_CREDENTIALS_IN_URL.sub(r"\1***@", host) for host in self.hosts)
        return Unavailable(
            f"store {self.store!r} ({BACKEND}) at {hosts} is unavailable: {what} failed ({text})",
            metadata={"store": self.store, "backend": BACKEND},
        )

    @contextlib.asynccontextmanager
    async def _errors(
        self, what: str, name: str | None = None, *, keyword: bool = False
    ) -> AsyncIterator[None]:
        """Translate client errors into domain errors (``keyword``: of a keyword search)."""
        try:
            yield
        except VectorgateError:
            raise
        except os_exc.ConnectionError as exc:  # includes ConnectionTimeout and SSLError
            raise self._unavailable(exc, what) from exc
        except os_exc.TransportError as exc:
            self._raise_transport(exc, what, name, keyword=keyword)

    def _raise_transport(
        self, exc: os_exc.TransportError, what: str, name: str | None, *, keyword: bool = False
    ) -> NoReturn:
        body = _error_body(exc)
        kind = _error_type(body)
        status = exc.status_code
        if status == 404 and kind == "index_not_found_exception" and name is not None:
            raise self._not_found(name) from exc
        if isinstance(status, int) and (status >= 500 or status in (401, 403, 408, 429)):
            error = backend_error(
                http_code(status),
                store=self.store,
                backend=BACKEND,
                where=f"store {self.store!r} ({BACKEND})",
                cause=f"{what} failed (HTTP {status})",
            )
            if isinstance(error, BackendAuthFailed):
                raise error from exc
            raise self._unavailable(exc, what) from exc
        text = json.dumps(body)
        if status == 400 and keyword and _TOO_BIG_QUERY.search(text) and "Terms Query" not in text:
            # A keyword query has a clause per query word besides the filter's clauses.
            raise InvalidArgument(
                f"text: OpenSearch rejected the keyword query as too large "
                f"({_error_reason(body)}); use fewer words or fewer filter conditions",
                field="text",
            ) from exc
        if status == 400 and _TOO_BIG_QUERY.search(text):
            # Otherwise the only large queries are compiled filters: the filter is too big.
            raise InvalidArgument(
                f"filter: OpenSearch rejected the filter as too large ({_error_reason(body)}); "
                "use fewer conditions or IN values",
                field="filter",
            ) from exc
        log.error("%s: OpenSearch rejected %s: %s %s", self.store, what, status, body or exc)
        raise Internal(f"{what}: OpenSearch returned {status} {kind}".strip()) from exc

    # ------------------------------------------------------------------ cluster

    async def _cluster_version(self) -> tuple[int, int]:
        if self._version is None:
            async with self._errors("reading the cluster version"):
                info = await self.client.info()
            number = str((info.get("version") or {}).get("number", ""))
            self._version = _parse_version(number)
        return self._version

    # ------------------------------------------------------------------ layout

    async def _layout(self, name: str, *, fresh: bool = False) -> _Layout:
        cached = self._layouts.get(name)
        if cached is not None and not fresh and time.monotonic() - cached.loaded_at < _LAYOUT_TTL_S:
            return cached
        index = self._index_name(name)
        async with self._errors("reading the index mapping", name):
            response = await self.client.indices.get(index=index, flat_settings=True)
        entry = response.get(index)
        if not isinstance(entry, Mapping):
            raise self._not_found(name)
        layout = self._parse_layout(name, index, entry)
        self._layouts[name] = layout
        return layout

    def _parse_layout(self, name: str, index: str, entry: Mapping[str, Any]) -> _Layout:
        mappings = entry.get("mappings") or {}
        settings = entry.get("settings") or {}
        props: Mapping[str, Any] = mappings.get("properties") or {}
        meta = mappings.get("_meta") or {}
        spec = decode_spec(meta.get(SPEC_META_KEY)) if isinstance(meta, Mapping) else None
        vector_field = VECTOR_FIELD
        vector_def = props.get(VECTOR_FIELD)
        if not isinstance(vector_def, Mapping) or vector_def.get("type") != "knn_vector":
            vector_field, vector_def = next(
                (
                    (k, v)
                    for k, v in props.items()
                    if isinstance(v, Mapping) and v.get("type") == "knn_vector"
                ),
                ("", None),
            )
        if vector_def is None:
            raise FailedPrecondition(
                f"index {index!r} in store {self.store!r} has no knn_vector field: it is not a "
                "vector collection",
                metadata={"collection": name, "store": self.store},
            )
        method = vector_def.get("method") if isinstance(vector_def.get("method"), Mapping) else None
        knn_on = str(settings.get("index.knn", "false")).lower() == "true"
        created_raw = settings.get("index.creation_date")
        creation = (
            datetime.fromtimestamp(int(created_raw) / 1000, UTC).replace(microsecond=0)
            if created_raw is not None and str(created_raw).isdigit()
            else None
        )
        if spec is not None and spec.metric is not None:
            metric = spec.metric
            text_field = spec.text_field
        else:
            space = (
                (method or {}).get("space_type")
                or vector_def.get("space_type")
                or settings.get("index.knn.space_type")
                or self.default_space_type
                or "l2"
            )
            if space not in _METRIC_OF_SPACE:
                raise Unsupported(
                    backend=BACKEND,
                    operation=f"space type {space!r}",
                    detail=f"index {index!r} uses a space type vectorgate has no metric for",
                )
            metric = _METRIC_OF_SPACE[space]
            text_field = DEFAULT_TEXT_FIELD
        types: dict[str, FieldType] = {}
        metadata_def = props.get(METADATA_FIELD)
        groups = metadata_def.get("properties") if isinstance(metadata_def, Mapping) else None
        for kind, group in GROUPS.items():
            group_def = groups.get(group) if isinstance(groups, Mapping) else None
            keys = group_def.get("properties") if isinstance(group_def, Mapping) else None
            for stored_name in keys if isinstance(keys, Mapping) else ():
                types.setdefault(metadata_key(str(stored_name)), kind)
        return _Layout(
            index=index,
            spec=spec,
            types=types,
            vector_field=vector_field,
            dimension=int(vector_def.get("dimension", 0)),
            metric=metric,
            text_field=text_field,
            engine=str(method.get("engine")) if method and method.get("engine") else None,
            ann=knn_on and method is not None,
            creation_date=creation,
            text_type=_mapped_type(props, text_field),
        )

    # ------------------------------------------------------------------ collections

    def _create_body(self, spec: CollectionSpec, stored: StoredSpec) -> dict[str, Any]:
        vector: dict[str, Any] = {"type": "knn_vector", "dimension": spec.dimension}
        settings: dict[str, Any] = {"knn": stored.index.type == "HNSW"}
        if stored.index.type == "HNSW":
            params = dict(stored.index.params)
            engine = params.pop("engine")
            if engine == "nmslib" and "ef_search" in params:
                settings["knn.algo_param.ef_search"] = params.pop("ef_search")
            vector["method"] = {
                "name": "hnsw",
                "engine": engine,
                "space_type": _SPACE_TYPES[spec.metric],
                "parameters": params,
            }
        groups: dict[str, Any] = {
            group: {"type": "object", "dynamic": True} for group in (*GROUPS.values(), INT_GROUP)
        }
        group_types = {
            FieldType.STRING: "keyword",
            FieldType.STRING_LIST: "keyword",
            FieldType.NUMBER: "double",
            FieldType.BOOL: "boolean",
        }
        templates = [
            {
                f"vectorgate_metadata_{group}": {
                    "path_match": f"{METADATA_FIELD}.{group}.*",
                    "mapping": {"type": group_types[kind]},
                }
            }
            for kind, group in GROUPS.items()
        ]
        templates.append(
            {
                f"vectorgate_metadata_{INT_GROUP}": {
                    "path_match": f"{METADATA_FIELD}.{INT_GROUP}.*",
                    "mapping": {"type": "long"},
                }
            }
        )
        return {
            "settings": {"index": settings},
            "mappings": {
                "dynamic": "strict",
                "_meta": {SPEC_META_KEY: encode_spec(stored)},
                "dynamic_templates": templates,
                "properties": {
                    ID_FIELD: {"type": "keyword"},
                    stored.text_field: {"type": "text"},
                    VECTOR_FIELD: vector,
                    METADATA_FIELD: {"type": "object", "dynamic": True, "properties": groups},
                },
            },
        }

    async def create_collection(self, spec: CollectionSpec) -> CollectionInfo:
        """Create the index with its mapping and spec; ``AlreadyExists`` if present."""
        text_field = spec.text_field or DEFAULT_TEXT_FIELD
        if text_field in _RESERVED_TEXT_FIELDS or text_field.startswith("_"):
            raise InvalidArgument(
                f"collection.text_field: {text_field!r} is reserved in OpenSearch collections",
                field="collection.text_field",
            )
        index_spec = validate_index_spec(spec.index, self.engine)
        stored = StoredSpec.of(
            replace(spec, text_field=text_field),
            index=index_spec,
            create_time=datetime.now(UTC).replace(microsecond=0),
        )
        index = self._index_name(spec.name)
        body = self._create_body(spec, stored)
        async with self._errors("creating the index", spec.name):
            try:
                await self.client.indices.create(index=index, body=body)
            except os_exc.TransportError as exc:
                if not isinstance(exc, os_exc.ConnectionError):
                    self._creation_error(spec.name, exc)
                raise
        self._layouts.pop(spec.name, None)
        return stored.info(spec.name, document_count=0)

    def _creation_error(self, name: str, exc: os_exc.TransportError) -> None:
        body = _error_body(exc)
        kind = _error_type(body)
        if kind == "resource_already_exists_exception":
            raise AlreadyExists(
                f"collection {name!r} already exists in store {self.store!r}",
                reason="COLLECTION_ALREADY_EXISTS",
                metadata={"collection": name, "store": self.store},
            ) from exc
        if exc.status_code == 400:
            # Our mapping is fixed: what OpenSearch rejects is the requested index
            # (engine / space type / parameters this cluster does not support).
            raise InvalidArgument(
                f"collection.index: OpenSearch rejected the index: {_error_reason(body)}",
                field="collection.index",
            ) from exc

    async def describe_collection(self, name: str) -> CollectionInfo:
        """The stored spec and document count (a foreign index: read from its mapping)."""
        layout = await self._layout(name, fresh=True)
        count = await self._count(name, layout, None)
        spec = layout.spec
        if spec is not None:
            return spec.info(
                name,
                dimension=spec.dimension or layout.dimension,
                metric=layout.metric,
                document_count=count,
                create_time=spec.create_time or layout.creation_date,
            )
        return CollectionInfo(
            name=name,
            dimension=layout.dimension,
            metric=layout.metric,
            text_field=layout.text_field,
            index=layout.index_spec,
            document_count=count,
            create_time=layout.creation_date,
        )

    async def list_collections(self) -> list[str]:
        """Indexes with a ``knn_vector`` field whose names map back to collection names."""
        async with self._errors("listing indexes"):
            response = await self.client.indices.get_mapping()
        names: list[str] = []
        for index, entry in response.items():
            name = decode_index_name(str(index), self.index_prefix)
            if name is None or not isinstance(entry, Mapping):
                continue
            props = (entry.get("mappings") or {}).get("properties") or {}
            if any(
                isinstance(v, Mapping) and v.get("type") == "knn_vector" for v in props.values()
            ):
                names.append(name)
        return sorted(names)

    async def drop_collection(self, name: str) -> None:
        """Delete the index."""
        index = self._index_name(name)
        self._layouts.pop(name, None)
        async with self._errors("deleting the index", name):
            await self.client.indices.delete(index=index)

    # ------------------------------------------------------------------ documents

    def _query(self, f: Filter | None, path: str = "filter") -> dict[str, Any]:
        return compile_filter(f, path) if f is not None else {"match_all": {}}

    async def _count(self, name: str, layout: _Layout, f: Filter | None) -> int:
        async with self._errors("counting documents", name):
            response = await self.client.count(index=layout.index, body={"query": self._query(f)})
        return int(response["count"])

    async def count(self, name: str, filter: Filter | None = None) -> int:
        """Documents, optionally matching a filter."""
        self._query(filter)  # validate before any network call
        return await self._count(name, await self._layout(name), filter)

    def _source(self, doc: Document, layout: _Layout, position: int) -> dict[str, Any]:
        array = as_float32(cast(FloatArray, doc.vector))
        return {
            ID_FIELD: doc.id,
            layout.text_field: doc.text,
            layout.vector_field: array.tolist(),
            METADATA_FIELD: encode_metadata(doc.metadata),
        }

    async def upsert(self, name: str, documents: Sequence[Document]) -> None:
        """Index the documents by id (replacing); returns once they are searchable.

        The mapping is read first (OpenSearch would auto-create a missing index
        on the first write, and the mapping has the current metadata key
        types): the whole batch is checked before anything is written.
        """
        layout = await self._layout(name, fresh=True)
        if not documents:
            return
        new_field_types(name, documents, layout.types)
        sources = [self._source(doc, layout, i) for i, doc in enumerate(documents)]
        offset = 0
        batch_size = self.capabilities.max_write_batch
        for chunk in _chunks(list(zip(documents, sources, strict=True)), batch_size):
            body: list[dict[str, Any]] = []
            for doc, source in chunk:
                body.append({"index": {"_index": layout.index, "_id": doc.id}})
                body.append(source)
            async with self._errors("writing documents", name):
                response = await self.client.bulk(body=body, refresh="wait_for")
            self._check_bulk(name, layout, response, offset, "documents")
            offset += len(chunk)

    def _check_bulk(
        self, name: str, layout: _Layout, response: Mapping[str, Any], offset: int, what: str
    ) -> None:
        if not response.get("errors"):
            return
        for i, item in enumerate(response.get("items") or ()):
            result = next(iter(item.values())) if isinstance(item, Mapping) and item else {}
            error = result.get("error") if isinstance(result, Mapping) else None
            if not isinstance(error, Mapping):
                continue
            status = int(result.get("status", 0))
            kind = str(error.get("type", ""))
            position = offset + i
            reason = _item_reason(error)
            if kind == "index_not_found_exception":
                raise self._not_found(name)
            if status >= 500 or status == 429:
                raise Unavailable(
                    f"store {self.store!r} ({BACKEND}) is unavailable: writing {what}[{position}] "
                    f"failed ({status} {kind})",
                    metadata={"store": self.store, "backend": BACKEND},
                )
            if status == 400:
                field_path = self._document_field(layout, position, reason, what)
                raise InvalidArgument(
                    f"{field_path}: OpenSearch rejected the document: {reason}", field=field_path
                )
            log.error("%s: bulk item %s failed: %s", self.store, position, error)
            raise Internal(f"{what}[{position}]: OpenSearch returned {status} {kind}")

    @staticmethod
    def _document_field(layout: _Layout, position: int, reason: str, what: str) -> str:
        base = f"{what}[{position}]"
        match = _FIELD_IN_REASON.search(reason)
        if match is None:
            return base
        path = match.group(1) or match.group(2)
        if path == layout.vector_field:
            return f"{base}.vector"
        if path == layout.text_field:
            return f"{base}.text"
        parts = path.split(".", 2)
        groups = (*GROUPS.values(), INT_GROUP)
        if len(parts) == 3 and parts[0] == METADATA_FIELD and parts[1] in groups:
            return f"{base}.metadata.{metadata_key(parts[2])}"
        return base

    def _document(self, layout: _Layout, hit: Mapping[str, Any], include_vector: bool) -> Document:
        source = hit.get("_source") or {}
        vector = source.get(layout.vector_field) if include_vector else None
        text = source.get(layout.text_field, "")
        return Document(
            id=str(hit["_id"]),
            text=text if isinstance(text, str) else "",
            vector=as_float32(vector) if isinstance(vector, list) else None,
            metadata=decode_metadata(source.get(METADATA_FIELD)),
        )

    async def get(self, name: str, ids: Sequence[str], include_vectors: bool) -> list[Document]:
        """Documents by id in request order (each id once); missing ids omitted."""
        layout = await self._layout(name)
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        params: dict[str, Any] = {}
        if not include_vectors:
            params["_source_excludes"] = layout.vector_field
        found: dict[str, Document] = {}
        for chunk in _chunks(wanted, 1000):
            async with self._errors("reading documents", name):
                response = await self.client.mget(
                    index=layout.index, body={"ids": list(chunk)}, params=params
                )
            for entry in response.get("docs") or ():
                error = entry.get("error")
                if isinstance(error, Mapping):
                    if error.get("type") == "index_not_found_exception":
                        raise self._not_found(name)
                    log.error("%s: mget of %s failed: %s", self.store, entry.get("_id"), error)
                    raise Internal(f"reading documents: OpenSearch returned {error.get('type')}")
                if entry.get("found"):
                    doc = self._document(layout, entry, include_vectors)
                    found[doc.id] = doc
        return [found[i] for i in wanted if i in found]

    async def scan(
        self, name: str, *, after: str | None, limit: int, include_vectors: bool
    ) -> list[Document]:
        """The next ``limit`` (at most 10,000) documents in id order after ``after``.

        Sorted on the ``id`` keyword field (UTF-8 byte order, i.e. code point
        order; sorting on ``_id`` needs fielddata) with ``search_after`` the cursor.
        """
        layout = await self._layout(name)
        if limit <= 0:
            return []
        body: dict[str, Any] = {
            "size": min(limit, _MAX_SCAN_PAGE),
            "query": {"match_all": {}},
            "sort": [{ID_FIELD: "asc"}],
            "track_total_hits": False,
        }
        if after is not None:
            body["search_after"] = [after]
        if not include_vectors:
            body["_source"] = {"excludes": [layout.vector_field]}
        async with self._errors("scanning documents", name):
            response = await self.client.search(index=layout.index, body=body)
        hits = (response.get("hits") or {}).get("hits") or ()
        return [self._document(layout, hit, include_vectors) for hit in hits]

    async def delete(
        self, name: str, ids: Sequence[str] | None = None, filter: Filter | None = None
    ) -> None:
        """Delete documents whose id is in ``ids`` or that match ``filter``."""
        unique = list(dict.fromkeys(ids or ()))
        query = compile_filter(filter, "filter") if filter is not None else None
        layout = await self._layout(name)
        if query is not None:
            if unique:
                query = {
                    "bool": {
                        "should": [{"ids": {"values": unique}}, query],
                        "minimum_should_match": 1,
                    }
                }
            async with self._errors("deleting documents", name):
                await self.client.delete_by_query(
                    index=layout.index, body={"query": query}, refresh=True, conflicts="proceed"
                )
            return
        for chunk in _chunks(unique, self.capabilities.max_write_batch):
            body = [{"delete": {"_index": layout.index, "_id": doc_id}} for doc_id in chunk]
            async with self._errors("deleting documents", name):
                response = await self.client.bulk(body=body, refresh="wait_for")
            self._check_bulk(name, layout, response, 0, "ids")

    # ------------------------------------------------------------------ search

    async def _plan(
        self, name: str, query: SearchQuery
    ) -> tuple[_Layout, dict[str, Any], dict[str, Any] | None, dict[str, Any], bool]:
        """(layout, request body, compiled filter, native params, exact) of a search."""
        params = validate_native_params(query.native_params)
        native_filter = compile_filter(query.filter, "filter") if query.filter is not None else None
        layout = await self._layout(name)
        vector = as_float32(query.vector)
        version = await self._cluster_version()
        filter_in_graph = layout.engine == "lucene" or (
            layout.engine == "faiss" and version >= (2, 9)
        )
        exact = (
            bool(params.get("exact"))
            or not layout.ann
            or (native_filter is not None and not filter_in_graph)
        )
        if "ef_search" in params:
            if exact and (params.get("exact") or not layout.ann):
                raise InvalidArgument(
                    "native_params.ef_search: only applies to approximate (HNSW) search",
                    field="native_params.ef_search",
                )
            if version < (2, 16):
                raise Unsupported(
                    backend=BACKEND,
                    operation="native_params.ef_search",
                    detail="query-time ef_search needs OpenSearch 2.16 or later",
                )
        q = vector.tolist()
        knn_query: dict[str, Any]
        if exact:
            knn_query = {
                "script_score": {
                    "query": native_filter or {"match_all": {}},
                    "script": {
                        "source": "knn_score",
                        "lang": "knn",
                        "params": {
                            "field": layout.vector_field,
                            "query_value": q,
                            "space_type": layout.space_type,
                        },
                    },
                }
            }
        else:
            spec: dict[str, Any] = {"vector": q, "k": query.top_k}
            if native_filter is not None:
                spec["filter"] = native_filter
            if "ef_search" in params:
                spec["method_parameters"] = {"ef_search": params["ef_search"]}
            knn_query = {"knn": {layout.vector_field: spec}}
        body: dict[str, Any] = {
            "size": query.top_k,
            "query": knn_query,
            "_source": self._source_includes(layout, query.output),
        }
        native: dict[str, Any] = {
            "query": "script_score" if exact else "knn",
            "exact": exact,
            "space_type": layout.space_type,
            "size": query.top_k,
            **({"engine": layout.engine} if layout.engine else {}),
            **({} if exact else {"k": query.top_k}),
            **({"ef_search": params["ef_search"]} if "ef_search" in params and not exact else {}),
        }
        return layout, body, native_filter, native, exact

    @staticmethod
    def _source_includes(layout: _Layout, output: OutputFields) -> dict[str, Any] | bool:
        """The ``_source`` of a search: only the fields ``output`` asks for."""
        includes: list[str] = []
        if output.text:
            includes.append(layout.text_field)
        if output.vector:
            includes.append(layout.vector_field)
        if output.metadata:
            includes.append(METADATA_FIELD)
        return {"includes": includes} if includes else False

    async def search(self, name: str, query: SearchQuery) -> list[Hit]:
        """k-NN search with the filter applied inside OpenSearch before ranking."""
        layout, body, _, _, exact = await self._plan(name, query)
        version = await self._cluster_version()
        async with self._errors("searching", name):
            response = await self.client.search(index=layout.index, body=body)
        hits: list[Hit] = []
        for raw_hit in (response.get("hits") or {}).get("hits") or ():
            raw = float(raw_hit["_score"])
            canonical = canonical_score(
                layout.metric, raw, exact=exact, engine=layout.engine, version=version
            )
            doc = self._document(layout, raw_hit, query.output.vector)
            hits.append(
                Hit(
                    id=doc.id,
                    score=normalise_score(layout.metric, canonical),
                    raw_score=raw,
                    text=doc.text if query.output.text else "",
                    metadata=query.output.project(doc.metadata),
                    vector=doc.vector if query.output.vector else None,
                    store=self.store,
                    collection=name,
                )
            )
        return hits[: query.top_k]

    async def keyword_search(self, name: str, query: KeywordQuery) -> list[Hit]:
        """BM25 full-text search on the text field, the filter applied before ranking."""
        native_filter = compile_filter(query.filter, "filter") if query.filter is not None else None
        if query.top_k > _MAX_RESULT_WINDOW:
            raise InvalidArgument(
                f"top_k: OpenSearch returns at most {_MAX_RESULT_WINDOW} hits per search",
                field="top_k",
            )
        if not query.text.strip():
            raise InvalidArgument("text: keyword search needs query text", field="text")
        layout = await self._layout(name)
        if layout.text_type != "text":
            mapped = (
                f"is mapped as {layout.text_type!r}"
                if layout.text_type is not None
                else "is not in its mapping"
            )
            raise FailedPrecondition(
                f"keyword search needs a full-text field: field {layout.text_field!r} of index "
                f"{layout.index!r} in store {self.store!r} {mapped}, not as 'text'",
                metadata={"collection": name, "store": self.store, "field": layout.text_field},
            )
        bool_query: dict[str, Any] = {
            "must": [{"match": {layout.text_field: {"query": query.text}}}]
        }
        if native_filter is not None:
            bool_query["filter"] = [native_filter]
        body: dict[str, Any] = {
            "size": query.top_k,
            "query": {"bool": bool_query},
            "_source": self._source_includes(layout, query.output),
            "track_total_hits": False,
        }
        async with self._errors("keyword searching", name, keyword=True):
            response = await self.client.search(index=layout.index, body=body)
        hits: list[Hit] = []
        for raw_hit in (response.get("hits") or {}).get("hits") or ():
            raw = float(raw_hit["_score"])
            doc = self._document(layout, raw_hit, query.output.vector)
            hits.append(
                Hit(
                    id=doc.id,
                    score=raw,
                    raw_score=raw,
                    text=doc.text if query.output.text else "",
                    metadata=query.output.project(doc.metadata),
                    vector=doc.vector if query.output.vector else None,
                    store=self.store,
                    collection=name,
                )
            )
        return hits[: query.top_k]

    async def explain(self, name: str, query: SearchQuery) -> Explanation:
        """The compiled filter (JSON) and the parameters ``search`` would use."""
        _, _, native_filter, native, _ = await self._plan(name, query)
        text = json.dumps(native_filter, sort_keys=True) if native_filter is not None else ""
        return Explanation(backend=BACKEND, native_filter=text, native_params=native)


# --------------------------------------------------------------------------- AWS SigV4


def _sigv4_auth(store: str, region: str | None, service: str) -> tuple[Any, Any]:
    """(http_auth, connection_class) for AWS SigV4, from the default AWS credential chain.

    opensearch-py's signer uses ``botocore`` (not ``boto3``) to sign; it is
    imported only when a store is configured with ``aws_sigv4``.
    """
    from ..errors import BackendUnavailable

    try:
        import botocore.session
    except ImportError as exc:
        raise BackendUnavailable(
            f"store {store!r}: auth type aws_sigv4 needs the 'botocore' package "
            "(pip install botocore)"
        ) from exc
    from opensearchpy import AsyncHttpConnection, AWSV4SignerAsyncAuth

    session = botocore.session.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise BackendUnavailable(
            f"store {store!r}: aws_sigv4 found no AWS credentials (environment, shared "
            "credentials file, or instance / container role)"
        )
    resolved_region = region or session.get_config_variable("region")
    if not resolved_region:
        raise BackendUnavailable(
            f"store {store!r}: aws_sigv4 needs a region (auth.region or AWS_REGION)"
        )
    return AWSV4SignerAsyncAuth(credentials, resolved_region, service), AsyncHttpConnection
