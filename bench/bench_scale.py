"""The embedded default (LanceDB) at 10k / 100k / 1M rows: LanceDB used directly vs the gateway.

    python bench/bench_scale.py [--sizes 10000,100000,1000000] [--smoke] [--queries 200]
                                [--modes exact,auto] [--index-wait 1800]
                                [--client-input auto|numpy|pyarrow|dicts]
                                [--store-option KEY=VALUE ...] [--markdown]
                                [--out bench/results/scale.json]
    python bench/bench_scale.py --report bench/results/scale.json [--markdown]

Two processes do the same work on the same data, and this one drives both:

* **LanceDB direct**: a child process of this script (``--direct-worker``) that
  uses ``lancedb`` as its documentation shows: ``lancedb.connect``,
  ``create_table``, ``add()`` in 1,000-row Arrow batches, and
  ``tbl.search(q).limit(10)`` (cosine, the id and text selected). For the
  ingest comparison it also loads a second table with ``merge_insert("id")``
  (update when matched, insert otherwise: what an idempotent upsert is).
* **the gateway**: a real ``vectorgate serve`` child process (its own data
  directory, free loopback ports, ``OPENBLAS_NUM_THREADS=1``, only a LanceDB
  store), used through :class:`vectorgate.Client`: ``create_collection(
  dimension=384, embedding_model="none")``, ``bulk_upsert`` (1,000 documents
  per message) and ``search`` over gRPC.

The data are seeded random 384-d unit vectors, generated block by block from
the seed in each process, so no process holds the whole set; the queries are
another seeded set. The rows grow through the sizes asked for (10k, then up to
100k, then up to 1M), and at each size the bench measures, in two modes:

``exact``
    No ANN index: the gateway's collection is created with ``index_type="FLAT"``
    and the direct table has no index (searches bypass it once one exists).
``auto``
    The gateway's collection is created with no index type, as a user of the
    zero-setup default does, so the gateway's automatic ANN index (when it has
    one) is what is measured. Where ``GetCollection`` reports the index status
    (``Collection.index_status``: state, type, rows not yet indexed), the bench
    waits for the index to be ready over every row before measuring (or for the
    gateway to go idle: none is due below its row threshold) and reports the
    time it took; where it does not, the status is "n/a" and the searches are
    measured as they come.
    The direct table gets LanceDB's own index with its defaults
    (``create_index(metric="cosine")``, of the type the gateway reports, or
    LanceDB's default type), built over all its rows.

At each size the searches of both modes start once the gateway process has
been idle for ``IDLE_S`` (its background maintenance, such as the nprobes
calibration after an index build or the compaction of new fragments, done);
the direct side runs nothing in the background. The JSON keeps that wait.

Measured, direct and gateway interleaved so drift on a shared machine hits
both alike:

* ingest vectors/s: every 10,000 rows, direct ``add()``, direct
  ``merge_insert`` and the gateway's ``bulk_upsert`` into each of its
  collections, in a rotating order (the write of a block is timed, not its
  generation). The client's columnar input (numpy / pyarrow) is used when the
  client takes it, lists of dicts otherwise; the report says which;
* search latency p50/p99 at 1 client: the same queries, direct and gateway
  alternating per query (the first of each pair alternating too). The direct
  time is taken inside the direct process around the LanceDB call, the
  gateway's around ``Client.search`` here;
* QPS at 8 clients: ``--windows`` windows a path (6 by default: at 1M rows a
  3 s window holds only about 8 exact searches), in pairs whose first path
  alternates; 8 threads in the direct process calling its table, 8 threads
  here each with its own ``Client``. The report keeps how many searches each
  path completed;
* recall@10 of every path against exact top 10 computed with numpy (brute
  force over all rows, streamed block by block);
* resident memory: peak ``VmRSS`` of the gateway process and of the direct
  process, sampled from ``/proc`` every 50 ms while they ingest and search,
  and each one's ``VmHWM`` at the end.

Ratios (gateway / direct) come from the same run. ``--smoke`` runs tiny sizes
in well under a minute; CI runs it to check the bench works, its figures mean
nothing.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import numpy.typing as npt
import yaml
from google.protobuf import json_format

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fanout import cpu_seconds
from bench_search import (
    DIMENSION,
    RESULTS,
    TOP_K,
    WRITE_BATCH,
    Gateway,
    LanceDirect,
    machine,
    percentile,
    progress,
    publish,
    status_kb,
)

from vectorgate import Client
from vectorgate.v1 import collection_admin_service_pb2 as cpb
from vectorgate.v1 import collection_admin_service_pb2_grpc as cgrpc

DEFAULT_OUT = RESULTS / "scale.json"
SEED = 20261207
#: The rows written between two switches of path while loading.
CHUNK = 10_000
MODES = ("exact", "auto")
#: The gateway's collection for each mode, and the index type asked for at create.
GATEWAY_INDEX = {"exact": "FLAT", "auto": ""}

#: Seconds of an idle gateway that mean no index build is under way.
IDLE_S = 3.0
#: The index type of LanceDB's ``create_index`` when none is named.
DIRECT_DEFAULT_INDEX = "IVF_PQ"
#: ``nprobes`` tried, fewest first, when the direct table is tuned to the gateway's
#: recall (LanceDB probes every partition when asked for more than it has), with
#: the refine factor the gateway's LanceDB store searches with, over the first
#: ``TUNE_QUERIES`` queries.
TUNE_NPROBES = (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
TUNE_REFINE_FACTOR = 5
TUNE_QUERIES = 50
#: Tune only where the gateway's recall is this much above LanceDB's defaults'.
TUNE_GAP = 0.02

Array = npt.NDArray[np.float32]
Search = Callable[[Array], list[str]]


# --------------------------------------------------------------------------- data


def block(index: int) -> Array:
    """Rows ``index * WRITE_BATCH`` .. of the data set: seeded 384-d unit vectors."""
    rng = np.random.default_rng([SEED, index])
    v = rng.standard_normal((WRITE_BATCH, DIMENSION), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def rows(lo: int, hi: int) -> Iterator[tuple[int, Array]]:
    """``(first row, vectors)`` in blocks of ``WRITE_BATCH`` covering ``lo`` .. ``hi``."""
    for b in range(lo // WRITE_BATCH, hi // WRITE_BATCH):
        yield b * WRITE_BATCH, block(b)


def ids(lo: int, n: int) -> list[str]:
    return [f"d{lo + i}" for i in range(n)]


def queries(count: int) -> Array:
    rng = np.random.default_rng([SEED, 1 << 40])
    q = rng.standard_normal((count, DIMENSION), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return q


def index_config_class(index_type: str) -> str:
    """The ``lancedb.index`` class of an index type (``IVF_HNSW_SQ`` -> ``HnswSq``)."""
    hnsw = index_type.removeprefix("IVF_HNSW_")
    if hnsw != index_type:
        return "Hnsw" + hnsw.title()
    return "Ivf" + index_type.removeprefix("IVF_").title()


class GroundTruth:
    """Exact top 10 (cosine = dot on unit vectors) of each query, kept current block by block."""

    def __init__(self, q: Array) -> None:
        self.q = q
        self.scores = np.full((len(q), TOP_K), -np.inf, dtype=np.float32)
        self.rows = np.zeros((len(q), TOP_K), dtype=np.int64)

    def add(self, lo: int, vectors: Array) -> None:
        sims = self.q @ vectors.T  # (queries, rows)
        scores = np.concatenate([self.scores, sims], axis=1)
        rows = np.concatenate(
            [self.rows, np.broadcast_to(np.arange(lo, lo + len(vectors)), sims.shape)], axis=1
        )
        top = np.argpartition(-scores, TOP_K - 1, axis=1)[:, :TOP_K]
        self.scores = np.take_along_axis(scores, top, axis=1)
        self.rows = np.take_along_axis(rows, top, axis=1)

    def recall(self, found: list[list[str]]) -> float:
        hits = 0
        for truth, got in zip(self.rows[: len(found)], found, strict=True):
            hits += len({f"d{r}" for r in truth} & set(got))
        return hits / (TOP_K * len(found))


# --------------------------------------------------------------------------- the direct process


class DirectWorker:
    """LanceDB used directly, in this (child) process; answers one JSON command per line.

    Two tables, as :class:`bench_search.LanceDirect` makes them: one loaded
    with ``add()`` (and searched), one with ``merge_insert``.
    """

    def __init__(self, path: Path, query_count: int) -> None:
        self.tables = {how: LanceDirect(path / how) for how in ("add", "merge")}
        self.queries = queries(query_count)

    def ingest(self, lo: int, hi: int, how: str) -> float:
        """Rows ``lo`` .. ``hi``, 1,000 a call; seconds in the calls (Arrow batch made in them)."""
        table = self.tables[how]
        write = table.add if how == "add" else table.upsert
        spent = 0.0
        for first, vectors in rows(lo, hi):
            batch_ids = ids(first, len(vectors))
            t0 = time.perf_counter()
            write(batch_ids, vectors)
            spent += time.perf_counter() - t0
        return spent

    def build_index(self, index_type: str) -> float:
        """``create_index`` with LanceDB's defaults for the type (IVF_PQ when none is given)."""
        import lancedb.index

        config = getattr(lancedb.index, index_config_class(index_type or DIRECT_DEFAULT_INDEX))
        t0 = time.perf_counter()
        self.tables["add"].table.create_index(
            "vector", config=config(distance_type="cosine"), replace=True
        )
        return time.perf_counter() - t0

    def tune(self, nprobes: int | None, refine_factor: int | None) -> dict[str, Any]:
        """Search parameters of the indexed searches from now on (None: LanceDB's default)."""
        table = self.tables["add"]
        table.nprobes, table.refine_factor = nprobes, refine_factor
        return {}

    def search(self, q: Array, exact: bool) -> list[str]:
        table = self.tables["add"]
        table.bypass_index = exact
        return table.search(q)

    def timed_search(self, n: int, exact: bool) -> dict[str, Any]:
        t0 = time.perf_counter()
        found = self.search(self.queries[n], exact)
        return {"ms": (time.perf_counter() - t0) * 1000, "ids": found}

    def qps(self, clients: int, seconds: float, exact: bool) -> dict[str, Any]:
        def search(q: Array) -> list[str]:
            return self.search(q, exact)

        return {"done": run_clients([search] * clients, seconds, self.queries)}

    def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        op = command["op"]
        if op == "ingest":
            return {"s": self.ingest(command["lo"], command["hi"], command["how"])}
        if op == "index":
            return {"s": self.build_index(command["type"])}
        if op == "search":
            return self.timed_search(command["n"], command["exact"])
        if op == "qps":
            return self.qps(command["clients"], command["seconds"], command["exact"])
        if op == "tune":
            return self.tune(command["nprobes"], command["refine_factor"])
        if op == "count":
            return {"rows": self.tables["add"].table.count_rows()}
        raise ValueError(f"unknown op {op!r}")


def direct_worker(path: Path, query_count: int) -> int:
    worker = DirectWorker(path, query_count)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "quit":
            break
        print(json.dumps(worker.handle(command)), flush=True)
    return 0


class Direct:
    """The driver's handle on the direct child process."""

    def __init__(self, path: Path, query_count: int) -> None:
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--direct-worker",
                str(path),
                "--queries",
                str(query_count),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.pid = self.proc.pid
        self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the direct process exited with {self.proc.wait()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------- shared helpers


def run_clients(searchers: list[Search], seconds: float, q: Array) -> int:
    """Searches done in ``seconds`` by one thread per searcher, each calling its own."""

    def loop(seed: int, search: Search, stop: float) -> int:
        done, i = 0, seed
        while time.perf_counter() < stop:
            search(q[i % len(q)])
            i += 7
            done += 1
        return done

    stop = time.perf_counter() + seconds
    with concurrent.futures.ThreadPoolExecutor(len(searchers)) as pool:
        counts = pool.map(loop, range(len(searchers)), searchers, [stop] * len(searchers))
        return sum(counts)


class RssSampler:
    """Peak ``VmRSS`` (MB) of some processes, sampled every 50 ms by a thread."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.peak = dict.fromkeys(pids, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.sample()

    def sample(self) -> None:
        for name, pid in self.pids.items():
            self.peak[name] = max(self.peak[name], status_kb(pid, "VmRSS") / 1024)

    def hwm(self) -> dict[str, float]:
        return {name: status_kb(pid, "VmHWM") / 1024 for name, pid in self.pids.items()}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# --------------------------------------------------------------------------- the gateway side


class ColumnarWriter:
    """Writes blocks through ``Client.bulk_upsert``, columnar when the client takes it.

    ``input`` is ``numpy`` (``ids=[...], vectors=<(n, 384) float32 array>``),
    ``pyarrow`` (a table with columns id, text, vector as a fixed-size list of
    float32), ``dicts`` (``{"id", "text", "vector"}`` per row) or ``auto``:
    numpy, then pyarrow, then dicts, the first the client takes. A client that
    cannot convert an input raises ``TypeError`` / ``ValueError`` before
    anything is sent; ``path`` says which input was used.
    """

    INPUTS = ("numpy", "pyarrow", "dicts")

    def __init__(self, input_kind: str = "auto") -> None:
        self.candidates = list(self.INPUTS) if input_kind == "auto" else [input_kind]
        self.path = ""

    @staticmethod
    def send(client: Client, collection: str, kind: str, lo: int, vectors: Array) -> int:
        if kind == "numpy":
            return client.bulk_upsert(
                collection, ids=ids(lo, len(vectors)), vectors=vectors, batch_size=WRITE_BATCH
            )
        if kind == "pyarrow":
            import pyarrow as pa

            flat = pa.array(vectors.reshape(-1), type=pa.float32())
            table = pa.table(
                {
                    "id": pa.array(ids(lo, len(vectors)), pa.utf8()),
                    "text": pa.array([""] * len(vectors), pa.utf8()),
                    "vector": pa.FixedSizeListArray.from_arrays(flat, DIMENSION),
                }
            )
            return client.bulk_upsert(collection, table, batch_size=WRITE_BATCH)
        docs = [
            {"id": i, "text": "", "vector": v}
            for i, v in zip(ids(lo, len(vectors)), vectors, strict=True)
        ]
        return client.bulk_upsert(collection, docs, batch_size=WRITE_BATCH)

    def write(self, client: Client, collection: str, lo: int, blocks: list[Array]) -> float:
        """Writes ``blocks`` (rows from ``lo``) in one stream; the seconds it took."""
        vectors = np.concatenate(blocks)
        while True:
            kind = self.path or self.candidates[0]
            t0 = time.perf_counter()
            try:
                written = self.send(client, collection, kind, lo, vectors)
            except (TypeError, ValueError):
                if self.path or len(self.candidates) == 1:  # it worked before: a real failure
                    raise
                self.candidates.pop(0)
                continue
            spent = time.perf_counter() - t0
            self.path = kind
            assert written == len(vectors), (written, len(vectors))
            return spent


def index_status(collection: Any) -> dict[str, Any] | None:
    """``Collection.index_status`` of a ``GetCollection`` answer, as a dict.

    ``None`` where the contract has no such field yet, or the store does not
    report it (state unspecified). Looked up by name, so the bench runs against
    a server and client from before the field existed as well.
    """
    if "index_status" not in collection.DESCRIPTOR.fields_by_name:
        return None
    status = collection.index_status
    state = status.DESCRIPTOR.fields_by_name["state"].enum_type.values_by_number[status.state]
    if status.state == 0:
        return None
    return {
        "state": state.name.removeprefix("STATE_"),
        "type": status.type,
        "params": json_format.MessageToDict(status.params),
        "indexed_rows": status.indexed_rows,
        "unindexed_rows": status.unindexed_rows,
        "auto_index_min_rows": status.auto_index_min_rows,
    }


class IdleWatch:
    """Whether a process has used under 3 % of a core over the last ``IDLE_S``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples = [(time.perf_counter(), cpu_seconds(pid))]

    def idle(self) -> bool:
        """Takes a sample; True once the samples span ``IDLE_S`` at under 3 % of a core."""
        now = time.perf_counter()
        self.samples.append((now, cpu_seconds(self.pid)))
        while len(self.samples) > 1 and now - self.samples[1][0] >= IDLE_S:
            self.samples.pop(0)  # keep one sample at least IDLE_S old
        then, cpu_then = self.samples[0]
        return now - then >= IDLE_S and self.samples[-1][1] - cpu_then < 0.03 * (now - then)


class GatewaySide:
    """The gateway child process, its two collections and a writer."""

    def __init__(
        self, work: Path, modes: list[str], client_input: str, options: dict[str, Any]
    ) -> None:
        store = {"type": "lancedb", "uri": str(work / "lancedb"), **options}
        self.server = Gateway("lancedb", work, store)
        self.client = Client(self.server.target, timeout=3600)
        self.writer = ColumnarWriter(client_input)
        self.modes = modes
        for mode in modes:
            self.client.create_collection(
                mode,
                dimension=DIMENSION,
                metric="cosine",
                embedding_model="none",
                index_type=GATEWAY_INDEX[mode],
            )
        import grpc

        self.channel = grpc.insecure_channel(self.server.target)
        self.admin = cgrpc.CollectionAdminServiceStub(self.channel)

    def collection(self, mode: str) -> Any:
        response = self.admin.GetCollection(cpb.GetCollectionRequest(name=mode), timeout=60)
        return response.collection

    def wait_for_index(self, mode: str, timeout_s: float) -> dict[str, Any]:
        """Polls ``GetCollection`` until the index is ready over every row.

        Gives up after ``timeout_s``, or as soon as the gateway is idle (under
        3 % of a core for ``IDLE_S``) while it is not: no build or update is
        under way then (below the automatic index's row threshold, or rows
        written since a build that the next update will cover).
        """
        watch = IdleWatch(self.server.proc.pid)
        t0 = time.perf_counter()
        while True:
            status = index_status(self.collection(mode))
            if status is None:
                return {"reported": False}
            idle = watch.idle()
            now = time.perf_counter()
            ready = status["state"] == "READY" and status["unindexed_rows"] == 0
            if ready or idle or now - t0 > timeout_s:
                return {
                    "reported": True,
                    "ready": ready,
                    "idle": idle and not ready,
                    "waited_s": now - t0,
                    **status,
                }
            time.sleep(0.5)

    def wait_idle(self, timeout_s: float) -> float:
        """Seconds until the gateway has been idle for ``IDLE_S`` (its background
        maintenance, e.g. nprobes calibration or compaction, done), at most ``timeout_s``."""
        watch = IdleWatch(self.server.proc.pid)
        t0 = time.perf_counter()
        while not watch.idle() and time.perf_counter() - t0 < timeout_s:
            time.sleep(0.5)
        return time.perf_counter() - t0

    def search(self, client: Client, mode: str, q: Array) -> list[str]:
        hits = client.search(mode, vector=q, top_k=TOP_K, output_fields=["text"])
        return [h.id for h in hits]

    def timed_search(self, mode: str, q: Array) -> dict[str, Any]:
        t0 = time.perf_counter()
        found = self.search(self.client, mode, q)
        return {"ms": (time.perf_counter() - t0) * 1000, "ids": found}

    def qps(self, clients: int, seconds: float, q: Array, mode: str) -> int:
        own = [Client(self.server.target, timeout=120) for _ in range(clients)]
        try:
            return run_clients([self.searcher(c, mode) for c in own], seconds, q)
        finally:
            for c in own:
                c.close()

    def searcher(self, client: Client, mode: str) -> Search:
        def search(vector: Array) -> list[str]:
            return self.search(client, mode, vector)

        return search

    def stop(self) -> None:
        self.channel.close()
        self.client.close()
        self.server.stop()


# --------------------------------------------------------------------------- one run


@dataclass
class Settings:
    sizes: list[int]
    modes: list[str]
    queries: int
    clients: int
    windows: int
    window_s: float
    index_wait_s: float
    client_input: str
    #: Extra keys of the gateway's LanceDB store block (``--store-option``).
    store_options: dict[str, Any]
    smoke: bool = False


def load(
    lo: int,
    hi: int,
    direct: Direct,
    gateway: GatewaySide,
    truth: GroundTruth,
    chunk: int,
) -> dict[str, float]:
    """Rows ``lo`` .. ``hi`` into every path, rotating the order; seconds spent by each."""
    paths = ["add", "merge_insert", *(f"gateway {m}" for m in gateway.modes)]
    spent = dict.fromkeys(paths, 0.0)
    for n, start in enumerate(range(lo, hi, chunk)):
        stop = min(hi, start + chunk)
        blocks = [vectors for _, vectors in rows(start, stop)]
        for first, vectors in zip(range(start, stop, WRITE_BATCH), blocks, strict=True):
            truth.add(first, vectors)
        order = paths[n % len(paths) :] + paths[: n % len(paths)]
        for path in order:
            if path == "add":
                spent[path] += direct.call("ingest", lo=start, hi=stop, how="add")["s"]
            elif path == "merge_insert":
                spent[path] += direct.call("ingest", lo=start, hi=stop, how="merge")["s"]
            else:
                mode = path.removeprefix("gateway ")
                spent[path] += gateway.writer.write(gateway.client, mode, start, blocks)
    return spent


def latency(direct: Direct, gateway: GatewaySide, q: Array, mode: str) -> dict[str, dict[str, Any]]:
    """Every query on both paths, alternating which goes first."""
    samples: dict[str, list[float]] = {"direct": [], "gateway": []}
    found: dict[str, list[list[str]]] = {"direct": [], "gateway": []}
    exact = mode == "exact"
    for n in range(len(q)):
        order = ["direct", "gateway"] if n % 2 == 0 else ["gateway", "direct"]
        for who in order:
            if who == "direct":
                answer = direct.call("search", n=n, exact=exact)
            else:
                answer = gateway.timed_search(mode, q[n])
            samples[who].append(answer["ms"])
            found[who].append(answer["ids"])
    return {
        who: {
            "p50_ms": statistics.median(s),
            "p99_ms": percentile(s, 99),
            "ids": found[who],
        }
        for who, s in samples.items()
    }


def tune_direct(direct: Direct, truth: GroundTruth, target: float) -> dict[str, Any]:
    """The fewest ``TUNE_NPROBES`` at which the direct table's recall@10 over the
    first ``TUNE_QUERIES`` queries reaches ``target`` (refine factor
    ``TUNE_REFINE_FACTOR``); the most tried where none does. Left set on the table."""
    n = min(TUNE_QUERIES, len(truth.q))
    tried: dict[int, float] = {}
    for nprobes in TUNE_NPROBES:
        direct.call("tune", nprobes=nprobes, refine_factor=TUNE_REFINE_FACTOR)
        found = [direct.call("search", n=i, exact=False)["ids"] for i in range(n)]
        tried[nprobes] = truth.recall(found)
        if tried[nprobes] >= target:
            break
    return {
        "nprobes": nprobes,
        "refine_factor": TUNE_REFINE_FACTOR,
        "target_recall": target,
        "tried": tried,
    }


def measured(
    lat: dict[str, dict[str, Any]], qps: dict[str, float], truth: GroundTruth
) -> dict[str, Any]:
    """Each path's p50, p99, QPS, searches done in the QPS windows and recall@10."""
    return {
        who: {
            "p50_ms": lat[who]["p50_ms"],
            "p99_ms": lat[who]["p99_ms"],
            "qps": qps[who],
            "qps_searches": qps[f"{who}_searches"],
            "recall_at_10": truth.recall(lat[who]["ids"]),
        }
        for who in ("direct", "gateway")
    }


def throughput(
    direct: Direct, gateway: GatewaySide, q: Array, mode: str, cfg: Settings
) -> dict[str, float]:
    """Searches per second at ``cfg.clients`` clients, and searches done, per path.

    ``cfg.windows`` windows a path, in pairs whose first path alternates
    (direct, gateway, gateway, direct, ...), so neither path always runs first
    after the latency phase or always follows the other.
    """
    done = {"direct": 0, "gateway": 0}
    spent = {"direct": 0.0, "gateway": 0.0}
    for w in range(cfg.windows * 2):
        pair_first = "direct" if (w // 2) % 2 == 0 else "gateway"
        who = pair_first if w % 2 == 0 else ("gateway" if pair_first == "direct" else "direct")
        t0 = time.perf_counter()
        if who == "direct":
            done[who] += direct.call(
                "qps", clients=cfg.clients, seconds=cfg.window_s, exact=mode == "exact"
            )["done"]
        else:
            done[who] += gateway.qps(cfg.clients, cfg.window_s, q, mode)
        spent[who] += time.perf_counter() - t0
    return {
        **{who: done[who] / spent[who] for who in done},
        **{f"{who}_searches": done[who] for who in done},
    }


def measure(cfg: Settings, work: Path) -> dict[str, Any]:
    q = queries(cfg.queries)
    truth = GroundTruth(q)
    direct = Direct(work / "direct", cfg.queries)
    gateway: GatewaySide | None = None
    sampler: RssSampler | None = None
    results: dict[str, Any] = {"sizes": []}
    try:
        gateway = GatewaySide(work / "gateway", cfg.modes, cfg.client_input, cfg.store_options)
        sampler = RssSampler({"direct": direct.pid, "gateway": gateway.server.proc.pid})
        results["rss_start_mb"] = {
            name: status_kb(pid, "VmRSS") / 1024 for name, pid in sampler.pids.items()
        }
        loaded = 0
        ingest_total: dict[str, float] = {}
        for size in cfg.sizes:
            progress(f"{size}: loading rows {loaded}..{size}")
            spent = load(loaded, size, direct, gateway, truth, min(CHUNK, size - loaded))
            for path, s in spent.items():
                ingest_total[path] = ingest_total.get(path, 0.0) + s
            rows_loaded = size - loaded
            loaded = size
            entry: dict[str, Any] = {
                "rows": size,
                "ingest_vps": {p: rows_loaded / s for p, s in spent.items()},
                "modes": {},
            }
            indexes: dict[str, Any] = {}
            if "auto" in cfg.modes:
                # Before any search, so that neither build runs under the other's measurements.
                progress(f"{size}: waiting for the gateway's index")
                status = gateway.wait_for_index("auto", cfg.index_wait_s)
                indexes["gateway_index"] = status
                index_type = str(status.get("type") or "") if status["reported"] else ""
                progress(f"{size}: direct create_index {index_type or '(default type)'}")
                indexes["direct_index"] = {
                    "type": index_type or f"{DIRECT_DEFAULT_INDEX} (default)",
                    "build_s": direct.call("index", type=index_type)["s"],
                }
            # Searches start once the gateway's background maintenance (nprobes
            # calibration, compaction) is done, as the direct side has none running.
            progress(f"{size}: waiting for the gateway to be idle")
            entry["gateway_idle_wait_s"] = gateway.wait_idle(cfg.index_wait_s)
            for mode in cfg.modes:
                one: dict[str, Any] = dict(indexes) if mode == "auto" else {}
                for n in range(min(5, len(q))):  # warm both paths
                    direct.call("search", n=n, exact=mode == "exact")
                    gateway.timed_search(mode, q[n])
                progress(f"{size} {mode}: latency, {len(q)} queries x 2 paths")
                lat = latency(direct, gateway, q, mode)
                progress(f"{size} {mode}: QPS at {cfg.clients} clients")
                qps = throughput(direct, gateway, q, mode, cfg)
                one.update(measured(lat, qps, truth))
                status = one.get("gateway_index", {})
                target = one["gateway"]["recall_at_10"] - 0.005
                if (
                    mode == "auto"
                    and status.get("state") == "READY"
                    and target > one["direct"]["recall_at_10"] + TUNE_GAP
                ):
                    # LanceDB's defaults trade recall for speed; the same index tuned to
                    # the gateway's recall is the like-for-like comparison.
                    progress(f"{size} auto: direct nprobes for recall {target:.3f}")
                    tuning = tune_direct(direct, truth, target)
                    progress(f"{size} auto: equal recall, nprobes {tuning['nprobes']}")
                    lat = latency(direct, gateway, q, mode)
                    qps = throughput(direct, gateway, q, mode, cfg)
                    one["equal_recall"] = {**tuning, **measured(lat, qps, truth)}
                    direct.call("tune", nprobes=None, refine_factor=None)
                entry["modes"][mode] = one
            entry["rss_peak_mb"] = dict(sampler.peak)
            results["sizes"].append(entry)
        results["ingest_vps_all"] = {p: loaded / s for p, s in ingest_total.items()}
        results["rss_hwm_mb"] = sampler.hwm()
        results["client_input"] = gateway.writer.path
    finally:
        if sampler is not None:
            sampler.stop()
        if gateway is not None:
            gateway.stop()
        direct.stop()
    return results


# --------------------------------------------------------------------------- report

COLUMNS = (
    ("rows", 9),
    ("index", 36),
    ("path", 20),
    ("ingest v/s", 11),
    ("p50 ms", 8),
    ("p99 ms", 8),
    ("QPS@8", 8),
    ("recall@10", 9),
    ("peak RSS MB", 11),
)
RATIO_COLUMNS = (
    ("rows", 9),
    ("index", 22),
    ("p50 x", 7),
    ("p99 x", 7),
    ("QPS x", 7),
    ("ingest x add", 12),
    ("ingest x merge", 14),
    ("RSS x", 7),
)


def row(cells: list[str], columns: tuple[tuple[str, int], ...], left: int = 3) -> str:
    """One line of a table: the first ``left`` cells aligned left, the figures right."""
    return " ".join(
        f"{cell:<{width}}" if i < left else f"{cell:>{width}}"
        for i, (cell, (_, width)) in enumerate(zip(cells, columns, strict=True))
    )


def index_label(mode: str, one: dict[str, Any], who: str) -> str:
    if mode == "exact":
        return "exact (no index)"
    if who == "direct":
        d = one["direct_index"]
        return f"{d['type']}, build {d['build_s']:.1f}s"
    status = one["gateway_index"]
    if not status["reported"]:
        return "auto: status n/a"
    kind = status["type"] or "index"
    if "fast_scan" in status.get("params", {}):
        kind += " + fast scan"
    if status["ready"]:
        return f"auto {kind}, ready after {status['waited_s']:.0f}s"
    if status["state"] == "NONE" and status["auto_index_min_rows"]:
        return f"auto: none below {status['auto_index_min_rows']:,} rows"
    unindexed = f", {status['unindexed_rows']:,} unindexed" if status["unindexed_rows"] else ""
    late = "" if status["idle"] else " (gave up waiting)"
    return f"auto {kind}: {status['state']}{unindexed}{late}"


def tables(results: dict[str, Any]) -> tuple[list[list[str]], list[list[str]]]:
    """The cells of the main table (``COLUMNS``) and of the ratio table (``RATIO_COLUMNS``)."""
    main: list[list[str]] = []
    ratios: list[list[str]] = []
    for entry in results["sizes"]:
        ingest = entry["ingest_vps"]
        rss = entry["rss_peak_mb"]
        size = f"{entry['rows']:,}"
        for mode, one in entry["modes"].items():
            gw_ingest = ingest[f"gateway {mode}"]
            for who, label in (("direct", "LanceDB direct"), ("gateway", "gateway")):
                m = one[who]
                main.append(
                    [
                        size,
                        index_label(mode, one, who),
                        label,
                        f"{ingest['add'] if who == 'direct' else gw_ingest:,.0f}",
                        f"{m['p50_ms']:.2f}",
                        f"{m['p99_ms']:.2f}",
                        f"{m['qps']:.1f}",
                        f"{m['recall_at_10']:.3f}",
                        f"{rss[who]:,.0f}",
                    ]
                )
            pairs = [("exact" if mode == "exact" else "auto index", one)]
            tuned = one.get("equal_recall")
            if tuned is not None:
                label = f"equal recall: nprobes {tuned['nprobes']}, refine {tuned['refine_factor']}"
                for who, index, path in (
                    ("direct", label, "LanceDB direct"),
                    ("gateway", "equal recall: auto", "gateway"),
                ):
                    m = tuned[who]
                    main.append(
                        [
                            size,
                            index,
                            path,
                            "",
                            f"{m['p50_ms']:.2f}",
                            f"{m['p99_ms']:.2f}",
                            f"{m['qps']:.1f}",
                            f"{m['recall_at_10']:.3f}",
                            "",
                        ]
                    )
                pairs.append(("auto, equal recall", tuned))
            for kind, pair in pairs:
                d, g = pair["direct"], pair["gateway"]
                ratios.append(
                    [
                        size,
                        kind,
                        f"{g['p50_ms'] / d['p50_ms']:.2f}",
                        f"{g['p99_ms'] / d['p99_ms']:.2f}",
                        f"{g['qps'] / d['qps']:.2f}",
                        f"{gw_ingest / ingest['add']:.2f}",
                        f"{gw_ingest / ingest['merge_insert']:.2f}",
                        f"{rss['gateway'] / rss['direct']:.2f}",
                    ]
                )
        # merge_insert is only written (the add() table is the one searched).
        merge = f"{ingest['merge_insert']:,.0f}"
        main.append([size, "(ingest only)", "LanceDB merge_insert", merge, *["-"] * 5])
    return main, ratios


def report(results: dict[str, Any], markdown: bool = False) -> list[str]:
    """The two tables as text (or as Markdown tables) and the notes under them."""
    main, ratios = tables(results)

    def table(cells: list[list[str]], columns: tuple[tuple[str, int], ...], left: int) -> list[str]:
        names = [name for name, _ in columns]
        if markdown:
            aligns = [":--" if i < left else "--:" for i in range(len(columns))]
            return [f"| {' | '.join(r)} |" for r in (names, aligns, *cells)]
        header = row(names, columns, left)
        return [header, "-" * len(header), *(row(r, columns, left) for r in cells)]

    hwm = results["rss_hwm_mb"]
    return [
        *table(main, COLUMNS, 3),
        "",
        "gateway / direct, same run:",
        "",
        *table(ratios, RATIO_COLUMNS, 2),
        "",
        f"ingest v/s: the rows added at each size; the gateway's client sent "
        f"{results['client_input']} (1,000 rows a message). VmHWM at the end: "
        f"gateway {hwm['gateway']:,.0f} MB, direct {hwm['direct']:,.0f} MB. "
        f"{results['date']}, {results['machine']['cpus']} CPUs.",
    ]


def settings(args: argparse.Namespace) -> Settings:
    modes = [m for m in args.modes.split(",") if m]
    for m in modes:
        if m not in MODES:
            raise SystemExit(f"--modes: unknown mode {m!r} (exact, auto)")
    options: dict[str, Any] = {}
    for option in args.store_option:
        key, sep, value = option.partition("=")
        if not sep or not key:
            raise SystemExit(f"--store-option: KEY=VALUE, got {option!r}")
        options[key] = yaml.safe_load(value)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s})
    if not sizes or any(s <= 0 or s % WRITE_BATCH for s in sizes):
        raise SystemExit(f"--sizes: positive multiples of {WRITE_BATCH}, got {args.sizes!r}")
    if args.windows < 1 or args.window_s <= 0:
        raise SystemExit("--windows: at least 1, --window-s: more than 0")
    if args.smoke:
        return Settings(
            [2_000, 5_000], modes, 20, 8, 2, 0.3, 60.0, args.client_input, options, smoke=True
        )
    return Settings(
        sizes,
        modes,
        args.queries,
        8,
        args.windows,
        args.window_s,
        args.index_wait,
        args.client_input,
        options,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="rows, comma-separated")
    parser.add_argument("--modes", default=",".join(MODES), help="exact, auto or both")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; checks the bench works")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--window-s", type=float, default=3.0, help="length of a QPS window")
    parser.add_argument(
        "--windows", type=int, default=6, help="QPS windows a path (more: less run-to-run noise)"
    )
    parser.add_argument(
        "--index-wait", type=float, default=1800.0, help="seconds to wait for the gateway's index"
    )
    parser.add_argument(
        "--client-input",
        choices=("auto", *ColumnarWriter.INPUTS),
        default="auto",
        help="what the gateway's client is given to write (auto: the first it takes)",
    )
    parser.add_argument(
        "--store-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a key of the gateway's LanceDB store block (YAML value), e.g. index_min_rows=20000",
    )
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument(
        "--report",
        type=Path,
        help="print the tables of the results a run wrote (its --out) and exit",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--direct-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.direct_worker is not None:
        return direct_worker(args.direct_worker, args.queries)
    if args.report is not None:
        print("\n".join(report(json.loads(args.report.read_text()), markdown=args.markdown)))
        return 0
    # SIGTERM unwinds (stopping both children) instead of killing this process outright.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cfg = settings(args)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="vectorgate-bench-scale-"))
    try:
        results = measure(cfg, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results.update(
        bench="scale",
        mode="smoke" if cfg.smoke else "sizes",
        machine=machine(),
        queries=cfg.queries,
        clients=cfg.clients,
        elapsed_s=time.perf_counter() - started,
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    )
    publish(args.out, results, report(results, markdown=args.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
