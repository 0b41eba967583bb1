"""No endpoint or credential from a request; no secret in logs, errors or responses."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from tests.support.servers import ServerThread, make_config
from vectorgate.v1 import (
    collection_admin_service_pb2 as cpb,
)
from vectorgate.v1 import (
    collection_admin_service_pb2_grpc as cgrpc,
)
from vectorgate.v1 import (
    types_pb2,
)
from vectorgate.v1 import (
    upsert_service_pb2 as upb,
)
from vectorgate.v1 import (
    upsert_service_pb2_grpc as ugrpc,
)
from vectorgate_server.auth import endpoint_field
from vectorgate_server.embeddings import EmbeddingRegistry
from vectorgate_server.embeddings.remote import register_configured_embedders

MASTER = "sk-master-leaktest-4f1c9a"
BACKEND_KEY = "sk-backend-provider-77e0b2"
WRONG_BACKEND_KEY = "sk-backend-wrong-19ac44"


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        self.lines.append(f"{text} {record.__dict__!r}")


@pytest.fixture
def captured() -> Iterator[_Capture]:
    handler = _Capture()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


def test_endpoint_field_paths() -> None:
    assert endpoint_field({"query": "x"}) is None
    assert endpoint_field({"api_base": "http://x"}) == "api_base"
    assert (
        endpoint_field({"litellm_embedding_config": {"api_key": "k"}})
        == "litellm_embedding_config.api_key"
    )
    assert endpoint_field({"targets": [{}, {"Host": "h"}]}) == "targets[1].Host"
    # Document metadata is data, not configuration.
    assert endpoint_field({"documents": [{"metadata": {"url": "https://example.com"}}]}) is None


def _leak_free(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text


def test_no_endpoint_from_requests_and_no_secret_anywhere(
    tmp_path: Path, embeddings: EmbeddingRegistry, captured: _Capture
) -> None:
    provider_config = make_config(
        tmp_path / "provider", {"general_settings": {"master_key": BACKEND_KEY}}
    )
    with ServerThread(provider_config, embeddings) as provider:
        models = [
            {
                "model_name": name,
                "litellm_params": {
                    "model": "openai/all-MiniLM-L6-v2",
                    "api_base": f"{provider.http_base}/v1",
                    "api_key": key,
                },
                "model_info": {"mode": "embedding"},
            }
            for name, key in (("remote-ok", BACKEND_KEY), ("remote-bad", WRONG_BACKEND_KEY))
        ]
        config = make_config(
            tmp_path / "gw",
            {"general_settings": {"master_key": MASTER}, "model_list": models},
        )
        registry = EmbeddingRegistry()
        registry.register(embeddings.get(), default=True)
        register_configured_embedders(registry, config, environ={})
        with (
            ServerThread(config, registry) as srv,
            httpx.Client(base_url=srv.http_base, timeout=60) as http,
            grpc.insecure_channel(srv.grpc_target) as channel,
        ):
            bodies: list[str] = []
            admin = {"Authorization": f"Bearer {MASTER}"}

            def call(method: str, path: str, **kw: Any) -> httpx.Response:
                r = http.request(method, path, **kw)
                bodies.append(r.text + repr(dict(r.headers)))
                return r

            r = call(
                "POST",
                "/v1/collections",
                json={"collection": {"name": "kb", "dimension": 4, "embedding_model": "none"}},
                headers=admin,
            )
            assert r.status_code == 200, r.text
            r = call(
                "POST",
                "/v1/indexes",
                json={
                    "index_name": "kb_view",
                    "litellm_params": {"vector_store_index": "kb", "vector_store_name": "lancedb"},
                },
                headers=admin,
            )
            assert r.status_code == 200, r.text
            r = call(
                "POST",
                "/key/generate",
                json={
                    "allowed_vector_store_indexes": [
                        {"index_name": "kb_view", "index_permissions": ["read", "write"]}
                    ]
                },
                headers=admin,
            )
            vkey = r.json()["key"]
            vtoken = r.json()["info"]["token"]
            key_h = {"Authorization": f"Bearer {vkey}"}

            # Endpoints and credentials in request bodies: 400 naming the field.
            cases: list[tuple[str, dict[str, Any], str]] = [
                (
                    "/v1/vector_stores/kb_view/search",
                    {
                        "query": "x",
                        "litellm_embedding_model": "azure/text-embedding-3-large",
                        "litellm_embedding_config": {"api_base": "http://evil", "api_key": "k"},
                    },
                    "litellm_embedding_config.api_base",
                ),
                ("/v1/embeddings", {"input": "x", "model": "remote-ok", "api_key": "k"}, "api_key"),
                (
                    "/v1/collections/kb_view/documents:upsert",
                    {"documents": [], "url": "http://evil"},
                    "url",
                ),
                ("/v1/vector/search", {"collection": "kb_view", "host": "evil"}, "host"),
                (
                    "/v1/collections",
                    {"collection": {"name": "x", "index": {"params": {"api_base": "http://e"}}}},
                    "collection.index.params.api_base",
                ),
            ]
            for path, body, field in cases:
                who = admin if path == "/v1/collections" else key_h
                r = call("POST", path, json=body, headers=who)
                assert r.status_code == 400, (path, r.text)
                assert field in r.text, (path, r.text)
            # gRPC: Struct fields are checked too.
            stub = cgrpc.CollectionAdminServiceStub(channel)
            request = cpb.CreateCollectionRequest(
                collection=types_pb2.Collection(name="y", dimension=4, embedding_model="none")
            )
            request.collection.index.params.update({"nested": {"api_key": "k"}})
            with pytest.raises(grpc.RpcError) as info:
                stub.CreateCollection(request, metadata=(("authorization", f"Bearer {MASTER}"),))
            assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert "collection.index.params.nested.api_key" in (info.value.details() or "")

            # A full run: reads, writes, failures (bad keys, a failing backend).
            doc = {"id": "a", "vector": {"values": [0.1, 0.2, 0.3, 0.4]}, "metadata": {"u": 1}}
            assert (
                call(
                    "POST",
                    "/v1/collections/kb_view/documents:upsert",
                    json={"documents": [doc]},
                    headers=key_h,
                ).status_code
                == 200
            )
            ustub = ugrpc.UpsertServiceStub(channel)
            ustub.GetDocuments(
                upb.GetDocumentsRequest(collection="kb_view", ids=["a"]),
                metadata=(("authorization", f"Bearer {vkey}"),),
            )
            with pytest.raises(grpc.RpcError):
                ustub.GetDocuments(
                    upb.GetDocumentsRequest(collection="kb", ids=["a"]),
                    metadata=(("authorization", f"Bearer {vkey}"),),
                )
            with pytest.raises(grpc.RpcError):
                ustub.GetDocuments(
                    upb.GetDocumentsRequest(collection="kb_view", ids=["a"]),
                    metadata=(("authorization", f"Bearer {vkey}x"),),
                )
            r = call(
                "POST", "/v1/embeddings", json={"input": "hi", "model": "remote-ok"}, headers=key_h
            )
            assert r.status_code == 200, r.text
            r = call(
                "POST", "/v1/embeddings", json={"input": "hi", "model": "remote-bad"}, headers=key_h
            )
            assert r.status_code >= 400
            call("GET", "/key/info", params={"key": vtoken}, headers=admin)
            call("GET", "/key/list", headers=admin)
            call("GET", "/v1/indexes", headers={"Authorization": f"Bearer {MASTER[:-1]}"})
            call("GET", "/v1/collections", headers={"Authorization": f"Bearer {vkey[:-2]}"})
            call("GET", "/metrics")
            call("POST", "/key/delete", json={"keys": [vtoken]}, headers=admin)
    secrets = [MASTER, BACKEND_KEY, WRONG_BACKEND_KEY, vkey, vkey[:-2], MASTER[:-1]]
    assert captured.lines
    _leak_free("\n".join(captured.lines), secrets)
    _leak_free("\n".join(bodies), [BACKEND_KEY, WRONG_BACKEND_KEY, MASTER])
    # The key itself appears in exactly one response: the one that generated it.
    assert sum(vkey in body for body in bodies) == 1
