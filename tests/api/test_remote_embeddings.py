"""A remote (OpenAI-compatible) embedding provider pointed at another vectorgate's
``/v1/embeddings`` gives the same vectors as the local model, end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.servers import ServerThread, make_config
from vectorgate import Client
from vectorgate_server.embeddings import MODEL_ALIASES, EmbeddingRegistry
from vectorgate_server.embeddings.remote import RemoteEmbedder, register_configured_embedders

TEXTS = [
    "The cat is sleeping on the sofa.",
    "Share prices dropped steeply this afternoon.",
    "naïve café résumé — unicode text",
    "Hi",
]


@pytest.fixture
def provider(tmp_path: Path, embeddings: EmbeddingRegistry) -> Iterator[ServerThread]:
    """The other vectorgate: serves the local model on its HTTP ``/v1/embeddings``."""
    with ServerThread(make_config(tmp_path / "provider"), embeddings) as srv:
        yield srv


def remote_registry(tmp_path: Path, embeddings: EmbeddingRegistry, base: str) -> EmbeddingRegistry:
    config = make_config(
        tmp_path / "client",
        extra={
            "model_list": [
                {
                    "model_name": "remote-minilm",
                    "litellm_params": {
                        "model": "openai/all-MiniLM-L6-v2",
                        "api_base": f"{base}/v1",
                        "api_key": "sk-test-not-checked",
                    },
                    "model_info": {"mode": "embedding"},
                }
            ]
        },
    )
    registry = EmbeddingRegistry()
    registry.register(embeddings.get(), aliases=MODEL_ALIASES, default=True)
    (remote,) = register_configured_embedders(registry, config, environ={})
    assert remote.name == "remote-minilm"
    return registry


async def test_same_vectors_as_the_local_model(
    tmp_path: Path, embeddings: EmbeddingRegistry, provider: ServerThread
) -> None:
    registry = remote_registry(tmp_path, embeddings, provider.http_base)
    remote = registry.get("openai/all-MiniLM-L6-v2")
    assert isinstance(remote, RemoteEmbedder)
    got = await remote.embed(TEXTS)
    expected = embeddings.get().embed_sync(TEXTS)
    assert got.shape == (len(TEXTS), 384) and remote.dimension == 384
    np.testing.assert_allclose(got, expected, atol=1e-6)
    await remote.aclose()


def test_a_collection_pinned_to_the_remote_model_works_end_to_end(
    tmp_path: Path, embeddings: EmbeddingRegistry, provider: ServerThread
) -> None:
    registry = remote_registry(tmp_path, embeddings, provider.http_base)
    config = make_config(tmp_path / "gateway")
    docs = [{"id": f"d{i}", "text": t} for i, t in enumerate(TEXTS)]
    with ServerThread(config, registry) as srv, Client(srv.grpc_target) as client:
        info = client.create_collection("kb", embedding_model="remote-minilm")
        assert info.dimension == 384  # probed once at start-up
        assert info.embedding_model == "remote-minilm"
        client.upsert("kb", docs)
        hits = client.search("kb", text="A kitten naps on the couch.", top_k=1)
        assert hits[0].id == "d0"
        stored = client.get("kb", [d["id"] for d in docs], include_vectors=True)
        vectors = np.array([d.vector for d in stored], dtype=np.float32)
    np.testing.assert_allclose(vectors, embeddings.get().embed_sync(TEXTS), atol=1e-6)
