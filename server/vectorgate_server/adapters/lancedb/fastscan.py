"""The automatic index's fast path: a flat 4-bit PQ fast-scan index (faiss) kept
next to a LanceDB table, which stays the store of record.

Why (measured on 1M random 384-d unit vectors, 2 cores, one query at a time;
``/work/ann``, issue 15): no Lance index reaches recall@10 >= 0.90 at p50
<= 10 ms there. Lance's IVF_SQ needs every partition (96 ms at 0.971), its
4-bit IVF_PQ gives 0.904 at 36.9 ms, and the graph indexes need far more
(hnswlib M16: ef 32,768 and 253 ms for 0.908; 23 min to build). faiss's PQ
fast-scan kernel, 192 sub-quantizers of 4 bits (96 B a row) scanned in SIMD
registers, split in :data:`SHARDS` scanned in parallel, with the best
``k_factor`` x top_k candidates of each shard re-scored on a float16 copy of
the vectors (768 B a row): recall@10 0.949 at k_factor 10 (p50 3.9 ms), 0.985
at 20 (4.6 ms), 0.996 at 40; an 8-bit copy instead gave 0.936 / 0.966 / 0.973
at the same cost (2026-12-08). The float16 scores are those of an exhaustive
search to within 5.2e-5 there (float16 keeps 11 significant bits; the
distances are computed in float32), so the hits are not read back from Lance to
be scored.

Nor is their payload: the index keeps the rows' other columns (id, text,
metadata) by label (:class:`_Payload`) while they take no more memory than the
index itself, and a search answers from memory. Reading 10 rows from Lance by
row address (``_take_rows``) took 1.1-3.7 ms of CPU a search at 1M rows, as
much as the scan; only a table whose payload outgrows that bound has its hits
read from Lance, and only the columns asked for.

The index follows the table by its fragments (:meth:`FastScanIndex.sync`): a
fragment it has not seen is read and added; a fragment gone, or rows deleted
from one, mark their labels dead (faiss's fast-scan index cannot remove: dead
labels are skipped at search time, and the index is rebuilt once
:data:`MAX_DEAD_SHARE` of it is dead). Rows compaction moves to new fragments
keep their codes and payload: their labels get the new addresses
(:meth:`FastScanIndex.sync` with ``moves``). Lance row addresses
(``fragment << 32 | offset``) change only when a fragment is rewritten, and a
search that reads rows reads them from the dataset version the index was synced
to. A row's content never changes under its label: Lance rewrites a replaced
row as a new one.
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import lance
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from ...domain import Metric
from .layout import ID_COLUMN

log = logging.getLogger(__name__.rpartition(".")[0])

#: Bits per PQ code (the fast-scan kernels take 4).
PQ_BITS: Final = 4
#: Shards scanned in parallel, one thread each (the machine class has 2 cores).
SHARDS: Final = 2
#: Candidates per result re-scored on the float16 copy, per shard: recall@10 on
#: 1M random 384-d vectors 0.949 at 10 (p50 3.9 ms), 0.985 at 20 (4.6 ms).
K_FACTOR: Final = 10
#: Vectors the product quantizer is trained on (a random sample of the table).
TRAIN_ROWS: Final = 65_536
#: Share of dead labels at which the index is rebuilt.
MAX_DEAD_SHARE: Final = 0.25
#: Rows per faiss ``add`` call (the index lock is held for one call).
_ADD_CHUNK: Final = 8_192
#: Largest magnitude a float16 holds: vectors with larger values cannot be indexed.
FLOAT16_MAX: Final = 65_504.0
#: The payload is kept in memory up to the index's own size, and at least this.
PAYLOAD_MIN_BYTES: Final = 64 << 20


class Unrepresentable(ValueError):
    """A vector has values beyond float16's range: the table cannot be fast-scanned."""


@functools.cache
def _faiss() -> Any:
    """faiss's Python API (untyped: its stubs lag its SWIG wrappers), imported on
    the first build: a server whose tables never reach the automatic index does not
    load it. Its loader logs which CPU build it picked at INFO on import; that is
    not the gateway's to report (a server failing at start prints one line)."""
    loader = logging.getLogger("faiss.loader")
    level = loader.level
    loader.setLevel(logging.WARNING)
    try:
        module = importlib.import_module("faiss")
    finally:
        loader.setLevel(level)
    # Searches run in threads of their own (one per shard, several searches at
    # once): OpenMP teams inside each would only oversubscribe the cores.
    module.omp_set_num_threads(1)
    return module


Matrix = npt.NDArray[np.float32]


def sub_quantizers(dimension: int) -> int:
    """PQ sub-quantizers for ``dimension``: one per 2 dimensions (384 -> 192)."""
    return dimension // 2 if dimension % 2 == 0 else dimension


def _prepared(metric: Metric, vectors: Matrix) -> Matrix:
    """Vectors as the index holds them: unit length for cosine (inner product
    on unit vectors), as they are otherwise."""
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    if metric is Metric.COSINE:
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out = (out / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    return out


def exact_distances(metric: Metric, query: Matrix, vectors: Matrix) -> npt.NDArray[np.float64]:
    """Lance's ``_distance`` of each of ``vectors`` to ``query`` for L2 (squared)
    and dot (1 - a.b; see :func:`~.rows._canonical`); cosine's comes from the
    float16 copy (:meth:`FastScanIndex.search`)."""
    q = query.astype(np.float64).ravel()
    v = vectors.astype(np.float64)
    if metric is Metric.L2:
        return np.asarray(((v - q) ** 2).sum(axis=1))
    return np.asarray(1.0 - v @ q)


@dataclass
class _Fragment:
    #: Label of the row at each physical offset (-1: none, deleted or null vector).
    labels: npt.NDArray[np.int64]
    #: Rows deleted from the fragment when it was last synced.
    deleted: int


class _Payload:
    """The rows' columns other than the vector, by label: one Arrow table per
    batch of consecutive labels added. Searches read it while the maintenance
    thread adds to it: a batch is in place before its labels can be found.
    Columns the table gains later (new metadata keys) are null in older rows,
    as Lance has them."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self._chunks: list[pa.Table] = []
        #: First label of each chunk (replaced, never changed in place).
        self._starts = np.zeros(0, dtype=np.int64)
        self.nbytes = 0

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.schema.names)

    def follows(self, schema: pa.Schema) -> bool:
        """Take the table's ``schema`` on; False when it is not this one with
        columns added (the payload no longer holds the rows as Lance does)."""
        if any(
            schema.get_field_index(f.name) < 0 or schema.field(f.name).type != f.type
            for f in self.schema
        ):
            return False
        self.schema = schema
        return True

    def add(self, first: int, rows: pa.Table) -> None:
        self._chunks.append(rows)
        self._starts = np.append(self._starts, first)
        self.nbytes += rows.nbytes

    def rows(self, labels: npt.NDArray[np.int64], columns: Sequence[str]) -> pa.Table:
        """The rows of ``labels``, in their order, with ``columns``."""
        starts = self._starts
        chunks = np.searchsorted(starts, labels, side="right") - 1
        table = pa.concat_tables(
            [
                self._chunks[c].slice(label - int(starts[c]), 1)
                for c, label in zip(chunks.tolist(), labels.tolist(), strict=True)
            ],
            promote_options="default",
        )
        for name in columns:
            if table.schema.get_field_index(name) < 0:
                field = self.schema.field(name)
                table = table.append_column(field, pa.nulls(len(labels), field.type))
        return table.select(list(columns))


def _deleted(fragment: Any) -> int:
    deletion = fragment.metadata.deletion_file
    return int(deletion.num_deleted_rows) if deletion is not None else 0


class FastScanIndex:
    """A table's fast-scan index: faiss shards, the row address of each label,
    and the fragments it has read (see the module docstring)."""

    def __init__(self, dimension: int, metric: Metric, vector_column: str, sample: Matrix) -> None:
        self.dimension = dimension
        self.metric = metric
        self.vector_column = vector_column
        self.sub_quantizers = sub_quantizers(dimension)
        faiss = _faiss()
        faiss_metric = faiss.METRIC_L2 if metric is Metric.L2 else faiss.METRIC_INNER_PRODUCT
        base = faiss.IndexRefine(
            faiss.IndexPQFastScan(dimension, self.sub_quantizers, PQ_BITS, faiss_metric),
            faiss.IndexScalarQuantizer(dimension, faiss.ScalarQuantizer.QT_fp16, faiss_metric),
        )
        base.train(_prepared(metric, sample))
        self._shards = [faiss.IndexIDMap(faiss.clone_index(base)) for _ in range(SHARDS)]
        self._search_index = faiss.IndexShards(dimension, True, False)
        for shard in self._shards:
            self._search_index.add_shard(shard)
        self.k_factor = K_FACTOR  # sets the search parameters (see the property)
        #: Row address of each label, and whether the label's row is alive.
        self._addresses = np.zeros(0, dtype=np.uint64)
        self._alive = np.zeros(0, dtype=bool)
        self.labels = 0
        self.dead = 0
        self._fragments: dict[int, _Fragment] = {}
        #: The dataset version synced (searches read the rows from it).
        self.dataset: lance.LanceDataset | None = None
        #: The table's write generation the index was synced to (see ``_Table.generation``).
        self.generation = -1
        #: Rows the index was built on (a rebuild is due as the table grows).
        self.built_rows = 0
        #: The rows' other columns by label (None: read from Lance; see the module
        #: docstring); it takes the table's columns on at the first sync.
        self._payload: _Payload | None = _Payload(pa.schema([]))
        # faiss indexes do not take an add and a search at once.
        self._lock = threading.Lock()

    @property
    def k_factor(self) -> int:
        """Candidates per result each shard re-scores on the float16 copy."""
        return int(self._params.k_factor)

    @k_factor.setter
    def k_factor(self, value: int) -> None:
        # Built once, not per search.
        self._params = _faiss().IndexRefineSearchParameters(k_factor=value)

    @property
    def rows(self) -> int:
        """Rows the index covers (alive labels)."""
        return self.labels - self.dead

    @property
    def dead_share(self) -> float:
        return self.dead / self.labels if self.labels else 0.0

    @property
    def payload_in_memory(self) -> bool:
        """Hits are answered from memory (not read from Lance)."""
        return self._payload is not None

    @property
    def _payload_budget(self) -> int:
        """Bytes the payload may take: as many as the index (codes and float16 copy)."""
        per_row = self.sub_quantizers * PQ_BITS // 8 + 2 * self.dimension
        return max(PAYLOAD_MIN_BYTES, self.labels * per_row)

    def describe(self) -> dict[str, Any]:
        """The index's parameters, as ``GetCollection`` and ``explain`` show them."""
        return {
            "fast_scan": f"PQ{self.sub_quantizers}x{PQ_BITS}fs,refine fp16",
            "fast_scan_k_factor": self.k_factor,
            "fast_scan_shards": SHARDS,
            "fast_scan_payload": "memory" if self.payload_in_memory else "lance",
        }

    # ------------------------------------------------------------------ sync

    def sync(self, dataset: lance.LanceDataset, *, moves: bool = False) -> None:
        """Follow the table to ``dataset``'s version (blocking).

        ``moves``: the fragments gone since the last sync were rewritten by a
        compaction (nothing else written since that sync): their rows keep their
        labels, found by id in the new fragments. Without it, a gone fragment's
        rows are dead and the new fragments' rows are added again, which is
        always correct.
        """
        self._check_payload_columns(dataset)
        current = {f.fragment_id: f for f in dataset.get_fragments()}
        gone = [fid for fid in self._fragments if fid not in current]
        moved: dict[str, int] = {}
        if moves and gone and self.dataset is not None:
            moved = self._rows_by_id(self.dataset, gone)
        keep = np.fromiter(moved.values(), dtype=np.int64, count=len(moved))
        for fid in gone:
            labels = self._fragments.pop(fid).labels
            self._kill(labels[~np.isin(labels, keep)])
        for fid, fragment in current.items():
            known = self._fragments.get(fid)
            if known is None:
                self._fragments[fid] = self._read_fragment(fragment, moved)
            elif _deleted(fragment) != known.deleted:
                self._read_deletions(fragment, known)
        # Rows of gone fragments found in no new fragment were deleted meanwhile.
        self._kill(np.fromiter(moved.values(), dtype=np.int64, count=len(moved)))
        self.dataset = dataset

    def _check_payload_columns(self, dataset: lance.LanceDataset) -> None:
        """Keep the payload in memory while the table keeps the columns it holds
        (adding others)."""
        schema = dataset.schema
        schema = schema.remove(schema.get_field_index(self.vector_column)).remove_metadata()
        if self._payload is not None and not self._payload.follows(schema):
            self._drop_payload("the table's columns changed")

    def _drop_payload(self, why: str) -> None:
        if self._payload is not None:
            log.info("the fast-scan index reads its hits from Lance from now on: %s", why)
            self._payload = None

    def _rows_by_id(self, old: lance.LanceDataset, fragment_ids: Sequence[int]) -> dict[str, int]:
        out: dict[str, int] = {}
        for fid in fragment_ids:
            fragment = old.get_fragment(fid)
            if fragment is None:
                continue
            table = fragment.to_table(columns=[ID_COLUMN], with_row_address=True)
            offsets = table.column("_rowaddr").to_numpy() & np.uint64(0xFFFFFFFF)
            labels = self._fragments[fid].labels[offsets.astype(np.int64)]
            ids = table.column(ID_COLUMN).to_pylist()
            for doc_id, label in zip(ids, labels.tolist(), strict=True):
                if label >= 0:
                    out[doc_id] = label
        return out

    def _read_fragment(self, fragment: Any, moved: dict[str, int]) -> _Fragment:
        payload = self._payload
        kept = list(payload.columns) if payload is not None else []
        columns = list(dict.fromkeys([self.vector_column, *kept, *([ID_COLUMN] if moved else [])]))
        table = fragment.to_table(columns=columns, with_row_address=True)
        labels = np.full(int(fragment.physical_rows), -1, dtype=np.int64)
        addresses = table.column("_rowaddr").to_numpy()
        offsets = (addresses & np.uint64(0xFFFFFFFF)).astype(np.int64)
        add = np.ones(table.num_rows, dtype=bool)
        if moved:
            known = np.array(
                [moved.pop(i, -1) for i in table.column(ID_COLUMN).to_pylist()], dtype=np.int64
            )
            add = known < 0
            keep = ~add
            labels[offsets[keep]] = known[keep]
            self._addresses[known[keep]] = addresses[keep]
        vectors = table.column(self.vector_column)
        valid = add & ~np.asarray(vectors.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        if valid.any():
            mask = pa.array(valid)
            flat = vectors.filter(mask).combine_chunks()
            block = flat.flatten().to_numpy(zero_copy_only=False).reshape(-1, self.dimension)
            rows = table.select(kept).filter(mask) if payload is not None else None
            labels[offsets[valid]] = self._add(block, addresses[valid], rows)
        return _Fragment(labels, _deleted(fragment))

    def _read_deletions(self, fragment: Any, known: _Fragment) -> None:
        table = fragment.to_table(columns=[], with_row_address=True)
        offsets = (table.column("_rowaddr").to_numpy() & np.uint64(0xFFFFFFFF)).astype(np.int64)
        gone = np.ones(len(known.labels), dtype=bool)
        gone[offsets] = False
        self._kill(known.labels[gone])
        known.labels[gone] = -1
        known.deleted = _deleted(fragment)

    def _add(
        self, vectors: Matrix, addresses: npt.NDArray[np.uint64], rows: pa.Table | None
    ) -> npt.NDArray[np.int64]:
        prepared = _prepared(self.metric, vectors)
        if not np.isfinite(prepared).all() or np.abs(prepared).max() > FLOAT16_MAX:
            raise Unrepresentable(
                f"vector values beyond float16's range (+-{FLOAT16_MAX:g}) cannot be fast-scanned"
            )
        count = len(vectors)
        first = self.labels
        labels = np.arange(first, first + count, dtype=np.int64)
        if first + count > len(self._addresses):
            size = max(first + count, 2 * len(self._addresses), 1024)
            self._addresses = np.resize(self._addresses, size)
            alive = np.zeros(size, dtype=bool)
            alive[: len(self._alive)] = self._alive
            self._alive = alive
        self._addresses[labels] = addresses
        payload = self._payload
        if payload is not None and rows is not None:
            payload.add(first, rows)  # before its labels can be found
            if payload.nbytes > self._payload_budget:
                self._drop_payload(f"its payload outgrew {self._payload_budget} bytes")
        for lo in range(0, count, _ADD_CHUNK):
            # Each chunk to the smaller shard: the shards stay even.
            shard = min(self._shards, key=lambda s: s.ntotal)
            with self._lock:
                shard.add_with_ids(prepared[lo : lo + _ADD_CHUNK], labels[lo : lo + _ADD_CHUNK])
                self._alive[labels[lo : lo + _ADD_CHUNK]] = True
        with self._lock:
            self._search_index.syncWithSubIndexes()
        self.labels += count
        return labels

    def _kill(self, labels: npt.NDArray[np.int64]) -> None:
        labels = labels[labels >= 0]
        if len(labels):
            alive = self._alive[labels]
            self.dead += int(alive.sum())
            self._alive[labels] = False

    # ---------------------------------------------------------------- search

    def nearest(
        self, query: Matrix, top_k: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Labels of the ``top_k`` nearest alive rows, nearest first, and faiss's
        distance of each (inner product, or squared L2) on the float16 copy
        (blocking; fewer when the table holds fewer)."""
        prepared = _prepared(self.metric, query.reshape(1, -1))
        wanted = min(top_k, self.rows)
        k = top_k if self.dead == 0 else top_k + min(self.dead, top_k)
        while True:
            with self._lock:
                distances, found = self._search_index.search(prepared, k, params=self._params)
                keep = found[0] >= 0
                keep[keep] = self._alive[found[0][keep]]
            if keep.sum() >= wanted or k >= self.labels:
                return found[0][keep][:top_k], distances[0][keep][:top_k]
            k = min(2 * k, self.labels)

    def search(self, query: Matrix, top_k: int, columns: Sequence[str]) -> pa.Table | None:
        """The ``top_k`` nearest rows with ``columns`` and Lance's ``_distance``,
        nearest first (blocking); None when the rows could not all be read from
        Lance (the caller searches through Lance).

        Cosine distances come from the float16 copy of the unit vectors (within
        5e-5 of exact; see the module docstring). L2 and dot products scale
        float16's error with the vectors' norms, so their hits are re-scored
        exactly on the stored vectors, read from Lance.
        """
        labels, scores = self.nearest(query, top_k)
        if not len(labels):
            return None
        payload = self._payload
        table = None
        if payload is not None and set(columns) <= set(payload.columns):
            table = payload.rows(labels, columns)
        if self.metric is Metric.COSINE:
            if table is None:
                table = self._take(labels, columns)
            distances = (1.0 - scores).astype(np.float32)  # 1 - cos, as Lance's cosine
            return None if table is None else _with_distances(table, distances)
        read = [self.vector_column] + ([] if table is not None else list(columns))
        taken = self._take(labels, read)
        if taken is None:
            return None
        vectors = taken.column(self.vector_column).combine_chunks()
        block = vectors.flatten().to_numpy(zero_copy_only=False).reshape(-1, self.dimension)
        exact = exact_distances(self.metric, query, block)
        order = np.argsort(exact, kind="stable")
        table = (taken.select(list(columns)) if table is None else table).take(pa.array(order))
        return _with_distances(table, exact[order].astype(np.float32))

    def _take(self, labels: npt.NDArray[np.int64], columns: Sequence[str]) -> pa.Table | None:
        """The rows of ``labels`` read from Lance at the version synced, in their
        order; None when not all could be read (a write landed meanwhile)."""
        dataset = self.dataset
        assert dataset is not None
        table = dataset._take_rows(self._addresses[labels].tolist(), columns=list(columns))
        return table if table.num_rows == len(labels) else None


def _with_distances(table: pa.Table, distances: npt.NDArray[np.float32]) -> pa.Table:
    return table.append_column("_distance", pa.array(distances, type=pa.float32()))
