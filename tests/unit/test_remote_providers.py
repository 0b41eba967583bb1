"""Remote embedding providers and HTTP rerankers against a real HTTP server on loopback."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.servers.fake_providers import FakeProviders, fake_vector
from tests.support.servers import write_config
from vectorgate_server import deadline
from vectorgate_server.config import Config, ConfigError, load_config
from vectorgate_server.embeddings import EmbeddingRegistry, default_registry
from vectorgate_server.embeddings.remote import (
    RemoteEmbedder,
    RemoteEmbeddingSpec,
    register_configured_embedders,
    spec_from_model,
)
from vectorgate_server.errors import EmbeddingFailed, InvalidArgument, Unavailable
from vectorgate_server.remote_http import RetryPolicy, backoff_delay
from vectorgate_server.rerank import HttpReranker, HttpRerankerSpec, build_rerankers, rerank_url

FAST = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05, timeout_s=5.0)
KEY = "sk-very-secret-key-123"


@pytest.fixture
def providers() -> Iterator[FakeProviders]:
    with FakeProviders() as server:
        yield server


def unit(text: str) -> np.ndarray:  # type: ignore[type-arg]
    v = np.asarray(fake_vector(text), dtype=np.float32)
    return v / np.linalg.norm(v)


def make_config(
    data_dir: Path, extra: Mapping[str, Any], environ_extra: Mapping[str, str] | None = None
) -> Config:
    """A config file with ``extra`` sections, loaded with only ``environ_extra`` as environment."""
    data = {"server": {"data_dir": str(data_dir)}, **extra}
    path = write_config(data_dir.parent / "config.yaml", data)
    return load_config(path, environ=dict(environ_extra or {}))


def openai_spec(base: str, **kw: Any) -> RemoteEmbeddingSpec:
    spec = spec_from_model(
        "remote",
        "openai/text-embedding-3-small",
        api_base=f"{base}/v1",
        api_key=KEY,
        api_version=None,
        environ={},
        retry=FAST,
    )
    assert spec is not None
    return replace(spec, **kw)


# --------------------------------------------------------------------------- request shapes


async def test_openai_request_shape(providers: FakeProviders) -> None:
    embedder = RemoteEmbedder(openai_spec(providers.base))
    vectors = await embedder.embed(["alpha", "beta"])
    (req,) = providers.requests
    assert req.path == "/v1/embeddings" and req.query == {}
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert "api-key" not in req.headers
    assert req.body == {
        "model": "text-embedding-3-small",
        "input": ["alpha", "beta"],
        "encoding_format": "float",
    }
    np.testing.assert_allclose(vectors, np.vstack([unit("alpha"), unit("beta")]), atol=1e-6)
    assert embedder.dimension == 8  # learnt from the first answer
    await embedder.aclose()


async def test_azure_url_and_header_shape(providers: FakeProviders) -> None:
    spec = spec_from_model(
        "az",
        "azure/my-deployment",
        api_base=f"{providers.base}/",
        api_key=KEY,
        api_version="2025-09-01",
        environ={},
        retry=FAST,
        dimension=8,
    )
    assert spec is not None
    embedder = RemoteEmbedder(spec)
    vectors = await embedder.embed(["hello"])
    (req,) = providers.requests
    assert req.path == "/openai/deployments/my-deployment/embeddings"
    assert req.query == {"api-version": ["2025-09-01"]}
    assert req.headers["api-key"] == KEY
    assert "authorization" not in req.headers
    assert req.body == {"input": ["hello"], "encoding_format": "float"}
    np.testing.assert_allclose(vectors[0], unit("hello"), atol=1e-6)
    await embedder.aclose()


def test_azure_defaults_and_environment() -> None:
    spec = spec_from_model(
        "az",
        "azure/dep",
        api_base=None,
        api_key=None,
        api_version=None,
        environ={"AZURE_API_BASE": "https://x.openai.azure.com", "AZURE_API_KEY": "k"},
    )
    assert spec is not None and spec.api_version == "2024-10-21" and spec.api_key == "k"
    assert spec.url == "https://x.openai.azure.com/openai/deployments/dep/embeddings"
    with pytest.raises(ValueError, match="api_base"):
        spec_from_model(
            "az", "azure/dep", api_base=None, api_key=None, api_version=None, environ={}
        )
    assert (
        spec_from_model(
            "x", "cohere/embed", api_base=None, api_key=None, api_version=None, environ={}
        )
        is None
    )
    compat = spec_from_model(
        "x", "my-model", api_base="http://h/v1", api_key=None, api_version=None, environ={}
    )
    assert (
        compat is not None and compat.model == "my-model" and compat.url == "http://h/v1/embeddings"
    )


# --------------------------------------------------------------------------- retries and errors


async def test_429_and_5xx_are_retried_with_backoff(providers: FakeProviders) -> None:
    providers.script.extend([(429, {"Retry-After": "0"}), (503, {}), (500, {})])
    embedder = RemoteEmbedder(openai_spec(providers.base))
    vectors = await embedder.embed(["x"])
    assert len(providers.requests) == 4
    np.testing.assert_allclose(vectors[0], unit("x"), atol=1e-6)
    await embedder.aclose()


async def test_provider_retries_stop_at_the_callers_deadline(providers: FakeProviders) -> None:
    """Attempts to spare, but no retry whose backoff would end past the caller's deadline."""
    providers.script.extend([(503, {})] * 10)
    spec = openai_spec(providers.base, retry=RetryPolicy(10, 1.0, 1.0, 5.0))
    embedder = RemoteEmbedder(spec)
    with deadline.start(0.2), pytest.raises(Unavailable) as info:
        await embedder.embed(["x"])
    assert len(providers.requests) < 10
    assert "HTTP 503" in info.value.message
    await embedder.aclose()


async def test_a_refused_key_is_not_retried(providers: FakeProviders) -> None:
    providers.script.extend([(401, {})] * 3)
    embedder = RemoteEmbedder(openai_spec(providers.base))
    with pytest.raises(Unavailable) as info:
        await embedder.embed(["x"])
    assert len(providers.requests) == 1
    assert "refused the configured credentials" in info.value.message
    await embedder.aclose()


async def test_retries_are_bounded_and_errors_name_the_model_not_the_key(
    providers: FakeProviders,
) -> None:
    providers.script.extend([(503, {})] * 10)
    spec = openai_spec(providers.base, retry=RetryPolicy(3, 0.0, 0.0, 5.0))
    embedder = RemoteEmbedder(spec)
    with pytest.raises(Unavailable) as info:
        await embedder.embed(["x"])
    assert len(providers.requests) == 3
    message = info.value.message
    assert "'remote'" in message and "after 3 attempts" in message and "HTTP 503" in message
    assert KEY not in message
    await embedder.aclose()


async def test_rejected_input_is_embedding_failed_without_retry(providers: FakeProviders) -> None:
    embedder = RemoteEmbedder(openai_spec(providers.base))
    with pytest.raises(EmbeddingFailed, match="too long") as info:
        await embedder.embed(["REJECT ME"])
    assert len(providers.requests) == 1
    assert "HTTP 400" in info.value.message
    await embedder.aclose()


async def test_bad_credentials_are_unavailable_and_never_echo_the_key(
    providers: FakeProviders,
) -> None:
    providers.script.append((401, {}))
    embedder = RemoteEmbedder(openai_spec(providers.base))
    with pytest.raises(Unavailable) as info:
        await embedder.embed(["x"])
    assert "credentials" in info.value.message
    assert KEY not in info.value.message and "canned" not in info.value.message
    assert len(providers.requests) == 1
    await embedder.aclose()


async def test_timeouts_and_unreachable_providers(providers: FakeProviders) -> None:
    providers.delay_s = 1.0
    slow = RemoteEmbedder(openai_spec(providers.base, retry=RetryPolicy(2, 0.0, 0.0, 0.2)))
    with pytest.raises(Unavailable, match=r"no answer within 0\.2s"):
        await slow.embed(["x"])
    await slow.aclose()
    closed = RemoteEmbedder(openai_spec("http://127.0.0.1:9", retry=RetryPolicy(2, 0.0, 0.0, 1)))
    with pytest.raises(Unavailable, match="cannot reach"):
        await closed.embed(["x"])
    await closed.aclose()


def test_backoff_is_jittered_bounded_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_attempts=6, base_delay_s=0.5, max_delay_s=4.0)
    rng = random.Random(7)
    for attempt in range(6):
        cap = min(4.0, 0.5 * 2**attempt)
        delays = [backoff_delay(attempt, policy, None, rng) for _ in range(50)]
        assert all(0 <= d <= cap for d in delays)
        assert len(set(delays)) > 40  # jittered
    assert backoff_delay(0, policy, "2") == 2.0
    assert backoff_delay(0, policy, "60") <= 0.5  # longer than the cap: ignored
    assert backoff_delay(0, policy, "soon") <= 0.5


# --------------------------------------------------------------------------- batching and cache


async def test_batches_up_to_the_provider_limit(providers: FakeProviders) -> None:
    embedder = RemoteEmbedder(openai_spec(providers.base, max_batch=3))
    texts = [f"t{i}" for i in range(7)]
    vectors = await embedder.embed(texts)
    assert [len(r.body["input"]) for r in providers.requests] == [3, 3, 1]
    np.testing.assert_allclose(vectors, np.vstack([unit(t) for t in texts]), atol=1e-6)
    await embedder.aclose()


async def test_query_embeddings_are_cached_lru(providers: FakeProviders) -> None:
    embedder = RemoteEmbedder(openai_spec(providers.base, cache_size=2))
    first = await embedder.embed(["q1"])
    again = await embedder.embed(["q1"])
    assert len(providers.requests) == 1
    np.testing.assert_array_equal(first, again)
    again[0, 0] = 42.0  # callers get copies
    np.testing.assert_array_equal(await embedder.embed(["q1"]), first)
    await embedder.embed(["q2"])
    await embedder.embed(["q3"])  # evicts q1 (least recently used)
    await embedder.embed(["q1"])
    assert [r.body["input"] for r in providers.requests] == [["q1"], ["q2"], ["q3"], ["q1"]]
    await embedder.aclose()


def test_sync_path_and_dimension_probe(providers: FakeProviders) -> None:
    embedder = RemoteEmbedder(openai_spec(providers.base))
    with pytest.raises(EmbeddingFailed, match="dimension is not known"):
        _ = embedder.dimension
    embedder.warm_up()
    assert embedder.dimension == 8
    np.testing.assert_allclose(embedder.embed_sync(["z"])[0], unit("z"), atol=1e-6)
    embedder.close()
    failing = RemoteEmbedder(openai_spec("http://127.0.0.1:9", retry=RetryPolicy(1, 0, 0, 1)))
    failing.warm_up()  # logged, not raised
    with pytest.raises(EmbeddingFailed):
        _ = failing.dimension


async def test_configured_dimension_is_checked(providers: FakeProviders) -> None:
    embedder = RemoteEmbedder(openai_spec(providers.base, dimension=16))
    with pytest.raises(Unavailable, match="8-dimensional vectors but is configured with"):
        await embedder.embed(["x"])
    await embedder.aclose()


# --------------------------------------------------------------------------- configuration


def test_registration_from_config(tmp_path: Path, providers: FakeProviders) -> None:
    base = providers.base
    config = make_config(
        tmp_path / "data",
        extra={
            "model_list": [
                {
                    "model_name": "embedding-model",
                    "litellm_params": {
                        "model": "azure/text-embedding-3-large",
                        "api_base": base,
                        "api_key": "os.environ/VG_TEST_AZURE_KEY",
                        "api_version": "2025-09-01",
                    },
                    "model_info": {"mode": "embedding", "output_vector_size": 8},
                },
                {
                    "model_name": "chat",
                    "litellm_params": {"model": "openai/gpt-4o", "api_key": "x"},
                    "model_info": {"mode": "chat"},
                },
            ],
            "vector_stores": {
                "lance": {
                    "type": "lancedb",
                    "uri": str(tmp_path / "l"),
                    "embedding_model": "openai/all-MiniLM-L6-v2",
                    "embedding_config": {"api_base": f"{base}/v1", "api_key": "k2"},
                    "dimensions": 8,
                }
            },
            "embedding": {"default_model": "embedding-model"},
        },
        environ_extra={"VG_TEST_AZURE_KEY": KEY},
    )
    registry = default_registry()
    added = register_configured_embedders(registry, config, environ={})
    assert sorted(e.name for e in added) == ["embedding-model", "openai/all-MiniLM-L6-v2"]
    azure = registry.get("azure/text-embedding-3-large")  # the model string is an alias
    assert azure.name == "embedding-model" and azure.dimension == 8
    assert isinstance(azure, RemoteEmbedder) and azure.spec.api_key == KEY
    assert registry.default_name == "embedding-model"
    assert "chat" not in registry
    store_model = registry.get("openai/all-MiniLM-L6-v2")
    assert (
        isinstance(store_model, RemoteEmbedder) and store_model.spec.url == f"{base}/v1/embeddings"
    )
    registry.close()


def test_conflicting_store_endpoints_fail_at_start(tmp_path: Path) -> None:
    store = {
        "type": "lancedb",
        "embedding_model": "openai/m",
        "embedding_config": {"api_base": "http://one/v1"},
    }
    config = make_config(
        tmp_path / "data",
        extra={
            "vector_stores": {
                "a": {**store, "uri": str(tmp_path / "a")},
                "b": {
                    **store,
                    "uri": str(tmp_path / "b"),
                    "embedding_config": {"api_base": "http://two/v1"},
                },
            }
        },
    )
    with pytest.raises(ConfigError, match=r"vector_stores\.b\.embedding_config: model 'openai/m'"):
        register_configured_embedders(EmbeddingRegistry(), config, environ={})


# --------------------------------------------------------------------------- rerank over HTTP


def test_rerank_urls() -> None:
    assert rerank_url("https://api.cohere.com/v1") == "https://api.cohere.com/v1/rerank"
    assert rerank_url("https://api.cohere.com/v2/") == "https://api.cohere.com/v2/rerank"
    assert rerank_url("http://tei:8080") == "http://tei:8080/v1/rerank"
    assert rerank_url("http://x/v1/rerank") == "http://x/v1/rerank"


async def test_http_reranker_request_and_answer(providers: FakeProviders) -> None:
    reranker = HttpReranker(
        HttpRerankerSpec("cohere-rerank", "rerank-v3.5", f"{providers.base}/v1", KEY, retry=FAST)
    )
    docs = ["nothing here", "red pump manual", "the red fox", "pump"]
    results = await reranker.rerank("red pump", docs, 2)
    (req,) = providers.requests
    assert req.path == "/v1/rerank"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.body == {"model": "rerank-v3.5", "query": "red pump", "documents": docs, "top_n": 2}
    assert [(r.index, r.score) for r in results] == [(1, 1.0), (2, 0.5)]
    with pytest.raises(InvalidArgument, match="only the local reranker"):
        await reranker.rerank("q", docs, 2, mmr_lambda=0.5)
    providers.script.extend([(502, {})] * 4)
    with pytest.raises(Unavailable, match="rerank model 'cohere-rerank'"):
        await reranker.rerank("q", docs, 2)
    await reranker.aclose()


async def test_voyage_dialect_sends_top_k(providers: FakeProviders) -> None:
    reranker = HttpReranker(
        HttpRerankerSpec("v", "rerank-2", f"{providers.base}/v1", KEY, dialect="voyage", retry=FAST)
    )
    await reranker.rerank("q", ["a", "b"], 1)
    assert providers.requests[0].body["top_k"] == 1 and "top_n" not in providers.requests[0].body
    await reranker.aclose()


def test_rerankers_from_config(tmp_path: Path) -> None:
    config = make_config(
        tmp_path / "data",
        extra={
            "model_list": [
                {
                    "model_name": "cohere-rerank",
                    "litellm_params": {
                        "model": "cohere/rerank-english-v3.0",
                        "api_key": "os.environ/VG_TEST_COHERE",
                    },
                },
                {
                    "model_name": "tei",
                    "litellm_params": {"model": "bge-reranker", "api_base": "http://tei:8080"},
                    "model_info": {"mode": "rerank"},
                },
            ],
            "router_settings": {
                "rag_enabled": True,
                "rag_settings": {"top_k": 5, "rerank": True, "rerank_model": "cohere-rerank"},
            },
        },
        environ_extra={"VG_TEST_COHERE": KEY},
    )
    registry = build_rerankers(config, environ={})
    assert registry.names() == ("cohere-rerank", "tei")
    cohere = registry.get("cohere-rerank")
    assert isinstance(cohere, HttpReranker)
    assert cohere.spec.url == "https://api.cohere.com/v1/rerank"
    assert cohere.spec.model == "rerank-english-v3.0" and cohere.spec.api_key == KEY
    tei = registry.get("tei")
    assert isinstance(tei, HttpReranker) and tei.spec.url == "http://tei:8080/v1/rerank"


@pytest.mark.parametrize(
    ("params", "attempts", "timeout"),
    [
        ({}, 4, 7.0),
        ({"max_retries": 0}, 1, 7.0),
        ({"max_retries": 2.0, "timeout": 3}, 3, 3.0),
        ({"max_retries": "2", "timeout": "1.5"}, 3, 1.5),
        ({"max_retries": True, "timeout": False}, 4, 7.0),
        ({"max_retries": -1, "timeout": -2}, 4, 7.0),
        ({"max_retries": "x", "timeout": float("nan")}, 4, 7.0),
    ],
)
def test_one_reading_of_litellm_retry_params(
    params: dict[str, object], attempts: int, timeout: float
) -> None:
    """Embedding and rerank models read ``timeout`` / ``max_retries`` the same way."""
    policy = RetryPolicy.from_params(params, timeout_s=7.0)
    assert (policy.max_attempts, policy.timeout_s) == (attempts, timeout)
