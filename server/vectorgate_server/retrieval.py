"""Fused search settings and shared objects (RAG groups, rerankers), from the configuration.

Kept apart from :mod:`vectorgate_server.multisearch` (the engine) so that the
application layer (:mod:`vectorgate_server.app`) can hold them without
importing the engine, which itself imports the application layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from .embeddings import Embedder
from .fusion import DEFAULT_RRF_K
from .rag_context import TokenCounter
from .rerank import RerankerRegistry, build_rerankers

if TYPE_CHECKING:
    from .config import Config

#: Names of the two configured RAG groups: the top-level ``rag_settings``, and
#: ``router_settings.rag_settings`` (only when ``router_settings.rag_enabled``).
DEFAULT_GROUP: Final = "default"
ROUTER_GROUP: Final = "router"

#: A target's time limit when neither the caller nor the store's ``timeout_s`` sets one.
DEFAULT_TARGET_TIMEOUT_S: Final = 10.0
#: The reranker's time limit when the caller set no deadline.
DEFAULT_RERANK_TIMEOUT_S: Final = 30.0

__all__ = [
    "DEFAULT_GROUP",
    "DEFAULT_RERANK_TIMEOUT_S",
    "DEFAULT_TARGET_TIMEOUT_S",
    "ROUTER_GROUP",
    "RagGroup",
    "Retrieval",
]


@dataclass(frozen=True, slots=True)
class RagGroup:
    """A named retrieval group of the configuration."""

    name: str
    #: Stores searched; empty means the default store.
    stores: tuple[str, ...]
    top_k: int
    rrf_k: int = DEFAULT_RRF_K
    weights: Mapping[str, float] = field(default_factory=dict)
    rerank: bool = False
    rerank_model: str | None = None
    #: False for the router group when ``router_settings.rag_enabled`` is false.
    enabled: bool = True


@dataclass(slots=True)
class Retrieval:
    """Settings and shared objects of fused search, built from the configuration."""

    groups: Mapping[str, RagGroup] = field(default_factory=dict)
    #: Store name -> the collection its configuration names (``table_name``, ...).
    store_collections: Mapping[str, str] = field(default_factory=dict)
    #: Store name -> its configured ``timeout_s``.
    store_timeouts: Mapping[str, float] = field(default_factory=dict)
    rerankers: RerankerRegistry = field(default_factory=RerankerRegistry)
    rag_enabled: bool = False
    default_rrf_k: int = DEFAULT_RRF_K
    target_timeout_s: float = DEFAULT_TARGET_TIMEOUT_S
    rerank_timeout_s: float = DEFAULT_RERANK_TIMEOUT_S
    tokens: TokenCounter = field(default_factory=TokenCounter)

    @classmethod
    def from_config(cls, config: Config, *, environ: Mapping[str, str] | None = None) -> Retrieval:
        """Groups, store defaults and rerankers of ``config`` (see the module docstring)."""
        rag = config.rag_settings
        groups: dict[str, RagGroup] = {
            DEFAULT_GROUP: RagGroup(
                name=DEFAULT_GROUP,
                stores=tuple(rag.stores),
                top_k=rag.top_k,
                rrf_k=rag.rrf_k,
                weights=dict(rag.weights),
                rerank=rag.rerank,
                rerank_model=rag.rerank_model,
            )
        }
        router = config.router_settings
        routed = router.rag_settings
        groups[ROUTER_GROUP] = RagGroup(
            name=ROUTER_GROUP,
            stores=(routed.vector_store,) if routed is not None and routed.vector_store else (),
            top_k=routed.top_k if routed is not None else rag.top_k,
            rrf_k=rag.rrf_k,
            rerank=routed.rerank if routed is not None else False,
            rerank_model=routed.rerank_model if routed is not None else None,
            enabled=router.rag_enabled,
        )
        collections = {
            name: store.collection for name, store in config.stores.items() if store.collection
        }
        timeouts = {
            name: float(store.timeout_s)
            for name, store in config.stores.items()
            if store.timeout_s is not None
        }
        return cls(
            groups=groups,
            store_collections=collections,
            store_timeouts=timeouts,
            rerankers=build_rerankers(config, environ=environ),
            rag_enabled=router.rag_enabled,
            default_rrf_k=rag.rrf_k,
        )

    async def aclose(self, embedders: Sequence[Embedder] = ()) -> None:
        """Close the running loop's HTTP connections of rerankers and remote embedders."""
        await self.rerankers.aclose()
        for embedder in embedders:
            close = getattr(embedder, "aclose", None)
            if callable(close):
                await close()
