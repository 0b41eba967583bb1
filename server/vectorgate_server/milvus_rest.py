"""Native Milvus REST v2 passthrough: ``POST /milvus/v2/vectordb/{group}/{action}``.

Callers speak Milvus's own REST API (and get its ``{"code": 0, "data": ...}``
answers) without Milvus credentials: requests run through the configured
Milvus store's client (Milvus Lite or a server alike). Only the endpoints of
:data:`ENDPOINTS` exist, each mapped to the vectorgate RPC it is equivalent
to and authorized exactly as that RPC (:func:`..auth.authorize` on a request
of it naming the collection): reads need ``read``, writes ``write``, and the
collection's lifecycle (create, drop, release, index create/drop) the master
key or the index permission ``admin``. Every collection is named by a
virtual index, rewritten to the index's real collection; ``dbName`` is pinned
by the store's configuration and partitions are not selectable. Indexes with
a policy filter are not reachable here (the filter could not be enforced on
raw Milvus expressions).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import grpc
import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .app import Gateway
from .auth import Authenticator, Credentials, authorize, endpoint_field, naming_request
from .errors import (
    DeadlineExceeded,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
    VectorgateError,
    classify,
)
from .http.common import (
    JSON_ANY_TYPE,
    BodyTooLarge,
    RouteError,
    parse_timeout,
    read_body,
    run_with_deadline,
    start_call,
)
from .jsondepth import check_depth
from .services.registry import Rpc
from .storage import VirtualIndex

if TYPE_CHECKING:
    from .adapters.milvus import MilvusAdapter

log = logging.getLogger(__name__)

PATH: Final = "/milvus/v2/vectordb/{group}/{action}"

_COLLECTIONS: Final = "vectorgate.v1.CollectionAdminService"
_UPSERT: Final = "vectorgate.v1.UpsertService"
_SEARCH: Final = "vectorgate.v1.SearchService"

#: The served endpoints and the RPC each is equivalent to: its permission is that RPC's
#: (one permission table for every face). An endpoint not named here is refused.
ENDPOINTS: Final[dict[str, str]] = {
    "collections/has": f"/{_COLLECTIONS}/GetCollection",
    "collections/describe": f"/{_COLLECTIONS}/GetCollection",
    "collections/list": f"/{_COLLECTIONS}/ListCollections",
    # Loading is what a search does first (the adapter loads on demand).
    "collections/load": f"/{_SEARCH}/Search",
    # Releasing takes the collection out of service: lifecycle.
    "collections/release": f"/{_COLLECTIONS}/DeleteCollection",
    "collections/create": f"/{_COLLECTIONS}/CreateCollection",
    "collections/drop": f"/{_COLLECTIONS}/DeleteCollection",
    "collections/flush": f"/{_UPSERT}/UpsertDocuments",
    "entities/insert": f"/{_UPSERT}/UpsertDocuments",
    "entities/upsert": f"/{_UPSERT}/UpsertDocuments",
    "entities/delete": f"/{_UPSERT}/DeleteDocuments",
    "entities/search": f"/{_SEARCH}/Search",
    "entities/query": f"/{_SEARCH}/Search",
    "entities/get": f"/{_UPSERT}/GetDocuments",
    # A collection's vector indexes are part of its definition (CreateCollection's index).
    "indexes/create": f"/{_COLLECTIONS}/CreateCollection",
    "indexes/drop": f"/{_COLLECTIONS}/DeleteCollection",
    "indexes/describe": f"/{_COLLECTIONS}/GetCollection",
    "indexes/list": f"/{_COLLECTIONS}/GetCollection",
}
#: Endpoints that are one MilvusClient call on the collection, answering ``{}``.
_COLLECTION_CALLS: Final = {
    "collections/drop": "drop_collection",
    "collections/flush": "flush",
    "collections/load": "load_collection",
    "collections/release": "release_collection",
}
#: The RPC whose permission decides which indexes ``collections/list`` shows.
_LISTED_AS: Final = f"/{_COLLECTIONS}/GetCollection"

#: Body keys that would escape the pinned database / partitions.
PINNED: Final = ("dbName", "partitionName", "partitionNames")

_TYPES: Final = {
    "Bool": "BOOL",
    "Int8": "INT8",
    "Int16": "INT16",
    "Int32": "INT32",
    "Int64": "INT64",
    "Float": "FLOAT",
    "Double": "DOUBLE",
    "VarChar": "VARCHAR",
    "JSON": "JSON",
    "Array": "ARRAY",
    "FloatVector": "FLOAT_VECTOR",
    "BinaryVector": "BINARY_VECTOR",
    "Float16Vector": "FLOAT16_VECTOR",
    "BFloat16Vector": "BFLOAT16_VECTOR",
    "SparseFloatVector": "SPARSE_FLOAT_VECTOR",
}


class PassthroughError(Exception):
    """An answer other than success: HTTP status and Milvus-style code."""

    def __init__(self, http_status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "name") and hasattr(value, "value"):
        return str(value.name)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _answer(body: dict[str, Any], status: int = 200) -> Response:
    # Milvus (Go, gin) writes its answers from maps: object keys come out sorted.
    data = orjson.dumps(
        body, default=_default, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_SORT_KEYS
    )
    return Response(data, status, media_type="application/json")


class _Envelope(dict[str, Any]):
    """A success body's members besides ``code`` (``data``, ``cost``, ``topks``)."""


def _success(result: Any) -> dict[str, Any]:
    """The success body: ``code`` 0 with ``data``, or with every member of an envelope."""
    if isinstance(result, _Envelope):
        return {"code": 0, **result}
    return {"code": 0, "data": result}


def _index_params(client_cls: Any, specs: Any) -> Any:
    params = client_cls.prepare_index_params()
    for spec in specs or []:
        if not isinstance(spec, dict) or not isinstance(spec.get("fieldName"), str):
            raise PassthroughError(400, 1100, "indexParams: each needs a fieldName")
        params.add_index(
            field_name=spec["fieldName"],
            index_name=str(spec.get("indexName") or ""),
            index_type=str(spec.get("indexType") or "AUTOINDEX"),
            metric_type=spec.get("metricType"),
            params=dict(spec.get("params") or {}),
        )
    return params


def _schema(client_cls: Any, data_type: Any, body: dict[str, Any]) -> Any:
    spec = body.get("schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("fields"), list):
        raise PassthroughError(400, 1100, "schema.fields: required")
    schema = client_cls.create_schema(
        auto_id=bool(spec.get("autoId", False)),
        enable_dynamic_field=bool(spec.get("enableDynamicField", False)),
    )
    for field in spec["fields"]:
        name = field.get("fieldName")
        kind = _TYPES.get(str(field.get("dataType")))
        if not isinstance(name, str) or kind is None:
            raise PassthroughError(
                400, 1100, f"schema.fields: unsupported field {name!r} ({field.get('dataType')})"
            )
        kwargs: dict[str, Any] = {
            "is_primary": bool(field.get("isPrimary", False)),
            "description": str(field.get("description", "")),
        }
        for key, value in dict(field.get("elementTypeParams") or {}).items():
            kwargs[key] = int(value) if key in ("dim", "max_length", "max_capacity") else value
        if field.get("elementDataType"):
            kwargs["element_type"] = getattr(data_type, _TYPES[field["elementDataType"]])
        schema.add_field(name, getattr(data_type, kind), **kwargs)
    return schema


class _PassthroughRoute(Route):
    """The passthrough's route: its body is JSON whatever the Content-Type says."""

    body_format = JSON_ANY_TYPE


class MilvusPassthrough:
    """The passthrough endpoint."""

    def __init__(
        self,
        gateway: Gateway,
        authenticator: Authenticator,
        rpcs: Sequence[Rpc],
        *,
        max_body_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.gateway = gateway
        self.authenticator = authenticator
        #: The body limit (``server.max_message_bytes``), enforced as the body streams in.
        self.max_body_bytes = max_body_bytes
        by_name = {rpc.full_name: rpc for rpc in rpcs}
        missing = sorted({name for name in ENDPOINTS.values() if name not in by_name})
        missing += [] if _LISTED_AS in by_name else [_LISTED_AS]
        if missing:
            raise RuntimeError(f"milvus passthrough: no RPC {', '.join(missing)} in the table")
        #: Endpoint -> the RPC whose permission it takes.
        self.rpcs: dict[str, Rpc] = {
            endpoint: by_name[name] for endpoint, name in ENDPOINTS.items()
        }
        self._listed_as = by_name[_LISTED_AS]

    def route(self) -> Route:
        """The Starlette route (declared in :data:`..auth.HTTP_ROUTES`)."""
        return _PassthroughRoute(PATH, self.endpoint, methods=["POST"])

    async def endpoint(self, request: Request) -> Response:
        call = start_call(request)
        try:
            parse_timeout(call)
            # The caller's deadline (X-Request-Timeout) bounds the whole call, queueing
            # for the store's threads included; each backend call also carries it.
            data = await run_with_deadline(call.context, "milvus passthrough", self._serve(request))
            return _answer(_success(data))
        except PassthroughError as exc:
            return _answer({"code": exc.code, "message": exc.message}, exc.http_status)
        except Unauthenticated as exc:
            return _answer({"code": 1800, "message": exc.message}, 401)
        except PermissionDenied as exc:
            return _answer({"code": 65535, "message": exc.message}, 403)
        except VectorgateError as exc:
            status = 413 if isinstance(exc, BodyTooLarge) else classify(exc).http_status
            return _answer(
                {"code": 1100 if status < 500 else 65535, "message": exc.message}, status
            )
        except RouteError as exc:
            return _answer({"code": 1100, "message": exc.message}, exc.http_status)

    def _milvus(self, index: VirtualIndex) -> MilvusAdapter:
        adapter: Any = self.gateway.adapter(index.store)
        adapter = getattr(adapter, "inner", adapter)
        if getattr(adapter, "backend", "") == "milvus":
            # Imported here: pymilvus is only needed where a Milvus store is configured.
            from .adapters.milvus import MilvusAdapter

            if isinstance(adapter, MilvusAdapter):
                return adapter
        raise PassthroughError(400, 1100, f"index {index.index_name!r} is not on a Milvus store")

    def _authorize(self, credentials: Credentials, rpc: Rpc, name: str) -> None:
        authorize(rpc, naming_request(rpc, name), credentials, self.gateway.indexes.lookup)

    def _visible(self, credentials: Credentials) -> list[str]:
        names = []
        for index in self.gateway.indexes.list():
            try:
                self._milvus(index)
                self._authorize(credentials, self._listed_as, index.index_name)
            except (PassthroughError, PermissionDenied):
                continue
            names.append(index.index_name)
        return names

    def _index(self, credentials: Credentials, name: Any, rpc: Rpc) -> VirtualIndex:
        if not isinstance(name, str) or not name:
            raise PassthroughError(400, 1100, "collectionName: required")
        try:
            self._authorize(credentials, rpc, name)
        except PermissionDenied as exc:
            raise PermissionDenied(f"collectionName: {exc.message}") from None
        index = self.gateway.indexes.lookup(name)
        if index is None:
            raise PassthroughError(404, 100, f"collectionName: {name!r} is not a virtual index")
        if index.policy_filter is not None:
            raise PermissionDenied(
                f"collectionName: index {name!r} has a policy filter; use the vectorgate API"
            )
        return index

    async def _serve(self, request: Request) -> Any:
        headers = {k.lower(): v for k, v in request.headers.items()}
        credentials = await self.authenticator.authenticate(headers)
        endpoint = f"{request.path_params['group']}/{request.path_params['action']}"
        rpc = self.rpcs.get(endpoint)
        if rpc is None:
            raise PassthroughError(404, 1100, f"{endpoint}: not an allowed Milvus endpoint")
        raw = await read_body(request, self.max_body_bytes)
        try:
            body = orjson.loads(raw or b"{}")
        except orjson.JSONDecodeError as exc:
            raise PassthroughError(400, 1100, f"body: not JSON ({exc})") from None
        check_depth(body)
        if not isinstance(body, dict):
            raise PassthroughError(400, 1100, "body: expected a JSON object")
        found = endpoint_field({k: v for k, v in body.items() if k != "data"})
        if found is not None:
            raise PassthroughError(
                400, 1100, f"{found}: endpoints and credentials come from configuration"
            )
        await self.gateway.indexes.refresh()
        if endpoint == "collections/list":
            return self._visible(credentials)
        index = self._index(credentials, body.get("collectionName"), rpc)
        adapter = self._milvus(index)
        for key in PINNED:
            if key == "dbName" and body.get(key) in (None, "", adapter.db_name):
                continue
            if key in body:
                raise PassthroughError(400, 1100, f"{key}: pinned by the server's configuration")
        from .adapters.milvus import milvus_name

        real = milvus_name(index.collection)
        try:
            result = await self._execute(adapter, endpoint, real, body)
        except (PassthroughError, DeadlineExceeded, Unavailable):
            raise
        except grpc.RpcError as exc:
            # The store's timeout (or the caller's deadline) ran out, or Milvus is gone:
            # the gateway's own answers (504 / 503), as on every other face.
            status = exc.code() if callable(getattr(exc, "code", None)) else None
            if status == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise DeadlineExceeded(
                    f"{endpoint}: milvus store {index.store!r} did not answer in time"
                ) from None
            if status == grpc.StatusCode.UNAVAILABLE:
                raise Unavailable(
                    f"{endpoint}: milvus store {index.store!r} is unavailable"
                ) from None
            raise PassthroughError(200, 1100, f"{endpoint}: milvus refused the call") from None
        except Exception as exc:
            code = getattr(exc, "code", 1100)
            message = str(getattr(exc, "message", "") or exc)
            for secret in (real, index.collection):
                message = message.replace(secret, index.index_name)
            return_code = code if isinstance(code, int) and code != 0 else 1100
            raise PassthroughError(200, return_code, message) from None
        if endpoint in ("collections/create", "collections/drop"):
            adapter.forget_collection(index.collection)
            self.gateway.forget(self.gateway.resolve("", index.index_name))
        return self._rename(result, real, index.index_name)

    @staticmethod
    def _rename(value: Any, real: str, virtual: str) -> Any:
        if isinstance(value, dict):
            return type(value)(
                {
                    k: (
                        virtual
                        if k in ("collection_name", "collectionName") and v == real
                        else MilvusPassthrough._rename(v, real, virtual)
                    )
                    for k, v in value.items()
                }
            )
        if isinstance(value, list):
            return [MilvusPassthrough._rename(v, real, virtual) for v in value]
        return value

    async def _execute(
        self, adapter: MilvusAdapter, endpoint: str, real: str, body: dict[str, Any]
    ) -> Any:
        from pymilvus import DataType, MilvusClient

        client: MilvusClient = adapter.require_client()

        def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            # The store's bounded threads, with its timeout cut to the caller's deadline.
            return adapter.run_client(fn, *args, **kwargs)

        consistency: dict[str, Any] = {}
        if isinstance(body.get("consistencyLevel"), str):
            consistency["consistency_level"] = body["consistencyLevel"]
        if endpoint == "collections/has":
            return {"has": await run(client.has_collection, real)}
        if endpoint == "collections/create":
            if "schema" in body:
                schema = _schema(MilvusClient, DataType, body)
                params = _index_params(MilvusClient, body.get("indexParams"))
                await run(
                    client.create_collection,
                    real,
                    schema=schema,
                    index_params=params if body.get("indexParams") else None,
                )
            else:
                await run(
                    client.create_collection,
                    real,
                    dimension=int(body.get("dimension", 0)),
                    metric_type=str(body.get("metricType", "COSINE")),
                )
            return {}
        if endpoint == "collections/describe":
            return await run(_describe_collection, client, real)
        if endpoint in _COLLECTION_CALLS:
            await run(getattr(client, _COLLECTION_CALLS[endpoint]), real)
            return {}
        if endpoint in ("entities/insert", "entities/upsert"):
            rows = body.get("data")
            if not isinstance(rows, list):
                raise PassthroughError(400, 1100, "data: expected a list of entities")
            if endpoint == "entities/insert":
                res = await run(client.insert, real, rows)
                return _Envelope(
                    cost=0,
                    data={"insertCount": res.get("insert_count", 0), "insertIds": list(res["ids"])},
                )
            res = await run(client.upsert, real, rows)
            return _Envelope(
                cost=0,
                data={
                    "upsertCount": res.get("upsert_count", 0),
                    "upsertIds": list(res.get("ids", [])),
                },
            )
        if endpoint == "entities/delete":
            await run(client.delete, real, filter=_text(body, "filter"))
            return _Envelope(cost=0, data={})
        if endpoint == "entities/search":
            asked = _output_fields(body)
            results = await run(client.search, real, **_search_kwargs(body, asked), **consistency)
            hits = [list(per_query) for per_query in results]
            return _Envelope(
                cost=0,
                data=[_search_row(hit, asked) for per_query in hits for hit in per_query],
                topks=[len(per_query) for per_query in hits],
            )
        if endpoint in ("entities/query", "entities/get"):
            asked = _output_fields(body)
            # Milvus answers the primary key alone when no field is asked for;
            # pymilvus would read an empty list as "every field".
            fields = asked or [await run(_primary_key, client, real)]
            if endpoint == "entities/query":
                found = await run(
                    client.query,
                    real,
                    filter=_text(body, "filter"),
                    output_fields=fields,
                    **_query_window(body),
                    **consistency,
                )
            else:
                ids = body.get("id")
                found = await run(
                    client.get,
                    real,
                    ids=ids if isinstance(ids, list) else [ids],
                    output_fields=fields,
                    **consistency,
                )
            return _Envelope(cost=0, data=[dict(row) for row in found])
        if endpoint == "indexes/create":
            params = _index_params(MilvusClient, body.get("indexParams"))
            await run(client.create_index, real, params)
            return {}
        if endpoint == "indexes/describe":
            info = await run(client.describe_index, real, _text(body, "indexName"))
            return [_describe_index(info)] if info else []
        if endpoint == "indexes/drop":
            await run(client.drop_index, real, _text(body, "indexName"))
            return {}
        assert endpoint == "indexes/list"
        return await run(client.list_indexes, real)


# --------------------------------------------------------------------------- translation
#
# Requests are translated to pymilvus calls and answers shaped as Milvus's own
# REST v2 handler shapes them (milvus-io/milvus, internal/distributed/proxy/
# httpserver: handler_v2.go, utils.go buildQueryResp), as documented at
# https://milvus.io/api-reference/restful/v2.6.x/: a search hit is the asked
# output fields plus ``id`` (the primary key, whatever the field's name) and
# ``distance``; query and get rows hold the asked fields (the primary key alone
# when none is asked); write answers carry ``cost``.

#: REST data type names (schemapb.DataType's names) by pymilvus DataType name.
_REST_TYPES: Final = {v: k for k, v in _TYPES.items()}


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise PassthroughError(400, 1100, f"{key}: expected a string")
    return value


def _count(body: dict[str, Any], key: str, default: int | None) -> int | None:
    value = body.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PassthroughError(400, 1100, f"{key}: expected a non-negative integer")
    return value


def _output_fields(body: dict[str, Any]) -> list[str]:
    fields = body.get("outputFields")
    if fields is None:
        return []
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise PassthroughError(400, 1100, "outputFields: expected a list of field names")
    return list(fields)


def _search_params(body: dict[str, Any]) -> dict[str, Any]:
    """``searchParams`` for pymilvus (REST spells ``metric_type`` ``metricType``)."""
    given = body.get("searchParams") or {}
    if not isinstance(given, dict):
        raise PassthroughError(400, 1100, "searchParams: expected an object")
    params = dict(given)
    if "metricType" in params:
        params.setdefault("metric_type", params.pop("metricType"))
    if "params" in params and not isinstance(params["params"], dict):
        raise PassthroughError(400, 1100, "searchParams.params: expected an object")
    return params


def _search_kwargs(body: dict[str, Any], asked: list[str]) -> dict[str, Any]:
    """The ``MilvusClient.search`` arguments of a REST v2 search body."""
    data = body.get("data")
    if not isinstance(data, list) or not data:
        raise PassthroughError(400, 1100, "data: expected a list of query vectors")
    kwargs: dict[str, Any] = {
        "data": data,
        "anns_field": _text(body, "annsField"),
        "limit": _count(body, "limit", 100),
        "filter": _text(body, "filter"),
        # None: the primary key and the distance only (an empty list means the same).
        "output_fields": asked or None,
        "search_params": _search_params(body),
    }
    offset = _count(body, "offset", None)
    if offset:
        kwargs["offset"] = offset
    grouping = body.get("groupingField")
    if grouping is not None:
        kwargs["group_by_field"] = _text(body, "groupingField")
    return kwargs


def _query_window(body: dict[str, Any]) -> dict[str, Any]:
    window: dict[str, Any] = {}
    limit = _count(body, "limit", None)
    if limit is not None:
        window["limit"] = limit
    offset = _count(body, "offset", None)
    if offset:
        window["offset"] = offset
    return window


def _search_row(hit: Any, asked: list[str]) -> dict[str, Any]:
    """One REST search hit: the asked fields, ``id`` (the primary key) and ``distance``."""
    entity = hit.get("entity") or {}
    every = "*" in asked
    row = {k: v for k, v in entity.items() if every or k in asked}
    # pymilvus keys the key by the primary key field's name; Hit.id reads it by that name.
    row["id"] = hit.id if hasattr(type(hit), "id") else hit.get("id")
    # Scores are float32 in Milvus: written as such (shortest float32 digits), as Milvus does.
    row["distance"] = np.float32(hit.get("distance"))
    return row


def _primary_key(client: Any, real: str, timeout: float | None = None) -> str:
    """The primary key field's name (run as a client call: it takes the call's timeout)."""
    for field in client.describe_collection(real, timeout=timeout).get("fields", []):
        if field.get("is_primary"):
            return str(field["name"])
    raise PassthroughError(200, 1100, "collection has no primary key")


def _type_name(value: Any) -> str:
    name = getattr(value, "name", str(value))
    return _REST_TYPES.get(name, name)


def _describe_collection(client: Any, real: str, timeout: float | None = None) -> dict[str, Any]:
    """``collections/describe`` as Milvus answers it (without the real collection's aliases);
    run as a client call, so it takes the call's timeout."""
    info = client.describe_collection(real, timeout=timeout)
    fields = []
    for field in info.get("fields", []):
        params = dict(field.get("params") or {})
        out: dict[str, Any] = {
            "name": field.get("name"),
            "id": field.get("field_id"),
            "type": _type_name(field.get("type")),
            "primaryKey": bool(field.get("is_primary", False)),
            "autoId": bool(field.get("auto_id", False)),
            "partitionKey": bool(field.get("is_partition_key", False)),
            "clusteringKey": bool(field.get("is_clustering_key", False)),
            "nullable": bool(field.get("nullable", False)),
            "description": field.get("description", ""),
            "params": [{"key": k, "value": str(v)} for k, v in params.items()],
        }
        if field.get("element_type") is not None:
            out["elementType"] = _type_name(field["element_type"])
        fields.append(out)
    indexes = []
    for name in client.list_indexes(real, timeout=timeout):
        index = client.describe_index(real, name, timeout=timeout) or {}
        indexes.append(
            {
                "fieldName": index.get("field_name", ""),
                "indexName": index.get("index_name", name),
                "metricType": index.get("metric_type", ""),
            }
        )
    state = client.get_load_state(real, timeout=timeout).get("state")
    load = f"LoadState{getattr(state, 'name', state)}" if state is not None else ""
    properties = dict(info.get("properties") or {})
    return {
        "collectionName": info.get("collection_name"),
        "collectionID": info.get("collection_id"),
        "description": info.get("description", ""),
        "autoId": bool(info.get("auto_id", False)),
        "enableDynamicField": bool(info.get("enable_dynamic_field", False)),
        "fields": fields,
        "indexes": indexes,
        "load": load,
        "consistencyLevel": _consistency_name(info.get("consistency_level")),
        "partitionsNum": info.get("num_partitions"),
        "shardsNum": info.get("num_shards"),
        "properties": [{"key": k, "value": str(v)} for k, v in properties.items()],
    }


_CONSISTENCY: Final = ("Strong", "Session", "Bounded", "Eventually", "Customized")


def _consistency_name(value: Any) -> str:
    if isinstance(value, int) and 0 <= value < len(_CONSISTENCY):
        return _CONSISTENCY[value]
    return str(getattr(value, "name", value) or "")


def _describe_index(info: dict[str, Any]) -> dict[str, Any]:
    """One ``indexes/describe`` entry as Milvus answers it (camelCase, its state names)."""
    state = info.get("state")
    return {
        "fieldName": info.get("field_name", ""),
        "indexName": info.get("index_name", ""),
        "indexType": info.get("index_type", ""),
        "metricType": info.get("metric_type", ""),
        "indexState": getattr(state, "name", state) if state is not None else "",
        "indexedRows": info.get("indexed_rows", 0),
        "pendingRowsCount": info.get("pending_index_rows", 0),
        "totalRows": info.get("total_rows", 0),
        "failReason": info.get("fail_reason", ""),
    }
