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
    data = orjson.dumps(body, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(data, status, media_type="application/json")


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
        return Route(PATH, self.endpoint, methods=["POST"])

    async def endpoint(self, request: Request) -> Response:
        call = start_call(request)
        try:
            parse_timeout(call)
            # The caller's deadline (X-Request-Timeout) bounds the whole call, queueing
            # for the store's threads included; each backend call also carries it.
            data = await run_with_deadline(call.context, "milvus passthrough", self._serve(request))
            return _answer({"code": 0, "data": data})
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
            return {
                k: (
                    virtual
                    if k in ("collection_name", "collectionName") and v == real
                    else MilvusPassthrough._rename(v, real, virtual)
                )
                for k, v in value.items()
            }
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

        output_fields = body.get("outputFields")
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
            info = await run(client.describe_collection, real)
            return self._describe(info)
        if endpoint == "collections/drop":
            await run(client.drop_collection, real)
            return {}
        if endpoint == "collections/flush":
            await run(client.flush, real)
            return {}
        if endpoint == "collections/load":
            await run(client.load_collection, real)
            return {}
        if endpoint == "collections/release":
            await run(client.release_collection, real)
            return {}
        if endpoint in ("entities/insert", "entities/upsert"):
            rows = body.get("data")
            if not isinstance(rows, list):
                raise PassthroughError(400, 1100, "data: expected a list of entities")
            if endpoint == "entities/insert":
                res = await run(client.insert, real, rows)
                return {"insertCount": res.get("insert_count", 0), "insertIds": list(res["ids"])}
            res = await run(client.upsert, real, rows)
            return {
                "upsertCount": res.get("upsert_count", 0),
                "upsertIds": list(res.get("ids", [])),
            }
        if endpoint == "entities/delete":
            res = await run(client.delete, real, filter=str(body.get("filter", "")))
            return {"deleteCount": res.get("delete_count", 0) if isinstance(res, dict) else 0}
        if endpoint == "entities/search":
            results = await run(
                client.search,
                real,
                data=body.get("data"),
                anns_field=body.get("annsField") or "",
                limit=int(body.get("limit", 100)),
                filter=str(body.get("filter", "")),
                output_fields=output_fields,
                search_params=body.get("searchParams") or {},
                **consistency,
            )
            flat: list[dict[str, Any]] = []
            for hits in results:
                for hit in hits:
                    entity = dict(hit.get("entity") or {})
                    flat.append({**entity, "id": hit.get("id"), "distance": hit.get("distance")})
            return flat
        if endpoint == "entities/query":
            return await run(
                client.query,
                real,
                filter=str(body.get("filter", "")),
                output_fields=output_fields,
                limit=int(body["limit"]) if "limit" in body else None,
                **consistency,
            )
        if endpoint == "entities/get":
            ids = body.get("id")
            return await run(
                client.get,
                real,
                ids=ids if isinstance(ids, list) else [ids],
                output_fields=output_fields,
                **consistency,
            )
        if endpoint == "indexes/create":
            params = _index_params(MilvusClient, body.get("indexParams"))
            await run(client.create_index, real, params)
            return {}
        if endpoint == "indexes/describe":
            return [await run(client.describe_index, real, str(body.get("indexName", "")))]
        if endpoint == "indexes/drop":
            await run(client.drop_index, real, str(body.get("indexName", "")))
            return {}
        assert endpoint == "indexes/list"
        return await run(client.list_indexes, real)

    @staticmethod
    def _describe(info: dict[str, Any]) -> dict[str, Any]:
        fields = []
        for field in info.get("fields", []):
            params = dict(field.get("params") or {})
            fields.append(
                {
                    "name": field.get("name"),
                    "type": getattr(field.get("type"), "name", str(field.get("type"))),
                    "primaryKey": bool(field.get("is_primary", False)),
                    "autoId": bool(field.get("auto_id", False)),
                    "description": field.get("description", ""),
                    "params": [{"key": k, "value": str(v)} for k, v in params.items()],
                }
            )
        return {
            "collectionName": info.get("collection_name"),
            "description": info.get("description", ""),
            "autoId": bool(info.get("auto_id", False)),
            "enableDynamicField": bool(info.get("enable_dynamic_field", False)),
            "fields": fields,
            "consistencyLevel": str(info.get("consistency_level", "")),
            "shardsNum": info.get("num_shards"),
        }
