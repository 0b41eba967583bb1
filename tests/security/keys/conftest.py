"""Shared fixtures of the adversarial suite: a real server with a master key, a local
and a remote embedding model (the remote one a real HTTP provider on loopback that
records every call), collections pinned to each, virtual indexes and keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from tests.servers.fake_providers import FakeProviders
from tests.support.servers import ServerThread, make_config
from vectorgate_server.embeddings import MODEL_ALIASES, EmbeddingRegistry, default_registry
from vectorgate_server.embeddings.remote import register_configured_embedders

MASTER = "sk-master-security-0123456789"
LOCAL_MODEL = "all-MiniLM-L6-v2"
REMOTE_MODEL = "remote-embed"
DIM = 4


@pytest.fixture(scope="session")
def embeddings() -> EmbeddingRegistry:
    """One loaded local model shared by every in-process server of the session."""
    registry = default_registry()
    registry.warm_up()
    return registry


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def md(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


@dataclass
class Gateway:
    """A running gateway and what the fixture created on it."""

    srv: ServerThread
    http: httpx.Client
    channel: grpc.Channel
    provider: FakeProviders
    keys: dict[str, str] = field(default_factory=dict)

    def provider_calls(self) -> int:
        """Embedding requests the remote provider received so far."""
        return sum(1 for r in self.provider.requests if r.path.endswith("/embeddings"))

    def admin(self, method: str, path: str, body: Any = None) -> httpx.Response:
        r = self.http.request(method, path, json=body, headers=bearer(MASTER))
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r

    def mint(self, body: dict[str, Any], key: str = MASTER) -> str:
        r = self.http.post("/key/generate", json=body, headers=bearer(key))
        assert r.status_code == 200, r.text
        minted: str = r.json()["key"]
        return minted


def gateway_registry(
    tmp_path: Path, embeddings: EmbeddingRegistry, provider: FakeProviders
) -> tuple[EmbeddingRegistry, dict[str, Any]]:
    """The local model (default) plus ``remote-embed`` served by ``provider``."""
    model_list = [
        {
            "model_name": REMOTE_MODEL,
            "litellm_params": {
                "model": "openai/text-embedding-3-small",
                "api_base": f"{provider.base}/v1",
                "api_key": "sk-provider-credential-not-checked",
            },
            "model_info": {"mode": "embedding"},
        }
    ]
    probe = make_config(tmp_path / "probe", {"model_list": model_list})
    registry = EmbeddingRegistry()
    registry.register(embeddings.get(), aliases=MODEL_ALIASES, default=True)
    register_configured_embedders(registry, probe, environ={})
    return registry, {"model_list": model_list}


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, embeddings: EmbeddingRegistry
) -> Iterator[Gateway]:
    """Collections ``kb_local`` (local model), ``kb_remote`` (remote model) and ``kb_vec``
    (vectors only), each behind a virtual index ``idx_<kind>``; key ``local_only`` may
    read and write all three but embed only with the local model."""
    tmp = tmp_path_factory.mktemp("security")
    with FakeProviders() as provider:
        registry, extra = gateway_registry(tmp, embeddings, provider)
        config = make_config(tmp / "data", {"general_settings": {"master_key": MASTER}, **extra})
        with (
            ServerThread(config, registry) as srv,
            httpx.Client(base_url=srv.http_base, timeout=30) as http,
            grpc.insecure_channel(srv.grpc_target) as channel,
        ):
            gw = Gateway(srv, http, channel, provider)
            for name, model, dim in (
                ("kb_local", LOCAL_MODEL, 0),
                ("kb_remote", REMOTE_MODEL, 0),
                ("kb_vec", "none", DIM),
            ):
                collection: dict[str, Any] = {"name": name, "embedding_model": model}
                if dim:
                    collection["dimension"] = dim
                gw.admin("POST", "/v1/collections", {"collection": collection})
                gw.admin(
                    "POST",
                    "/v1/indexes",
                    {
                        "index_name": "idx_" + name.removeprefix("kb_"),
                        "litellm_params": {
                            "vector_store_index": name,
                            "vector_store_name": "lancedb",
                        },
                    },
                )
            gw.admin(
                "POST",
                "/v1/collections/kb_remote/documents:upsert",
                {"documents": [{"id": "r1", "text": "remote document"}]},
            )
            gw.admin(
                "POST",
                "/v1/collections/kb_local/documents:upsert",
                {"documents": [{"id": "l1", "text": "local document"}]},
            )
            grants = [
                {"index_name": i, "index_permissions": ["read", "write"]}
                for i in ("idx_local", "idx_remote", "idx_vec")
            ]
            gw.keys["local_only"] = gw.mint(
                {"allowed_vector_store_indexes": grants, "models": [LOCAL_MODEL]}
            )
            gw.keys["any_model"] = gw.mint({"allowed_vector_store_indexes": grants})
            yield gw
