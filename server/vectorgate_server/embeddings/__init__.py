"""Text embedding models behind a name-based registry.

``default_registry()`` returns a registry with the local all-MiniLM-L6-v2
model (int8 ONNX, 384-d) registered as the default under its aliases. The
model loads lazily on first use; call ``registry.warm_up()`` at server start
to load it eagerly.
"""

from __future__ import annotations

from .base import (
    CALLER_MODELS,
    Embedder,
    EmbeddingRegistry,
    ModelNotAllowed,
    ModelScope,
    SupportsWarmUp,
    UnknownModelError,
    caller_models,
)
from .local import (
    MODEL_ALIASES,
    MODEL_NAME,
    EmbeddingModelError,
    LocalOnnxEmbedder,
    ModelIntegrityError,
)

__all__ = [
    "CALLER_MODELS",
    "MODEL_ALIASES",
    "MODEL_NAME",
    "Embedder",
    "EmbeddingModelError",
    "EmbeddingRegistry",
    "LocalOnnxEmbedder",
    "ModelIntegrityError",
    "ModelNotAllowed",
    "ModelScope",
    "SupportsWarmUp",
    "UnknownModelError",
    "caller_models",
    "default_registry",
]


def default_registry(*, local: LocalOnnxEmbedder | None = None) -> EmbeddingRegistry:
    """A new registry with the local model as the default.

    Pass ``local`` to register a configured instance (threads, batch size);
    otherwise one with the default settings is created (nothing loads yet).
    """
    registry = EmbeddingRegistry()
    registry.register(local or LocalOnnxEmbedder(), aliases=MODEL_ALIASES, default=True)
    return registry
