"""Per-table state of the LanceDB adapter (read gate, id set) and its blocking pylance calls."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import lance
import numpy as np
import numpy.typing as npt

from ...domain import Metric
from .fastscan import FastScanIndex
from .layout import _LANCE_METRIC, COMPACT_ROWS_PER_FRAGMENT, _Layout

T = TypeVar("T")


class _ReadGate:
    """Reads of a table against the deletion of old versions' files.

    A Lance read runs on the version that was the table's latest when it
    started, and pruning old versions deletes the data and index files only
    those versions use: a search still running on one would find its files
    gone (``LanceError(IO): Not found``). Pruning keeps the version that was
    the latest when it began and every later one, whatever their age (see
    :func:`_prune_versions`; writes go on meanwhile): a read that starts once
    pruning has begun reads one of those and is safe. Only the reads already
    in flight are at risk,
    so pruning opens a new epoch and waits for the reads of earlier epochs to
    finish; reads never wait for pruning (holding them back made every read
    wait for the whole deletion, 50-190 ms per optimize under a steady write
    load, and was the soak test's p99 growth once versions became old enough
    to delete).
    """

    def __init__(self) -> None:
        self._epoch = 0
        #: Reads in flight, by the epoch they started in.
        self._active: dict[int, int] = {}
        #: Set when the reads of epochs before ``_boundary`` have finished.
        self._drained: asyncio.Event | None = None
        self._boundary = 0
        self._prune = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        epoch = self._epoch
        self._active[epoch] = self._active.get(epoch, 0) + 1
        try:
            yield
        finally:
            left = self._active[epoch] - 1
            if left:
                self._active[epoch] = left
            else:
                del self._active[epoch]
                if self._drained is not None and not self._older_reads():
                    self._drained.set()

    def _older_reads(self) -> bool:
        return any(epoch < self._boundary for epoch in self._active)

    @contextlib.asynccontextmanager
    async def pruning(self) -> AsyncIterator[None]:
        async with self._prune:
            self._epoch += 1
            self._boundary = self._epoch
            if self._older_reads():
                self._drained = asyncio.Event()
                try:
                    await self._drained.wait()
                finally:
                    self._drained = None
            yield

    @property
    def readers(self) -> int:
        """Reads in flight (for tests)."""
        return sum(self._active.values())


class _IdSet:
    """A superset of a table's ids, as sorted runs of their 64-bit hashes.

    It holds every id the table held when first read plus every id written
    since, and forgets none (a deleted id stays), so "none of these ids is
    here" is exact while this process is the table's only writer (the store
    is single-writer, see README) and "some are" may be a deleted id or a hash
    collision, for which the caller merges, which is always correct. 8 bytes
    per row; a lookup is a binary search per id in each run.

    A write's new hashes become a run of their own, and runs are merged while
    the one before is not more than twice as long (a merge of two sorted runs
    is linear: timsort finds them), so a table has O(log rows) runs and each
    hash is copied O(log rows) times in all. Measured at 1M ids written 1,000
    at a time: one sorted array grown by ``np.insert`` (a copy of it all per
    write) took 7.9 ms per write at the end and 6.3 s in all; these runs
    1.0 ms and 0.9 s, in the same 8 MiB (a Python set of the hashes: 1.8 ms
    per write, 2.5 s, 66 MiB).
    """

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._runs: list[npt.NDArray[np.int64]] = []
        self.add(self.hashes(list(ids)))

    @staticmethod
    def hashes(ids: Sequence[str]) -> npt.NDArray[np.int64]:
        return np.fromiter((hash(i) for i in ids), dtype=np.int64, count=len(ids))

    def __len__(self) -> int:
        return sum(len(run) for run in self._runs)

    def _present(self, hashes: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        found = np.zeros(len(hashes), dtype=bool)
        for run in self._runs:
            pos = np.minimum(np.searchsorted(run, hashes), len(run) - 1)
            found |= run[pos] == hashes
        return found

    def any_of(self, hashes: npt.NDArray[np.int64]) -> bool:
        return bool(self._present(np.unique(hashes)).any())

    def add(self, hashes: npt.NDArray[np.int64]) -> bool:
        """Record ``hashes``; whether any of them may be in the table already."""
        unique = np.unique(hashes)  # sorted: searchsorted walks each run once
        present = self._present(unique)
        new = unique[~present]
        if len(new):
            runs = self._runs
            runs.append(new)
            while len(runs) > 1 and len(runs[-2]) <= 2 * len(runs[-1]):
                merged = np.concatenate((runs[-2], runs.pop()))
                merged.sort(kind="stable")
                runs[-1] = merged
        return bool(present.any())


class _Table:
    """Per-table state: the open handle, its write lock and background maintenance."""

    def __init__(self, name: str, table: Any, layout: _Layout) -> None:
        self.name = name
        self.table = table
        self.layout = layout
        self.lock = asyncio.Lock()
        #: Reads of the table's files against pruning of old versions.
        self.reads = _ReadGate()
        self.dropped = False
        self.has_index = False
        #: Metric of a vector index found on a table vectorgate did not create.
        self.index_metric: Metric | None = None
        self.index_type = ""
        #: Name of the vector index (for ``index_stats``) and its build parameters.
        self.index_name = ""
        self.index_params: Mapping[str, Any] = {}
        #: The vector index is being built in the background.
        self.index_building = False
        #: Rows the vector index was last trained on (built or rebuilt).
        self.index_rows = 0
        #: IVF partitions of the vector index (0: unknown).
        self.index_partitions = 0
        #: ``nprobes`` chosen by calibration for the current index (0: the default).
        self.index_nprobes = 0
        #: The current index has been calibrated (whatever the outcome).
        self.index_calibrated = False
        #: The blocking maintenance call running in a worker thread, if any.
        self.offloaded: asyncio.Future[Any] | None = None
        self.maintenance: asyncio.Task[None] | None = None
        #: The table has a full-text (FTS) index on the text column.
        self.has_fts = False
        #: A write stored non-empty text since this state was loaded.
        self.text_written = False
        self.writes_since_optimize = 0
        self.rows_since_optimize = 0
        self.next_index_attempt_rows = 0
        #: When old versions were last pruned (monotonic seconds; None: never).
        self.pruned_at: float | None = None
        #: The ids the table may hold (for the insert fast path); None = not read yet.
        self.ids: _IdSet | None = None
        #: The pylance dataset writes commit through; None = not opened yet.
        self.dataset: lance.LanceDataset | None = None
        #: Bumped (under the write lock) by every commit that changes the rows,
        #: their columns or their addresses: the fast-scan index serves searches
        #: only while it is synced to the current generation.
        self.generation = 0
        #: The automatic index's fast-scan index (see :mod:`.fastscan`), once built.
        self.fastscan: FastScanIndex | None = None
        #: The fast-scan index's build is retried once the table holds this many rows.
        self.next_fastscan_attempt_rows = 0
        #: The maintenance call running in a worker thread on a dataset of its
        #: own, if any (a fast-scan build or sync, an index update, pruning: it
        #: does not hold up the writes' :func:`_offload`).
        self.maintenance_thread: asyncio.Future[Any] | None = None

    @property
    def metric(self) -> Metric:
        spec = self.layout.spec
        if spec is not None and spec.metric is not None:
            return spec.metric
        return self.index_metric or Metric.COSINE


def _vector_query(st: _Table, vector: Any, limit: int, params: Mapping[str, Any]) -> Any:
    """The table's vector query for ``vector`` (its vector column and metric), the
    ``limit`` nearest, with the native search ``params`` (``nprobes``,
    ``refine_factor``, ``ef``; ``exact`` bypasses the index): one builder for searches
    and the calibration of ``nprobes``."""
    q = (
        st.table.query()
        .nearest_to(vector)
        .column(st.layout.vector_column)
        .distance_type(_LANCE_METRIC[st.metric])
        .limit(limit)
    )
    if "nprobes" in params:
        q = q.nprobes(params["nprobes"])
    if "refine_factor" in params:
        q = q.refine_factor(params["refine_factor"])
    if "ef" in params:
        q = q.ef(params["ef"])
    if params.get("exact"):
        q = q.bypass_vector_index()
    return q


async def _offload(st: _Table, fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking write or maintenance call in a worker thread, recorded on the
    table, once the one before it has finished (a cancelled caller leaves it
    running, and its table lock goes: the next call waits for it here, and
    :meth:`LanceDBAdapter._stop_maintenance` before a drop or close)."""
    # A loop: callers waiting on the same call all wake when it ends, and the
    # first to run records its own, which the others must then wait for.
    while st.offloaded is not None and not st.offloaded.done():
        await asyncio.wait([st.offloaded])
    future = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    st.offloaded = future
    return await asyncio.shield(future)


def _checkout_latest(dataset: lance.LanceDataset) -> None:
    """Move the table's pylance dataset to its latest version (other handles commit too)."""
    dataset.checkout_latest()  # type: ignore[no-untyped-call]


def _pinned(dataset: lance.LanceDataset) -> lance.LanceDataset:
    """The table's latest version, as a dataset of its own that later commits do
    not move (blocking)."""
    _checkout_latest(dataset)
    return dataset.checkout_version(dataset.version)


def _compact(dataset: lance.LanceDataset) -> None:
    """Merge small fragments up to :data:`COMPACT_ROWS_PER_FRAGMENT` rows (dropping
    deleted rows) (blocking)."""
    _checkout_latest(dataset)
    dataset.optimize.compact_files(target_rows_per_fragment=COMPACT_ROWS_PER_FRAGMENT)


def _update_indices(dataset: lance.LanceDataset) -> bool:
    """Add the rows no index covers yet to the table's indices; whether it has any
    (blocking)."""
    _checkout_latest(dataset)
    if not dataset.list_indices():
        return False
    dataset.optimize.optimize_indices()  # type: ignore[no-untyped-call]
    return True


def _index_partitions(uri: str, index_name: str, storage_options: Mapping[str, str]) -> int:
    """The IVF partition count of an index, from its statistics (blocking)."""
    dataset = lance.dataset(uri, storage_options=dict(storage_options) or None)
    stats = dataset.stats.index_stats(index_name)
    # One entry per segment (delta indices share the partitions of the first).
    return max(
        (int(part.get("num_partitions") or 0) for part in stats.get("indices") or []), default=0
    )


#: Versions a prune keeps beyond those it must (see :func:`_prune_versions`): the
#: commits that can land between two calls in one thread (writes commit one at a
#: time, under the table's write lock, each taking milliseconds).
PRUNE_SLACK_VERSIONS = 4


def _prune_versions(dataset: lance.LanceDataset, older_than: timedelta, keep_from: int) -> None:
    """Delete the files only versions older than ``older_than`` use, but never those
    of version ``keep_from`` or later, whatever their age (blocking).

    ``dataset`` is a handle of its own (writes go on meanwhile). Lance deletes a
    version only when it is older than ``older_than`` *and* not among the last
    ``retain_versions``: those are counted here from the latest version, and
    :data:`PRUNE_SLACK_VERSIONS` more cover the commits made before Lance reads
    the latest version itself.
    """
    _checkout_latest(dataset)
    retain = dataset.version - keep_from + 1 + PRUNE_SLACK_VERSIONS
    dataset.cleanup_old_versions(older_than=older_than, retain_versions=retain)
