"""Adversarial suite (issue #14): one file per class of hole, over every face.

The shared gateway: a master key, the embedded LanceDB store as default and a
Milvus Lite store (in-process, ``.db`` file) for the passthrough, each behind
a virtual index; keys are minted through the REST key routes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.servers import ServerThread, make_config
from vectorgate_server.embeddings import EmbeddingRegistry, default_registry

MASTER = "sk-security-master-key"
MILVUS_STORE = "milvus-store"
#: Virtual index -> (store, real collection).
INDEXES = {
    "vi-milvus": (MILVUS_STORE, "milvus_real"),
    "vi-other": (MILVUS_STORE, "other_real"),
    "vi-lance": ("local", "lance_real"),
}


@pytest.fixture(scope="session")
def embeddings() -> EmbeddingRegistry:
    registry = default_registry()
    registry.warm_up()
    return registry


def gateway_config(base: Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Master key, LanceDB ``local`` (default) and Milvus Lite ``milvus-store``."""
    data: dict[str, Any] = {
        "general_settings": {"master_key": MASTER},
        "vector_stores": {"local": {"type": "lancedb"}},
        "default_store": "local",
        "vector_store_registry": [
            {
                "vector_store_name": MILVUS_STORE,
                "litellm_params": {
                    "vector_store_id": "can-be-anything",
                    "custom_llm_provider": "milvus",
                    "api_base": str(base / "milvus.db"),
                },
            }
        ],
    }
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


@dataclass
class Gateway:
    server: ServerThread
    http: httpx.Client

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {MASTER}"}

    def key(self, grants: dict[str, list[str]], **extra: Any) -> str:
        body = {
            "allowed_vector_store_indexes": [
                {"index_name": name, "index_permissions": perms} for name, perms in grants.items()
            ],
            **extra,
        }
        r = self.http.post("/key/generate", json=body, headers=self.admin)
        assert r.status_code == 200, r.text
        key: str = r.json()["key"]
        return key

    def index(self, name: str, store: str, collection: str, **extra: Any) -> None:
        r = self.http.post(
            "/v1/indexes",
            json={
                "index_name": name,
                "litellm_params": {"vector_store_index": collection, "vector_store_name": store},
                **extra,
            },
            headers=self.admin,
        )
        assert r.status_code == 200, r.text


def start_gateway(
    base: Path, embeddings: EmbeddingRegistry, extra: dict[str, Any] | None = None
) -> Iterator[Gateway]:
    pytest.importorskip("milvus_lite", reason="Milvus Lite is not installed")
    config = make_config(base / "data", gateway_config(base, extra))
    with (
        ServerThread(config, embeddings) as server,
        httpx.Client(base_url=server.http_base, timeout=60) as http,
    ):
        gw = Gateway(server, http)
        for name, (store, collection) in INDEXES.items():
            gw.index(name, store, collection)
        yield gw


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, embeddings: EmbeddingRegistry
) -> Iterator[Gateway]:
    yield from start_gateway(tmp_path_factory.mktemp("security"), embeddings)
