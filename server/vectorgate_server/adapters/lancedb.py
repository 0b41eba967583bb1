"""The embedded default store: LanceDB through its async API.

Table layout (one table per collection, table name = collection name):

* ``id`` utf8 not null, ``text`` utf8, ``vector`` fixed_size_list<float32>[dim];
* one nullable column per metadata key: string -> utf8, number -> float64,
  bool -> bool, list of strings -> list<utf8>. Keys are mapped to column
  names by :func:`vectorgate_server.filters.lancedb.column_name`. A key first
  seen in an upsert adds its column (null for the rows already there).
* a number key also has an int64 companion column (``<column>#int64``,
  :func:`vectorgate_server.filters.lancedb.int_column_name`) holding the
  exact value of the rows that stored an ``int`` (null for a ``float``): so
  an int reads back exactly (all of int64) and a float stays a float
  (``3.0`` is not ``3``), while the float64 column keeps one numeric column
  for comparisons between ints and floats. Number columns made before the
  companion existed read as before (integral values as ints) and refuse
  integers beyond 2**53, which a float64 would round.
* The collection spec is JSON in the arrow schema metadata under
  :data:`SPEC_KEY`, so ``describe_collection`` survives restarts. Tables not
  created by vectorgate are described from their schema.

Writes to one table are serialised by an ``asyncio.Lock`` (Lance commits
optimistically, and two concurrent ``merge_insert`` calls inserting the same
new id both succeed, duplicating it). One process should write a given
database; readers in other processes see writes after
``read_consistency_interval``.

The ANN index is built in the background, without holding the write lock,
once a table holds ``index_min_rows`` rows: the index its spec names, or
:data:`AUTO_INDEX` when the spec names none (``FLAT``: never). Until it is
committed, searches are exhaustive (exact); rows added since the last build or
update are scanned exhaustively too (Lance searches unindexed fragments; the
adapter never sets ``fast_search``). An index found when a table is opened is
used; a failed build is logged and retried once the table has doubled.
``describe_collection`` reports the index's state (:class:`IndexStatus`).
Every ``optimize_every_writes`` writes or ``optimize_every_rows`` rows a
background maintenance pass (under the write lock: compaction conflicts with
concurrent merges) compacts small fragments up to
:data:`COMPACT_ROWS_PER_FRAGMENT` rows, adds new rows to the indices and
deletes versions older than ``cleanup_older_than`` (15 s), the deletion
waiting for the reads in flight on the table (:class:`_ReadGate`: a read must
never find a file of its version deleted under it; reads never wait for the
deletion). It goes through pylance
(``compact_files``, ``optimize_indices``, ``cleanup_old_versions``) because
lancedb's ``optimize()`` compacts into fragments of up to 1M rows, and Lance's
exhaustive search scans one fragment per thread. Every
``recycle_connection_writes`` writes the connection is replaced by a fresh
one, which returns the native memory a connection accumulates per version.

Keyword search (:meth:`LanceDBAdapter.keyword_search`) uses Lance's native
BM25 full-text index on the ``text`` column. It is built in the background
after the first write that stores non-empty text (before any ANN index
build), and kept current by the same periodic ``optimize()``; rows written
since are searched too (Lance scans unindexed fragments). A table without the
index yet (created before, or by another process) gets it on its first
keyword search, which waits for that build (or for the running maintenance
job) once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import math
import time
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, Final, ParamSpec, TypeVar, cast

import lance
import lancedb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from lancedb.index import FTS, HnswFlat, HnswPq, HnswSq, IvfFlat, IvfPq, IvfRq, IvfSq
from lancedb.remote import ClientConfig, RetryConfig, TimeoutConfig

from ..domain import (
    CollectionInfo,
    CollectionSpec,
    Document,
    DocumentBatch,
    Explanation,
    Filter,
    FloatArray,
    Hit,
    IndexSpec,
    IndexState,
    IndexStatus,
    KeywordQuery,
    Metadata,
    MetadataValue,
    Metric,
    OutputFields,
    SearchQuery,
    as_float32,
    normalise_score,
)
from ..errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from ..filters.common import FieldType
from ..filters.lancedb import (
    INT_COLUMN_SUFFIX,
    column_name,
    compile_filter,
    int_column_name,
    metadata_key,
    quote_identifier,
    sql_literal,
)
from .base import Capabilities

if TYPE_CHECKING:
    from ..config import LanceDBConfig
from .params import positive_int
from .params import validate_native_params as _validate_native_params
from .spec import StoredSpec, decode_spec, new_field_types, spec_json, value_type

__all__ = [
    "INDEX_TYPES",
    "NATIVE_PARAMS",
    "SPEC_KEY",
    "LanceDBAdapter",
]

log = logging.getLogger(__name__)


BACKEND: Final = "lancedb"
#: Schema metadata key holding the collection spec (JSON).
SPEC_KEY: Final = "vectorgate.collection"

ID_COLUMN: Final = "id"
TEXT_COLUMN: Final = "text"
VECTOR_COLUMN: Final = "vector"

#: LanceDB ``distance_type`` of each metric.
_LANCE_METRIC: Final = {Metric.COSINE: "cosine", Metric.L2: "l2", Metric.IP: "dot"}
_METRIC_FROM_LANCE: Final = {v: k for k, v in _LANCE_METRIC.items()}

#: ANN index types (``IndexSpec.type``) and the lancedb config class building each.
INDEX_TYPES: Final[Mapping[str, type[Any]]] = {
    "IVF_FLAT": IvfFlat,
    "IVF_SQ": IvfSq,
    "IVF_PQ": IvfPq,
    "IVF_RQ": IvfRq,
    "IVF_HNSW_FLAT": HnswFlat,
    "IVF_HNSW_SQ": HnswSq,
    "IVF_HNSW_PQ": HnswPq,
}
#: Index types meaning "no ANN index: exhaustive search".
NO_INDEX_TYPES: Final = frozenset({"", "FLAT"})
#: Config fields that are not user parameters.
_NOT_PARAMS: Final = frozenset({"distance_type", "accelerator"})
_PQ_TYPES: Final = frozenset({"IVF_PQ", "IVF_HNSW_PQ"})

#: Native search parameters: name -> kind ("int": positive integer, "bool").
NATIVE_PARAMS: Final[Mapping[str, str]] = {
    "nprobes": "int",
    "refine_factor": "int",
    "ef": "int",
    "exact": "bool",
}

# Defaults where Lance's own give poor recall, measured with the recall run of
# bench/bench_search.py (GloVe 6B 50d, 100,000 rows, 1,000 held-out queries,
# cosine, recall@10 against exact search; target >= 0.95):
#
# * IVF_PQ: Lance picks dim/16 or dim/8 sub-vectors, and ONE when the dimension
#   divides by neither (50 -> 1: recall 0.53, 0.66 even re-ranking 100
#   candidates). Sub-vectors of at most 4 dimensions (50 -> 25 of 2: 0.87)
#   and a refine factor re-ranking 10 x top_k candidates on the full vectors
#   (1.00; 10 sub-vectors of 5 dimensions would give 0.96).
# * HNSW: Lance's ef is 1.5 x top_k (recall 0.79 with IVF_HNSW_SQ); 16 x top_k
#   gives 0.96 for a few tenths of a millisecond.
#
# They apply only while the table has a vector index; native_params win.

#: Target sub-vector width (dimensions) of the default product quantizer.
PQ_SUB_VECTOR_WIDTH: Final = 4
#: Default refine factor of index types whose codes are lossy enough to need it.
REFINE_FACTOR_DEFAULTS: Final[Mapping[str, int]] = {
    "IVF_SQ": 5,  # 8-bit codes: recall 0.966 -> 1.000 on random 384-d (see AUTO_INDEX)
    "IVF_PQ": 10,
    "IVF_HNSW_PQ": 10,
    "IVF_RQ": 10,
}
#: The index a collection created without an index type gets once it holds the
#: store's ``index_min_rows``. Measured (100k x 384-d random unit vectors, the
#: worst case for an ANN index, 2 loaded cores): IVF_SQ builds in 16 s with
#: recall@10 0.966 at Lance's default nprobes, 1.000 with a refine factor of 5,
#: at p50 ~4x below the exhaustive search; IVF_HNSW_SQ took 87 s to build on
#: 20k rows and reached 0.85 only with ef=400; IVF_PQ (96 sub-vectors) had not
#: finished building 100k rows after 10 minutes.
AUTO_INDEX: Final = IndexSpec(type="IVF_SQ", params={})

#: Rows at which a table gets its index. Exhaustive search is as fast as an
#: IVF_SQ index at 20k rows (p50 ~17-25 ms either way, 384-d) and ~4x slower
#: at 100k, and the build costs seconds of both cores: 50k is past the crossover.
DEFAULT_INDEX_MIN_ROWS: Final = 50_000

#: Default ``nprobes``: this share of the IVF partitions, at least NPROBES_MIN
#: (Lance's own default, 20, whatever the partition count). Measured with the
#: automatic IVF_SQ index on 300k x 384-d random unit vectors (36 partitions,
#: refine 5): recall@10 0.708 at 20 probes, 0.901 at 30, 1.000 at 40, p50
#: 19-26 ms for all (exact: 809 ms). Random vectors are the worst case (their
#: neighbours spread over every partition); GloVe 6B 50d reaches 0.998 at 20.
NPROBES_FRACTION: Final = 0.9
NPROBES_MIN: Final = 20

#: Default HNSW ``ef`` = this x top_k, at most :data:`EF_MAX` (and never below top_k).
EF_PER_RESULT: Final = 16
EF_MAX: Final = 4096

#: Rows per fragment that compaction merges small fragments up to. Lance's
#: exhaustive search scans fragments in parallel, one per thread, so a table
#: compacted into one fragment (lancedb's optimize(): up to 1M rows each) is
#: searched by one core. Measured (100k x 384-d, LanceDB direct, fresh writes,
#: 2 loaded cores): p50 167 ms in 1,000-row fragments, 180 in 4,096, 324 in
#: 16,384, 1,148 in one; the adapter against ``tbl.search`` on 1,000-row
#: writes: p50 1.17x / p99 1.12x compacting to 4,096, 0.96x / 0.76x to 2,048.
COMPACT_ROWS_PER_FRAGMENT: Final = 2048

#: The vector index is retrained (rebuilt in the background) once the table has
#: grown this many times over the rows it was trained on: IVF partitions are
#: trained on the rows at build time, and later rows are only assigned to them.
REBUILD_GROWTH: Final = 4

#: Name of the vector index vectorgate builds.
_INDEX_NAME: Final = "vector_idx"

#: Ids per ``IN (...)`` list in get/delete.
_ID_CHUNK: Final = 1000
#: Batches larger than this are converted to/from arrow in a worker thread.
_THREAD_ROWS: Final = 2000
_MAX_EXACT_INT: Final = 2**53
#: Rows per batch of the id scan that finds the rows an upsert replaces.
_SCAN_ROWS: Final = 65_536

T = TypeVar("T")


# --------------------------------------------------------------------------- spec and layout


def _field_type(dtype: pa.DataType) -> FieldType | None:
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return FieldType.STRING
    if pa.types.is_boolean(dtype):
        return FieldType.BOOL
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype):
        return FieldType.NUMBER
    if (pa.types.is_list(dtype) or pa.types.is_large_list(dtype)) and (
        pa.types.is_string(dtype.value_type) or pa.types.is_large_string(dtype.value_type)
    ):
        return FieldType.STRING_LIST
    return None


def _is_vector_type(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_fixed_size_list(dtype) and pa.types.is_floating(dtype.value_type))


_ARROW_TYPES: Final = {
    FieldType.STRING: pa.utf8(),
    FieldType.NUMBER: pa.float64(),
    FieldType.BOOL: pa.bool_(),
    FieldType.STRING_LIST: pa.list_(pa.utf8()),
}


@dataclasses.dataclass(frozen=True, slots=True)
class _Layout:
    """What the adapter needs to know of a table's schema."""

    schema: pa.Schema
    spec: StoredSpec | None
    vector_column: str | None
    dimension: int | None
    has_id: bool
    has_text: bool
    #: Metadata key -> type / column name / arrow type.
    types: Mapping[str, FieldType]
    columns: Mapping[str, str]
    arrow_types: Mapping[str, pa.DataType]
    #: Every column name of the table.
    occupied: frozenset[str]
    #: Number keys stored in integer columns (only in tables vectorgate did not create).
    integer_keys: frozenset[str]
    #: Number key -> its int64 companion column (keys that have one).
    int_columns: Mapping[str, str]

    def select(self, keys: Iterable[str]) -> list[str]:
        """The columns to read for ``keys``, companions included."""
        out: list[str] = []
        for key in keys:
            out.append(self.columns[key])
            companion = self.int_columns.get(key)
            if companion is not None:
                out.append(companion)
        return out

    @classmethod
    def from_schema(cls, schema: pa.Schema) -> _Layout:
        raw_meta = schema.metadata or {}
        raw_spec = raw_meta.get(SPEC_KEY.encode())
        spec = decode_spec(raw_spec) if raw_spec is not None else None
        names = list(schema.names)
        vector_column: str | None = None
        if VECTOR_COLUMN in names and _is_vector_type(schema.field(VECTOR_COLUMN).type):
            vector_column = VECTOR_COLUMN
        else:
            vector_column = next((f.name for f in schema if _is_vector_type(f.type)), None)
        dimension = (
            int(schema.field(vector_column).type.list_size) if vector_column is not None else None
        )
        has_id = (
            ID_COLUMN in names and _field_type(schema.field(ID_COLUMN).type) is FieldType.STRING
        )
        has_text = (
            TEXT_COLUMN in names and _field_type(schema.field(TEXT_COLUMN).type) is FieldType.STRING
        )
        types: dict[str, FieldType] = {}
        columns: dict[str, str] = {}
        arrow_types: dict[str, pa.DataType] = {}
        companions = {
            fld.name: fld.name[: -len(INT_COLUMN_SUFFIX)]
            for fld in schema
            if fld.name.endswith(INT_COLUMN_SUFFIX) and pa.types.is_int64(fld.type)
        }
        for fld in schema:
            if fld.name in (ID_COLUMN, TEXT_COLUMN, vector_column) or fld.name in companions:
                continue
            ftype = _field_type(fld.type)
            key = metadata_key(fld.name)
            if ftype is None or key in types:
                continue
            types[key] = ftype
            columns[key] = fld.name
            arrow_types[key] = fld.type
        return cls(
            schema=schema,
            spec=spec,
            vector_column=vector_column,
            dimension=dimension,
            has_id=has_id,
            has_text=has_text,
            types=types,
            columns=columns,
            arrow_types=arrow_types,
            occupied=frozenset(names),
            integer_keys=frozenset(k for k, t in arrow_types.items() if pa.types.is_integer(t)),
            int_columns={
                key: int_column_name(column)
                for key, column in columns.items()
                if int_column_name(column) in companions and pa.types.is_floating(arrow_types[key])
            },
        )


class _ReadGate:
    """Reads of a table against the deletion of old versions' files.

    A Lance read runs on the version that was the table's latest when it
    started, and pruning old versions deletes the data and index files only
    those versions use: a search still running on one would find its files
    gone (``LanceError(IO): Not found``). Pruning never deletes the latest
    version, and it runs under the table's write lock, so no version is
    committed meanwhile: a read that starts once pruning has begun reads the
    latest version and is safe. Only the reads already in flight are at risk,
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

    @property
    def metric(self) -> Metric:
        spec = self.layout.spec
        if spec is not None and spec.metric is not None:
            return spec.metric
        return self.index_metric or Metric.COSINE


# --------------------------------------------------------------------------- validation helpers


def _index_param_names(index_type: str) -> list[str]:
    cls = INDEX_TYPES[index_type]
    return sorted(f.name for f in dataclasses.fields(cls) if f.name not in _NOT_PARAMS)


def validate_index_spec(index: IndexSpec, dimension: int) -> IndexSpec:
    """The index spec normalised (upper-case type, int params), or ``InvalidArgument``."""
    index_type = index.type.strip().upper()
    accepted = ", ".join(sorted(NO_INDEX_TYPES - {""}) + sorted(INDEX_TYPES))
    if index_type in NO_INDEX_TYPES:
        for key in index.params:
            raise InvalidArgument(
                f"collection.index.params.{key}: index type {index_type or 'FLAT'!r} "
                "takes no parameters",
                field=f"collection.index.params.{key}",
            )
        return IndexSpec(type=index_type, params={})
    if index_type not in INDEX_TYPES:
        raise InvalidArgument(
            f"collection.index.type: unknown LanceDB index type {index.type!r} "
            f"(accepted: {accepted}, or empty for exhaustive search)",
            field="collection.index.type",
        )
    names = _index_param_names(index_type)
    params: dict[str, int] = {}
    for key, value in index.params.items():
        path = f"collection.index.params.{key}"
        if key not in names:
            raise InvalidArgument(
                f"{path}: not a parameter of {index_type} (accepted: {', '.join(names)})",
                field=path,
            )
        number = positive_int(value)
        if number is None:
            raise InvalidArgument(f"{path}: must be a positive integer, got {value!r}", field=path)
        params[key] = number
    if index_type in _PQ_TYPES:
        if "num_bits" in params and params["num_bits"] not in (4, 8):
            raise InvalidArgument(
                "collection.index.params.num_bits: product quantization supports 4 or 8 bits",
                field="collection.index.params.num_bits",
            )
        sub = params.get("num_sub_vectors")
        if sub is not None and dimension % sub:
            raise InvalidArgument(
                f"collection.index.params.num_sub_vectors: {sub} does not divide the "
                f"dimension {dimension}",
                field="collection.index.params.num_sub_vectors",
            )
    return IndexSpec(type=index_type, params=params)


def validate_native_params(params: Mapping[str, Any]) -> dict[str, int | bool]:
    """The native search parameters, validated, or ``InvalidArgument``."""
    return _validate_native_params(params, NATIVE_PARAMS, BACKEND)


def default_sub_vectors(dimension: int) -> int:
    """PQ sub-vectors for ``dimension``: sub-vectors of the widest width dividing
    the dimension that is at most :data:`PQ_SUB_VECTOR_WIDTH` (384 -> 96, 50 -> 25)."""
    width = max(w for w in range(1, PQ_SUB_VECTOR_WIDTH + 1) if dimension % w == 0)
    return dimension // width


def index_build_params(index: IndexSpec, dimension: int) -> dict[str, int]:
    """The parameters an index of ``index.type`` is built with: the spec's, plus
    vectorgate's defaults for those it leaves out (see :data:`PQ_SUB_VECTOR_WIDTH`)."""
    params = dict(index.params)  # validated positive ints (validate_index_spec)
    if index.type in _PQ_TYPES and "num_sub_vectors" not in params:
        params["num_sub_vectors"] = default_sub_vectors(dimension)
    return params


def search_defaults(index_type: str, top_k: int, partitions: int = 0) -> dict[str, int]:
    """Default native search parameters for a table with an index of ``index_type``
    with ``partitions`` IVF partitions (0: unknown, Lance's default nprobes)."""
    kind = index_type.upper()
    out: dict[str, int] = {}
    if partitions > 0 and kind.startswith("IVF"):
        out["nprobes"] = max(NPROBES_MIN, math.ceil(NPROBES_FRACTION * partitions))
    refine = REFINE_FACTOR_DEFAULTS.get(kind)
    if refine is not None:
        out["refine_factor"] = refine
    if "HNSW" in kind:
        out["ef"] = max(top_k, min(EF_PER_RESULT * top_k, EF_MAX))
    return out


async def _offload(st: _Table, fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking write or maintenance call in a worker thread, recorded on the
    table, once the one before it has finished (a cancelled caller leaves it
    running, and its table lock goes: the next call waits for it here, and
    :meth:`LanceDBAdapter._stop_maintenance` before a drop or close)."""
    if st.offloaded is not None and not st.offloaded.done():
        await asyncio.wait([st.offloaded])
    future = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    st.offloaded = future
    return await asyncio.shield(future)


def _checkout_latest(dataset: lance.LanceDataset) -> None:
    """Move the table's pylance dataset to its latest version (other handles commit too)."""
    dataset.checkout_latest()  # type: ignore[no-untyped-call]


def _compact_and_update_indices(dataset: lance.LanceDataset) -> None:
    """Merge small fragments up to :data:`COMPACT_ROWS_PER_FRAGMENT` rows (dropping
    deleted rows) and add the rows no index covers yet to the indices (blocking)."""
    _checkout_latest(dataset)
    dataset.optimize.compact_files(target_rows_per_fragment=COMPACT_ROWS_PER_FRAGMENT)
    if dataset.list_indices():
        dataset.optimize.optimize_indices()  # type: ignore[no-untyped-call]


def _commit_rows(
    dataset: lance.LanceDataset, data: pa.Table, replace: Sequence[str] | None
) -> lance.LanceDataset:
    """Write ``data`` in fragments of at most :data:`COMPACT_ROWS_PER_FRAGMENT`
    rows and commit them as one new version (blocking); with ``replace`` (ids the
    table may hold), the rows holding those ids are deleted in the same commit.

    An upsert by id, as lancedb's ``add`` and ``merge_insert`` are, but those
    write a batch into fragments of up to 1M rows, which compaction never
    splits, and Lance's exhaustive search scans one fragment per thread (a table
    loaded in 10,000-row writes searched 1.59x slower than one of 2,048-row
    fragments). The rows to replace are found by a scan of the id column (as
    ``merge_insert`` does, with no scalar index: see :meth:`LanceDBAdapter._write`)
    and deleted by their addresses; the commit is Lance's ``Update``, the
    operation ``merge_insert`` commits.
    """
    _checkout_latest(dataset)
    removed: list[int] = []
    updated: list[lance.FragmentMetadata] = []
    if replace:
        wanted = pa.array(replace, type=pa.utf8())
        found = [
            batch.column(1).filter(pc.is_in(batch.column(0), value_set=wanted)).to_numpy()
            for batch in dataset.to_batches(
                columns=[ID_COLUMN], with_row_address=True, batch_size=_SCAN_ROWS
            )
        ]
        addresses = np.concatenate(found) if found else np.empty(0, dtype=np.uint64)
        fragment_ids = addresses >> 32
        for fragment_id in np.unique(fragment_ids).tolist():
            fragment = dataset.get_fragment(fragment_id)
            assert fragment is not None
            offsets = addresses[fragment_ids == fragment_id] & 0xFFFFFFFF
            left = fragment.delete_rows(offsets.tolist())
            if left is None:
                removed.append(fragment_id)
            else:
                updated.append(left)
    fragments = lance.fragment.write_fragments(
        data, dataset, max_rows_per_file=COMPACT_ROWS_PER_FRAGMENT
    )
    operation: lance.LanceOperation.BaseOperation
    if removed or updated:
        operation = lance.LanceOperation.Update(
            removed_fragment_ids=removed,
            updated_fragments=updated,
            new_fragments=fragments,
            update_mode="rewrite_rows",
        )
    else:
        operation = lance.LanceOperation.Append(fragments)
    return lance.LanceDataset.commit(dataset, operation, read_version=dataset.version)


def _index_partitions(uri: str, index_name: str, storage_options: Mapping[str, str]) -> int:
    """The IVF partition count of an index, from its statistics (blocking)."""
    dataset = lance.dataset(uri, storage_options=dict(storage_options) or None)
    stats = dataset.stats.index_stats(index_name)
    # One entry per segment (delta indices share the partitions of the first).
    return max(
        (int(part.get("num_partitions") or 0) for part in stats.get("indices") or []), default=0
    )


def _prune_versions(dataset: lance.LanceDataset, older_than: timedelta) -> None:
    """Delete the files only versions older than ``older_than`` use (blocking)."""
    _checkout_latest(dataset)
    dataset.cleanup_old_versions(older_than=older_than)


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _id_list_sql(ids: Sequence[str]) -> str:
    return f"{quote_identifier(ID_COLUMN)} IN ({', '.join(sql_literal(i) for i in ids)})"


def _is_integer_type(dtype: pa.DataType | None) -> bool:
    return dtype is not None and pa.types.is_integer(dtype)


# --------------------------------------------------------------------------- conversions


def _check_batch(name: str, documents: Sequence[Document], layout: _Layout) -> dict[str, FieldType]:
    """The metadata keys a batch adds to the table, with their types.

    The request is validated already (keys, value types, finite numbers,
    dimension); this applies the one-type-per-key rule of every adapter
    (:func:`~.spec.new_field_types`) and refuses values the columns of this
    table cannot hold: a new key whose column name is taken by a column of an
    unsupported type, a fraction in an integer column, and integers beyond
    2**53 in a float column made before exact integers (tables vectorgate did
    not create, or made by earlier releases).
    """
    new = new_field_types(name, documents, layout.types)
    taken = {key for key in new if column_name(key) in layout.occupied}
    narrow = {
        key
        for key, dtype in layout.arrow_types.items()
        if _is_integer_type(dtype)
        or (
            layout.types[key] is FieldType.NUMBER
            and key not in layout.int_columns
            and pa.types.is_floating(dtype)
        )
    }
    if not taken and not narrow:
        return new
    for i, doc in enumerate(documents):
        for key, value in doc.metadata.items():
            path = f"documents[{i}].metadata.{key}"
            if key in taken:
                raise InvalidArgument(
                    f"{path}: the column for this key has a type vectorgate cannot store",
                    field=path,
                )
            if key not in narrow or isinstance(value, bool):
                continue
            if _is_integer_type(layout.arrow_types[key]):
                if isinstance(value, float) and not value.is_integer():
                    raise InvalidArgument(
                        f"{path}: collection {name!r} stores integers under {key!r}", field=path
                    )
            elif isinstance(value, int) and not -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT:
                raise InvalidArgument(
                    f"{path}: collection {name!r} stores {key!r} as 64-bit floats (a column "
                    f"made before exact integers), which would round {value}",
                    field=path,
                )
    return new


def _column_values(key: str, dtype: pa.DataType, docs: Sequence[Document]) -> list[Any]:
    ftype = _field_type(dtype)
    integer = _is_integer_type(dtype)
    out: list[Any] = []
    for doc in docs:
        value = doc.metadata.get(key)
        if value is None:
            out.append(None)
        elif ftype is FieldType.NUMBER:
            assert isinstance(value, int | float)
            out.append(int(value) if integer else float(value))
        else:
            out.append(value)
    return out


def _build_batch(docs: Sequence[Document], layout: _Layout) -> pa.Table:
    """An arrow table of ``docs`` with the table's full schema (absent keys are null)."""
    schema = layout.schema
    assert layout.vector_column is not None and layout.dimension is not None
    key_of_column = {col: key for key, col in layout.columns.items()}
    key_of_int_column = {col: key for key, col in layout.int_columns.items()}
    arrays: list[pa.Array] = []
    for fld in schema:
        if fld.name == ID_COLUMN:
            arrays.append(pa.array([d.id for d in docs], type=fld.type))
        elif fld.name == TEXT_COLUMN and layout.has_text:
            arrays.append(pa.array([d.text for d in docs], type=fld.type))
        elif fld.name == layout.vector_column:
            matrix = np.stack([cast(FloatArray, d.vector) for d in docs]).astype(
                np.float32, copy=False
            )
            flat = pa.array(matrix.reshape(-1), type=fld.type.value_type)
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, layout.dimension))
        elif fld.name in key_of_column:
            key = key_of_column[fld.name]
            arrays.append(pa.array(_column_values(key, fld.type, docs), type=fld.type))
        elif fld.name in key_of_int_column:
            key = key_of_int_column[fld.name]
            ints = [
                v if isinstance(v := d.metadata.get(key), int) and not isinstance(v, bool) else None
                for d in docs
            ]
            arrays.append(pa.array(ints, type=fld.type))
        else:
            arrays.append(pa.nulls(len(docs), type=fld.type))
    return pa.Table.from_arrays(arrays, schema=schema.remove_metadata())


def _check_columns(name: str, batch: DocumentBatch, layout: _Layout) -> dict[str, FieldType]:
    """The columnar twin of :func:`_check_batch`: each metadata column against the layout.

    The application validated the values (keys, types, finite numbers); what
    is checked here is the table's own rule, one type per key (the column's).
    """
    new: dict[str, FieldType] = {}
    for c, (key, values) in enumerate(batch.metadata.items()):
        column_type: FieldType | None = None
        for i, value in enumerate(values):
            if value is None:
                continue
            vtype = value_type(value)
            if column_type is None:
                column_type = vtype
                first = i
            elif vtype is not column_type:
                path = f"columns.metadata[{c}].values[{i}]"
                raise InvalidArgument(
                    f"{path}: a {vtype.value} value in "
                    f"column {key!r}, whose row {first} holds a {column_type.value}",
                    field=path,
                )
        if column_type is None:
            continue  # all absent: nothing to store
        path = f"columns.metadata[{c}]"
        known = layout.types.get(key)
        if known is None:
            if column_name(key) in layout.occupied:
                raise InvalidArgument(
                    f"{path}: the column for key {key!r} has a type vectorgate cannot store",
                    field=path,
                )
            new[key] = column_type
            continue
        if known is not column_type:
            raise InvalidArgument(
                f"{path}: {column_type.value} values, but collection {name!r} stores "
                f"{known.value} values under {key!r}",
                field=path,
            )
        if known is not FieldType.NUMBER:
            continue
        # The rules of number columns of tables vectorgate did not create (or made
        # before exact ints), as in _check_batch.
        integer = _is_integer_type(layout.arrow_types.get(key))
        doubles = key not in layout.int_columns and pa.types.is_floating(layout.arrow_types[key])
        for i, value in enumerate(values):
            vpath = f"{path}.values[{i}]"
            if integer and isinstance(value, float) and not value.is_integer():
                raise InvalidArgument(
                    f"{vpath}: collection {name!r} stores integers under {key!r}", field=vpath
                )
            if (
                doubles
                and isinstance(value, int)
                and not isinstance(value, bool)
                and not -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT
            ):
                raise InvalidArgument(
                    f"{vpath}: collection {name!r} stores {key!r} as 64-bit floats (a column "
                    f"made before exact integers), which would round {value}",
                    field=vpath,
                )
    return new


def _columns_table(batch: DocumentBatch, start: int, stop: int, layout: _Layout) -> pa.Table:
    """Rows ``start:stop`` of a columnar batch as an arrow table of the table's schema.

    The vectors go in as one ``FixedSizeList`` over the numpy block (no copy
    when the block is float32, as the application hands it over).
    """
    schema = layout.schema
    assert layout.vector_column is not None and layout.dimension is not None
    n = stop - start
    key_of_column = {col: key for key, col in layout.columns.items()}
    key_of_int_column = {col: key for key, col in layout.int_columns.items()}
    arrays: list[pa.Array] = []
    for fld in schema:
        if fld.name == ID_COLUMN:
            arrays.append(pa.array(batch.ids[start:stop], type=fld.type))
        elif fld.name == TEXT_COLUMN and layout.has_text:
            if batch.texts is None:
                arrays.append(pa.array([""] * n, type=fld.type))
            else:
                arrays.append(pa.array(batch.texts[start:stop], type=fld.type))
        elif fld.name == layout.vector_column:
            flat = pa.array(np.ascontiguousarray(batch.vectors[start:stop]).reshape(-1))
            if flat.type != fld.type.value_type:
                flat = flat.cast(fld.type.value_type)
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, layout.dimension))
        elif fld.name in key_of_column and key_of_column[fld.name] in batch.metadata:
            key = key_of_column[fld.name]
            values = batch.metadata[key][start:stop]
            if _field_type(fld.type) is FieldType.NUMBER:
                integer = _is_integer_type(fld.type)
                values = [
                    None
                    if v is None
                    else (int(cast(float, v)) if integer else float(cast(float, v)))
                    for v in values
                ]
            arrays.append(pa.array(values, type=fld.type))
        elif fld.name in key_of_int_column and key_of_int_column[fld.name] in batch.metadata:
            key = key_of_int_column[fld.name]
            ints = [
                v if isinstance(v, int) and not isinstance(v, bool) else None
                for v in batch.metadata[key][start:stop]
            ]
            arrays.append(pa.array(ints, type=fld.type))
        else:
            arrays.append(pa.nulls(n, type=fld.type))
    return pa.Table.from_arrays(arrays, schema=schema.remove_metadata())


def _decode_number(value: Any) -> int | float:
    if isinstance(value, float) and value.is_integer() and abs(value) < _MAX_EXACT_INT:
        return int(value)
    return cast(int | float, value)


def _decode_metadata_column(ftype: FieldType, values: list[Any]) -> list[MetadataValue | None]:
    if ftype is FieldType.NUMBER:
        return [None if v is None else _decode_number(v) for v in values]
    if ftype is FieldType.STRING_LIST:
        return [None if v is None else [s for s in v if s is not None] for v in values]
    return values


def _vectors(column: pa.ChunkedArray, dimension: int) -> list[FloatArray | None]:
    array = column.combine_chunks()
    if array.null_count == 0:
        matrix = array.flatten().to_numpy(zero_copy_only=False).reshape(-1, dimension)
        matrix = as_float32(matrix)
        return [matrix[i] for i in range(len(array))]
    return [None if v is None else as_float32(v) for v in array.to_pylist()]


def _rows(
    table: pa.Table, layout: _Layout, keys: Sequence[str], *, with_text: bool, with_vector: bool
) -> list[tuple[str, str, Metadata, FloatArray | None]]:
    """(id, text, metadata, vector) per row of a query result."""
    n = table.num_rows
    ids = table.column(ID_COLUMN).to_pylist()
    texts = (
        [t or "" for t in table.column(TEXT_COLUMN).to_pylist()]
        if with_text and layout.has_text
        else [""] * n
    )
    vectors: list[FloatArray | None] = [None] * n
    if with_vector and layout.vector_column is not None and layout.dimension is not None:
        vectors = _vectors(table.column(layout.vector_column), layout.dimension)
    metadata: list[Metadata] = [{} for _ in range(n)]
    for key in keys:
        raw = table.column(layout.columns[key]).to_pylist()
        companion = layout.int_columns.get(key)
        values: list[MetadataValue | None]
        if companion is not None:
            # Typed numbers: the exact int where one was stored, else the float as is.
            ints = table.column(companion).to_pylist()
            values = [f if i is None else i for f, i in zip(raw, ints, strict=True)]
        else:
            values = _decode_metadata_column(layout.types[key], raw)
        for row, value in zip(metadata, values, strict=True):
            if value is not None:
                row[key] = value
    return [(ids[i], texts[i], metadata[i], vectors[i]) for i in range(n)]


def _canonical(metric: Metric, distance: float) -> float:
    """The canonical value for a LanceDB ``_distance``.

    Lance returns ``1 - cos`` for cosine, the *squared* Euclidean distance for
    l2 and ``1 - a.b`` for dot (checked against numpy in the contract suite).
    """
    if metric is Metric.COSINE:
        return 1.0 - distance
    if metric is Metric.L2:
        return math.sqrt(max(distance, 0.0))
    return 1.0 - distance


# --------------------------------------------------------------------------- adapter


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _within_timeout(
    method: Callable[Concatenate[LanceDBAdapter, _P], Coroutine[Any, Any, _R]],
) -> Callable[Concatenate[LanceDBAdapter, _P], Coroutine[Any, Any, _R]]:
    """Bounds one call by the store's ``timeout_s`` (when set): past it, ``Unavailable``."""

    @functools.wraps(method)
    async def bounded(self: LanceDBAdapter, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        if self.timeout_s is None:
            return await method(self, *args, **kwargs)
        limit = asyncio.timeout(self.timeout_s)
        try:
            async with limit:
                return await method(self, *args, **kwargs)
        except TimeoutError:
            if not limit.expired():
                raise
            raise Unavailable(
                f"store {self.store!r}: no answer within {self.timeout_s:g}s (timeout_s)",
                metadata={"store": self.store},
            ) from None

    return bounded


class LanceDBAdapter:
    """A LanceDB database (local directory, object store or LanceDB Cloud) as a store."""

    backend = BACKEND

    def __init__(
        self,
        store: str,
        uri: str,
        *,
        index_min_rows: int = DEFAULT_INDEX_MIN_ROWS,
        auto_index: IndexSpec | None = AUTO_INDEX,
        max_write_batch: int = 10_000,
        optimize_every_writes: int = 20,
        optimize_every_rows: int = 100_000,
        cleanup_older_than: timedelta = timedelta(seconds=15),
        recycle_connection_writes: int = 200,
        read_consistency_interval: timedelta | None = None,
        storage_options: Mapping[str, str] | None = None,
        api_key: str | None = None,
        timeout_s: float | None = None,
    ) -> None:
        if index_min_rows < 1 or max_write_batch < 1:
            raise ValueError("index_min_rows and max_write_batch must be positive")
        self.store = store
        self.uri = uri
        #: A table whose spec asks for an index, or names none (the automatic
        #: index), gets it built in the background once it holds this many rows.
        self.index_min_rows = index_min_rows
        #: The index of collections created without an index type (None: they stay exact).
        self.auto_index = auto_index
        self.optimize_every_writes = optimize_every_writes
        self.optimize_every_rows = optimize_every_rows
        #: Versions older than this are deleted by each optimize. Lance's own
        #: default keeps 7 days of versions, and optimize (which holds the write
        #: lock) slows with every version kept: under a steady 12 single-row
        #: writes/s, 60 s of versions made each optimize take ~190 ms (stalling
        #: the writes queued behind it), 10 s ~105 ms. A reader in another
        #: process must refresh within this window (read_consistency_interval).
        self.cleanup_older_than = cleanup_older_than
        #: Open a fresh connection after this many writes (0: never). A LanceDB
        #: connection's native memory grows with every table version it has
        #: seen (~25 KB per single-row write measured, lancedb 0.40, with or
        #: without its cache-size settings) and is only returned when the
        #: connection goes: without this, a steady write load grew RSS without
        #: bound (+15 % in 90 s); with it, RSS stays flat.
        self.recycle_connection_writes = recycle_connection_writes
        self._writes_since_recycle = 0
        self.read_consistency_interval = read_consistency_interval
        self._storage_options = dict(storage_options or {})
        self._api_key = api_key
        #: Longest one call may take (None: unbounded, as the embedded engine has no
        #: timeout of its own); for LanceDB Cloud also the HTTP client's timeout.
        self.timeout_s = timeout_s
        #: LanceDB Cloud indexes and compacts server-side.
        self._remote = uri.startswith("db://")
        self.capabilities = Capabilities(
            index_types=frozenset(NO_INDEX_TYPES - {""}) | frozenset(INDEX_TYPES),
            max_write_batch=max_write_batch,
            native_params=frozenset(NATIVE_PARAMS),
            keyword_search=True,
        )
        self._db: Any = None
        self._closed = False
        self._tables: dict[str, _Table] = {}
        self._open_lock = asyncio.Lock()
        self._ddl_lock = asyncio.Lock()

    @classmethod
    def from_config(cls, config: LanceDBConfig, *, data_dir: Path) -> LanceDBAdapter:
        """The adapter of a configured store."""
        auto = (
            None
            if config.auto_index_type in NO_INDEX_TYPES
            else IndexSpec(type=config.auto_index_type)
        )
        return cls(
            config.name,
            config.uri or str(data_dir / "lancedb"),
            index_min_rows=config.index_min_rows,
            auto_index=auto,
            api_key=config.api_key.get_secret_value() if config.api_key is not None else None,
            timeout_s=config.timeout_s,
        )

    def __repr__(self) -> str:
        return f"LanceDBAdapter(store={self.store!r}, uri={self.uri!r})"

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the database (creating a local directory if needed)."""
        self._db = await self._connect()
        self._closed = False

    async def _connect(self) -> Any:
        kwargs: dict[str, Any] = {"read_consistency_interval": self.read_consistency_interval}
        if self._storage_options:
            kwargs["storage_options"] = self._storage_options
        if self._api_key:
            kwargs["api_key"] = self._api_key
        if self._remote:
            # LanceDB Cloud's client retries requests itself (3 times by default): off, so
            # the gateway's one retry policy (retry.py, bounded by the caller's deadline)
            # is the only one.
            timeouts = (
                TimeoutConfig(timeout=timedelta(seconds=self.timeout_s))
                if self.timeout_s is not None
                else TimeoutConfig()
            )
            kwargs["client_config"] = ClientConfig(
                retry_config=RetryConfig(retries=0, connect_retries=0, read_retries=0),
                timeout_config=timeouts,
            )
        return await lancedb.connect_async(self.uri, **kwargs)

    async def _recycle_connection(self) -> None:
        """Swap in a fresh connection and reopen every open table on it.

        Each table's handle is swapped under its write lock; calls already
        running keep the old handle (and through it the old connection) until
        they finish, and the old connection is freed when the last one does.
        """
        if self._closed or self._db is None:
            return
        fresh = await self._connect()
        self._db = fresh
        self._writes_since_recycle = 0
        for st in list(self._tables.values()):
            if st.dropped or self._closed:
                continue
            # Opened outside the write lock (reading the manifest and the
            # index metadata took up to a second under load, with every write
            # queued behind it); under the lock only the writes committed
            # since are caught up, so the swapped-in handle sees every write.
            table = await fresh.open_table(st.name)
            async with st.lock:
                if st.dropped or self._closed or self._tables.get(st.name) is not st:
                    table.close()
                    continue
                await table.checkout_latest()
                st.table = table
        log.debug("recycled the connection of store %s", self.store)

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

    def _connection(self) -> Any:
        if self._db is None or self._closed:
            raise Unavailable(f"store {self.store!r} is not open", metadata={"store": self.store})
        return self._db

    # ------------------------------------------------------------------ errors

    def _not_found(self, name: str) -> NotFound:
        return NotFound(
            f"collection {name!r} not found in store {self.store!r}",
            reason="COLLECTION_NOT_FOUND",
            metadata={"collection": name, "store": self.store},
        )

    def _already_exists(self, name: str) -> AlreadyExists:
        return AlreadyExists(
            f"collection {name!r} already exists in store {self.store!r}",
            reason="COLLECTION_ALREADY_EXISTS",
            metadata={"collection": name, "store": self.store},
        )

    # ------------------------------------------------------------------ tables

    async def _table_names(self) -> list[str]:
        db = self._connection()
        names: list[str] = []
        token: str | None = None
        while True:
            page = await db.list_tables(page_token=token)
            names.extend(page.tables)
            token = page.page_token
            if not token:
                return names

    async def _exists(self, name: str) -> bool:
        return name in await self._table_names()

    async def _open(self, name: str) -> _Table:
        """The state of an existing table; ``NotFound`` if there is none."""
        db = self._connection()
        st = self._tables.get(name)
        if st is None:
            async with self._open_lock:
                st = self._tables.get(name)
                if st is None:
                    st = await self._load(db, name)
                    self._tables[name] = st
        elif self.read_consistency_interval is not None:
            # Another process may have added columns.
            schema = await st.table.schema()
            if schema != st.layout.schema:
                st.layout = _Layout.from_schema(schema)
        if st.dropped:
            raise self._not_found(name)
        return st

    async def _load(self, db: Any, name: str) -> _Table:
        try:
            table = await db.open_table(name)
        except (ValueError, RuntimeError) as exc:
            if not await self._exists(name):
                raise self._not_found(name) from exc
            raise
        layout = _Layout.from_schema(await table.schema())
        st = _Table(name, table, layout)
        indices = list(await table.list_indices())
        st.has_fts = any(
            str(config.index_type).upper() == "FTS" and list(config.columns) == [TEXT_COLUMN]
            for config in indices
        )
        if layout.vector_column is not None:
            for config in indices:
                if layout.vector_column in list(config.columns):
                    st.has_index = True
                    st.index_name = str(config.name)
                    stats = await table.index_stats(config.name)
                    if stats is not None:
                        st.index_rows = int(stats.num_indexed_rows)
                        st.index_type = str(stats.index_type)
                        st.index_metric = _METRIC_FROM_LANCE.get(str(stats.distance_type))
                    st.index_partitions = await self._partitions(st, st.index_name)
                    planned = self._planned_index(layout)
                    if planned is not None and planned.type == st.index_type:
                        st.index_params = index_build_params(planned, layout.dimension or 0)
                    break
        return st

    async def _partitions(self, st: _Table, index_name: str) -> int:
        """The IVF partition count of the table's vector index (0 when unknown)."""
        if self._remote:
            return 0
        try:
            uri = await st.table.uri()
            return await asyncio.to_thread(
                _index_partitions, uri, index_name, self._storage_options
            )
        except Exception:
            log.warning(
                "could not read the partitions of %s on %s/%s; using Lance's default nprobes",
                index_name,
                self.store,
                st.name,
                exc_info=True,
            )
            return 0

    def _require_vectors(self, st: _Table) -> _Layout:
        layout = st.layout
        if layout.vector_column is None or layout.dimension is None or not layout.has_id:
            raise FailedPrecondition(
                f"table {st.name!r} in store {self.store!r} was not created by vectorgate and "
                "lacks a string 'id' column or a float vector column",
                metadata={"collection": st.name, "store": self.store},
            )
        return layout

    def _where(self, st: _Table, f: Filter, path: str = "filter") -> str:
        layout = st.layout
        return compile_filter(
            f,
            layout.types,
            path=path,
            columns=layout.columns,
            integer_keys=layout.integer_keys,
            int_columns=layout.int_columns,
        )

    # ------------------------------------------------------------------ collections

    @_within_timeout
    async def create_collection(self, spec: CollectionSpec) -> CollectionInfo:
        """Create the table with its schema and spec; ``AlreadyExists`` if present."""
        db = self._connection()
        index = validate_index_spec(spec.index, spec.dimension)
        stored = StoredSpec.of(
            spec, index=index, create_time=datetime.now(UTC).replace(microsecond=0)
        )
        schema = pa.schema(
            [
                pa.field(ID_COLUMN, pa.utf8(), nullable=False),
                pa.field(TEXT_COLUMN, pa.utf8()),
                pa.field(VECTOR_COLUMN, pa.list_(pa.float32(), spec.dimension)),
            ],
            metadata={SPEC_KEY: spec_json(stored)},
        )
        async with self._ddl_lock:
            if spec.name in self._tables or await self._exists(spec.name):
                raise self._already_exists(spec.name)
            try:
                table = await db.create_table(spec.name, schema=schema)
            except ValueError as exc:
                if "already exists" in str(exc):
                    raise self._already_exists(spec.name) from exc
                raise
            layout = _Layout.from_schema(await table.schema())
            st = _Table(spec.name, table, layout)
            st.ids = _IdSet()  # created empty here
            self._tables[spec.name] = st
        return stored.info(spec.name, document_count=0)

    @_within_timeout
    async def describe_collection(self, name: str) -> CollectionInfo:
        """The stored spec, document count and index status (a foreign table: read
        from its schema)."""
        st = await self._open(name)
        async with st.reads.reading():
            count = int(await st.table.count_rows())
            status = await self._index_status(st, count)
        spec = st.layout.spec
        if spec is not None:
            info = spec.info(
                name, dimension=st.layout.dimension, metric=st.metric, document_count=count
            )
            return dataclasses.replace(info, index_status=status)
        layout = self._require_vectors(st)
        assert layout.dimension is not None
        return CollectionInfo(
            name=name,
            dimension=layout.dimension,
            metric=st.metric,
            text_field=TEXT_COLUMN,
            index=IndexSpec(type=st.index_type),
            document_count=count,
            index_status=status,
        )

    async def _index_status(self, st: _Table, count: int) -> IndexStatus:
        """The vector index's state, from Lance's ``index_stats`` once it is built."""
        if st.has_index:
            stats = await st.table.index_stats(st.index_name) if st.index_name else None
            indexed = int(stats.num_indexed_rows) if stats is not None else 0
            return IndexStatus(
                state=IndexState.READY,
                type=st.index_type,
                params=dict(st.index_params),
                indexed_rows=indexed,
                unindexed_rows=int(stats.num_unindexed_rows) if stats is not None else count,
            )
        planned = self._planned_index(st.layout)
        if planned is None:
            return IndexStatus(state=IndexState.NONE, unindexed_rows=count)
        dimension = st.layout.dimension or 0
        return IndexStatus(
            state=IndexState.BUILDING if st.index_building else IndexState.NONE,
            type=planned.type,
            params=index_build_params(planned, dimension),
            unindexed_rows=count,
            auto_index_min_rows=0 if self._remote else self.index_min_rows,
        )

    @_within_timeout
    async def list_collections(self) -> list[str]:
        """Table names, sorted."""
        return sorted(await self._table_names())

    @_within_timeout
    async def drop_collection(self, name: str) -> None:
        """Stop maintenance, wait for in-flight writes, drop the table."""
        db = self._connection()
        async with self._ddl_lock:
            st = self._tables.pop(name, None)
            if st is not None:
                st.dropped = True
                await self._stop_maintenance(st)
                async with st.lock:
                    st.table.close()
            try:
                await db.drop_table(name)
            except ValueError as exc:
                if "was not found" in str(exc) or not await self._exists(name):
                    raise self._not_found(name) from exc
                raise

    # ------------------------------------------------------------------ documents

    @_within_timeout
    async def count(self, name: str, filter: Filter | None = None) -> int:
        """Rows, optionally matching a filter."""
        st = await self._open(name)
        where = self._where(st, filter) if filter is not None else None
        async with st.reads.reading():
            return int(await st.table.count_rows(where))

    @_within_timeout
    async def upsert(self, name: str, documents: Sequence[Document]) -> None:
        """Insert or replace by id (last duplicate wins); visible on return."""
        st = await self._open(name)
        if not documents:
            return
        self._require_vectors(st)
        async with st.lock:
            if st.dropped:
                raise self._not_found(name)
            new_keys = await self._cpu(len(documents), _check_batch, name, documents, st.layout)
            await self._add_metadata_columns(st, new_keys)
            latest = list({doc.id: doc for doc in documents}.values())
            if not st.text_written and any(doc.text for doc in latest):
                st.text_written = True
            for chunk in _chunks(latest, self.capabilities.max_write_batch):
                batch = await self._cpu(len(chunk), _build_batch, chunk, st.layout)
                await self._write(st, batch, [doc.id for doc in chunk])
        await self._schedule_maintenance(st)

    @_within_timeout
    async def upsert_columns(self, name: str, batch: DocumentBatch) -> None:
        """Insert or replace a columnar batch (ids unique): one arrow table per write.

        No per-row objects: the vector block becomes the ``FixedSizeList``
        column as is, metadata columns become arrow columns.
        """
        st = await self._open(name)
        if not len(batch):
            return
        self._require_vectors(st)
        async with st.lock:
            if st.dropped:
                raise self._not_found(name)
            new_keys = await self._cpu(len(batch), _check_columns, name, batch, st.layout)
            await self._add_metadata_columns(st, new_keys)
            if not st.text_written and batch.texts is not None and any(batch.texts):
                st.text_written = True
            size = self.capabilities.max_write_batch
            for start in range(0, len(batch), size):
                stop = min(start + size, len(batch))
                table = await self._cpu(stop - start, _columns_table, batch, start, stop, st.layout)
                await self._write(st, table, batch.ids[start:stop])
        await self._schedule_maintenance(st)

    async def _add_metadata_columns(self, st: _Table, new_keys: Mapping[str, FieldType]) -> None:
        """Add the columns of metadata keys a write brings (under the write lock)."""
        if not new_keys:
            return
        fields = [
            pa.field(column_name(key), _ARROW_TYPES[ftype]) for key, ftype in new_keys.items()
        ]
        fields.extend(
            pa.field(int_column_name(column_name(key)), pa.int64())
            for key, ftype in new_keys.items()
            if ftype is FieldType.NUMBER
        )
        await st.table.add_columns(fields)
        st.layout = _Layout.from_schema(await st.table.schema())

    async def _write(self, st: _Table, data: pa.Table, ids: Sequence[str]) -> None:
        """Write rows with unique ids, replacing by id, in one commit (under the write lock).

        When none of the ids is in the table (the common bulk load) the rows
        are appended; otherwise the rows holding them are replaced in the same
        commit, so an upsert stays idempotent (:func:`_commit_rows`, through
        pylance, in fragments of at most :data:`COMPACT_ROWS_PER_FRAGMENT`
        rows). Which case it is comes from the table's id set (:class:`_IdSet`,
        read once), not from a query: measured on lancedb 0.40
        (``bench/bench_columnar_ingest.py``), an ``id IN (...)`` lookup of 1,000
        ids costs about as much as the merge it would save, and a scalar BTREE
        index on ``id`` makes ``merge_insert`` several times slower, so neither
        is used. A remote (LanceDB Cloud) table may have other writers: it
        always merges, through lancedb's ``merge_insert``.
        """
        if self._remote:
            await (
                st.table.merge_insert(ID_COLUMN)
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute(data)
            )
        else:
            known = await self._id_set(st)
            # Recorded before writing: a write that fails or is cancelled after
            # Lance committed it must still count, or the next upsert of these ids
            # would append them again (recording ids not written only costs a merge).
            replace = ids if known.add(_IdSet.hashes(ids)) else None
            st.dataset = await _offload(st, _commit_rows, await self._dataset(st), data, replace)
            await st.table.checkout_latest()
        st.writes_since_optimize += 1
        st.rows_since_optimize += len(ids)

    async def _dataset(self, st: _Table) -> lance.LanceDataset:
        """The table's pylance dataset, through which writes and maintenance commit
        (one per table: its caches are not read again per call)."""
        if st.dataset is None:
            uri = await st.table.uri()
            st.dataset = await asyncio.to_thread(
                lance.dataset, uri, storage_options=self._storage_options or None
            )
        return st.dataset

    async def _id_set(self, st: _Table) -> _IdSet:
        """The table's id set, read from its id column on the first write (under the lock)."""
        if st.ids is None:
            async with st.reads.reading():
                column = (await st.table.query().select([ID_COLUMN]).to_arrow()).column(ID_COLUMN)
            st.ids = await self._cpu(len(column), lambda: _IdSet(column.to_pylist()))
        return st.ids

    @_within_timeout
    async def get(self, name: str, ids: Sequence[str], include_vectors: bool) -> list[Document]:
        """Documents by id in request order (each id once); missing ids omitted."""
        st = await self._open(name)
        layout = self._require_vectors(st)
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        columns = [ID_COLUMN]
        if layout.has_text:
            columns.append(TEXT_COLUMN)
        if include_vectors and layout.vector_column is not None:
            columns.append(layout.vector_column)
        keys = list(layout.columns)
        columns.extend(layout.select(keys))
        found: dict[str, Document] = {}
        for chunk in _chunks(wanted, _ID_CHUNK):
            async with st.reads.reading():
                result = (
                    await st.table.query().where(_id_list_sql(chunk)).select(columns).to_arrow()
                )
            rows = await self._cpu(
                result.num_rows,
                _rows,
                result,
                layout,
                keys,
                with_text=True,
                with_vector=include_vectors,
            )
            for doc_id, text, metadata, vector in rows:
                found[doc_id] = Document(id=doc_id, text=text, vector=vector, metadata=metadata)
        return [found[i] for i in wanted if i in found]

    @_within_timeout
    async def scan(
        self, name: str, *, after: str | None, limit: int, include_vectors: bool
    ) -> list[Document]:
        """The next ``limit`` documents in id order after ``after``.

        Lance has no ORDER BY: the ids past the cursor are read (one narrow
        column, pushed-down ``id > cursor`` filter), the smallest ``limit`` are
        picked by Arrow (UTF-8 byte order, i.e. code point order) and the rows
        are fetched by id. A row deleted between the two reads is replaced by the
        next ones past the cursor, so a page is short only at the end.
        """
        if limit <= 0:
            return []
        st = await self._open(name)
        self._require_vectors(st)
        page: list[Document] = []
        cursor = after
        while len(page) < limit:
            wanted = limit - len(page)
            async with st.reads.reading():
                query = st.table.query()
                if cursor is not None:
                    query = query.where(f"{quote_identifier(ID_COLUMN)} > {sql_literal(cursor)}")
                result = await query.select([ID_COLUMN]).to_arrow()
            column = result.column(ID_COLUMN)
            order = await self._cpu(result.num_rows, pc.sort_indices, column)
            ids = column.take(order[:wanted]).to_pylist()
            page.extend(await self.get(name, ids, include_vectors))
            if len(ids) < wanted:
                break  # the end of the table
            cursor = ids[-1]
        return page

    @_within_timeout
    async def delete(
        self, name: str, ids: Sequence[str] | None = None, filter: Filter | None = None
    ) -> None:
        """Delete rows whose id is in ``ids`` or that match ``filter``."""
        st = await self._open(name)
        unique = list(dict.fromkeys(ids or ()))
        predicates = [_id_list_sql(chunk) for chunk in _chunks(unique, _ID_CHUNK)]
        if filter is not None:
            predicates.append(self._where(st, filter))
        if not predicates:
            return
        async with st.lock:
            if st.dropped:
                raise self._not_found(name)
            for predicate in predicates:
                await st.table.delete(predicate)
            st.writes_since_optimize += 1
        await self._schedule_maintenance(st)

    # ------------------------------------------------------------------ search

    def _plan(
        self, st: _Table, query: SearchQuery
    ) -> tuple[str, dict[str, int | bool], list[str], list[str]]:
        """(where, native params, selected columns, metadata keys) of a search."""
        layout = self._require_vectors(st)
        params = validate_native_params(query.native_params)
        if st.has_index and not params.get("exact"):
            params = {
                **search_defaults(st.index_type, query.top_k, st.index_partitions),
                **params,
            }
        where = self._where(st, query.filter) if query.filter is not None else ""
        output: OutputFields = query.output
        keys: list[str] = []
        if output.metadata:
            keys = [
                k
                for k in layout.columns
                if output.metadata_keys is None or k in output.metadata_keys
            ]
        columns = [ID_COLUMN, "_distance"]
        if output.text and layout.has_text:
            columns.append(TEXT_COLUMN)
        if output.vector:
            assert layout.vector_column is not None
            columns.append(layout.vector_column)
        columns.extend(layout.select(keys))
        return where, params, columns, keys

    @_within_timeout
    async def search(self, name: str, query: SearchQuery) -> list[Hit]:
        """Vector search with the filter applied before ranking (prefilter)."""
        st = await self._open(name)
        where, params, columns, keys = self._plan(st, query)
        layout = st.layout
        metric = st.metric
        async with st.reads.reading():
            q = (
                st.table.query()
                .nearest_to(as_float32(query.vector))
                .column(layout.vector_column)
                .distance_type(_LANCE_METRIC[metric])
                .limit(query.top_k)
            )
            if where:
                q = q.where(where)
            if "nprobes" in params:
                q = q.nprobes(params["nprobes"])
            if "refine_factor" in params:
                q = q.refine_factor(params["refine_factor"])
            if "ef" in params:
                q = q.ef(params["ef"])
            if params.get("exact"):
                q = q.bypass_vector_index()
            result = await q.select(columns).to_arrow()
        distances = [float(d) for d in result.column("_distance").to_pylist()]
        rows = await self._cpu(
            result.num_rows,
            _rows,
            result,
            layout,
            keys,
            with_text=query.output.text,
            with_vector=query.output.vector,
        )
        hits: list[Hit] = []
        for (doc_id, text, metadata, vector), raw in zip(rows, distances, strict=True):
            hits.append(
                Hit(
                    id=doc_id,
                    score=normalise_score(metric, _canonical(metric, raw)),
                    raw_score=raw,
                    text=text,
                    metadata=metadata,
                    vector=vector,
                    store=self.store,
                    collection=name,
                )
            )
        return hits

    @_within_timeout
    async def keyword_search(self, name: str, query: KeywordQuery) -> list[Hit]:
        """BM25 full-text search on the text column, the filter applied before ranking."""
        st = await self._open(name)
        layout = self._require_vectors(st)
        if not layout.has_text:
            raise FailedPrecondition(
                f"table {name!r} in store {self.store!r} has no text column to search",
                metadata={"collection": name, "store": self.store},
            )
        if query.top_k < 1:
            raise InvalidArgument("top_k: must be at least 1", field="top_k")
        where = self._where(st, query.filter) if query.filter is not None else ""
        await self._ensure_fts(st)
        keys: list[str] = []
        if query.output.metadata:
            keys = [
                k
                for k in layout.columns
                if query.output.metadata_keys is None or k in query.output.metadata_keys
            ]
        columns = [ID_COLUMN, "_score"]
        if query.output.text:
            columns.append(TEXT_COLUMN)
        if query.output.vector:
            assert layout.vector_column is not None
            columns.append(layout.vector_column)
        columns.extend(layout.select(keys))
        async with st.reads.reading():
            q = st.table.query().nearest_to_text(query.text, columns=TEXT_COLUMN).limit(query.top_k)
            if where:
                q = q.where(where)
            result = await q.select(columns).to_arrow()
        scores = [float(s) for s in result.column("_score").to_pylist()]
        rows = await self._cpu(
            result.num_rows,
            _rows,
            result,
            layout,
            keys,
            with_text=query.output.text,
            with_vector=query.output.vector,
        )
        return [
            Hit(
                id=doc_id,
                score=score,
                raw_score=score,
                text=doc_text,
                metadata=metadata,
                vector=vector,
                store=self.store,
                collection=name,
            )
            for (doc_id, doc_text, metadata, vector), score in zip(rows, scores, strict=True)
        ]

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

    @_within_timeout
    async def explain(self, name: str, query: SearchQuery) -> Explanation:
        """The WHERE clause (prefilter) and the parameters ``search`` would use."""
        st = await self._open(name)
        where, params, _, _ = self._plan(st, query)
        native: dict[str, Any] = {
            "distance_type": _LANCE_METRIC[st.metric],
            "limit": query.top_k,
            "prefilter": True,
            **params,
        }
        return Explanation(backend=BACKEND, native_filter=where, native_params=native)

    # ------------------------------------------------------------------ background maintenance

    async def _cpu(self, rows: int, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a conversion inline, or in a worker thread when it is large."""
        if rows > _THREAD_ROWS:
            return await asyncio.to_thread(fn, *args, **kwargs)
        return fn(*args, **kwargs)

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

    def _planned_index(self, layout: _Layout) -> IndexSpec | None:
        """The vector index a table gets: its spec's, the automatic one when the spec
        names none, or None (``FLAT``, automatic index off, or a foreign table)."""
        spec = layout.spec
        if spec is None:
            return None
        if spec.index.type == "":
            return self.auto_index
        if spec.index.type in NO_INDEX_TYPES:
            return None
        return spec.index

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
        if job is None and optimize_due:
            job = self._optimize
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
        st.has_index = True
        st.index_name = name
        st.index_rows = rows
        log.info("built %s index on %s/%s", planned.type, self.store, st.name)

    async def _optimize(self, st: _Table) -> None:
        async with st.lock:
            if st.dropped:
                return
            writes, rows = st.writes_since_optimize, st.rows_since_optimize
            # Compaction and the index update write new files and commit a new
            # version; reads in flight keep theirs. Old versions stay for now.
            # Through pylance, in a worker thread (it blocks): lancedb's own
            # optimize() compacts into fragments of up to 1M rows and takes no
            # target, and Lance scans one fragment per thread (see
            # COMPACT_ROWS_PER_FRAGMENT).
            await _offload(st, _compact_and_update_indices, await self._dataset(st))
            await st.table.checkout_latest()
            # Pruning deletes the files only old versions use: it waits for the
            # reads in flight (see _ReadGate); reads starting meanwhile go on.
            # At most once per retention period: most of its cost is listing the
            # versions kept (6 ms growing to 135 ms over 800 single-row writes,
            # measured), paid under the write lock, so pruning at every optimize
            # (every 20 writes) made the writes queued behind it wait each time;
            # once per period deletes the same files in one pass.
            now = time.monotonic()
            due = st.pruned_at is None or (
                now - st.pruned_at >= self.cleanup_older_than.total_seconds()
            )
            if due:
                async with st.reads.pruning():
                    await _offload(
                        st, _prune_versions, await self._dataset(st), self.cleanup_older_than
                    )
                st.pruned_at = now
            st.writes_since_optimize -= writes
            st.rows_since_optimize -= rows
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
        if st.offloaded is not None and not st.offloaded.done():
            await asyncio.wait([st.offloaded])

    async def wait_for_maintenance(self, name: str) -> None:
        """Wait until the table's background maintenance (if any) has finished (for tests)."""
        st = self._tables.get(name)
        task = st.maintenance if st is not None else None
        if task is not None:
            await asyncio.wait([task])
