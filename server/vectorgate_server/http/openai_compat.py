"""OpenAI-compatible routes: vector store search and embeddings.

``POST /v1/vector_stores/{vector_store_id}/search`` (also without ``/v1``)
-------------------------------------------------------------------------
OpenAI's vector store search, as LiteLLM's proxy serves it. Body:

* ``query``: a string, or a list of strings. A list is several queries: each
  is embedded and searched on its own, the hits merged by document id
  (keeping the best score), ordered by score and cut to ``max_num_results``.
* ``max_num_results``: 1 up to ``limits.max_top_k``; default 10.
* ``filters``: OpenAI comparison / compound filters (see :mod:`.filters`).
* ``ranking_options``: ``score_threshold`` drops hits scoring below it;
  ``ranker`` (``auto``, ``none``, ``default-2024-11-15``) is accepted and
  not applied: hits are ordered by vector score.
* ``rewrite_query``: accepted, never applied. When it is ``true`` the
  answer adds the vectorgate field ``rewrite_query_applied: false`` (and
  ``search_query`` is the query as given).
* For Milvus stores, the seed's native parameters (``limit``, ``offset``,
  ``dbName``, ``annsField``, ``outputFields``, ``filter``, ``searchParams``,
  ``groupingField``, ``partitionNames``, ``consistencyLevel``, and LiteLLM's
  ``milvus_text_field``) are passed to
  the Milvus adapter as ``SearchRequest.native_params``, which validates
  them; ``limit`` is the result count when ``max_num_results`` is absent.
  On other stores they are a 400 naming the parameter.

``vector_store_id`` resolves like ``SearchRequest.collection``: a virtual
index name, else the ``vector_store_id`` of a ``vector_store_registry``
entry (searching that entry's store), else a collection of the default
store. The answer is exactly OpenAI's page::

    {"object": "vector_store.search_results.page", "search_query": <as given>,
     "data": [{"file_id": ..., "filename": ..., "score": ..., "attributes": {...},
               "content": [{"type": "text", "text": ...}]}],
     "has_more": false, "next_page": null}

``file_id`` and ``filename`` are the metadata keys of those names (null when
absent); ``attributes`` is the metadata plus the document ``id``.

``POST /v1/embeddings`` (also without ``/v1``)
----------------------------------------------
OpenAI's embeddings, served by the configured embedding models: ``input`` (a
string or a list of strings; token arrays are a 400), ``model`` (a name or
alias in the embedding registry; unknown is a 404 ``model_not_found``),
``encoding_format`` (``float``, default, or ``base64``: little-endian
float32), ``dimensions`` (must equal the model's dimension) and ``user``
(ignored). ``usage`` counts the inputs' tokens: with the embedder's
``count_tokens`` when it has one, with the local model's own WordPiece
tokenizer for the local model (special tokens not counted, as OpenAI does
not count any), else approximately: ``ceil(characters / 4)`` per input, at
least 1 (OpenAI's rule of thumb).

Errors on these routes are OpenAI's body, ``{"error": {"message", "type",
"param", "code"}}``, with the same HTTP statuses as everywhere else; ``param``
names the body field (``max_num_results``, ``filters.filters[0].value``)
and ``code`` is the lower-case vectorgate reason (``collection_not_found``,
``invalid_field``, ``model_not_found``, ...).
"""

from __future__ import annotations

import asyncio
import base64
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import orjson
from starlette.responses import Response

from vectorgate.v1 import search_service_pb2 as spb
from vectorgate.v1 import types_pb2

from ..adapters.params import MILVUS_NATIVE_PARAMS
from ..app import Gateway
from ..config import Config
from ..embeddings import MODEL_NAME as LOCAL_MODEL
from ..embeddings import Embedder, ModelNotAllowed, UnknownModelError
from ..errors import InvalidArgument, LimitExceeded, NotFound
from ..rag_context import TokenCounter
from ..services.registry import Rpc
from .bodies import (
    check_keys,
    opt_bool,
    opt_int,
    opt_number,
    opt_str,
    require_object,
    type_name,
)
from .common import (
    Call,
    ErrorStyle,
    Operation,
    RpcRoutes,
    invoke,
    json_endpoint,
    json_response,
    run_with_deadline,
)
from .filters import openai_filter
from .jsonpb import metadata_json, parse_into
from .openapi import METADATA_VALUE, closed_object, json_body, route_responses

__all__ = ["MILVUS_PARAMS", "SCHEMAS", "OpenAIApi", "OpenAIRouteError"]

#: The seed's Milvus search parameters, passed through as ``native_params``.
MILVUS_PARAMS: Final = MILVUS_NATIVE_PARAMS
#: Their JSON types, and what the schema says of them beyond "Milvus only".
_MILVUS_PARAM_SCHEMAS: Final[dict[str, tuple[dict[str, Any], str]]] = {
    "limit": ({"type": "integer"}, "result count"),
    "offset": ({"type": "integer"}, ""),
    "dbName": ({"type": "string"}, ""),
    "annsField": ({"type": "string"}, ""),
    "outputFields": ({"type": "array", "items": {"type": "string"}}, ""),
    "filter": ({"type": "string"}, "native expression ANDed with filters"),
    "searchParams": ({"type": "object"}, ""),
    "groupingField": ({"type": "string"}, ""),
    "partitionNames": ({"type": "array", "items": {"type": "string"}}, ""),
    "consistencyLevel": ({"type": "string"}, ""),
    "milvus_text_field": ({"type": "string"}, "the field holding the document text"),
}


def _milvus_only(name: str) -> dict[str, Any]:
    schema, note = _MILVUS_PARAM_SCHEMAS[name]
    return {**schema, "description": f"Milvus only: {note}." if note else "Milvus only."}


_SEARCH_KEYS: Final = (
    "query",
    "filters",
    "max_num_results",
    "ranking_options",
    "rewrite_query",
    *MILVUS_PARAMS,
)
_RANKERS: Final = ("auto", "none", "default-2024-11-15")
DEFAULT_MAX_RESULTS: Final = 10
#: Above this many inputs, tokens are counted off the event loop.
_INLINE_TOKEN_COUNT: Final = 32
_SEARCH_PARAMS: Final = (
    ("collection", "vector_store_id"),
    ("text", "query"),
    ("top_k", "max_num_results"),
    ("score_threshold", "ranking_options.score_threshold"),
    ("filter", "filters"),
    ("native_params", ""),
)
_EMBEDDING_KEYS: Final = ("input", "model", "encoding_format", "dimensions", "user")
_REF: Final = "#/components/schemas/"


class OpenAIRouteError(NotFound):
    """A 404 with an OpenAI error code (``model_not_found``)."""

    reason = "EMBEDDING_FAILED"

    def __init__(self, message: str, *, field: str, openai_code: str) -> None:
        super().__init__(message, field=field)
        self.openai_code = openai_code


# --------------------------------------------------------------------------- OpenAPI schemas

_OPENAI_ERROR: Final = {"$ref": _REF + "OpenAIError"}
_SCALAR: Final = {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}

#: OpenAPI component schemas of these routes.
SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "OpenAIError": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type", "param", "code"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": {"type": ["string", "null"]},
                    "code": {"type": ["string", "null"]},
                },
            }
        },
    },
    "OpenAIComparisonFilter": closed_object(
        ["type", "key", "value"],
        {
            "type": {"enum": ["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]},
            "key": {"type": "string", "description": "Metadata key; 'id' is the document id."},
            "value": {"anyOf": [_SCALAR, {"type": "array", "items": _SCALAR}]},
        },
    ),
    "OpenAICompoundFilter": closed_object(
        ["type", "filters"],
        {
            "type": {"enum": ["and", "or"]},
            "filters": {"type": "array", "minItems": 1, "items": {"$ref": _REF + "OpenAIFilter"}},
        },
    ),
    "OpenAIFilter": {
        "anyOf": [
            {"$ref": _REF + "OpenAIComparisonFilter"},
            {"$ref": _REF + "OpenAICompoundFilter"},
        ]
    },
    "VectorStoreSearchRequest": closed_object(
        ["query"],
        {
            "query": {
                "anyOf": [
                    {"type": "string"},
                    {"type": "array", "items": {"type": "string"}, "minItems": 1},
                ],
                "description": "A list is several queries, merged by best score per document.",
            },
            "max_num_results": {"type": "integer", "minimum": 1, "default": DEFAULT_MAX_RESULTS},
            "filters": {"$ref": _REF + "OpenAIFilter"},
            "ranking_options": closed_object(
                (),
                {
                    "ranker": {"enum": list(_RANKERS), "description": "Accepted, not applied."},
                    "score_threshold": {"type": "number"},
                },
            ),
            "rewrite_query": {"type": "boolean", "description": "Accepted, never applied."},
            **{name: _milvus_only(name) for name in MILVUS_PARAMS},
        },
    ),
    "VectorStoreSearchResult": closed_object(
        ["file_id", "filename", "score", "attributes", "content"],
        {
            "file_id": {"type": ["string", "null"]},
            "filename": {"type": ["string", "null"]},
            "score": {"type": "number"},
            "attributes": {"type": "object", "additionalProperties": METADATA_VALUE},
            "content": {
                "type": "array",
                "items": closed_object(
                    ["type", "text"], {"type": {"const": "text"}, "text": {"type": "string"}}
                ),
            },
        },
    ),
    "VectorStoreSearchResultsPage": closed_object(
        ["object", "search_query", "data", "has_more", "next_page"],
        {
            "object": {"const": "vector_store.search_results.page"},
            "search_query": {
                "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
            },
            "data": {"type": "array", "items": {"$ref": _REF + "VectorStoreSearchResult"}},
            "has_more": {"const": False},
            "next_page": {"type": "null"},
            "rewrite_query_applied": {
                "const": False,
                "description": "vectorgate extension, present when rewrite_query was true.",
            },
        },
    ),
    "EmbeddingRequest": closed_object(
        ["input", "model"],
        {
            "input": {
                "anyOf": [
                    {"type": "string", "minLength": 1},
                    {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
                ],
                "description": "Text or a list of texts; token arrays are not supported.",
            },
            "model": {"type": "string"},
            "encoding_format": {"enum": ["float", "base64"], "default": "float"},
            "dimensions": {"type": "integer", "description": "Must equal the model's dimension."},
            "user": {"type": "string", "description": "Accepted and ignored."},
        },
    ),
    "EmbeddingResponse": closed_object(
        ["object", "data", "model", "usage"],
        {
            "object": {"const": "list"},
            "data": {
                "type": "array",
                "items": closed_object(
                    ["object", "index", "embedding"],
                    {
                        "object": {"const": "embedding"},
                        "index": {"type": "integer"},
                        "embedding": {
                            "anyOf": [
                                {"type": "array", "items": {"type": "number"}},
                                {"type": "string", "contentEncoding": "base64"},
                            ]
                        },
                    },
                ),
            },
            "model": {"type": "string"},
            "usage": closed_object(
                ["prompt_tokens", "total_tokens"],
                {
                    "prompt_tokens": {"type": "integer"},
                    "total_tokens": {"type": "integer"},
                },
            ),
        },
    ),
}


#: Counts tokens with the local model's own tokenizer (loaded on first use).
_LOCAL_TOKENS: Final = TokenCounter()


def _approximate_tokens(texts: Sequence[str]) -> int:
    return sum(max(1, math.ceil(len(t) / 4)) for t in texts)


def count_tokens(embedder: Embedder, texts: Sequence[str]) -> int:
    """Tokens in ``texts``, for ``usage``.

    The embedder's own ``count_tokens(texts)`` when it has one; for the local
    model, its WordPiece tokenizer (the text's tokens, without the special
    tokens the model adds); otherwise ``ceil(characters / 4)`` per text.
    """
    counter: Callable[[Sequence[str]], Sequence[int]] | None = getattr(
        embedder, "count_tokens", None
    )
    if counter is not None:
        return int(sum(counter(texts)))
    if embedder.name == LOCAL_MODEL:
        return sum(_LOCAL_TOKENS.count(t) for t in texts)
    return _approximate_tokens(texts)


class OpenAIApi(RpcRoutes):
    """``/v1/vector_stores/{id}/search`` and ``/v1/embeddings``."""

    def __init__(
        self, rpcs: Mapping[str, Rpc], gateway: Gateway, config: Config, max_body_bytes: int
    ) -> None:
        super().__init__(rpcs, gateway, config, max_body_bytes)
        #: ``vector_store_id`` of LiteLLM registry entries -> store name.
        self.registry_ids: dict[str, str] = {
            store.collection: name
            for name, store in config.stores.items()
            if store.origin == "vector_store_registry" and store.collection
        }

    def operations(self) -> list[Operation]:
        """The routes with their OpenAPI operations."""
        ops: list[Operation] = []
        for prefix in ("/v1", ""):
            suffix = "" if prefix else "_unversioned"
            ops.append(
                Operation(
                    "POST",
                    prefix + "/vector_stores/{vector_store_id}/search",
                    json_endpoint(self._search, self.limit, ErrorStyle.OPENAI, _SEARCH_PARAMS),
                    {
                        "operationId": "vector_stores_search" + suffix,
                        "tags": ["OpenAI-compatible"],
                        "summary": "Search a vector store (OpenAI / LiteLLM)",
                        "parameters": [
                            {
                                "name": "vector_store_id",
                                "in": "path",
                                "required": True,
                                "schema": {"type": "string"},
                                "description": "Virtual index, registry vector_store_id, or "
                                "a collection of the default store.",
                                "example": "example",
                            }
                        ],
                        "requestBody": json_body(
                            "VectorStoreSearchRequest", {"query": "What is the capital of France?"}
                        ),
                        "responses": route_responses(
                            "VectorStoreSearchResultsPage", _OPENAI_ERROR, "Unknown vector store"
                        ),
                    },
                    style=ErrorStyle.OPENAI,
                )
            )
            ops.append(
                Operation(
                    "POST",
                    prefix + "/embeddings",
                    json_endpoint(self._embeddings, self.limit, ErrorStyle.OPENAI),
                    {
                        "operationId": "embeddings" + suffix,
                        "tags": ["OpenAI-compatible"],
                        "summary": "Create embeddings (OpenAI)",
                        "requestBody": json_body(
                            "EmbeddingRequest",
                            {
                                "input": "The food was delicious",
                                "model": next(iter(self.gateway.embeddings.names()), "model"),
                            },
                        ),
                        "responses": route_responses(
                            "EmbeddingResponse", _OPENAI_ERROR, "Unknown model"
                        ),
                    },
                    style=ErrorStyle.OPENAI,
                )
            )
        return ops

    # ------------------------------------------------------------------ search

    def _store_for(self, vector_store_id: str) -> str:
        if self.gateway.indexes.lookup(vector_store_id) is not None:
            return ""
        return self.registry_ids.get(vector_store_id, "")

    async def _search(self, body: dict[str, Any], call: Call) -> Response:
        check_keys(body, _SEARCH_KEYS, "")
        vector_store_id = str(call.request.path_params["vector_store_id"])
        raw_query = body.get("query")
        if isinstance(raw_query, str):
            queries = [raw_query]
        elif isinstance(raw_query, list) and all(isinstance(q, str) for q in raw_query):
            queries = list(raw_query)
            if not queries:
                raise InvalidArgument("query: the list is empty", field="query")
            self.gateway.check_batch(len(queries), "query")
        else:
            raise InvalidArgument(
                "query: required, a string or a list of strings",
                field="query",
                reason="MISSING_FIELD" if raw_query is None else None,
            )
        for i, q in enumerate(queries):
            if not q:
                where = "query" if isinstance(raw_query, str) else f"query[{i}]"
                raise InvalidArgument(f"{where}: empty query", field=where)
        max_results = opt_int(body, "max_num_results")
        rewrite = opt_bool(body, "rewrite_query")
        threshold: float | None = None
        options = body.get("ranking_options")
        if options is not None:
            options = require_object(options, "ranking_options")
            check_keys(options, ("ranker", "score_threshold"), "ranking_options")
            ranker = opt_str(options, "ranker", "ranking_options")
            if ranker is not None and ranker not in _RANKERS:
                raise InvalidArgument(
                    f"ranking_options.ranker: unknown ranker {ranker!r} (one of "
                    f"{', '.join(_RANKERS)})",
                    field="ranking_options.ranker",
                )
            threshold = opt_number(options, "score_threshold", "ranking_options")
        store = self._store_for(vector_store_id)
        target = self.gateway.resolve(store, vector_store_id, field="vector_store_id")
        native = {k: body[k] for k in MILVUS_PARAMS if body.get(k) is not None}
        if native and target.adapter.backend != "milvus":
            key = next(iter(native))
            raise InvalidArgument(
                f"{key}: a Milvus search parameter, but vector store {vector_store_id!r} is in "
                f"store {target.store!r} ({target.adapter.backend})",
                field=key,
            )
        top_k = max_results
        if top_k is None:
            limit = native.get("limit")
            top_k = limit if isinstance(limit, int) and not isinstance(limit, bool) else None
        data: dict[str, Any] = {
            "store": store,
            "collection": vector_store_id,
            "top_k": DEFAULT_MAX_RESULTS if top_k is None else top_k,
        }
        if threshold is not None:
            data["score_threshold"] = threshold
        if body.get("filters") is not None:
            data["filter"] = openai_filter(body["filters"])
        if native:
            data["native_params"] = native
        merged: dict[str, tuple[float, int, types_pb2.Hit]] = {}
        order = 0
        for query in queries:
            request = spb.SearchRequest()
            parse_into({**data, "text": query}, request)
            response = await invoke(self.search_rpc, request, call.context)
            assert isinstance(response, spb.SearchResponse)
            for hit in response.hits:
                best = merged.get(hit.id)
                if best is None or hit.score > best[0]:
                    merged[hit.id] = (hit.score, best[1] if best else order, hit)
                order += 1
        ranked = list(merged.values())
        if len(queries) > 1:
            ranked.sort(key=lambda item: (-item[0], item[1]))
        limit_n = int(data["top_k"])
        page: dict[str, Any] = {
            "object": "vector_store.search_results.page",
            "search_query": raw_query,
            "data": [_result(hit) for _, _, hit in ranked[:limit_n]],
            "has_more": False,
            "next_page": None,
        }
        if rewrite:
            page["rewrite_query_applied"] = False
        return json_response(call, page)

    # ------------------------------------------------------------------ embeddings

    def _embedder(self, model: str) -> Embedder:
        try:
            return self.gateway.embeddings.get(model)
        except ModelNotAllowed as exc:
            exc.field = "model"
            exc.metadata["field"] = "model"
            raise
        except UnknownModelError as exc:
            served = ", ".join(self.gateway.embeddings.names())
            raise OpenAIRouteError(
                f"The model {model!r} does not exist on this server (served: {served})",
                field="model",
                openai_code="model_not_found",
            ) from exc

    async def _embeddings(self, body: dict[str, Any], call: Call) -> Response:
        check_keys(body, _EMBEDDING_KEYS, "")
        model = opt_str(body, "model")
        if not model:
            raise InvalidArgument("model: required", field="model", reason="MISSING_FIELD")
        texts = _inputs(body.get("input"))
        fmt = opt_str(body, "encoding_format") or "float"
        if fmt not in ("float", "base64"):
            raise InvalidArgument(
                f"encoding_format: must be 'float' or 'base64', got {fmt!r}",
                field="encoding_format",
            )
        opt_str(body, "user")
        dimensions = opt_int(body, "dimensions")
        embedder = self._embedder(model)
        if dimensions is not None and dimensions != embedder.dimension:
            raise InvalidArgument(
                f"dimensions: model {embedder.name!r} produces {embedder.dimension}-dimensional "
                f"embeddings and cannot return {dimensions}",
                field="dimensions",
            )
        limits = self.gateway.limits
        if len(texts) > limits.max_batch_documents:
            raise LimitExceeded(
                f"input: {len(texts)} inputs exceed the limit of {limits.max_batch_documents} "
                "per request",
                field="input",
            )
        for i, text in enumerate(texts):
            if len(text.encode()) > limits.max_text_bytes:
                where = f"input[{i}]" if isinstance(body["input"], list) else "input"
                raise LimitExceeded(
                    f"{where}: longer than {limits.max_text_bytes} bytes", field=where
                )
        vectors = await run_with_deadline(call.context, "embeddings", embedder.embed(texts))
        matrix = np.asarray(vectors, dtype="<f4")
        data: list[dict[str, Any]] = []
        for i in range(matrix.shape[0]):
            row = matrix[i]
            embedding: Any = base64.b64encode(row.tobytes()).decode() if fmt == "base64" else row
            data.append({"object": "embedding", "index": i, "embedding": embedding})
        if len(texts) > _INLINE_TOKEN_COUNT:
            tokens = await asyncio.to_thread(count_tokens, embedder, texts)
        else:
            tokens = count_tokens(embedder, texts)
        out = {
            "object": "list",
            "data": data,
            "model": embedder.name,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return json_response(call, out, option=orjson.OPT_SERIALIZE_NUMPY)


def _inputs(value: Any) -> list[str]:
    if isinstance(value, str):
        if not value:
            raise InvalidArgument("input: must not be empty", field="input")
        return [value]
    if value is None:
        raise InvalidArgument("input: required", field="input", reason="MISSING_FIELD")
    if not isinstance(value, list) or not value:
        raise InvalidArgument(
            "input: expected a string or a non-empty list of strings", field="input"
        )
    if all(isinstance(v, int) and not isinstance(v, bool) for v in value) or all(
        isinstance(v, list) for v in value
    ):
        raise InvalidArgument(
            "input: token arrays are not supported: vectorgate's embedding models take text; "
            "send a string or a list of strings",
            field="input",
        )
    texts: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidArgument(
                f"input[{i}]: expected a string, got {type_name(item)}", field=f"input[{i}]"
            )
        if not item:
            raise InvalidArgument(f"input[{i}]: must not be empty", field=f"input[{i}]")
        texts.append(item)
    return texts


def _result(hit: types_pb2.Hit) -> dict[str, Any]:
    metadata = metadata_json(hit)
    return {
        "file_id": metadata.get("file_id"),
        "filename": metadata.get("filename"),
        "score": hit.score,
        "attributes": {**metadata, "id": hit.id},
        "content": [{"type": "text", "text": hit.text}],
    }
