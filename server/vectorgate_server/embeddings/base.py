"""The embedder interface and the registry that resolves model names to embedders."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ..errors import PermissionDenied

__all__ = [
    "CALLER_MODELS",
    "Embedder",
    "EmbeddingRegistry",
    "ModelNotAllowed",
    "ModelScope",
    "SupportsWarmUp",
    "UnknownModelError",
    "caller_models",
    "check_texts",
]


@dataclass(slots=True)
class ModelScope:
    """The embedding models the current caller may use.

    Each set in ``limits`` is one key's ``models`` list (the caller's key and
    every key above it); a model must be in all of them. No sets: any model.
    Mutable, so that a long call (a stream) sees its key's current rights.
    """

    limits: tuple[frozenset[str], ...] = ()


#: The caller of the request being served (set by the auth layer for each call).
CALLER_MODELS: ContextVar[ModelScope | None] = ContextVar("vectorgate_caller_models", default=None)


@contextlib.contextmanager
def caller_models(scope: ModelScope) -> Iterator[ModelScope]:
    """Run the body with ``scope`` as the caller's allowed models."""
    token = CALLER_MODELS.set(scope)
    try:
        yield scope
    finally:
        CALLER_MODELS.reset(token)


class ModelNotAllowed(PermissionDenied):
    """The caller's key may not use the embedding model a request needs."""

    reason = "MODEL_NOT_ALLOWED"

    def __init__(self, model: str, allowed: Iterable[str]) -> None:
        names = ", ".join(sorted(allowed)) or "none"
        super().__init__(
            f"this key may not use the embedding model {model!r} (its models: {names})",
            metadata={"model": model},
        )
        self.model = model


class UnknownModelError(LookupError):
    """A model name that no registered embedder answers to.

    ``known`` lists the canonical names of the registered models, sorted.
    """

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known: tuple[str, ...] = tuple(sorted(known))
        super().__init__(name, self.known)

    def __str__(self) -> str:
        known = ", ".join(self.known) if self.known else "(none registered)"
        return f"unknown embedding model {self.name!r}; known models: {known}"


def check_texts(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list, after checking that it is a sequence of strings (a single
    string is refused: it would be embedded character by character)."""
    if isinstance(texts, str | bytes):
        raise TypeError("texts must be a sequence of strings, not a single string")
    items = list(texts)
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is {type(text).__name__}, expected str")
    return items


class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors.

    ``name`` is the canonical model name, ``dimension`` the vector length and
    ``max_batch`` the number of texts the model runs at once (callers may pass
    any number; larger inputs are split internally).
    """

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def max_batch(self) -> int: ...

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed ``texts`` into a ``(len(texts), dimension)`` array without
        blocking the event loop."""
        ...

    def embed_sync(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed ``texts`` in the calling thread."""
        ...


@runtime_checkable
class SupportsWarmUp(Protocol):
    """An embedder with state that can be loaded ahead of the first request."""

    def warm_up(self) -> None: ...


class EmbeddingRegistry:
    """Embedders by canonical name, with aliases and a default.

    Lookups are exact (case-sensitive); register every spelling you accept as
    an alias. ``get(None)`` and ``get("")`` return the default embedder, so an
    unset proto3 string field selects the default model. All methods are
    thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, Embedder] = {}  # canonical name -> embedder
        self._lookup: dict[str, str] = {}  # canonical name or alias -> canonical name
        self._default: str | None = None

    def register(
        self, embedder: Embedder, aliases: Iterable[str] = (), *, default: bool = False
    ) -> None:
        """Add ``embedder`` under its ``name`` and ``aliases``.

        The first embedder registered becomes the default unless a later one
        is registered with ``default=True``. Raises ``ValueError`` if the name
        or an alias is empty or already taken by another embedder.
        """
        canonical = embedder.name
        keys = [canonical, *(a for a in aliases if a != canonical)]
        with self._lock:
            for key in keys:
                if not key:
                    raise ValueError("embedding model names and aliases must be non-empty")
                owner = self._lookup.get(key)
                if owner is not None:
                    raise ValueError(
                        f"embedding model name {key!r} is already registered (for {owner!r})"
                    )
            self._by_name[canonical] = embedder
            for key in keys:
                self._lookup[key] = canonical
            if default or self._default is None:
                self._default = canonical

    def get(self, name: str | None = None) -> Embedder:
        """The embedder answering to ``name`` (canonical name or alias).

        ``None`` or ``""`` selects the default. Raises :class:`UnknownModelError`,
        and :class:`ModelNotAllowed` when the caller being served (``CALLER_MODELS``)
        may not use the model: this is the one place an embedder is obtained for a
        request, so every embedding a request causes is checked here, before any
        provider call.
        """
        scope = CALLER_MODELS.get()
        with self._lock:
            if not name:
                if self._default is None:
                    raise UnknownModelError("", ())
                canonical = self._default
            else:
                found = self._lookup.get(name)
                if found is None:
                    raise UnknownModelError(name, self._by_name)
                canonical = found
            if scope is not None:
                for allowed in scope.limits:
                    if not any(self._lookup.get(m, m) == canonical for m in allowed):
                        raise ModelNotAllowed(canonical, allowed)
            return self._by_name[canonical]

    def canonical_name(self, name: str | None = None) -> str:
        """The canonical name ``name`` resolves to (see :meth:`get`)."""
        return self.get(name).name

    @property
    def default_name(self) -> str:
        """Canonical name of the default embedder; ``UnknownModelError`` if empty."""
        with self._lock:
            if self._default is None:
                raise UnknownModelError("", ())
            return self._default

    def names(self) -> tuple[str, ...]:
        """Canonical names of the registered embedders, in registration order."""
        with self._lock:
            return tuple(self._by_name)

    def aliases(self, name: str) -> tuple[str, ...]:
        """All names (canonical first, then aliases) that resolve like ``name``."""
        canonical = self.canonical_name(name)
        with self._lock:
            others = sorted(k for k, v in self._lookup.items() if v == canonical and k != canonical)
        return (canonical, *others)

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return isinstance(name, str) and name in self._lookup

    def warm_up(self, names: Iterable[str] | None = None) -> None:
        """Load the given embedders (default: all) now rather than on first use.

        Blocks while models load; from async code run it with
        ``await asyncio.to_thread(registry.warm_up)``.
        """
        targets = [self.get(n) for n in names] if names is not None else self._all()
        for embedder in targets:
            if isinstance(embedder, SupportsWarmUp):
                embedder.warm_up()

    def close(self) -> None:
        """Release the resources of registered embedders that have a ``close()``
        (the local model's worker threads). The registry is unusable after."""
        for embedder in self._all():
            close = getattr(embedder, "close", None)
            if callable(close):
                close()

    def _all(self) -> list[Embedder]:
        with self._lock:
            return list(self._by_name.values())
