"""Rerankers: the local one (no network) and Cohere-style HTTP rerank APIs.

:func:`build_rerankers` makes the registry of a configuration:

* ``local`` (:class:`LocalReranker`) is not in the registry: it needs the
  gateway's embedding registry and is made per request from it;
* every ``model_list`` entry that is a rerank model (``model_info.mode:
  rerank``, or, without a mode, "rerank" in its model string or its name used
  as a ``rerank_model``), under its ``model_name``. ``cohere/``, ``jina_ai/``
  and ``voyage/`` models default their ``api_base`` and take their key from
  ``COHERE_API_KEY``, ``JINA_AI_API_KEY`` and ``VOYAGE_API_KEY`` when the
  entry has none (``os.environ/NAME`` works as everywhere in the config);
  other providers need an ``api_base``;
* a ``rerank_model`` of ``rag_settings`` / ``router_settings.rag_settings``
  that is not a ``model_list`` name but a provider model string
  (``cohere/rerank-v3.5``), under that string.

A ``rerank_model`` that resolves to nothing is logged at start-up and
answered ``FAILED_PRECONDITION`` when a request needs it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from ..config import Config, EmbeddingModelConfig
from ..remote_http import RetryPolicy, secret_text
from .base import RerankerRegistry, RerankResult, SupportsAsyncClose
from .http import PROVIDER_DEFAULTS, HttpReranker, HttpRerankerSpec, rerank_url
from .local import LOCAL_RERANKER, LocalReranker, mmr_order

__all__ = [
    "LOCAL_RERANKER",
    "HttpReranker",
    "HttpRerankerSpec",
    "LocalReranker",
    "RerankResult",
    "RerankerRegistry",
    "SupportsAsyncClose",
    "build_rerankers",
    "mmr_order",
    "rerank_url",
]

log = logging.getLogger(__name__)


def _spec(
    name: str,
    model: str,
    api_base: str | None,
    api_key: str | None,
    environ: Mapping[str, str],
    params: Mapping[str, Any] | None = None,
) -> HttpRerankerSpec | None:
    provider, _, rest = model.partition("/")
    defaults = PROVIDER_DEFAULTS.get(provider) if rest else None
    body_model = rest if defaults is not None else model
    base = api_base or (defaults[0] if defaults else None)
    if not base:
        return None
    key = api_key or (environ.get(defaults[1]) if defaults else None) or None
    retry = RetryPolicy.from_params(params or {}, timeout_s=15.0)
    return HttpRerankerSpec(
        name=name,
        model=body_model,
        api_base=base,
        api_key=key,
        dialect="voyage" if provider == "voyage" else "cohere",
        retry=retry,
    )


def _is_rerank_entry(entry: EmbeddingModelConfig, referenced: set[str]) -> bool:
    mode = entry.model_info.get("mode")
    if isinstance(mode, str) and mode:
        return mode.lower() == "rerank"
    return entry.name in referenced or "rerank" in entry.model.lower()


def build_rerankers(
    config: Config, *, environ: Mapping[str, str] | None = None
) -> RerankerRegistry:
    """The HTTP rerankers of ``config`` (see the module docstring)."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    registry = RerankerRegistry()
    referenced: set[str] = set()
    if config.rag_settings.rerank_model:
        referenced.add(config.rag_settings.rerank_model)
    router = config.router_settings.rag_settings
    if router is not None and router.rerank_model:
        referenced.add(router.rerank_model)
    for index, entry in enumerate(config.embedding_models):
        if entry.name in registry or entry.name == LOCAL_RERANKER:
            continue
        if not _is_rerank_entry(entry, referenced):
            continue
        spec = _spec(
            entry.name, entry.model, entry.api_base, secret_text(entry.api_key), env, entry.params
        )
        if spec is None:
            log.warning(
                "model_list[%d] (%s): rerank model %r has no api_base and no known provider "
                "prefix (cohere/, jina_ai/, voyage/); it is not usable",
                index,
                entry.name,
                entry.model,
            )
            continue
        registry.register(HttpReranker(spec))
    for name in sorted(referenced - set(registry.names()) - {LOCAL_RERANKER}):
        spec = _spec(name, name, None, None, env)
        if spec is None or spec.api_key is None:
            log.warning(
                "rerank_model %r is neither a model_list entry nor a provider model with "
                "credentials in the environment; requests that need it fail",
                name,
            )
            continue
        registry.register(HttpReranker(spec))
    return registry
