"""A protocol-faithful Pinecone test server (control plane + REST data plane).

It speaks the JSON shapes of API version ``2026-07``, the version the
``pinecone`` 10.2 SDK sends in ``X-Pinecone-Api-Version``, over plain HTTP on
127.0.0.1 (Starlette app served by uvicorn in a background thread):

Control plane (the ``host=`` of :class:`pinecone.AsyncPinecone`)
    ``POST /indexes``, ``GET /indexes``, ``GET /indexes/{name}``,
    ``DELETE /indexes/{name}``: index models with ``schema`` /
    ``deployment`` / ``status`` / ``tags``; names, schemas and tags validated
    like Pinecone (400 ``INVALID_ARGUMENT``), 409 ``ALREADY_EXISTS``, 404
    ``NOT_FOUND``. A new index reports ``Initializing`` until
    ``ready_after`` seconds have passed.

Data plane (one index host per index: ``{url}/data/{name}-{project}``)
    ``/vectors/upsert``, ``/query``, ``/vectors/fetch``,
    ``/vectors/fetch_by_metadata``, ``/vectors/delete``,
    ``/describe_index_stats``, ``/vectors/list``, with namespaces, exact
    (numpy) search, Pinecone's scores (cosine similarity, *squared* Euclidean
    distance, dot product), Pinecone's metadata filter language, and its
    limits (1,000 vectors and 2 MB per upsert, 40 KB metadata per vector,
    512-character ASCII ids, ``$in`` lists of 10,000 values).

Consistency
    Pinecone is eventually consistent. Writes get a log sequence number
    (``x-pinecone-request-lsn`` response header) and become visible to every
    read only ``visibility_delay`` seconds later; queries report how far the
    index has caught up in ``x-pinecone-max-indexed-lsn``.

Filter semantics (Pinecone's documented ones, which is why vectorgate needs a
typed layout, see :mod:`vectorgate_server.filters.pinecone`): a list of
strings "takes on" each of its values for ``$eq``/``$ne``/``$in``/``$nin``;
``$ne``/``$nin`` only match records that have the field; ``$in``/``$nin``
take strings and numbers; ranges compare numbers; ``$exists`` tests presence.

Each API key is one project with its own indexes (:meth:`PineconeTestServer.project_key`).
Every request must carry an ``Api-Key`` of a registered project, as Pinecone
requires. ``X-Pinecone-Api-Version`` may be omitted (Pinecone then picks a
default version; this server answers in the one version it speaks); another
version is refused as not emulated. The headers each request carried are
recorded (:attr:`PineconeTestServer.seen`) for tests to assert what the SDK sends.

Honesty: every refusal goes through :func:`data_error` / :func:`control_error`
with its source (:mod:`tests.servers.citations`): a :class:`Cite` of the Pinecone
documentation stating the rule, or :class:`NotEmulated` for what this server
does not implement (said so in the message, never presented as Pinecone's
rule), or :class:`Harness` for fault injection.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.servers.citations import Cite, Harness, NotEmulated, Source, check_source

API_VERSION = "2026-07"
MAX_UPSERT_VECTORS = 1000
MAX_REQUEST_BYTES = 2 * 1024 * 1024
MAX_METADATA_BYTES = 40 * 1024
MAX_ID_LENGTH = 512
MAX_TOP_K = 10_000
MAX_TOP_K_WITH_DATA = 1000
MAX_FETCH_IDS = 1000
MAX_IN_VALUES = 10_000
MAX_DIMENSION = 20_000
LIST_LIMIT_MAX = 100
FETCH_BY_METADATA_LIMIT_MAX = 10_000
DEFAULT_NAMESPACE = "__default__"
METRICS = frozenset({"cosine", "euclidean", "dotproduct"})
DENSE_FIELD = "_values"

_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,43}[a-z0-9])?$")
_TAG_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_FIELD_OPS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"})

# --------------------------------------------------------------------------- sources
# The Pinecone documentation each rule below follows (statements quoted or closely
# paraphrased; "(table)" marks a row of a limits table).

AUTH = Cite(
    "https://docs.pinecone.io/docs/authentication",
    "All requests to Pinecone APIs must contain a valid API key for the target project.",
)
ERRORS = Cite(
    "https://docs.pinecone.io/reference/api/errors",
    "400 INVALID_ARGUMENT: the request has invalid parameters (not of the documented "
    "request schema); 404 NOT_FOUND: the resource does not exist.",
)
INDEX_NAME = Cite(
    "https://docs.pinecone.io/troubleshooting/restrictions-on-index-names",
    "Index names can only use UTF-8 lowercase alphanumeric Latin characters and dashes; "
    "(identifier limits table) at most 45 characters, starting and ending alphanumeric.",
)
DENSE_DIMENSION = Cite(
    "https://www.pinecone.io/docs/limits/",
    "Max dimensionality for dense vectors is 20,000.",
)
METRICS_DOC = Cite(
    "https://docs.pinecone.io/guides/index-data/create-an-index",
    "The similarity metric of a dense index is cosine, euclidean or dotproduct.",
)
INDEX_EXISTS = Cite(
    "https://docs.pinecone.io/reference/api/2025-10/control-plane/create_index",
    "409 ALREADY_EXISTS: Index of given name already exists.",
)
INDEX_NOT_FOUND = Cite(
    "https://docs.pinecone.io/reference/api/2025-10/control-plane/describe_index",
    "404 NOT_FOUND: Index not found.",
)
DELETION_PROTECTION = Cite(
    "https://docs.pinecone.io/guides/manage-data/manage-indexes",
    "When deletion protection is enabled, the index cannot be deleted (403 FORBIDDEN).",
)
TAGS = Cite(
    "https://docs.pinecone.io/guides/manage-data/manage-indexes",
    "Tag keys are at most 80 characters (alphanumeric, '_' or '-'); tag values at most 120.",
)
UPSERT_LIMITS = Cite(
    "https://docs.pinecone.io/reference/api/database-limits/operation-limits",
    "(table) Max batch size for records with vectors: 1,000 records, up to 2 MB total.",
)
RECORD_ID = Cite(
    "https://docs.pinecone.io/reference/api/database-limits/identifier-limits",
    "(table) Record id: max 512 characters, ASCII except \\0, cannot be empty.",
)
NON_ZERO = Cite(
    "https://www.pinecone.io/docs/limits/",
    "Dense vectors must contain at least one non-zero value.",
)
VECTOR_DIMENSION = Cite(
    "https://docs.pinecone.io/guides/index-data/create-an-index",
    "A dense index stores dense vectors of the dimension it is created with.",
)
METADATA = Cite(
    "https://www.pinecone.io/docs/metadata-filtering/",
    "Metadata values are strings, numbers, booleans or lists of strings; null metadata "
    "values are not supported; Pinecone supports 40kb of metadata per vector.",
)
METADATA_KEYS = Cite(
    "https://docs.pinecone.io/guides/index-data/indexing-overview",
    "Metadata keys must be strings and must not start with a $.",
)
TOP_K = Cite("https://docs.pinecone.io/docs/query-data", "Max top_k value: 10,000.")
TOP_K_WITH_DATA = Cite(
    "https://www.pinecone.io/docs/limits/",
    "Max value for top_k when include_metadata or include_values is true is 1,000 "
    "(the limits page the 2026-07 SDK's API grew from; newer pages state a 4 MB result "
    "size instead).",
)
FILTER = Cite(
    "https://docs.pinecone.io/guides/search/filter-by-metadata",
    "Operators $eq/$ne (number, string, boolean), $gt/$gte/$lt/$lte (number), "
    "$in/$nin (string, number), $exists (boolean), combined with $and / $or.",
)
FILTER_IN = Cite(
    "https://docs.pinecone.io/reference/api/database-limits/operation-limits",
    "(table, metadata filter limits) Max values for $in / $nin: 10,000.",
)
FETCH_DELETE = Cite(
    "https://www.pinecone.io/docs/limits/", "Max vectors per fetch or delete request is 1,000."
)
STATS_FILTER = Cite(
    "https://docs.pinecone.io/reference/api/2025-10/data-plane/describeindexstats",
    "Serverless indexes do not support filtering describe_index_stats.",
)
LIST_LIMIT = Cite(
    "https://docs.pinecone.io/guides/manage-data/list-record-ids",
    "list returns up to 100 IDs per page (limit, default 100).",
)
INJECTED = Harness("fail_next: injected failures")


class ApiFailure(Exception):
    """An error response."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


def _message(message: str, source: Source) -> str:
    source = check_source(source)
    return source.message(message) if isinstance(source, NotEmulated) else message


def control_error(status: int, code: str, message: str, source: Source) -> ApiFailure:
    """Control-plane error shape: ``{"error": {"code", "message"}, "status"}``.

    ``source`` says where the refusal comes from (:mod:`tests.servers.citations`).
    """
    message = _message(message, source)
    return ApiFailure(status, {"error": {"code": code, "message": message}, "status": status})


#: gRPC status codes the data plane reports in its error bodies.
_GRPC_CODES = {400: 3, 401: 16, 404: 5, 413: 3, 429: 8, 500: 13, 503: 14}


def data_error(status: int, message: str, source: Source) -> ApiFailure:
    """Data-plane error shape: ``{"code": <grpc code>, "message", "details": []}``.

    ``source`` says where the refusal comes from (:mod:`tests.servers.citations`).
    """
    message = _message(message, source)
    return ApiFailure(
        status, {"code": _GRPC_CODES.get(status, 2), "message": message, "details": []}
    )


# --------------------------------------------------------------------------- filters


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same_scalar(a: object, b: object) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return float(a) == float(b)  # type: ignore[arg-type]
    return isinstance(a, str) and isinstance(b, str) and a == b


_EMPTY_FILTER = NotEmulated(
    "empty $and/$or lists, $in/$nin lists or field conditions (the filter documentation "
    "does not say how Pinecone treats them)"
)


def validate_filter(flt: object, depth: int = 0) -> None:
    """Raise a 400 for a filter Pinecone would reject."""
    if not isinstance(flt, dict):
        raise data_error(
            400, f"Invalid filter: expected an object, got {type(flt).__name__}", FILTER
        )
    for key, cond in flt.items():
        if key in ("$and", "$or"):
            if not isinstance(cond, list):
                raise data_error(400, f"Invalid filter: {key} requires an array", FILTER)
            if not cond:
                raise data_error(400, f"Invalid filter: empty {key}", _EMPTY_FILTER)
            for item in cond:
                validate_filter(item, depth + 1)
            continue
        if key.startswith("$"):
            raise data_error(400, f"Invalid filter: unknown operator {key}", FILTER)
        if not isinstance(cond, dict):
            _check_scalar("$eq", cond)
            continue
        if not cond:
            raise data_error(400, f"Invalid filter: empty condition for field {key}", _EMPTY_FILTER)
        for op, value in cond.items():
            if op not in _FIELD_OPS:
                raise data_error(400, f"Invalid filter: unsupported operator {op}", FILTER)
            if op in ("$in", "$nin"):
                if not isinstance(value, list):
                    raise data_error(400, f"Invalid filter: {op} requires an array", FILTER)
                if not value:
                    raise data_error(400, f"Invalid filter: empty {op}", _EMPTY_FILTER)
                if len(value) > MAX_IN_VALUES:
                    raise data_error(
                        400,
                        f"Invalid filter: {op} accepts at most {MAX_IN_VALUES} values",
                        FILTER_IN,
                    )
                for item in value:
                    if not (isinstance(item, str) or _is_number(item)):
                        raise data_error(
                            400, f"Invalid filter: {op} values must be strings or numbers", FILTER
                        )
            elif op == "$exists":
                if not isinstance(value, bool):
                    raise data_error(400, "Invalid filter: $exists requires a boolean", FILTER)
            elif op in ("$gt", "$gte", "$lt", "$lte"):
                if not _is_number(value):
                    raise data_error(400, f"Invalid filter: {op} requires a number", FILTER)
            else:
                _check_scalar(op, value)


def _check_scalar(op: str, value: object) -> None:
    if not (isinstance(value, str | bool) or _is_number(value)):
        raise data_error(400, f"Invalid filter: {op} requires a string, number or boolean", FILTER)


def matches(flt: Mapping[str, Any], metadata: Mapping[str, Any]) -> bool:
    """Pinecone's filter semantics on one record's metadata (``flt`` validated)."""
    for key, cond in flt.items():
        if key == "$and":
            if not all(matches(c, metadata) for c in cond):
                return False
        elif key == "$or":
            if not any(matches(c, metadata) for c in cond):
                return False
        else:
            ops = cond if isinstance(cond, dict) else {"$eq": cond}
            present = key in metadata
            value = metadata.get(key)
            for op, arg in ops.items():
                if not _field_matches(op, arg, present, value):
                    return False
    return True


def _field_matches(op: str, arg: Any, present: bool, value: Any) -> bool:
    if op == "$exists":
        return present is arg
    if not present:
        return False  # every other operator, $ne and $nin included, needs the field
    # A list of strings takes on each of its values.
    values = value if isinstance(value, list) else [value]
    if op == "$eq":
        return any(_same_scalar(v, arg) for v in values)
    if op == "$ne":
        return not any(_same_scalar(v, arg) for v in values)
    if op == "$in":
        return any(_same_scalar(v, a) for v in values for a in arg)
    if op == "$nin":
        return not any(_same_scalar(v, a) for v in values for a in arg)
    if isinstance(value, list) or not _is_number(value):
        return False
    number = float(value)
    if op == "$gt":
        return number > arg
    if op == "$gte":
        return number >= arg
    if op == "$lt":
        return number < arg
    return number <= arg


# --------------------------------------------------------------------------- state


@dataclass
class Record:
    values: np.ndarray
    metadata: dict[str, Any]


@dataclass
class IndexState:
    name: str
    dimension: int
    metric: str
    host_id: str
    deployment: dict[str, Any]
    deletion_protection: str
    tags: dict[str, str] | None
    ready_at: float
    #: Visible data: namespace -> id -> record.
    namespaces: dict[str, dict[str, Record]] = field(default_factory=dict)
    #: Committed writes not yet visible: (lsn, visible_at, apply).
    pending: list[tuple[int, float, Callable[[], None]]] = field(default_factory=list)
    lsn: int = 0
    indexed_lsn: int = 0

    def reconcile(self, now: float) -> None:
        while self.pending and self.pending[0][1] <= now:
            lsn, _, apply = self.pending.pop(0)
            apply()
            self.indexed_lsn = lsn

    def namespace(self, name: str) -> dict[str, Record]:
        return self.namespaces.setdefault(name, {})


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]


_OTHER_VERSIONS = NotEmulated(f"API versions other than {API_VERSION}")
_VECTOR_INDEXES_ONLY = NotEmulated(
    "indexes other than one dense_vector field named '_values' (the SDK's vector API)"
)
_MANAGED_ONLY = NotEmulated("deployments other than managed (serverless)")
_DEDICATED_READ_NODES = NotEmulated("dedicated read nodes (scanFactor, maxCandidates)")
_EMPTY_IDS = NotEmulated("requests with an empty ids list")
_SELECTORS = NotEmulated("delete requests with no or several of ids, deleteAll and filter")
_FETCH_BY_METADATA_LIMIT = NotEmulated(
    f"fetch_by_metadata limits outside [1, {FETCH_BY_METADATA_LIMIT_MAX}]"
)
_TOKENS = NotEmulated("pagination tokens it did not issue")


class PineconeTestServer:
    """The server; use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        *,
        api_key: str = "pc-test-key",
        visibility_delay: float = 0.02,
        ready_after: float = 0.05,
    ) -> None:
        #: The key of the default project (:attr:`indexes`).
        self.api_key = api_key
        self.visibility_delay = visibility_delay
        self.ready_after = ready_after
        self._lock = threading.RLock()
        #: API key -> (project id, index name -> index). A key is one project, as on Pinecone.
        self.projects: dict[str, tuple[str, dict[str, IndexState]]] = {}
        self.add_project(api_key)
        #: The project of the request being handled.
        self._project: tuple[str, dict[str, IndexState]] = self.projects[api_key]
        self.seen: list[Seen] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.port = 0
        #: Status codes to answer the next requests with (fault injection).
        self.fail_next: list[int] = []

    # -- lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> PineconeTestServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._sock = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app(), log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("pinecone test server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(30)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    @property
    def indexes(self) -> dict[str, IndexState]:
        """The indexes of the default project."""
        return self.projects[self.api_key][1]

    def add_project(self, api_key: str) -> str:
        """Register an API key for a new, empty project (no-op if known)."""
        with self._lock:
            if api_key not in self.projects:
                project_id = hashlib.sha256(api_key.encode()).hexdigest()[:7]
                self.projects[api_key] = (project_id, {})
        return api_key

    def project_key(self, label: str) -> str:
        """The API key of the project named ``label`` (created empty on first use)."""
        return self.add_project("pc-" + hashlib.sha256(label.encode()).hexdigest()[:32])

    def reset(self) -> None:
        """Forget every project but the default one, and empty that."""
        with self._lock:
            self.projects = {self.api_key: self.projects[self.api_key]}
            self.indexes.clear()
            self.seen.clear()
            self.fail_next.clear()

    # -- app

    def app(self) -> Starlette:
        routes = [
            Route("/indexes", self._guard(self.create_index), methods=["POST"]),
            Route("/indexes", self._guard(self.list_indexes), methods=["GET"]),
            Route("/indexes/{name}", self._guard(self.describe_index), methods=["GET"]),
            Route("/indexes/{name}", self._guard(self.delete_index), methods=["DELETE"]),
            Route("/data/{host}/vectors/upsert", self._guard(self.upsert), methods=["POST"]),
            Route("/data/{host}/query", self._guard(self.query), methods=["POST"]),
            Route("/data/{host}/vectors/fetch", self._guard(self.fetch), methods=["GET"]),
            Route(
                "/data/{host}/vectors/fetch_by_metadata",
                self._guard(self.fetch_by_metadata),
                methods=["POST"],
            ),
            Route("/data/{host}/vectors/delete", self._guard(self.delete), methods=["POST"]),
            Route("/data/{host}/describe_index_stats", self._guard(self.stats), methods=["POST"]),
            Route("/data/{host}/vectors/list", self._guard(self.list_vectors), methods=["GET"]),
        ]
        return Starlette(routes=routes)

    def _guard(
        self, handler: Callable[[Request, bytes], tuple[int, Any, dict[str, str]]]
    ) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            body = await request.body()
            data_plane = request.url.path.startswith("/data/")
            with self._lock:
                self.seen.append(
                    Seen(
                        request.method,
                        request.url.path,
                        {k.lower(): v for k, v in request.headers.items()},
                    )
                )
                try:
                    if self.fail_next:
                        status = self.fail_next.pop(0)
                        if data_plane:
                            raise data_error(status, "injected failure", INJECTED)
                        raise _ctl_err(status, "injected failure", INJECTED)
                    self._check_headers(request, data_plane)
                    status, payload, headers = handler(request, body)
                except ApiFailure as failure:
                    return Response(
                        orjson.dumps(failure.body),
                        status_code=failure.status,
                        media_type="application/json",
                    )
            content = b"" if payload is None else orjson.dumps(payload)
            return Response(
                content, status_code=status, media_type="application/json", headers=headers
            )

        return endpoint

    def _check_headers(self, request: Request, data_plane: bool) -> None:
        key = request.headers.get("api-key")
        if key is None or key not in self.projects:
            if data_plane:
                raise data_error(401, "Invalid API Key", AUTH)
            raise control_error(401, "UNAUTHENTICATED", "Invalid API Key", AUTH)
        # Without the header Pinecone answers in a default version
        # (https://docs.pinecone.io/reference/api/versioning: "If you don't, requests
        # default to the oldest supported stable version"); this server knows one.
        version = request.headers.get("x-pinecone-api-version")
        if version is not None and version != API_VERSION:
            message = f"Unsupported API version {version!r}"
            if data_plane:
                raise data_error(400, message, _OTHER_VERSIONS)
            raise _ctl_err(400, message, _OTHER_VERSIONS)
        self._project = self.projects[key]

    # -- control plane

    def _model(self, idx: IndexState) -> dict[str, Any]:
        ready = time.monotonic() >= idx.ready_at
        model: dict[str, Any] = {
            "name": idx.name,
            "status": {"ready": ready, "state": "Ready" if ready else "Initializing"},
            "schema": {
                "fields": {
                    DENSE_FIELD: {
                        "type": "dense_vector",
                        "dimension": idx.dimension,
                        "metric": idx.metric,
                    }
                }
            },
            "deployment": idx.deployment,
            "deletion_protection": idx.deletion_protection,
            "host": f"{self.url}/data/{idx.host_id}",
        }
        if idx.tags:
            model["tags"] = dict(idx.tags)
        return model

    def create_index(self, request: Request, body: bytes) -> tuple[int, Any, dict[str, str]]:
        data = _json(body, control=True)
        name = data.get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise control_error(
                400,
                "INVALID_ARGUMENT",
                "Name must consist of lower case alphanumeric characters or '-', start and "
                "end with an alphanumeric character, and be 1 to 45 characters long",
                INDEX_NAME,
            )
        schema = data.get("schema")
        fields = schema.get("fields") if isinstance(schema, dict) else None
        if not isinstance(fields, dict) or set(fields) != {DENSE_FIELD}:
            raise control_error(
                400,
                "INVALID_ARGUMENT",
                f"schema.fields must declare exactly the {DENSE_FIELD!r} dense_vector field",
                _VECTOR_INDEXES_ONLY,
            )
        dense = fields[DENSE_FIELD]
        dimension = dense.get("dimension") if isinstance(dense, dict) else None
        metric = dense.get("metric", "cosine") if isinstance(dense, dict) else None
        if not isinstance(dense, dict) or dense.get("type") != "dense_vector":
            raise control_error(
                400, "INVALID_ARGUMENT", "the field must be a dense_vector", _VECTOR_INDEXES_ONLY
            )
        if (
            not isinstance(dimension, int)
            or isinstance(dimension, bool)
            or not 1 <= dimension <= MAX_DIMENSION
        ):
            raise control_error(
                400,
                "INVALID_ARGUMENT",
                f"dimension must be an integer in [1, {MAX_DIMENSION}]",
                DENSE_DIMENSION,
            )
        if metric not in METRICS:
            raise control_error(
                400,
                "INVALID_ARGUMENT",
                "metric must be one of cosine, euclidean, dotproduct",
                METRICS_DOC,
            )
        tags = data.get("tags")
        if tags is not None:
            _check_tags(tags)
        deployment = data.get("deployment") or {
            "deployment_type": "managed",
            "cloud": "aws",
            "region": "us-east-1",
        }
        if not isinstance(deployment, dict) or deployment.get("deployment_type") != "managed":
            raise control_error(400, "INVALID_ARGUMENT", "unsupported deployment", _MANAGED_ONLY)
        project_id, indexes = self._project
        if name in indexes:
            raise control_error(
                409, "ALREADY_EXISTS", f"Resource {name} already exists", INDEX_EXISTS
            )
        idx = IndexState(
            name=name,
            dimension=dimension,
            metric=metric,
            # A new host for every index, as on Pinecone (a recreated index moves).
            host_id=f"{name}-{project_id}{secrets.token_hex(2)}",
            deployment=dict(deployment),
            deletion_protection=data.get("deletion_protection") or "disabled",
            tags=dict(tags) if tags else None,
            ready_at=time.monotonic() + self.ready_after,
        )
        indexes[name] = idx
        return 201, self._model(idx), {}

    def list_indexes(self, request: Request, body: bytes) -> tuple[int, Any, dict[str, str]]:
        return 200, {"indexes": [self._model(i) for i in self._project[1].values()]}, {}

    def _index(self, name: str) -> IndexState:
        idx = self._project[1].get(name)
        if idx is None:
            raise control_error(404, "NOT_FOUND", f"Resource {name} not found", INDEX_NOT_FOUND)
        return idx

    def describe_index(self, request: Request, body: bytes) -> tuple[int, Any, dict[str, str]]:
        return 200, self._model(self._index(request.path_params["name"])), {}

    def delete_index(self, request: Request, body: bytes) -> tuple[int, Any, dict[str, str]]:
        idx = self._index(request.path_params["name"])
        if idx.deletion_protection == "enabled":
            raise control_error(
                403,
                "FORBIDDEN",
                f"Deletion protection is enabled for index {idx.name!r}",
                DELETION_PROTECTION,
            )
        del self._project[1][idx.name]
        return 202, None, {}

    # -- data plane

    def _host(self, request: Request) -> IndexState:
        host = request.path_params["host"]
        for key, (_, indexes) in self.projects.items():
            for idx in indexes.values():
                if idx.host_id != host:
                    continue
                if self._project is not self.projects[key]:
                    raise data_error(401, "Invalid API Key for this index", AUTH)
                idx.reconcile(time.monotonic())
                return idx
        raise data_error(404, "Not Found", ERRORS)

    def _commit(self, idx: IndexState, apply: Callable[[], None]) -> dict[str, str]:
        idx.lsn += 1
        idx.pending.append((idx.lsn, time.monotonic() + self.visibility_delay, apply))
        if self.visibility_delay <= 0:
            idx.reconcile(time.monotonic())
        return {"x-pinecone-request-lsn": str(idx.lsn)}

    def upsert(self, request: Request, body: bytes) -> tuple[int, Any, dict[str, str]]:
        idx = self._host(request)
        if len(body) > MAX_REQUEST_BYTES:
            raise data_error(
                413,
                f"Request size {len(body)} bytes exceeds the maximum supported size of "
                f"{MAX_REQUEST_BYTES} bytes",
                UPSERT_LIMITS,
            )
        data = _json(body)
        vectors = data.get("vectors")
        if not isinstance(vectors, list) or not vectors:
            raise data_error(400, "vectors must be a non-empty array", ERRORS)
        if len(vectors) > MAX_UPSERT_VECTORS:
            raise data_error(
                400,
                f"Upsert request has {len(vectors)} vectors; the maximum is "
                f"{MAX_UPSERT_VECTORS} per request",
                UPSERT_LIMITS,
            )
        namespace = _namespace(data.get("namespace"))
        records: list[tuple[str, Record]] = []
        for i, vec in enumerate(vectors):
            if not isinstance(vec, dict):
                raise data_error(400, f"vectors[{i}] must be an object", ERRORS)
            vid = vec.get("id")
            _check_id(vid)
            values = vec.get("values")
            if not isinstance(values, list) or not all(_is_number(v) for v in values):
                raise data_error(400, f"vectors[{i}].values must be an array of numbers", ERRORS)
            if len(values) != idx.dimension:
                raise data_error(
                    400,
                    f"Vector dimension {len(values)} does not match the dimension of the "
                    f"index {idx.dimension}",
                    VECTOR_DIMENSION,
                )
            # (JSON has no NaN or infinity: non-finite values cannot arrive.)
            array = np.asarray(values, dtype=np.float32)
            if not np.any(array):
                raise data_error(
                    400, "Dense vectors must contain at least one non-zero value", NON_ZERO
                )
            metadata = vec.get("metadata") or {}
            _check_metadata(metadata, vid)
            # Pinecone stores every number as a 64-bit float.
            stored = {k: float(v) if _is_number(v) else v for k, v in metadata.items()}
            records.append((vid, Record(array, stored)))

        def apply() -> None:
            ns = idx.namespace(namespace)
            for vid, record in records:
                ns[vid] = record

        headers = self._commit(idx, apply)
        return 200, {"upsertedCount": len(records)}, headers

    def query(self, request: Request, body: bytes) -> tuple[int, Any, dict[str, str]]:
        idx = self._host(request)
        data = _json(body)
        top_k = data.get("topK")
        if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_TOP_K:
            raise data_error(400, f"topK must be an integer in [1, {MAX_TOP_K}]", TOP_K)
        include_values = bool(data.get("includeValues", False))
        include_metadata = bool(data.get("includeMetadata", False))
        if (include_values or include_metadata) and top_k > MAX_TOP_K_WITH_DATA:
            raise data_error(
                400,
                f"topK must be at most {MAX_TOP_K_WITH_DATA} when includeValues or "
                "includeMetadata is true",
                TOP_K_WITH_DATA,
            )
        for key in ("scanFactor", "maxCandidates"):
            if key in data:
                raise data_error(400, f"{key} is not supported here", _DEDICATED_READ_NODES)
        namespace = _namespace(data.get("namespace"))
        flt = data.get("filter")
        if flt is not None:
            validate_filter(flt)
        ns = idx.namespace(namespace)
        if "id" in data:
            record = ns.get(data["id"])
            query = record.values if record is not None else None
        else:
            vector = data.get("vector")
            if not isinstance(vector, list) or not all(_is_number(v) for v in vector):
                raise data_error(400, "vector must be an array of numbers", ERRORS)
            if len(vector) != idx.dimension:
                raise data_error(
                    400,
                    f"Query vector dimension {len(vector)} does not match the dimension of "
                    f"the index {idx.dimension}",
                    VECTOR_DIMENSION,
                )
            query = np.asarray(vector, dtype=np.float32)
        matches_out: list[dict[str, Any]] = []
        if query is not None:
            ids = [vid for vid, rec in ns.items() if flt is None or matches(flt, rec.metadata)]
            if ids:
                matrix = np.stack([ns[vid].values for vid in ids]).astype(np.float64)
                scores = score(idx.metric, matrix, query.astype(np.float64))
                order = np.argsort(scores if idx.metric == "euclidean" else -scores, kind="stable")[
                    :top_k
                ]
                for i in order:
                    match: dict[str, Any] = {"id": ids[i], "score": float(scores[i])}
                    rec = ns[ids[i]]
                    if include_values:
                        match["values"] = rec.values.tolist()
                    if include_metadata and rec.metadata:
                        match["metadata"] = rec.metadata
                    matches_out.append(match)
        payload = {
            "matches": matches_out,
            "namespace": "" if namespace == DEFAULT_NAMESPACE else namespace,
            "usage": {"readUnits": 5},
        }
        return 200, payload, {"x-pinecone-max-indexed-lsn": str(idx.indexed_lsn)}

    def fetch(self, request: Request, body: bytes) -> tuple[int, Any, dict[str, str]]:
        idx = self._host(request)
        ids = request.query_params.getlist("ids")
        if not ids:
            raise data_error(400, "ids must be a non-empty list", _EMPTY_IDS)
        if len(ids) > MAX_FETCH_IDS:
            raise data_error(400, f"fetch accepts at most {MAX_FETCH_IDS} ids", FETCH_DELETE)
        namespace = _namespace(request.query_params.get("namespace"))
        ns = idx.namespace(namespace)
        vectors = {vid: _vector(vid, ns[vid]) for vid in ids if vid in ns}
        payload = {
            "vectors": vectors,
            "namespace": "" if namespace == DEFAULT_NAMESPACE else namespace,
            "usage": {"readUnits": 1},
        }
        return 200, payload, {}

    def fetch_by_metadata(self, request: Request, body: bytes) -> tuple[int, Any, dict[str, str]]:
        idx = self._host(request)
        data = _json(body)
        flt = data.get("filter")
        if not isinstance(flt, dict):
            raise data_error(400, "filter must be an object", FILTER)
        if not flt:
            raise data_error(400, "filter must not be empty", _EMPTY_FILTER)
        validate_filter(flt)
        limit = data.get("limit", 100)
        if not isinstance(limit, int) or not 1 <= limit <= FETCH_BY_METADATA_LIMIT_MAX:
            raise data_error(
                400,
                f"limit must be in [1, {FETCH_BY_METADATA_LIMIT_MAX}]",
                _FETCH_BY_METADATA_LIMIT,
            )
        namespace = _namespace(data.get("namespace"))
        ns = idx.namespace(namespace)
        after = _decode_token(data.get("paginationToken"))
        ids = sorted(vid for vid, rec in ns.items() if matches(flt, rec.metadata))
        ids = [vid for vid in ids if after is None or vid > after]
        page = ids[:limit]
        payload: dict[str, Any] = {
            "vectors": {vid: _vector(vid, ns[vid]) for vid in page},
            "namespace": "" if namespace == DEFAULT_NAMESPACE else namespace,
            "usage": {"readUnits": 1},
        }
        if len(ids) > limit:
            payload["pagination"] = {"next": _encode_token(page[-1])}
        return 200, payload, {}

    def delete(self, request: Request, body: bytes) -> tuple[int, Any, dict[str, str]]:
        idx = self._host(request)
        data = _json(body)
        namespace = _namespace(data.get("namespace"))
        ids, delete_all, flt = data.get("ids"), data.get("deleteAll", False), data.get("filter")
        selectors = sum(x for x in (ids is not None, bool(delete_all), flt is not None))
        if selectors != 1:
            raise data_error(
                400, "exactly one of ids, deleteAll and filter must be given", _SELECTORS
            )
        if ids is not None:
            if not isinstance(ids, list):
                raise data_error(400, "ids must be a list", ERRORS)
            if not ids:
                raise data_error(400, "ids must not be empty", _EMPTY_IDS)
            if len(ids) > MAX_FETCH_IDS:
                raise data_error(400, f"ids must hold at most {MAX_FETCH_IDS} ids", FETCH_DELETE)
            for vid in ids:
                _check_id(vid)
        if flt is not None:
            if not isinstance(flt, dict):
                raise data_error(400, "filter must be an object", FILTER)
            if not flt:
                raise data_error(400, "filter must not be empty", _EMPTY_FILTER)
            validate_filter(flt)

        def apply() -> None:
            ns = idx.namespace(namespace)
            if delete_all:
                ns.clear()
            elif ids is not None:
                for vid in ids:
                    ns.pop(vid, None)
            else:
                for vid in [v for v, rec in ns.items() if matches(flt, rec.metadata)]:
                    del ns[vid]

        return 200, {}, self._commit(idx, apply)

    def stats(self, request: Request, body: bytes) -> tuple[int, Any, dict[str, str]]:
        idx = self._host(request)
        data = _json(body) if body else {}
        if data.get("filter"):
            raise data_error(
                400, "describe_index_stats does not support filtering on this index", STATS_FILTER
            )
        namespaces = {
            name: {"vectorCount": len(records)}
            for name, records in idx.namespaces.items()
            if records
        }
        payload = {
            "namespaces": namespaces,
            "dimension": idx.dimension,
            "indexFullness": 0.0,
            "totalVectorCount": sum(len(r) for r in idx.namespaces.values()),
            "metric": idx.metric,
            "vectorType": "dense",
        }
        return 200, payload, {}

    def list_vectors(self, request: Request, body: bytes) -> tuple[int, Any, dict[str, str]]:
        idx = self._host(request)
        params = request.query_params
        namespace = _namespace(params.get("namespace"))
        try:
            limit = int(params.get("limit", LIST_LIMIT_MAX))
        except ValueError:
            raise data_error(400, "limit must be an integer", ERRORS) from None
        if not 1 <= limit <= LIST_LIMIT_MAX:
            raise data_error(400, f"limit must be in [1, {LIST_LIMIT_MAX}]", LIST_LIMIT)
        prefix = params.get("prefix", "")
        after = _decode_token(params.get("paginationToken"))
        ids = sorted(v for v in idx.namespace(namespace) if v.startswith(prefix))
        ids = [v for v in ids if after is None or v > after]
        page = ids[:limit]
        payload: dict[str, Any] = {
            "vectors": [{"id": v} for v in page],
            "namespace": "" if namespace == DEFAULT_NAMESPACE else namespace,
            "usage": {"readUnits": 1},
        }
        if len(ids) > limit:
            payload["pagination"] = {"next": _encode_token(page[-1])}
        return 200, payload, {}


def score(metric: str, matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Pinecone's score of each row: cosine similarity, squared L2 distance or dot product."""
    if metric == "cosine":
        norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(query)
        return (matrix @ query) / np.where(norms == 0, 1.0, norms)
    if metric == "euclidean":
        diff = matrix - query
        return np.einsum("ij,ij->i", diff, diff)
    return matrix @ query


def _ctl_err(status: int, message: str, source: Source) -> ApiFailure:
    codes = {
        400: "INVALID_ARGUMENT",
        404: "NOT_FOUND",
        409: "ALREADY_EXISTS",
        500: "INTERNAL",
        503: "UNAVAILABLE",
        429: "RESOURCE_EXHAUSTED",
    }
    return control_error(status, codes.get(status, "UNKNOWN"), message, source)


def _json(body: bytes, *, control: bool = False) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        message = "request body must be a JSON object"
        if control:
            raise control_error(400, "INVALID_ARGUMENT", message, ERRORS)
        raise data_error(400, message, ERRORS)
    return data


def _namespace(value: object) -> str:
    if value is None or value == "":
        return DEFAULT_NAMESPACE
    if not isinstance(value, str):
        raise data_error(400, "namespace must be a string", ERRORS)
    return value


def _check_id(vid: object) -> None:
    if (
        not isinstance(vid, str)
        or not vid
        or len(vid) > MAX_ID_LENGTH
        or not vid.isascii()
        or "\x00" in vid
    ):
        raise data_error(
            400, f"Vector ID must be 1 to {MAX_ID_LENGTH} ASCII characters without NUL", RECORD_ID
        )


def _check_metadata(metadata: object, vid: str) -> None:
    if not isinstance(metadata, dict):
        raise data_error(400, f"Metadata of vector {vid} must be an object", METADATA)
    for key, value in metadata.items():
        if key.startswith("$"):
            raise data_error(400, f"Metadata key {key!r} must not start with '$'", METADATA_KEYS)
        if value is None:
            raise data_error(400, f"Metadata value for key {key!r} must not be null", METADATA)
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise data_error(
                    400, f"Metadata list value for key {key!r} must contain only strings", METADATA
                )
        elif not (isinstance(value, str | bool) or _is_number(value)):
            raise data_error(
                400,
                f"Metadata value for key {key!r} must be a string, number, boolean or list "
                "of strings",
                METADATA,
            )
    size = len(orjson.dumps(metadata))
    if size > MAX_METADATA_BYTES:
        raise data_error(
            400,
            f"Metadata size is {size} bytes, which exceeds the limit of {MAX_METADATA_BYTES} "
            "bytes per vector",
            METADATA,
        )


def _check_tags(tags: object) -> None:
    if not isinstance(tags, dict):
        raise control_error(400, "INVALID_ARGUMENT", "tags must be an object", ERRORS)
    for key, value in tags.items():
        if not _TAG_KEY_RE.match(key):
            raise control_error(400, "INVALID_ARGUMENT", f"invalid tag key {key!r}", TAGS)
        if (
            not isinstance(value, str)
            or len(value) > 120
            or not value.isascii()
            or not value.isprintable()
        ):
            raise control_error(400, "INVALID_ARGUMENT", f"invalid value for tag {key!r}", TAGS)


def _vector(vid: str, record: Record) -> dict[str, Any]:
    out: dict[str, Any] = {"id": vid, "values": record.values.tolist()}
    if record.metadata:
        out["metadata"] = record.metadata
    return out


def _encode_token(last_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"after": last_id})).decode()


def _decode_token(token: object) -> str | None:
    if token is None or token == "":
        return None
    try:
        data = orjson.loads(base64.urlsafe_b64decode(str(token)))
        after = data["after"]
    except (ValueError, KeyError, TypeError):
        raise data_error(400, "invalid pagination token", _TOKENS) from None
    if not isinstance(after, str):
        raise data_error(400, "invalid pagination token", _TOKENS)
    return after


def new_api_key() -> str:
    """A random API key for a test session."""
    return "pc-" + secrets.token_hex(16)
