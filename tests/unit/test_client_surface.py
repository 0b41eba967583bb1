"""Every RPC and every request field of the contract is reachable from both clients.

Enumerated from the proto descriptors, so a new RPC or request field fails this
test until :class:`vectorgate.Client` and :class:`vectorgate.AsyncClient` expose
it. ``FIELDS`` maps a request field path to the client parameter that sets it
(the parameter's name is the field's name unless listed). Parameters are read
from the method signatures, and from :class:`vectorgate.SearchOptions` where a
method takes ``**options``. ``tests/api/test_client_parity.py`` makes the real
calls.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.protobuf import descriptor

from vectorgate import AsyncClient, Client, SearchOptions
from vectorgate.v1 import (
    collection_admin_service_pb2,
    index_admin_service_pb2,
    key_service_pb2,
    search_service_pb2,
    upsert_service_pb2,
)

MODULES = (
    collection_admin_service_pb2,
    upsert_service_pb2,
    search_service_pb2,
    index_admin_service_pb2,
    key_service_pb2,
)

#: RPC -> client method.
METHODS = {
    "CreateCollection": "create_collection",
    "GetCollection": "get_collection",
    "ListCollections": "list_collections",
    "DeleteCollection": "delete_collection",
    "ListStores": "list_stores",
    "UpsertDocuments": "upsert",
    "BulkUpsertDocuments": "bulk_upsert",
    "GetDocuments": "get",
    "ListDocuments": "list_documents",
    "DeleteDocuments": "delete",
    "Search": "search",
    "Retrieve": "retrieve",
    "CreateIndex": "create_index",
    "GetIndex": "get_index",
    "ListIndexes": "list_indexes",
    "DeleteIndex": "delete_index",
    "GenerateKey": "generate_key",
    "GetKey": "key_info",
    "ListKeys": "list_keys",
    "UpdateKey": "update_key",
    "DeleteKey": "delete_keys",
}

#: Request fields the client fills itself (paging) or derives (no parameter of their own).
AUTOMATIC = {
    "ListCollectionsRequest.page_token",
    "ListIndexesRequest.page_token",
    "SearchRequest.explain",  # the explain() method
    "UpdateKeyRequest.update_indexes",  # set when indexes= is given
    "RetrieveRequest.search",  # expanded below: the search options
}

#: Message fields whose sub-fields are separate parameters (the rest take the whole message).
EXPANDED = {
    "CreateCollectionRequest.collection",
    "SearchRequest.fusion",
    "SearchRequest.hybrid",
    "SearchRequest.rerank",
    "CreateIndexRequest.litellm_params",
}

#: Field path -> parameter name, where they differ.
FIELDS = {
    "CreateCollectionRequest.collection.index.type": "index_type",
    "CreateCollectionRequest.collection.index.params": "index_params",
    "SearchRequest.text": "options.text",
    "SearchRequest.fusion.method": "fusion",
    "SearchRequest.fusion.candidates": "candidates",
    "SearchRequest.rerank.enabled": "rerank",
    "SearchRequest.rerank.model": "rerank_model",
    "SearchRequest.rerank.top_n": "rerank_top_n",
    "SearchRequest.rerank.candidates": "rerank_candidates",
    "UpsertDocumentsRequest.documents": "documents",
    # Columnar input: ids=/vectors=/texts=/metadata= (numpy) or a pyarrow table as documents.
    "UpsertDocumentsRequest.columns": "vectors",
    "BulkUpsertDocumentsRequest.columns": "vectors",
    "GetDocumentsRequest.include_vectors": "include_vectors",
    "CreateIndexRequest.litellm_params.vector_store_index": "collection",
    "CreateIndexRequest.litellm_params.vector_store_name": "store",
    "GenerateKeyRequest.allowed_vector_store_indexes": "indexes",
    "GenerateKeyRequest.key_alias": "alias",
    "UpdateKeyRequest.allowed_vector_store_indexes": "indexes",
    "UpdateKeyRequest.key_alias": "alias",
    "DeleteKeyRequest.keys": "keys",
    "CreateCollectionRequest.collection.name": "name",
    "GetCollectionRequest.name": "name",
    "DeleteCollectionRequest.name": "name",
}
#: Output-only fields of messages a request embeds (never set by a caller).
OUTPUT_ONLY = {
    "CreateCollectionRequest.collection.document_count",
    "CreateCollectionRequest.collection.backend",
    "CreateCollectionRequest.collection.create_time",
    "CreateCollectionRequest.collection.index_status",
}


def _rpcs() -> Iterator[tuple[str, descriptor.MethodDescriptor]]:
    for module in MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                yield service.name, method


def _leaf_paths(desc: descriptor.Descriptor, prefix: str) -> Iterator[str]:
    for fd in desc.fields:
        path = f"{prefix}.{fd.name}"
        if path in AUTOMATIC or path in OUTPUT_ONLY:
            continue
        nested = path in EXPANDED or path.startswith("CreateCollectionRequest.collection.")
        if (
            nested
            and fd.message_type is not None
            and fd.message_type.full_name.startswith("vectorgate")
        ):
            yield from _leaf_paths(fd.message_type, path)
            continue
        yield path


def _parameters(method: Callable[..., Any]) -> set[str]:
    names: set[str] = set()
    for name, parameter in inspect.signature(method).parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            names |= {f"options.{key}" for key in SearchOptions.__annotations__}
            names |= set(SearchOptions.__annotations__)
        elif name != "self":
            names.add(name)
    return names


def _expected_parameter(path: str) -> str:
    if path in FIELDS:
        return FIELDS[path]
    return path.rsplit(".", 1)[1]


ALL_RPCS = sorted(f"{service}.{method.name}" for service, method in _rpcs())


def test_every_rpc_is_listed() -> None:
    assert sorted(METHODS) == sorted(name.split(".")[1] for name in ALL_RPCS)


@pytest.mark.parametrize("client_class", [Client, AsyncClient], ids=["sync", "async"])
@pytest.mark.parametrize(("service", "rpc"), list(_rpcs()), ids=ALL_RPCS)
def test_rpc_and_every_request_field_reachable(
    client_class: type[Any], service: str, rpc: descriptor.MethodDescriptor
) -> None:
    method = getattr(client_class, METHODS[rpc.name], None)
    assert method is not None, f"{client_class.__name__} has no method for {service}.{rpc.name}"
    if client_class is AsyncClient:
        assert inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method)
    parameters = _parameters(method)
    request = rpc.input_type
    if rpc.name == "Retrieve":
        # Retrieve's `search` is the search options (the same core as search()).
        missing = [
            p
            for p in _leaf_paths(search_service_pb2.SearchRequest.DESCRIPTOR, "SearchRequest")
            if p not in {"SearchRequest.collection"}
            and _expected_parameter(p) not in parameters
            and f"options.{_expected_parameter(p)}" not in parameters
        ]
        assert not missing, f"{client_class.__name__}.retrieve cannot set {missing}"
        assert "max_tokens" in parameters
        return
    missing = [
        path
        for path in _leaf_paths(request, request.name)
        if _expected_parameter(path) not in parameters
    ]
    assert not missing, f"{client_class.__name__}.{method.__name__} cannot set {missing}"


def test_sync_and_async_take_the_same_parameters() -> None:
    for name in METHODS.values():
        sync = inspect.signature(getattr(Client, name)).parameters
        asynchronous = inspect.signature(getattr(AsyncClient, name)).parameters
        assert list(sync) == list(asynchronous), name
        for key in sync:
            assert sync[key].default == asynchronous[key].default, (name, key)
