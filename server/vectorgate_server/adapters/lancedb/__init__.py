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

A local write is one commit of fragments of at most
:data:`COMPACT_ROWS_PER_FRAGMENT` rows, written through pylance
(:func:`.write._commit_rows`): an append when none of its ids is in the table,
else an update that also deletes the rows holding them.

Keyword search (:meth:`LanceDBAdapter.keyword_search`) uses Lance's native
BM25 full-text index on the ``text`` column. It is built in the background
after the first write that stores non-empty text (before any ANN index
build), and kept current by the same periodic ``optimize()``; rows written
since are searched too (Lance scans unindexed fragments). A table without the
index yet (created before, or by another process) gets it on its first
keyword search, which waits for that build (or for the running maintenance
job) once.

Modules: :mod:`.layout` (columns, the schema's meaning), :mod:`.index` (index
types, defaults, validation), :mod:`.state` (per-table state, blocking pylance
calls), :mod:`.rows` (Arrow conversions), and the adapter's classes, each on
the one before: :mod:`.connection`, :mod:`.maintenance`, :mod:`.write`,
:mod:`.adapter`.
"""

from .adapter import LanceDBAdapter
from .index import (
    AUTO_INDEX,
    EF_MAX,
    INDEX_TYPES,
    NATIVE_PARAMS,
    default_sub_vectors,
    index_build_params,
    search_defaults,
)
from .layout import COMPACT_ROWS_PER_FRAGMENT, SPEC_KEY
from .state import _IdSet, _ReadGate

__all__ = [
    "AUTO_INDEX",
    "COMPACT_ROWS_PER_FRAGMENT",
    "EF_MAX",
    "INDEX_TYPES",
    "NATIVE_PARAMS",
    "SPEC_KEY",
    "LanceDBAdapter",
    "_IdSet",
    "_ReadGate",
    "default_sub_vectors",
    "index_build_params",
    "search_defaults",
]
