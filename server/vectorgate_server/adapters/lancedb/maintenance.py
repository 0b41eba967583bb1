"""Background maintenance of the LanceDB adapter's tables."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import lance
import pyarrow as pa
from lancedb.index import FTS

from ...errors import Unavailable
from . import fastscan
from .connection import LanceDBConnection
from .index import (
    _INDEX_NAME,
    CALIBRATION_QUERIES,
    CALIBRATION_RECALL,
    INDEX_TYPES,
    REBUILD_GROWTH,
    index_build_params,
    nprobes_ladder,
    search_defaults,
)
from .layout import _LANCE_METRIC, ID_COLUMN, TEXT_COLUMN
from .state import (
    _compact,
    _offload,
    _pinned,
    _prune_versions,
    _Table,
    _update_indices,
    _vector_query,
)

T = TypeVar("T")

log = logging.getLogger(__name__.rpartition(".")[0])

#: Neighbours per calibration query (recall@10, as the targets are stated).
_CALIBRATION_TOP_K = 10
#: Sampled recall@10 the fast-scan index must reach (with the smallest of
#: :data:`FASTSCAN_K_FACTORS`) to serve searches; the issue's target for real
#: data. Random 384-d vectors (the worst case) reach 0.949 at 1M with K_FACTOR,
#: 0.985 with twice it.
FASTSCAN_RECALL = 0.95
FASTSCAN_K_FACTORS = (fastscan.K_FACTOR, 2 * fastscan.K_FACTOR, 4 * fastscan.K_FACTOR)

Truth = list[tuple[str, Any, set[str]]]


def _sample_rows(dataset: lance.LanceDataset, count: int, columns: list[str]) -> pa.Table:
    """``count`` rows of the dataset picked at random (seeded by its row count)."""
    total = dataset.count_rows()
    picks = sorted(random.Random(total).sample(range(total), min(count, total)))
    return dataset.take(picks, columns=columns)


def _exact_ids(
    dataset: lance.LanceDataset, column: str, metric: str, vector: Any, k: int
) -> list[str]:
    """The ids of the ``k`` nearest rows of the dataset, exhaustively (blocking)."""
    nearest = {"column": column, "q": vector, "k": k, "metric": metric, "use_index": False}
    result = dataset.to_table(columns=[ID_COLUMN], nearest=nearest)
    return [str(i) for i in result.column(ID_COLUMN).to_pylist()]


def _new_fastscan(
    dataset: lance.LanceDataset, dimension: int, metric: Any, column: str
) -> fastscan.FastScanIndex:
    """A fast-scan index trained on a sample of the dataset's rows, synced to it (blocking)."""
    sample = _sample_rows(dataset, fastscan.TRAIN_ROWS, [column]).column(column)
    sample = sample.filter(sample.is_valid())
    block = sample.combine_chunks().flatten().to_numpy(zero_copy_only=False)
    index = fastscan.FastScanIndex(dimension, metric, column, block.reshape(-1, dimension))
    index.sync(dataset)
    index.built_rows = index.rows
    return index


class LanceDBMaintenance(LanceDBConnection):
    """Background maintenance of the open tables: the full-text and vector index
    builds, compaction, index updates and pruning of old versions."""

    def _wants_fts(self, st: _Table) -> bool:
        return st.text_written and st.layout.has_text and not st.has_fts

    async def _build_fts(self, st: _Table) -> None:
        if st.has_fts or st.dropped or not st.layout.has_text:
            return
        log.info("building the full-text index on %s/%s", self.store, st.name)
        # Not under the write lock, like the ANN index: Lance rebases the index
        # commit over concurrent merges; rows it misses are scanned at query time.
        await st.table.create_index(TEXT_COLUMN, config=FTS(with_position=False), replace=True)
        st.has_fts = True

    async def _ensure_fts(self, st: _Table) -> None:
        """Make sure the full-text index exists, building it as the table's maintenance job."""
        for _ in range(3):
            if st.has_fts:
                return
            task = st.maintenance
            if task is None or task.done():
                if self._closed or st.dropped:
                    raise self._not_found(st.name)
                task = asyncio.create_task(
                    self._run_maintenance(st, self._build_fts),
                    name=f"lancedb-fts-{self.store}-{st.name}",
                )
                st.maintenance = task
            # asyncio.wait: a cancelled caller does not cancel the shared build.
            await asyncio.wait([task])
        if not st.has_fts:
            raise Unavailable(
                f"the full-text index of {st.name!r} in store {self.store!r} could not be "
                "built (see the server log)",
                metadata={"collection": st.name, "store": self.store},
            )

    def _wants_index(self, st: _Table) -> bool:
        return not st.has_index and self._planned_index(st.layout) is not None

    async def _schedule_maintenance(self, st: _Table) -> None:
        """After a write: start an index build or an optimize when due (one at a time).

        Never raises: the write it follows has succeeded.
        """
        try:
            await self._schedule(st)
        except Exception:
            log.exception("scheduling maintenance of %s/%s failed", self.store, st.name)

    async def _schedule(self, st: _Table) -> None:
        if self._remote or self._closed or st.dropped:
            return
        if st.maintenance is not None and not st.maintenance.done():
            return
        job: Callable[[_Table], Any] | None = None
        optimize_due = (
            st.writes_since_optimize >= self.optimize_every_writes
            or st.rows_since_optimize >= self.optimize_every_rows
        )
        if self._wants_fts(st):
            job = self._build_fts
        elif self._wants_index(st):
            rows = int(await st.table.count_rows())
            if rows >= max(self.index_min_rows, st.next_index_attempt_rows):
                job = self._build_index
        elif st.has_index and optimize_due:
            # Retrain once the table has grown REBUILD_GROWTH-fold since the
            # last build: the index update only assigns new rows to the
            # partitions trained then (checked when an optimize is due anyway).
            planned = self._planned_index(st.layout)
            if planned is not None and planned.type == st.index_type:
                rows = int(await st.table.count_rows())
                if rows >= REBUILD_GROWTH * max(st.index_rows, 1):
                    job = self._build_index
        if job is None and self._needs_calibration(st):
            job = self._calibrate
        if job is None and self._fastscan_due(st):
            job = self._build_fastscan
        if job is None and optimize_due:
            job = self._optimize
        fs = st.fastscan
        if job is None and fs is not None and fs.generation != st.generation:
            job = self._sync_fastscan
        if job is None or st.dropped or self._closed:
            return
        st.maintenance = asyncio.create_task(
            self._run_maintenance(st, job), name=f"lancedb-maintenance-{self.store}-{st.name}"
        )

    async def _run_maintenance(self, st: _Table, job: Callable[[_Table], Any]) -> None:
        try:
            await job(st)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "background maintenance of %s/%s failed; it will be retried later",
                self.store,
                st.name,
            )
            return
        # Work that came due while this job ran starts now, not at the next write:
        # a table written faster than its index is built would otherwise keep an
        # index trained on a fraction of its rows (and its later rows scanned
        # exhaustively) until it is written again. Each job clears what made it
        # due, so the chain ends.
        if st.maintenance is asyncio.current_task():
            st.maintenance = None
            await self._schedule_maintenance(st)

    async def _build_index(self, st: _Table) -> None:
        spec = st.layout.spec
        planned = self._planned_index(st.layout)
        assert spec is not None and planned is not None and st.layout.vector_column is not None
        params = index_build_params(planned, st.layout.dimension or 0)
        config = INDEX_TYPES[planned.type](distance_type=_LANCE_METRIC[st.metric], **params)
        rows = int(await st.table.count_rows())
        log.info("building %s index on %s/%s (%d rows)", planned.type, self.store, st.name, rows)
        st.index_building = True
        st.index_type, st.index_params = planned.type, params
        name = st.index_name or _INDEX_NAME
        try:
            # Not under the write lock: Lance rebases the index commit over
            # concurrent merges, and rows it misses are searched exhaustively.
            # Searches stay exact until it is committed (has_index is still
            # False); a rebuild replaces the index in one commit, the old one
            # serving searches until then.
            await st.table.create_index(
                st.layout.vector_column, config=config, name=name, replace=True
            )
        except Exception:
            # Do not retry on every write: wait until the table has doubled.
            st.next_index_attempt_rows = 2 * max(rows, 1)
            if st.has_index:
                st.index_rows = rows // REBUILD_GROWTH * 2
            raise
        finally:
            st.index_building = False
        st.index_partitions = await self._partitions(st, name)
        st.index_nprobes, st.index_calibrated = 0, False
        st.has_index = True
        st.index_name = name
        st.index_rows = rows
        log.info("built %s index on %s/%s", planned.type, self.store, st.name)
        await self._calibrate(st)

    async def _load(self, db: Any, name: str) -> _Table:
        st = await super()._load(db, name)
        # An index built before this process opened the table: calibrated in the
        # background (searches use the default nprobes until then), then its
        # fast-scan index is built (the chain goes on after each job).
        job: Callable[[_Table], Any] | None = None
        if self._needs_calibration(st):
            job = self._calibrate
        elif self._fastscan_due(st):
            job = self._build_fastscan
        if job is not None and not self._closed:
            st.maintenance = asyncio.create_task(
                self._run_maintenance(st, job), name=f"lancedb-calibrate-{self.store}-{name}"
            )
        return st

    # ------------------------------------------------------------ fast scan

    def _fastscan_due(self, st: _Table) -> bool:
        """The table's automatic index is built and its fast-scan index is not
        (or is due a rebuild: too many dead labels, or the table has grown
        REBUILD_GROWTH-fold since it was trained)."""
        spec = st.layout.spec
        if (
            not self.fast_scan
            or self._remote
            or not st.has_index
            or spec is None
            or spec.index.type != ""
            or self.auto_index is None
            or st.layout.vector_column is None
            or not st.layout.dimension
        ):
            return False
        fs = st.fastscan
        if fs is None:
            return st.index_rows >= st.next_fastscan_attempt_rows
        return fs.dead_share > fastscan.MAX_DEAD_SHARE or fs.rows >= REBUILD_GROWTH * max(
            fs.built_rows, 1
        )

    async def _pin(self, st: _Table) -> tuple[int, lance.LanceDataset]:
        """(generation, latest version pinned) of the table, read under its write lock."""
        async with st.lock:
            return st.generation, await _offload(st, _pinned, await self._dataset(st))

    async def _build_fastscan(self, st: _Table) -> None:
        """Build (or rebuild) the table's fast-scan index; it serves searches once
        built, synced and calibrated (the one it replaces serves until then)."""
        column, dimension = st.layout.vector_column, st.layout.dimension
        assert column is not None and dimension
        generation, pinned = await self._pin(st)
        rows = int(pinned.count_rows())
        log.info("building the fast-scan index of %s/%s (%d rows)", self.store, st.name, rows)
        try:
            index = await self._maintenance_thread(
                st, _new_fastscan, pinned, dimension, st.metric, column
            )
            index.generation = generation
            truth = await self._calibration_truth(st, pinned)
            search = functools.partial(self._fastscan_ids, st, index)
            for k_factor in FASTSCAN_K_FACTORS:
                index.k_factor = k_factor
                recall = await self._recall(truth, search)
                if recall >= FASTSCAN_RECALL:
                    break
            else:
                log.warning(
                    "the fast-scan index of %s/%s reaches sampled recall@10 %.3f at most: "
                    "searches stay on the Lance index",
                    self.store,
                    st.name,
                    recall,
                )
                st.next_fastscan_attempt_rows = 2 * max(rows, 1)
                st.fastscan = None
                return
        except Exception:
            st.next_fastscan_attempt_rows = 2 * max(rows, 1)
            raise
        if st.dropped:
            return
        st.fastscan = index
        log.info(
            "built the fast-scan index of %s/%s: %d rows, k_factor %d (sampled recall@10 %.3f)",
            self.store,
            st.name,
            index.rows,
            index.k_factor,
            recall,
        )

    async def _fastscan_ids(
        self, st: _Table, index: fastscan.FastScanIndex, vector: Any, k: int
    ) -> list[str]:
        async with st.reads.reading():
            table = await asyncio.to_thread(index.search, vector, k, [ID_COLUMN])
        return [] if table is None else [str(i) for i in table.column(ID_COLUMN).to_pylist()]

    async def _sync_fastscan(self, st: _Table, *, under_lock: bool = False) -> None:
        """Bring the fast-scan index to the table's latest version."""
        fs = st.fastscan
        if fs is None or fs.generation == st.generation:
            return
        if under_lock:
            generation = st.generation
            pinned = await _offload(st, _pinned, await self._dataset(st))
        else:
            generation, pinned = await self._pin(st)
        try:
            await self._maintenance_thread(st, fs.sync, pinned)
        except fastscan.Unrepresentable as exc:
            # Half synced and never to catch up: the Lance index answers.
            if st.fastscan is fs:
                st.fastscan = None
                st.next_fastscan_attempt_rows = 2 * max(fs.rows, 1)
            log.warning("dropped the fast-scan index of %s/%s: %s", self.store, st.name, exc)
            return
        fs.generation = generation

    async def _maintenance_thread(self, st: _Table, fn: Callable[..., T], *args: Any) -> T:
        """Run a maintenance call on a dataset of its own (a fast-scan build or
        sync, an index update, pruning) in a worker thread, recorded on the table
        (a drop or close waits for it: it cannot be cancelled)."""
        future = asyncio.ensure_future(asyncio.to_thread(fn, *args))
        st.maintenance_thread = future
        return await asyncio.shield(future)

    def _needs_calibration(self, st: _Table) -> bool:
        """The table's index is an IVF one not calibrated yet, with probes to choose from."""
        if st.index_calibrated or not st.has_index:
            return False
        if self._remote or not nprobes_ladder(st.index_partitions):
            st.index_calibrated = True  # nothing to choose: the default applies
            return False
        return True

    async def _calibrate(self, st: _Table) -> None:
        """Choose the ``nprobes`` searches of the table's IVF index get by default
        (see :data:`~.index.CALIBRATION_RECALL`): the smallest of the ladder whose
        recall@10, on the vectors of rows sampled from the table against their
        exhaustive neighbours (the row itself left out), reaches the target."""
        try:
            ladder = nprobes_ladder(st.index_partitions)
            if self._remote or not ladder or st.layout.vector_column is None or st.dropped:
                return
            _, pinned = await self._pin(st)
            truth = await self._calibration_truth(st, pinned)
            if not any(exact for _, _, exact in truth):
                return
            defaults = search_defaults(st.index_type, _CALIBRATION_TOP_K + 1, st.index_partitions)
            for nprobes in ladder:
                params = {**defaults, "nprobes": nprobes}
                recall = await self._recall(truth, functools.partial(self._ids, st, params))
                if recall >= CALIBRATION_RECALL:
                    st.index_nprobes = nprobes
                    log.info(
                        "calibrated %s/%s: nprobes %d of %d partitions (sampled recall@10 %.3f)",
                        self.store,
                        st.name,
                        nprobes,
                        st.index_partitions,
                        recall,
                    )
                    return
        except Exception:
            # The index is built and searched with the default: a failed
            # calibration costs speed, not results.
            log.warning(
                "calibrating nprobes of %s/%s failed; the default applies",
                self.store,
                st.name,
                exc_info=True,
            )
        finally:
            st.index_calibrated = True

    async def _ids(self, st: _Table, params: Any, vector: Any, k: int) -> list[str]:
        """The ids of a search of the table's Lance index with native ``params``."""
        q = _vector_query(st, vector, k, params)
        async with st.reads.reading():
            result = await q.select([ID_COLUMN]).to_arrow()
        return [str(i) for i in result.column(ID_COLUMN).to_pylist()]

    async def _calibration_truth(self, st: _Table, pinned: lance.LanceDataset) -> Truth:
        """(id, vector, exhaustive neighbours but itself) of rows sampled from the
        ``pinned`` version of the table (the one the index checked was built on:
        rows written since would count as misses)."""
        column = st.layout.vector_column
        assert column is not None
        sample = await asyncio.to_thread(
            _sample_rows, pinned, CALIBRATION_QUERIES, [ID_COLUMN, column]
        )
        ids = [str(i) for i in sample.column(ID_COLUMN).to_pylist()]
        vectors = sample.column(column).to_numpy(zero_copy_only=False)
        k = _CALIBRATION_TOP_K
        metric = _LANCE_METRIC[st.metric]
        truth: Truth = []
        for own, vector in zip(ids, vectors, strict=True):
            if vector is None:
                continue
            nearest = await asyncio.to_thread(_exact_ids, pinned, column, metric, vector, k + 1)
            truth.append((own, vector, set([i for i in nearest if i != own][:k])))
        return truth

    async def _recall(self, truth: Truth, search: Callable[[Any, int], Any]) -> float:
        """Recall@10 of ``search(vector, k)`` (ids) against ``truth`` (the row itself left out)."""
        wanted = sum(len(exact) for _, _, exact in truth)
        if wanted == 0:
            return 1.0
        found = 0
        for own, vector, exact in truth:
            found += len(exact.intersection(await search(vector, _CALIBRATION_TOP_K + 1)) - {own})
        return found / wanted

    async def _optimize(self, st: _Table) -> None:
        """Compact the table, add its new rows to its indices, and prune old
        versions (at most once per ``cleanup_older_than``).

        Only compaction holds the write lock: it rewrites the fragments writes
        delete rows from, and the fast-scan index follows its moves. The index
        update and pruning run on a dataset of their own while writes go on:
        under the lock they held every write queued behind them, the index
        update 25-60 ms per optimize (full-text index of the soak's 2,000-row
        table) and pruning 200-400 ms every 15 s (the soak's write p99).
        """
        # The fast-scan index follows compaction's moves only from the version
        # before it (see FastScanIndex.sync): brought there first, most of the
        # way outside the write lock.
        await self._sync_fastscan(st)
        prune_due = False
        async with st.lock:
            if st.dropped:
                return
            locked = time.perf_counter()
            await self._sync_fastscan(st, under_lock=True)
            fs = st.fastscan
            writes, rows = st.writes_since_optimize, st.rows_since_optimize
            st.generation += 1
            # Compaction writes new files and commits a new version; reads in
            # flight keep theirs. Old versions stay for now. Through pylance,
            # in a worker thread (it blocks): lancedb's own optimize() compacts
            # into fragments of up to 1M rows and takes no target, and Lance
            # scans one fragment per thread (see COMPACT_ROWS_PER_FRAGMENT).
            await _offload(st, _compact, await self._dataset(st))
            await st.table.checkout_latest()
            if fs is not None and fs is st.fastscan and fs.generation == st.generation - 1:
                pinned = await _offload(st, _pinned, await self._dataset(st))
                await self._maintenance_thread(st, functools.partial(fs.sync, pinned, moves=True))
                fs.generation = st.generation
            st.writes_since_optimize -= writes
            st.rows_since_optimize -= rows
            # A handle of its own on the latest version (the index update and
            # pruning move it on): reads from now on use this one or a later one.
            own = await _offload(st, _pinned, await self._dataset(st))
            keep_from = own.version
            # At most once per retention period: most of pruning's cost is
            # listing the versions kept (6 ms growing to 135 ms over 800
            # single-row writes, measured); once per period deletes the same
            # files in one pass.
            now = time.monotonic()
            prune_due = st.pruned_at is None or (
                now - st.pruned_at >= self.cleanup_older_than.total_seconds()
            )
            held = time.perf_counter() - locked
        started = time.perf_counter()
        # Lance rebases the index commit over the writes committed meanwhile
        # (as it does an index build's, see _build_index).
        if await self._maintenance_thread(st, _update_indices, own):
            async with st.lock:  # searches see the updated index from now on
                if not st.dropped:
                    await st.table.checkout_latest()
        indexed = time.perf_counter()
        if prune_due and not st.dropped:
            # Pruning deletes the files only old versions use: it waits for the
            # reads in flight, which may be on an older version (see
            # _ReadGate), and keeps the version pinned above and every later one.
            async with st.reads.pruning():
                await self._maintenance_thread(
                    st, _prune_versions, own, self.cleanup_older_than, keep_from
                )
            st.pruned_at = now
        log.debug(
            "optimized %s/%s: compaction %.1f ms under the write lock, index update %.1f ms%s",
            self.store,
            st.name,
            held * 1e3,
            (indexed - started) * 1e3,
            f", pruning {(time.perf_counter() - indexed) * 1e3:.1f} ms" if prune_due else "",
        )
        self._writes_since_recycle += writes
        if 0 < self.recycle_connection_writes <= self._writes_since_recycle:
            await self._recycle_connection()

    async def _stop_maintenance(self, st: _Table) -> None:
        task = st.maintenance
        st.maintenance = None
        if task is None or task.done():
            return
        task.cancel()
        # asyncio.wait (unlike awaiting the task) lets a cancellation of the
        # caller propagate instead of being mistaken for the task's.
        await asyncio.wait([task])
        # A compaction thread cannot be cancelled: let it finish before the
        # table is dropped or closed, so it never writes into a dropped table.
        for thread in (st.offloaded, st.maintenance_thread):
            if thread is not None and not thread.done():
                await asyncio.wait([thread])

    async def wait_for_maintenance(self, name: str) -> None:
        """Wait until the table's background maintenance (if any) has finished (for tests)."""
        st = self._tables.get(name)
        while st is not None and st.maintenance is not None:
            task = st.maintenance
            await asyncio.wait([task])
            if st.maintenance is task:
                return

    async def close(self) -> None:
        """Stop background maintenance and release the tables. Idempotent."""
        if self._closed:
            return
        self._closed = True
        states = list(self._tables.values())
        self._tables.clear()
        await asyncio.gather(*(self._stop_maintenance(st) for st in states))
        for st in states:
            st.table.close()
        if self._db is not None:
            self._db.close()
            self._db = None
