"""The seed's unified vector store API: ``POST /v1/vector/store`` and ``/v1/vector/search``.

Both map onto the same RPC handlers the gRPC transport calls
(``UpsertDocuments``, ``CreateCollection``, ``Search``).

``POST /v1/vector/store``::

    {"store": "opensearch", "collection": "embeddings",
     "documents": [{"id": "doc1", "text": "...", "metadata": {...}}]}

``store`` defaults to the default store; ``collection`` to the store's
configured default collection (``table_name`` / ``collection_name`` /
``index_name``), else ``"embeddings"``. A missing collection is created on
first use with the store's ``embedding_model``, ``dimensions`` and ``metric``.
Documents may carry ``vector`` as an array of numbers or a base64 string of
little-endian float32 instead of text. Answer::

    {"store": "local", "collection": "embeddings", "upserted_count": 1,
     "ids": ["doc1"], "collection_created": true}

``POST /v1/vector/search``::

    {"store": "opensearch", "query": "What is machine learning?", "top_k": 5}

plus optional ``collection``, ``filter`` (a ``vectorgate.v1.Filter``) or
``filters`` (an OpenAI attribute filter) and ``score_threshold``. ``top_k``
defaults to 10. Answer::

    {"store": "local", "collection": "embeddings", "query": "...",
     "results": [{"id": "doc1", "score": 0.83, "text": "...", "metadata": {...}}]}

Errors are ``google.rpc.Status`` bodies; fields are named as in these bodies
(``query``, not ``text``).
"""

from __future__ import annotations

from typing import Any, Final

from starlette.responses import Response

from vectorgate.v1 import collection_admin_service_pb2 as cpb
from vectorgate.v1 import search_service_pb2 as spb
from vectorgate.v1 import upsert_service_pb2 as upb

from ..errors import AlreadyExists, InvalidArgument, NotFound
from ..services.registry import CallContext
from .bodies import check_keys, opt_int, opt_number, opt_str, require_object
from .common import Call, Operation, RpcRoutes, invoke, json_endpoint, json_response
from .filters import openai_filter
from .jsonpb import metadata_json, parse_into
from .openapi import METADATA_VALUE, closed_object, json_body, route_responses, status_ref

__all__ = ["DEFAULT_COLLECTION", "DEFAULT_TOP_K", "SCHEMAS", "VectorApi"]

#: Collection used when neither the request nor the store's config names one.
DEFAULT_COLLECTION: Final = "embeddings"
DEFAULT_TOP_K: Final = 10
_METRICS: Final = {
    "cosine": "DISTANCE_METRIC_COSINE",
    "l2": "DISTANCE_METRIC_L2",
    "ip": "DISTANCE_METRIC_INNER_PRODUCT",
}
_SEARCH_PARAMS: Final = (("text", "query"),)
_UPSERT: Final = "/vectorgate.v1.UpsertService/UpsertDocuments"
_CREATE: Final = "/vectorgate.v1.CollectionAdminService/CreateCollection"

_REF: Final = "#/components/schemas/"
_METADATA: Final = {
    "type": "object",
    "description": "String, number, boolean or list-of-string values.",
    "additionalProperties": METADATA_VALUE,
}
#: OpenAPI component schemas of these routes.
SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "VectorStoreDocument": closed_object(
        ["id"],
        {
            "id": {"type": "string", "minLength": 1},
            "text": {"type": "string"},
            "metadata": _METADATA,
            "vector": {
                "description": "Instead of text: the vector, as numbers or base64 "
                "little-endian float32.",
                "anyOf": [
                    {"type": "array", "items": {"type": "number"}},
                    {"type": "string", "contentEncoding": "base64"},
                ],
            },
        },
    ),
    "VectorStoreRequest": closed_object(
        ["documents"],
        {
            "store": {
                "type": "string",
                "description": "Configured store; default store if absent.",
            },
            "collection": {
                "type": "string",
                "description": "Default: the store's configured collection, else 'embeddings'. "
                "Created on first use with the store's embedding model.",
            },
            "documents": {"type": "array", "items": {"$ref": _REF + "VectorStoreDocument"}},
        },
    ),
    "VectorStoreResponse": closed_object(
        ["store", "collection", "upserted_count", "ids", "collection_created"],
        {
            "store": {"type": "string"},
            "collection": {"type": "string"},
            "upserted_count": {"type": "integer"},
            "ids": {"type": "array", "items": {"type": "string"}},
            "collection_created": {"type": "boolean"},
        },
    ),
    "VectorSearchRequest": closed_object(
        ["query"],
        {
            "store": {"type": "string"},
            "collection": {"type": "string"},
            "query": {"type": "string", "minLength": 1},
            "top_k": {"type": "integer", "minimum": 1, "default": DEFAULT_TOP_K},
            "filter": {"$ref": _REF + "vectorgate.v1.Filter"},
            "filters": {"$ref": _REF + "OpenAIFilter"},
            "score_threshold": {"type": "number"},
        },
    ),
    "VectorSearchResult": closed_object(
        ["id", "score", "text", "metadata"],
        {
            "id": {"type": "string"},
            "score": {"type": "number"},
            "text": {"type": "string"},
            "metadata": _METADATA,
        },
    ),
    "VectorSearchResponse": closed_object(
        ["store", "collection", "query", "results"],
        {
            "store": {"type": "string"},
            "collection": {"type": "string"},
            "query": {"type": "string"},
            "results": {"type": "array", "items": {"$ref": _REF + "VectorSearchResult"}},
        },
    ),
}


class VectorApi(RpcRoutes):
    """``/v1/vector/store`` and ``/v1/vector/search`` over the RPC handlers."""

    def default_collection(self, store: str) -> str:
        """The collection a request without one uses."""
        cfg = self.config.stores.get(store or self.gateway.default_store)
        return (cfg.collection if cfg is not None else None) or DEFAULT_COLLECTION

    def operations(self) -> list[Operation]:
        """The routes with their OpenAPI operations."""
        return [
            Operation(
                "POST",
                "/v1/vector/store",
                json_endpoint(self._store, self.limit),
                {
                    "operationId": "vector_store",
                    "tags": ["Unified vector store API"],
                    "summary": "Store documents (embedding their text)",
                    "requestBody": json_body(
                        "VectorStoreRequest",
                        {"documents": [{"id": "doc1", "text": "Machine learning is ..."}]},
                    ),
                    "responses": route_responses(
                        "VectorStoreResponse", status_ref(), "Unknown store or collection"
                    ),
                },
            ),
            Operation(
                "POST",
                "/v1/vector/search",
                json_endpoint(self._search, self.limit, params=_SEARCH_PARAMS),
                {
                    "operationId": "vector_search",
                    "tags": ["Unified vector store API"],
                    "summary": "Search by query text",
                    "requestBody": json_body(
                        "VectorSearchRequest", {"query": "What is machine learning?", "top_k": 5}
                    ),
                    "responses": route_responses(
                        "VectorSearchResponse", status_ref(), "Unknown store or collection"
                    ),
                },
            ),
        ]

    # ------------------------------------------------------------------ store

    @staticmethod
    def _document(raw: Any, path: str) -> dict[str, Any]:
        doc = require_object(raw, path)
        check_keys(doc, ("id", "text", "metadata", "vector"), path)
        out = dict(doc)
        vector = doc.get("vector")
        if isinstance(vector, list):
            out["vector"] = {"values": vector}
        elif isinstance(vector, str):
            out["vector"] = {"packed": vector}
        elif vector is not None and not isinstance(vector, dict):
            raise InvalidArgument(
                f"{path}.vector: expected an array of numbers or a base64 string",
                field=f"{path}.vector",
            )
        return out

    async def _store(self, body: dict[str, Any], call: Call) -> Response:
        check_keys(body, ("store", "collection", "documents"), "")
        store = opt_str(body, "store") or ""
        collection = opt_str(body, "collection") or self.default_collection(store)
        documents = body.get("documents")
        if not isinstance(documents, list):
            raise InvalidArgument(
                "documents: required, an array of {id, text, metadata}",
                field="documents",
                reason="MISSING_FIELD",
            )
        request = upb.UpsertDocumentsRequest()
        parse_into(
            {
                "store": store,
                "collection": collection,
                "documents": [
                    self._document(d, f"documents[{i}]") for i, d in enumerate(documents)
                ],
            },
            request,
        )
        created = False
        try:
            response = await invoke(self.rpcs[_UPSERT], request, call.context)
        except NotFound as exc:
            if exc.reason != "COLLECTION_NOT_FOUND":
                raise
            created = await self._create(store, collection, call.context)
            response = await invoke(self.rpcs[_UPSERT], request, call.context)
        assert isinstance(response, upb.UpsertDocumentsResponse)
        return json_response(
            call,
            {
                "store": self.gateway.resolve(store, collection).store,
                "collection": collection,
                "upserted_count": response.upserted_count,
                "ids": [d.id for d in request.documents],
                "collection_created": created,
            },
        )

    async def _create(self, store: str, collection: str, ctx: CallContext) -> bool:
        """Create the collection with the store's embedding settings; False if it appeared."""
        name = store or self.gateway.default_store
        spec: dict[str, Any] = {"name": collection, "store": store}
        cfg = self.config.stores.get(name)
        if cfg is not None:
            if cfg.embedding_model:
                spec["embedding_model"] = cfg.embedding_model
            if cfg.dimension:
                spec["dimension"] = cfg.dimension
            if cfg.metric:
                spec["metric"] = _METRICS[cfg.metric]
        request = cpb.CreateCollectionRequest()
        parse_into({"collection": spec}, request)
        try:
            await invoke(self.rpcs[_CREATE], request, ctx)
        except AlreadyExists:
            return False
        except InvalidArgument as exc:
            if exc.field in ("collection.embedding_model", "collection.dimension"):
                raise InvalidArgument(
                    f"store: cannot create collection {collection!r} in store {name!r} on "
                    f"first use: {exc.message}",
                    field="store",
                ) from exc
            raise
        return True

    # ------------------------------------------------------------------ search

    async def _search(self, body: dict[str, Any], call: Call) -> Response:
        check_keys(
            body,
            ("store", "collection", "query", "top_k", "filter", "filters", "score_threshold"),
            "",
        )
        store = opt_str(body, "store") or ""
        collection = opt_str(body, "collection") or self.default_collection(store)
        query = opt_str(body, "query")
        if not query:
            raise InvalidArgument("query: required", field="query", reason="MISSING_FIELD")
        top_k = opt_int(body, "top_k")
        threshold = opt_number(body, "score_threshold")
        data: dict[str, Any] = {
            "store": store,
            "collection": collection,
            "text": query,
            "top_k": DEFAULT_TOP_K if top_k is None else top_k,
        }
        if threshold is not None:
            data["score_threshold"] = threshold
        if body.get("filter") is not None and body.get("filters") is not None:
            raise InvalidArgument(
                "filters: give either filter (vectorgate) or filters (OpenAI), not both",
                field="filters",
            )
        if body.get("filter") is not None:
            data["filter"] = body["filter"]
        elif body.get("filters") is not None:
            data["filter"] = openai_filter(body["filters"])
            call.param_names = (*call.param_names, ("filter", "filters"))
        request = spb.SearchRequest()
        parse_into(data, request)
        response = await invoke(self.search_rpc, request, call.context)
        assert isinstance(response, spb.SearchResponse)
        results = [
            {"id": hit.id, "score": hit.score, "text": hit.text, "metadata": metadata_json(hit)}
            for hit in response.hits
        ]
        return json_response(
            call,
            {
                "store": self.gateway.resolve(store, collection).store,
                "collection": collection,
                "query": query,
                "results": results,
            },
        )
