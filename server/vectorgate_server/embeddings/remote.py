"""Remote embedding models over HTTP: OpenAI, Azure OpenAI and OpenAI-compatible servers.

Selected by model name as LiteLLM configs write them:

``openai/<model>``
    ``POST {api_base}/embeddings`` (``api_base`` default
    ``https://api.openai.com/v1``), ``Authorization: Bearer <api_key>``, body
    ``{"model": "<model>", "input": [...], "encoding_format": "float"}``.
    Any OpenAI-compatible server (vLLM, text-embeddings-inference, Ollama,
    LocalAI, another vectorgate's ``/v1/embeddings``) is reached the same way
    by giving its ``api_base``; so are ``custom_openai/``, ``openai_like/`` and
    ``hosted_vllm/`` names, and any other name configured with an
    ``api_base``.
``azure/<deployment>``
    ``POST {api_base}/openai/deployments/<deployment>/embeddings?api-version=<api_version>``
    with the key in an ``api-key`` header, body ``{"input": [...], ...}``.

Behaviour: requests are batched up to ``max_batch`` texts (the providers'
limit, 2048 for OpenAI and Azure); single-text calls (query embeddings) go
through an LRU cache; 408/425/429/5xx, timeouts and connection errors are
retried with jittered exponential backoff, a bounded number of times
(:mod:`vectorgate_server.remote_http`); vectors are returned L2-normalised as
the :class:`~vectorgate_server.embeddings.base.Embedder` protocol requires.
Failures raise :class:`~vectorgate_server.errors.EmbeddingFailed` when the
provider rejected the input (400/413/422) and
:class:`~vectorgate_server.errors.Unavailable` otherwise; messages name the
model and the provider's host, never the key.

The dimension comes from the configuration (``model_info.dimensions`` /
``output_vector_size``, ``litellm_params.dimensions`` or the store's
``dimensions``); otherwise it is probed with one request at start-up
(:meth:`RemoteEmbedder.warm_up`) or learnt from the first answer.

:func:`register_configured_embedders` registers every remote model of a
:class:`~vectorgate_server.config.Config` (``model_list`` entries and stores'
``embedding_model`` + ``embedding_config``) in an
:class:`~vectorgate_server.embeddings.base.EmbeddingRegistry`.
"""

from __future__ import annotations

import base64
import logging
import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import httpx
import numpy as np
import numpy.typing as npt

from ..adapters.configs import BaseStoreConfig
from ..config import Config, ConfigError, EmbeddingModelConfig
from ..errors import EmbeddingFailed, Unavailable
from ..remote_http import (
    AsyncClients,
    Calls,
    JsonPost,
    ProviderError,
    RetryPolicy,
    posted,
    run,
    run_sync,
    secret_text,
)
from .base import EmbeddingRegistry, check_texts

__all__ = [
    "AZURE_DEFAULT_API_VERSION",
    "OPENAI_API_BASE",
    "Provider",
    "RemoteEmbedder",
    "RemoteEmbeddingSpec",
    "register_configured_embedders",
    "spec_from_model",
]

log = logging.getLogger(__name__)

Provider = Literal["openai", "azure"]

OPENAI_API_BASE: Final = "https://api.openai.com/v1"
#: The Azure OpenAI GA API version used when none is configured.
AZURE_DEFAULT_API_VERSION: Final = "2024-10-21"
#: Inputs per request accepted by OpenAI and Azure OpenAI.
PROVIDER_MAX_BATCH: Final = 2048
#: Prefixes of OpenAI-compatible model names; the prefix is not sent to the server.
_OPENAI_PREFIXES: Final = frozenset({"openai", "custom_openai", "openai_like", "hosted_vllm"})
_DIMENSION_KEYS: Final = ("dimensions", "output_vector_size", "dimension", "embedding_dimension")
_PROBE_TEXT: Final = "dimension probe"


@dataclass(frozen=True, slots=True)
class RemoteEmbeddingSpec:
    """Everything needed to call one remote embedding model."""

    #: Canonical name in the registry.
    name: str
    provider: Provider
    #: The model sent in the body (OpenAI) or the deployment in the URL (Azure).
    model: str
    api_base: str
    api_key: str | None = None
    api_version: str | None = None
    #: Vector dimension, when configured.
    dimension: int | None = None
    #: ``dimensions`` request parameter (OpenAI text-embedding-3 shortening), if any.
    request_dimensions: int | None = None
    max_batch: int = PROVIDER_MAX_BATCH
    #: Entries of the query-embedding LRU cache (0 disables it).
    cache_size: int = 1024
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        if self.cache_size < 0:
            raise ValueError("cache_size must be >= 0")
        if self.provider == "azure" and not self.api_version:
            raise ValueError("Azure needs an api_version")

    @property
    def url(self) -> str:
        """The embeddings endpoint."""
        base = self.api_base.rstrip("/")
        if self.provider == "azure":
            base = base.removesuffix("/openai")
            return f"{base}/openai/deployments/{self.model}/embeddings"
        return f"{base}/embeddings"

    @property
    def params(self) -> dict[str, str]:
        """Query parameters."""
        if self.provider == "azure" and self.api_version:
            return {"api-version": self.api_version}
        return {}

    @property
    def request_headers(self) -> dict[str, str]:
        """Headers, including the credentials."""
        out = dict(self.headers)
        if self.api_key:
            if self.provider == "azure":
                out["api-key"] = self.api_key
            else:
                out["Authorization"] = f"Bearer {self.api_key}"
        return out

    def body(self, texts: Sequence[str]) -> dict[str, Any]:
        """The JSON body for ``texts``."""
        out: dict[str, Any] = {"input": list(texts), "encoding_format": "float"}
        if self.provider != "azure":
            out["model"] = self.model
        if self.request_dimensions is not None:
            out["dimensions"] = self.request_dimensions
        return out

    @property
    def description(self) -> str:
        """``embedding model 'name' (provider at host)``: for messages, without secrets."""
        host = urlsplit(self.api_base).netloc or self.api_base
        kind = "Azure OpenAI" if self.provider == "azure" else "OpenAI-compatible"
        return f"embedding model {self.name!r} ({kind} at {host})"


class RemoteEmbedder:
    """An :class:`~vectorgate_server.embeddings.base.Embedder` calling an HTTP provider."""

    def __init__(self, spec: RemoteEmbeddingSpec) -> None:
        self.spec = spec
        self._dimension = spec.dimension
        self._cache: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._clients = AsyncClients()
        self._sync_client: httpx.Client | None = None
        self._sync_lock = threading.Lock()
        self._secrets = tuple(s for s in (spec.api_key,) if s)
        #: Requests sent to the provider (for tests and metrics).
        self.requests = 0

    def __repr__(self) -> str:
        return f"RemoteEmbedder({self.spec.description})"

    # -- Embedder protocol -------------------------------------------------

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            raise EmbeddingFailed(
                f"{self.spec.description}: its dimension is not known yet (the start-up probe "
                "failed); configure model_info.dimensions or check the provider"
            )
        return self._dimension

    @property
    def max_batch(self) -> int:
        return self.spec.max_batch

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed ``texts``: one request per ``max_batch`` texts; single texts are cached."""
        return await run(self._embedding(texts), self._clients.get)

    def embed_sync(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Blocking :meth:`embed`."""
        return run_sync(self._embedding(texts), self._blocking_client)

    # -- lifecycle ---------------------------------------------------------

    def warm_up(self) -> None:
        """Probe the dimension with one request when it is not configured. Never raises:
        a failure is logged, and the model answers ``EmbeddingFailed`` until it works."""
        if self._dimension is not None:
            return
        try:
            self.embed_sync([_PROBE_TEXT])
        except Exception as exc:
            log.warning("probing the dimension of %s failed: %s", self.spec.description, exc)
        else:
            log.info("%s has dimension %s", self.spec.description, self._dimension)

    def close(self) -> None:
        """Close the blocking client."""
        with self._sync_lock:
            client, self._sync_client = self._sync_client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the running event loop's client (and the blocking one)."""
        await self._clients.aclose()
        self.close()

    # -- internals ---------------------------------------------------------

    def _embedding(self, texts: Sequence[str]) -> Calls[npt.NDArray[np.float32]]:
        """:meth:`embed` without I/O: yields the POST of each batch, gets its answer."""
        items = check_texts(texts)
        if not items:
            return np.empty((0, self._dimension or 0), dtype=np.float32)
        cached = self._cached(items)
        if cached is not None:
            return cached
        parts: list[npt.NDArray[np.float32]] = []
        for start in range(0, len(items), self.spec.max_batch):
            chunk = items[start : start + self.spec.max_batch]
            self.requests += 1
            try:
                answer = yield from posted(
                    JsonPost(
                        self.spec.url,
                        body=self.spec.body(chunk),
                        headers=self.spec.request_headers,
                        params=self.spec.params,
                        policy=self.spec.retry,
                        what=self.spec.description,
                        secrets=self._secrets,
                    )
                )
            except ProviderError as exc:
                raise self._error(exc) from None
            parts.append(self._vectors(answer, len(chunk)))
        out = parts[0] if len(parts) == 1 else np.vstack(parts)
        self._remember(items, out)
        return out

    def _blocking_client(self) -> httpx.Client:
        with self._sync_lock:
            if self._sync_client is None:
                self._sync_client = httpx.Client(follow_redirects=False)
            return self._sync_client

    def _error(self, exc: ProviderError) -> Exception:
        return exc.to_domain(rejected=lambda message: EmbeddingFailed(message))

    def _cached(self, items: list[str]) -> npt.NDArray[np.float32] | None:
        if len(items) != 1 or self.spec.cache_size == 0:
            return None
        with self._cache_lock:
            vector = self._cache.get(items[0])
            if vector is None:
                return None
            self._cache.move_to_end(items[0])
        return vector.reshape(1, -1).copy()

    def _remember(self, items: list[str], out: npt.NDArray[np.float32]) -> None:
        if len(items) != 1 or self.spec.cache_size == 0:
            return
        vector = out[0].copy()
        vector.flags.writeable = False
        with self._cache_lock:
            self._cache[items[0]] = vector
            self._cache.move_to_end(items[0])
            while len(self._cache) > self.spec.cache_size:
                self._cache.popitem(last=False)

    def _vectors(self, answer: Any, count: int) -> npt.NDArray[np.float32]:
        """The ``(count, dimension)`` unit vectors of an OpenAI-shaped answer."""
        what = self.spec.description
        data = answer.get("data") if isinstance(answer, Mapping) else None
        if not isinstance(data, list) or len(data) != count:
            got = len(data) if isinstance(data, list) else "no"
            raise Unavailable(
                f"{what}: malformed answer: expected {count} embeddings in 'data', got {got}"
            )
        rows: list[npt.NDArray[np.float32] | None] = [None] * count
        for position, item in enumerate(data):
            if not isinstance(item, Mapping):
                raise Unavailable(f"{what}: malformed answer: data[{position}] is not an object")
            index = item.get("index", position)
            if not isinstance(index, int) or not 0 <= index < count or rows[index] is not None:
                raise Unavailable(f"{what}: malformed answer: bad index in data[{position}]")
            rows[index] = self._decode(item.get("embedding"), position)
        matrix = np.vstack([r for r in rows if r is not None]).astype(np.float32, copy=False)
        dimension = matrix.shape[1]
        if self._dimension is None:
            self._dimension = dimension
        elif dimension != self._dimension:
            raise Unavailable(
                f"{what}: returned {dimension}-dimensional vectors but is configured with "
                f"dimension {self._dimension}"
            )
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        if not np.all(norms > 0):
            raise Unavailable(f"{what}: returned an all-zero vector")
        result: npt.NDArray[np.float32] = (matrix / norms).astype(np.float32, copy=False)
        return result

    def _decode(self, embedding: Any, position: int) -> npt.NDArray[np.float32]:
        what = self.spec.description
        if isinstance(embedding, str):
            try:
                raw = base64.b64decode(embedding, validate=True)
            except ValueError as exc:
                raise Unavailable(f"{what}: data[{position}].embedding is not base64") from exc
            vector = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        elif isinstance(embedding, list) and embedding:
            try:
                vector = np.asarray(embedding, dtype=np.float32)
            except (TypeError, ValueError) as exc:
                raise Unavailable(f"{what}: data[{position}].embedding is not numbers") from exc
        else:
            raise Unavailable(f"{what}: data[{position}].embedding is missing")
        if vector.ndim != 1 or vector.size == 0 or not np.all(np.isfinite(vector)):
            raise Unavailable(f"{what}: data[{position}].embedding is not a finite vector")
        return vector


# --------------------------------------------------------------------------- from configuration


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and value > 0 else None


def spec_from_model(
    name: str,
    model: str,
    *,
    api_base: str | None,
    api_key: str | None,
    api_version: str | None,
    environ: Mapping[str, str],
    dimension: int | None = None,
    request_dimensions: int | None = None,
    max_batch: int | None = None,
    retry: RetryPolicy | None = None,
) -> RemoteEmbeddingSpec | None:
    """The spec for a LiteLLM model string, or None when it names no HTTP provider we speak.

    ``openai/...`` and ``azure/...`` fall back to LiteLLM's environment
    variables (``OPENAI_API_KEY``, ``OPENAI_API_BASE``, ``AZURE_API_KEY``,
    ``AZURE_API_BASE``, ``AZURE_API_VERSION``). Raises ``ValueError`` when an
    Azure model has no ``api_base``.
    """
    prefix, _, rest = model.partition("/")
    common: dict[str, Any] = {
        "name": name,
        "dimension": dimension,
        "request_dimensions": request_dimensions,
        "max_batch": max_batch or PROVIDER_MAX_BATCH,
        "retry": retry or RetryPolicy(),
    }
    if prefix == "azure" and rest:
        base = api_base or environ.get("AZURE_API_BASE")
        if not base:
            raise ValueError(f"model {model!r} needs api_base (the Azure OpenAI endpoint)")
        return RemoteEmbeddingSpec(
            provider="azure",
            model=rest,
            api_base=base,
            api_key=api_key or environ.get("AZURE_API_KEY") or None,
            api_version=api_version
            or environ.get("AZURE_API_VERSION")
            or AZURE_DEFAULT_API_VERSION,
            **common,
        )
    if prefix in _OPENAI_PREFIXES and rest:
        base = api_base or (environ.get("OPENAI_API_BASE") if prefix == "openai" else None)
        key = api_key or (environ.get("OPENAI_API_KEY") if prefix == "openai" else None)
        if prefix != "openai" and not base:
            raise ValueError(f"model {model!r} needs api_base (the server's /v1 URL)")
        return RemoteEmbeddingSpec(
            provider="openai", model=rest, api_base=base or OPENAI_API_BASE, api_key=key, **common
        )
    if api_base:
        return RemoteEmbeddingSpec(
            provider="openai", model=model, api_base=api_base, api_key=api_key, **common
        )
    return None


def _dimension_from(*sources: Mapping[str, Any]) -> int | None:
    for source in sources:
        for key in _DIMENSION_KEYS:
            number = _positive_int(source.get(key))
            if number is not None:
                return number
    return None


_EMBED_NAME_RE: Final = re.compile(r"embed", re.IGNORECASE)


def _is_embedding_entry(entry: EmbeddingModelConfig, referenced: set[str]) -> bool:
    mode = entry.model_info.get("mode")
    if isinstance(mode, str) and mode:
        return mode.lower() == "embedding"
    return (
        entry.name in referenced
        or entry.model in referenced
        or bool(_EMBED_NAME_RE.search(entry.model))
    )


def _store_path(store: BaseStoreConfig, key: str) -> str:
    if store.origin == "vector_store_registry":
        litellm_key = {"embedding_model": "litellm_embedding_model"}.get(
            key, "litellm_embedding_config"
        )
        return f"vector_store_registry[{store.name}].litellm_params.{litellm_key}"
    return f"vector_stores.{store.name}.{key}"


def register_configured_embedders(
    registry: EmbeddingRegistry,
    config: Config,
    *,
    environ: Mapping[str, str] | None = None,
) -> list[RemoteEmbedder]:
    """Register the remote embedding models of ``config``; return them.

    * Every ``model_list`` entry that is an embedding model (``model_info.mode:
      embedding``; without a mode: its model string contains "embed" or a
      store names it) served by an HTTP provider (``openai/``, ``azure/``, an
      OpenAI-compatible prefix, or any model with an ``api_base``) is
      registered under its ``model_name``, with its model string as an alias.
      Only the first of several deployments sharing a name is used.
    * Every store whose ``embedding_model`` is not registered by then and that
      has an ``embedding_config`` (LiteLLM's ``litellm_embedding_config``), or
      names an ``openai/``/``azure/`` model whose credentials are in the
      environment, registers that model under its name.
    * ``embedding.default_model`` naming a remote model makes it the default.

    Raises :class:`~vectorgate_server.config.ConfigError` (key path and
    reason) for a name clash with another model, two stores configuring one
    model name with different endpoints, or an Azure model without an
    ``api_base``.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    errors: list[str] = []
    added: list[RemoteEmbedder] = []
    endpoints: dict[str, tuple[str, str]] = {}  # model name -> (url, key path)
    default_name = config.embedding.default_model
    referenced = {s.embedding_model for s in config.stores.values() if s.embedding_model}
    referenced.add(default_name)

    def register(spec: RemoteEmbeddingSpec, aliases: Sequence[str], path: str) -> None:
        embedder = RemoteEmbedder(spec)
        free = [a for a in aliases if a != spec.name and a not in registry]
        try:
            registry.register(embedder, aliases=free, default=default_name in (spec.name, *free))
        except ValueError as exc:
            errors.append(f"{path}: {exc}")
            return
        endpoints[spec.name] = (spec.url, path)
        for alias in free:
            endpoints[alias] = (spec.url, path)
        added.append(embedder)

    seen_names: set[str] = set()
    for index, entry in enumerate(config.embedding_models):
        path = f"model_list[{index}]"
        if entry.name in seen_names or not _is_embedding_entry(entry, referenced):
            continue
        params = entry.params
        retry = RetryPolicy.from_params(params, timeout_s=30.0)
        try:
            spec = spec_from_model(
                entry.name,
                entry.model,
                api_base=entry.api_base,
                api_key=secret_text(entry.api_key),
                api_version=entry.api_version,
                environ=env,
                dimension=_dimension_from(entry.model_info, params),
                request_dimensions=_positive_int(params.get("dimensions")),
                max_batch=_positive_int(entry.model_info.get("max_batch_size"))
                or _positive_int(params.get("max_batch_size")),
                retry=retry,
            )
        except ValueError as exc:
            errors.append(f"{path}.litellm_params.model: {exc}")
            continue
        if spec is None:
            continue
        seen_names.add(entry.name)
        if entry.name in registry:
            errors.append(
                f"{path}.model_name: {entry.name!r} is already the name of another "
                "embedding model (the local model's names are reserved)"
            )
            continue
        register(spec, [entry.model], path)

    for store in config.stores.values():
        model = store.embedding_model
        if not model:
            continue
        endpoint = store.embedding_config
        path = _store_path(store, "embedding_config" if endpoint else "embedding_model")
        try:
            spec = spec_from_model(
                model,
                model,
                api_base=endpoint.api_base if endpoint else None,
                api_key=secret_text(endpoint.api_key) if endpoint else None,
                api_version=endpoint.api_version if endpoint else None,
                environ=env,
                dimension=store.dimension,
            )
        except ValueError as exc:
            if endpoint is not None or model not in registry:
                log.warning("%s: %s; collections pinned to it cannot embed text", path, exc)
            continue
        if spec is None:
            continue
        if model in registry:
            known = endpoints.get(model)
            if endpoint is not None and known is not None and known[0] != spec.url:
                errors.append(
                    f"{path}: model {model!r} is already configured at {known[1]} with a "
                    "different endpoint; give this one another name"
                )
            continue
        if endpoint is None and not spec.api_key:
            log.info(
                "%s: no credentials for %r in the configuration or the environment; it is not "
                "registered",
                path,
                model,
            )
            continue
        register(replace(spec, name=model), [], path)

    if errors:
        raise ConfigError(errors, source=config.source_path)
    return added
