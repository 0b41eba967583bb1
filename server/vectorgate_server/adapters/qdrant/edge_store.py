"""The embedded mode's storage: a store directory of Edge Shards, and qdrant-edge's types.

A store is a directory of collections (see :mod:`.edge`), opened once per
process (:func:`_acquire`, reference-counted) under an exclusive lock file, with
a bounded thread pool for engine calls. The ``qdrant_client`` filter and search
params the shared layers build are translated one to one into qdrant-edge's
mirror types here.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import portalocker
import qdrant_edge as qe
from qdrant_client import models

from ...domain import NAME_RE, CollectionInfo, CollectionSpec, Metric
from ...errors import AlreadyExists, VectorgateError
from ..spec import StoredSpec, decode_spec, spec_json
from .layout import SPARSE_VECTOR_NAME, _Layout, layout_of
from .points import PointParts

T = TypeVar("T")

SPEC_FILE = "vectorgate.json"
SHARD_DIR = "shard"
LOCK_FILE = ".vectorgate.lock"
#: Threads running engine calls, per store directory.
_MAX_WORKERS = max(1, min(4, os.cpu_count() or 1))

_DISTANCES: Mapping[Metric, qe.Distance] = {
    Metric.COSINE: qe.Distance.Cosine,
    Metric.L2: qe.Distance.Euclid,
    Metric.IP: qe.Distance.Dot,
}


# --------------------------------------------------------------------------- filters


def edge_filter(native: models.Filter) -> qe.Filter:
    """qdrant-edge's mirror of a ``qdrant_client`` filter (as :func:`compile_filter` builds).

    The translation is one to one: the semantics (and the gaps the compiler closes)
    live in :mod:`vectorgate_server.filters.qdrant` only.
    """
    return qe.Filter(
        must=_edge_conditions(native.must),
        should=_edge_conditions(native.should),
        must_not=_edge_conditions(native.must_not),
    )


def _edge_conditions(
    conditions: list[models.Condition] | models.Condition | None,
) -> list[Any] | None:
    if conditions is None:
        return None
    items = conditions if isinstance(conditions, list) else [conditions]
    return [_edge_condition(c) for c in items]


def _edge_condition(condition: models.Condition) -> Any:
    if isinstance(condition, models.Filter):
        return edge_filter(condition)
    if isinstance(condition, models.HasIdCondition):
        return qe.HasIdCondition({str(i) for i in condition.has_id})
    if isinstance(condition, models.FieldCondition):
        match = condition.match
        if isinstance(match, models.MatchValue):
            value: Any = match.value
            if isinstance(value, bool):
                # qdrant-edge-py 0.9 converts a Python bool in MatchValue to the integer
                # 0/1 (its union tries int first), which matches no stored bool; a numpy
                # bool is not an int and arrives as the bool it is.
                value = np.bool_(value)
            return qe.FieldCondition(key=condition.key, match=qe.MatchValue(value))
        if isinstance(match, models.MatchAny):
            return qe.FieldCondition(key=condition.key, match=qe.MatchAny(match.any))
        rng = condition.range
        if match is None and isinstance(rng, models.Range):
            return qe.FieldCondition(
                key=condition.key,
                range=qe.RangeFloat(gte=rng.gte, gt=rng.gt, lte=rng.lte, lt=rng.lt),
            )
    # compile_filter builds nothing else; a new construct there must be added here.
    raise TypeError(f"no qdrant-edge translation for {condition!r}")


def edge_params(params: models.SearchParams) -> qe.SearchParams:
    return qe.SearchParams(
        hnsw_ef=params.hnsw_ef,
        exact=bool(params.exact),
        indexed_only=bool(params.indexed_only),
    )


def edge_point(parts: PointParts, layout: _Layout) -> qe.Point:
    vector: Any = parts.values
    if parts.sparse is not None:
        assert layout.keyword is not None
        vector = {
            "": parts.values,
            layout.keyword.vector_name: qe.SparseVector(parts.sparse.indices, parts.sparse.values),
        }
    return qe.Point(parts.id, vector, parts.payload)


# --------------------------------------------------------------------------- storage


class _EngineError(Exception):
    """The engine failed (its Python binding raises plain ``Exception``)."""


@dataclass(eq=False)
class _Collection:
    """One open shard with its spec; shared by the adapters of one store directory."""

    name: str
    directory: Path
    shard: qe.EdgeShard
    spec: StoredSpec
    layout: _Layout
    info: CollectionInfo
    #: Serialises spec updates (metadata key types) of concurrent writers.
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Storage:
    """One store directory opened by this process: its lock, thread pool and open shards."""

    def __init__(self, key: str, root: Path, *, temporary: bool) -> None:
        self.key = key
        self.root = root
        self.temporary = temporary
        self.refs = 1
        self.lock = threading.RLock()
        self.collections: dict[str, _Collection] = {}
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=_MAX_WORKERS, thread_name_prefix="qdrant-edge"
        )
        self._lock_handle: Any = None

    # -- lifecycle (run on the pool)

    def open(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        handle = open(self.root / LOCK_FILE, "a+")  # noqa: SIM115 (held until close)
        try:
            portalocker.lock(
                handle, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING
            )
        except portalocker.exceptions.LockException:
            handle.close()
            raise _EngineError(
                f"the directory {self.root} is open in another process (it holds "
                f"{self.root / LOCK_FILE})"
            ) from None
        self._lock_handle = handle

    def close(self) -> None:
        with self.lock:
            collections = list(self.collections.values())
            self.collections.clear()
        for collection in collections:
            _close_collection(collection)
        if self._lock_handle is not None:
            with contextlib.suppress(Exception):
                portalocker.unlock(self._lock_handle)
            self._lock_handle.close()
            self._lock_handle = None
        if self.temporary:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- collections (run on the pool)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            entry.name
            for entry in self.root.iterdir()
            if NAME_RE.fullmatch(entry.name) and (entry / SPEC_FILE).is_file()
        )

    def collection(self, name: str) -> _Collection | None:
        """The open collection ``name``, loading its shard on first use; None if absent."""
        with self.lock:
            found = self.collections.get(name)
            if found is not None:
                return found
            directory = self.root / name
            if not NAME_RE.fullmatch(name) or not (directory / SPEC_FILE).is_file():
                return None
            spec = _read_spec(directory)
            shard = _engine(qe.EdgeShard.load, str(directory / SHARD_DIR))
            try:
                info, layout = _describe(name, spec, directory / SHARD_DIR)
            except BaseException:
                shard.close()
                raise
            found = _Collection(name, directory, shard, spec, layout, info)
            self.collections[name] = found
            return found

    def create(self, spec: CollectionSpec, stored: StoredSpec, config: qe.EdgeConfig) -> None:
        with self.lock:
            target = self.root / spec.name
            if target.exists():
                raise AlreadyExists(f"collection {spec.name!r} already exists")
            staging = self.root / f".creating-{spec.name}-{uuid.uuid4().hex[:8]}"
            try:
                staging.mkdir(parents=True)
                shard = _engine(qe.EdgeShard.create, str(staging / SHARD_DIR), config)
                _engine(shard.close)
                _write_spec(staging, stored)
                # The collection appears whole or not at all.
                staging.rename(target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)

    def drop(self, name: str) -> bool:
        with self.lock:
            collection = self.collections.pop(name, None)
            directory = self.root / name
            if collection is None and not (directory / SPEC_FILE).is_file():
                return False
            if collection is not None:
                _close_collection(collection)
            trash = self.root / f".dropped-{name}-{uuid.uuid4().hex[:8]}"
            directory.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
        return True


def _acquire(path: str) -> _Storage:
    """The open storage of ``path`` (shared in this process), opening it on first use."""
    memory = path == ":memory:"
    key = "" if memory else os.path.realpath(path)
    with _STORAGES_LOCK:
        storage = None if memory else _STORAGES.get(key)
        if storage is not None:
            storage.refs += 1
            return storage
        root = Path(tempfile.mkdtemp(prefix="vectorgate-qdrant-")) if memory else Path(key)
        storage = _Storage(key, root, temporary=memory)
        try:
            storage.open()
        except BaseException:
            storage.executor.shutdown(wait=False)
            if memory:
                shutil.rmtree(root, ignore_errors=True)
            raise
        if not memory:
            _STORAGES[key] = storage
        return storage


def _release(storage: _Storage) -> bool:
    """Drop one reference to ``storage``; True when it was the last (then close it)."""
    with _STORAGES_LOCK:
        storage.refs -= 1
        if storage.refs > 0:
            return False
        if _STORAGES.get(storage.key) is storage:
            del _STORAGES[storage.key]
    return True


def _close_collection(collection: _Collection) -> None:
    with contextlib.suppress(Exception):
        collection.shard.flush()
    with contextlib.suppress(Exception):
        collection.shard.close()


#: Store directories open in this process, by real path.
_STORAGES: dict[str, _Storage] = {}
_STORAGES_LOCK = threading.Lock()


def _engine(call: Callable[..., T], *args: Any) -> T:
    """Call the engine; its errors (plain ``Exception``) become :class:`_EngineError`."""
    try:
        return call(*args)
    except VectorgateError:
        raise
    except Exception as exc:
        if type(exc) is Exception:
            raise _EngineError(str(exc)) from exc
        raise


def _read_spec(directory: Path) -> StoredSpec:
    try:
        raw = (directory / SPEC_FILE).read_text(encoding="utf-8")
    except OSError as exc:
        raise _EngineError(f"cannot read {directory / SPEC_FILE}: {exc}") from exc
    spec = decode_spec(raw)
    if spec is None or spec.dimension is None or spec.metric is None:
        raise _EngineError(f"{directory / SPEC_FILE} is not a vectorgate collection spec")
    return spec


def _write_spec(directory: Path, spec: StoredSpec) -> None:
    """Replace ``vectorgate.json`` atomically (and durably)."""
    tmp = directory / f".{SPEC_FILE}.{uuid.uuid4().hex[:8]}"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(spec_json(spec))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, directory / SPEC_FILE)
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _describe(name: str, stored: StoredSpec, shard_dir: Path) -> tuple[CollectionInfo, _Layout]:
    """The collection's info and layout from its spec and the shard's own configuration."""
    try:
        config = json.loads((shard_dir / "edge_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    assert stored.dimension is not None and stored.metric is not None  # _read_spec
    sparse: dict[str, models.SparseVectorParams] = {}
    for vector_name, params in (config.get("sparse_vectors") or {}).items():
        modifier = params.get("modifier") if isinstance(params, dict) else None
        sparse[vector_name] = models.SparseVectorParams(
            modifier=models.Modifier.IDF if modifier == "idf" else None
        )
    layout = layout_of(
        stored,
        dict(stored.extra),
        sparse,
        dimension=stored.dimension,
        metric=stored.metric,
        vector_name=None,
        fields=dict(stored.fields),
    )
    return stored.info(name), layout


#: Qdrant's full-scan threshold (KB of vectors) below which a segment is searched exactly.
_FULL_SCAN_THRESHOLD_KB = 10_000
_DEFAULT_HNSW = {"m": 16, "ef_construct": 100}


def edge_config(
    spec: CollectionSpec, hnsw: models.HnswConfigDiff | None, *, keyword_search: bool
) -> qe.EdgeConfig:
    """The shard configuration of a new collection (with the sparse text vector if asked)."""
    sparse: dict[str, qe.EdgeSparseVectorParams] | None = None
    if keyword_search:
        sparse = {SPARSE_VECTOR_NAME: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)}
    hnsw_config = None
    if hnsw is not None:
        hnsw_config = qe.HnswIndexConfig(
            m=hnsw.m if hnsw.m is not None else _DEFAULT_HNSW["m"],
            ef_construct=(
                hnsw.ef_construct
                if hnsw.ef_construct is not None
                else _DEFAULT_HNSW["ef_construct"]
            ),
            full_scan_threshold=_FULL_SCAN_THRESHOLD_KB,
        )
    return qe.EdgeConfig(
        vectors=qe.EdgeVectorParams(size=spec.dimension, distance=_DISTANCES[spec.metric]),
        sparse_vectors=sparse,
        hnsw_config=hnsw_config,
    )
