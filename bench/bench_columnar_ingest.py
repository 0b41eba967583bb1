"""Columnar ingest on the embedded store: the LanceDB adapter against LanceDB itself.

    python bench/bench_columnar_ingest.py [--rows 100000] [--dim 384] [--batch 1000]
                                          [--rounds 3] [--smoke]

In one process, on the same seeded float32 unit vectors (ids ``d0``...), each
path loads ``--rows`` rows in ``--batch``-row batches into a fresh table:

* ``add``: LanceDB's ``AsyncTable.add`` of one Arrow table per batch (no id check);
* ``merge_insert``: LanceDB's ``merge_insert("id").when_matched_update_all()
  .when_not_matched_insert_all()`` per batch (an idempotent upsert, as a user
  of LanceDB writes one);
* ``adapter``: ``LanceDBAdapter.upsert_columns`` with a ``DocumentBatch`` (what
  ``UpsertDocuments`` with ``columns`` hands the adapter after validation), with
  the adapter's default background maintenance (``optimize()`` every 20 writes,
  under the write lock);
* ``adapter_write``: the same with that maintenance deferred past the run (the
  write path alone: id-set check, arrow conversion, ``add`` / ``merge_insert``).

Then each path upserts the same rows again (every id present: the replace
path), ``merge_insert`` against ``adapter``. Paths are interleaved: every
round runs each once, in a rotating order, and the median of the rounds is
reported as vectors/s with the ratios the issue targets (adapter >= 0.8 x
merge_insert, >= 0.5 x add). ``--smoke`` runs a tiny version (figures mean nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa

from vectorgate_server.adapters.lancedb import LanceDBAdapter
from vectorgate_server.domain import CollectionSpec, DocumentBatch, Metric


def _data(rows: int, dim: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((rows, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [f"d{i}" for i in range(rows)], vectors


def _arrow(ids: list[str], vectors: np.ndarray) -> pa.Table:
    dim = vectors.shape[1]
    return pa.table(
        {
            "id": pa.array(ids, pa.utf8()),
            "text": pa.array([""] * len(ids), pa.utf8()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim),
        }
    )


async def _direct(
    root: Path, ids: list[str], vectors: np.ndarray, batch: int, merge: bool
) -> tuple[float, float]:
    db = await lancedb.connect_async(str(root))
    dim = vectors.shape[1]
    schema = pa.schema(
        [
            pa.field("id", pa.utf8(), nullable=False),
            pa.field("text", pa.utf8()),
            pa.field("vector", pa.list_(pa.float32(), dim)),
        ]
    )
    table = await db.create_table("t", schema=schema)
    chunks = [_arrow(ids[s : s + batch], vectors[s : s + batch]) for s in range(0, len(ids), batch)]

    async def load() -> float:
        start = time.perf_counter()
        for chunk in chunks:
            if merge:
                await (
                    table.merge_insert("id")
                    .when_matched_update_all()
                    .when_not_matched_insert_all()
                    .execute(chunk)
                )
            else:
                await table.add(chunk)
        return time.perf_counter() - start

    first = await load()
    again = await load() if merge else float("nan")
    assert await table.count_rows() == len(ids)
    return first, again


async def _adapter(
    root: Path, ids: list[str], vectors: np.ndarray, batch: int, maintenance: bool
) -> tuple[float, float]:
    deferred: dict[str, int] = (
        {} if maintenance else {"optimize_every_writes": 10**9, "optimize_every_rows": 10**12}
    )
    adapter = LanceDBAdapter("bench", str(root), **deferred)
    await adapter.start()
    try:
        await adapter.create_collection(
            CollectionSpec(
                name="t", dimension=vectors.shape[1], metric=Metric.COSINE, embedding_model="none"
            )
        )
        batches = [
            DocumentBatch(ids=ids[s : s + batch], vectors=vectors[s : s + batch])
            for s in range(0, len(ids), batch)
        ]

        async def load() -> float:
            start = time.perf_counter()
            for b in batches:
                await adapter.upsert_columns("t", b)
            return time.perf_counter() - start

        first = await load()
        await adapter.wait_for_maintenance("t")
        again = await load()
        assert await adapter.count("t") == len(ids)
        await adapter.wait_for_maintenance("t")
        return first, again
    finally:
        await adapter.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.dim, args.batch, args.rounds = 2_000, 16, 500, 1
    ids, vectors = _data(args.rows, args.dim)
    paths: dict[str, Callable[[Path], Awaitable[tuple[float, float]]]] = {
        "add": lambda root: _direct(root, ids, vectors, args.batch, merge=False),
        "merge_insert": lambda root: _direct(root, ids, vectors, args.batch, merge=True),
        "adapter": lambda root: _adapter(root, ids, vectors, args.batch, maintenance=True),
        "adapter_write": lambda root: _adapter(root, ids, vectors, args.batch, maintenance=False),
    }
    first: dict[str, list[float]] = {name: [] for name in paths}
    again: dict[str, list[float]] = {name: [] for name in paths}
    names = list(paths)
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
                t1, t2 = await paths[name](Path(tmp))
            first[name].append(t1)
            again[name].append(t2)
            print(
                f"round {r}: {name:13s} load {args.rows / t1:9.0f} vec/s   re-upsert "
                f"{args.rows / t2 if t2 == t2 else float('nan'):9.0f} vec/s",
                flush=True,
            )
    rate = {n: args.rows / statistics.median(v) for n, v in first.items()}
    print(f"\n{args.rows} x {args.dim}-d, batches of {args.batch}, median of {args.rounds} rounds")
    print("| path | load vectors/s | re-upsert (all ids present) vectors/s |")
    print("|---|---|---|")
    for name in names:
        re_rate = args.rows / statistics.median(again[name]) if name != "add" else float("nan")
        print(f"| {name} | {rate[name]:,.0f} | {'—' if name == 'add' else f'{re_rate:,.0f}'} |")
    print()
    for name in ("adapter", "adapter_write"):
        print(f"{name} / merge_insert (load): {rate[name] / rate['merge_insert']:.2f}x")
        print(f"{name} / add (load): {rate[name] / rate['add']:.2f}x")
        print(
            f"{name} / merge_insert (re-upsert): "
            f"{statistics.median(again['merge_insert']) / statistics.median(again[name]):.2f}x"
        )


if __name__ == "__main__":
    asyncio.run(main())
