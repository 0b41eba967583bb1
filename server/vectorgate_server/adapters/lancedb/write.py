"""The LanceDB adapter's write path."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lance
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...domain import Document, DocumentBatch, Filter
from ...filters.common import FieldType
from ...filters.lancedb import column_name, int_column_name
from .connection import _within_timeout
from .layout import (
    _ARROW_TYPES,
    _ID_CHUNK,
    _SCAN_ROWS,
    COMPACT_ROWS_PER_FRAGMENT,
    ID_COLUMN,
    _Layout,
)
from .maintenance import LanceDBMaintenance
from .rows import _build_batch, _check_batch, _check_columns, _chunks, _columns_table, _id_list_sql
from .state import _checkout_latest, _IdSet, _offload, _Table


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


async def _merge_insert(table: Any, data: pa.Table) -> None:
    """lancedb's upsert by id (one commit; the new rows in one fragment)."""
    await (
        table.merge_insert(ID_COLUMN)
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute(data)
    )


class LanceDBWriter(LanceDBMaintenance):
    """The write path: upserts (documents and columns) and deletes."""

    @_within_timeout
    async def upsert(self, name: str, documents: Sequence[Document]) -> None:
        """Insert or replace by id (last duplicate wins); visible on return."""
        latest = list({doc.id: doc for doc in documents}.values())
        await self._upsert(
            name,
            [doc.id for doc in latest],
            [doc.text for doc in latest],
            functools.partial(_check_batch, name, documents),
            functools.partial(_build_batch, latest),
        )

    @_within_timeout
    async def upsert_columns(self, name: str, batch: DocumentBatch) -> None:
        """Insert or replace a columnar batch (ids unique).

        No per-row objects: the vector block becomes the ``FixedSizeList``
        column as is, metadata columns become arrow columns.
        """
        await self._upsert(
            name,
            batch.ids,
            batch.texts,
            functools.partial(_check_columns, name, batch),
            functools.partial(_columns_table, batch),
        )

    async def _upsert(
        self,
        name: str,
        ids: Sequence[str],
        texts: Sequence[str] | None,
        check: Callable[[_Layout], Mapping[str, FieldType]],
        build: Callable[[_Layout], pa.Table],
    ) -> None:
        """Write rows with unique ``ids`` as one arrow table, in one write (the
        application splits large writes: :func:`~vectorgate_server.adapters.base.upsert`).

        ``check`` gives the metadata keys the rows add to the table's layout,
        ``build`` the rows' arrow table in the layout.
        """
        st = await self._open(name)
        if not ids:
            return
        self._require_vectors(st)
        async with st.lock:
            if st.dropped:
                raise self._not_found(name)
            await self._add_metadata_columns(st, await self._cpu(len(ids), check, st.layout))
            if not st.text_written and texts is not None and any(texts):
                st.text_written = True
            data = await self._cpu(len(ids), build, st.layout)
            await self._write(st, data, ids)
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
        st.generation += 1
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
        is used. A replacing write of at most :data:`COMPACT_ROWS_PER_FRAGMENT`
        rows goes through lancedb's ``merge_insert``: its one fragment is small
        enough, and its id scan is faster than :func:`_commit_rows`'s (0.6-0.7x
        of it measured on 1,000-row re-upserts of a 50k-row table). A remote
        (LanceDB Cloud) table may have other writers: it always merges, through
        ``merge_insert``.
        """
        st.generation += 1
        replace: Sequence[str] | None = None
        if not self._remote:
            known = await self._id_set(st)
            # Recorded before writing: a write that fails or is cancelled after
            # Lance committed it must still count, or the next upsert of these ids
            # would append them again (recording ids not written only costs a merge).
            replace = ids if known.add(_IdSet.hashes(ids)) else None
        if self._remote or (replace and len(ids) <= COMPACT_ROWS_PER_FRAGMENT):
            if not self._remote:
                # The handle must see every commit, also one of _commit_rows that
                # raised after committing, or merge_insert would miss those rows.
                await st.table.checkout_latest()
            await _merge_insert(st.table, data)
        else:
            st.dataset = await _offload(st, _commit_rows, await self._dataset(st), data, replace)
            await st.table.checkout_latest()
        st.writes_since_optimize += 1
        st.rows_since_optimize += len(ids)

    async def _id_set(self, st: _Table) -> _IdSet:
        """The table's id set, read from its id column on the first write (under the lock)."""
        if st.ids is None:
            async with st.reads.reading():
                column = (await st.table.query().select([ID_COLUMN]).to_arrow()).column(ID_COLUMN)
            st.ids = await self._cpu(len(column), lambda: _IdSet(column.to_pylist()))
        return st.ids

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
            st.generation += 1
            for predicate in predicates:
                await st.table.delete(predicate)
            st.writes_since_optimize += 1
        await self._schedule_maintenance(st)
