"""Fan-out search across three stores vs the slowest single store, side by side in one run.

    python bench/bench_fanout.py [--smoke] [--docs N] [--rounds N] [--query vector|text]
                                 [--scenario embedded|remote|both] [--rtt-ms 0,4,8]
                                 [--milvus server|in-process]
                                 [--out bench/results/fanout.json]

A gateway child process holds three stores: LanceDB, Milvus and embedded Qdrant
(qdrant-edge), each with a collection of the same size (seeded random 384-d unit
vectors; default 5,000 documents per store). Milvus is Milvus Lite run as a
separate ``milvus-lite server`` process on a loopback port (its own process
group, killed at the end), which the gateway reaches over gRPC as it would a
Milvus deployment; ``--milvus in-process`` opens a Milvus Lite file inside the
gateway process instead, where its Python search engine competes with the
gateway for the GIL. Over one gRPC channel from this process, every round
runs, in a shuffled order:

* a plain single-collection ``Search`` on each store (the three baselines), and
* one fused ``Search`` with the three stores as ``targets`` (RRF, top 10),

so drift hits all four alike. Reported: p50/p90/p99 of each, the slowest
single store's p50, and whether the fan-out p50 is within the target
``<= 1.15 x slowest single p50 + 0.5 ms``.

Scenarios:

``embedded``
    The three stores as they are: LanceDB and embedded Qdrant run inside
    the gateway process, Milvus Lite in its own process (or, with
    ``--milvus in-process``, inside the gateway too). All three are CPU-bound,
    so on a small, busy host the fan-out is bounded by the CPU the three
    searches need together, not by waiting.
``remote``
    The same stores, each behind a simulated network round trip before its
    search (``--rtt-ms``, per store in the order lance, milvus, qdrant;
    default 0, 4, 8 ms): stores on other machines, where the gateway mostly
    waits. This isolates the gateway's own fan-out overhead.

Next to latency, the gateway process's CPU time per call (mean, from
``/proc``) and, when it runs apart, the Milvus Lite server's show what the
searches cost the host.

``--query text`` embeds the query text (the same text every round) instead of
sending a vector. ``--smoke`` runs a small version in well under a minute (its
figures mean nothing).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import grpc
import numpy as np
import yaml

from vectorgate import Client
from vectorgate.v1 import search_service_pb2 as spb
from vectorgate.v1 import search_service_pb2_grpc as sgrpc
from vectorgate.v1 import types_pb2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.support, shared with the fault tests

from tests.support.milvus_lite import MilvusLiteServer, free_port  # noqa: E402

DEFAULT_OUT = ROOT / "bench" / "results" / "fanout.json"
STORES = ("lance", "milvus", "qdrant")
COLLECTION = "bench"
DIM = 384
TOP_K = 10
BANNER = re.compile(r"serving gRPC on ([\d.]+):(\d+)")
QUERY_TEXT = "how do I rebuild the vector index after a bulk load"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux; 0 where unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def serve(config_path: str, rtt_ms: list[float]) -> int:
    """The gateway child: ``Server`` with each store's search delayed by its round trip."""
    import asyncio

    from vectorgate_server.config import load_config
    from vectorgate_server.runtime import Server

    class RoundTrip:
        """A store whose searches first wait a network round trip."""

        def __init__(self, inner: Any, seconds: float) -> None:
            self.inner = inner
            self.seconds = seconds
            self.store = inner.store
            self.backend = inner.backend
            self.capabilities = inner.capabilities

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        async def search(self, name: str, query: Any) -> Any:
            await asyncio.sleep(self.seconds)
            return await self.inner.search(name, query)

    async def main() -> None:
        server = Server(load_config(config_path))
        for store, delay in zip(STORES, rtt_ms, strict=True):
            if delay > 0:
                stores = server.gateway.stores
                stores[store] = RoundTrip(stores[store], delay / 1000)  # type: ignore[assignment]
        await server.start()
        print(f"serving gRPC on 127.0.0.1:{server.ports.grpc}", flush=True)
        await server.run_until_signal()

    asyncio.run(main())
    return 0


def start_server(
    workdir: Path, rtt_ms: list[float], milvus_uri: str
) -> tuple[subprocess.Popen[str], int]:
    config = {
        "server": {
            "host": "127.0.0.1",
            "grpc_port": 0,
            "http_port": 0,
            "data_dir": str(workdir / "data"),
        },
        "vector_stores": {
            "lance": {"type": "lancedb", "uri": str(workdir / "lance")},
            "milvus": {"type": "milvus", "uri": milvus_uri},
            "qdrant": {"type": "qdrant", "path": str(workdir / "q")},
        },
        "default_store": "lance",
    }
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if k not in ("LANCEDB_URI", "VECTOR_STORE_TYPE")}
    rtt = ",".join(f"{v:g}" for v in rtt_ms)
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve", str(path), "--rtt-ms", rtt],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=str(ROOT),
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"server exited with {proc.wait()}")
        match = BANNER.search(line)
        if match:
            return proc, int(match.group(2))
    proc.kill()
    raise TimeoutError("server did not start")


def load(target: str, docs: int) -> None:
    rng = np.random.default_rng(7)
    with Client(target, timeout=600) as client:
        for store in STORES:
            client.create_collection(COLLECTION, store=store)
            vectors = rng.standard_normal((docs, DIM)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            batch = [
                {"id": f"{store}-{i}", "text": f"document {i} of {store}", "vector": vectors[i]}
                for i in range(docs)
            ]
            client.upsert(COLLECTION, batch, store=store, batch_size=500)


def request(kind: str, query: Any, mode: str) -> spb.SearchRequest:
    fields: dict[str, Any] = {"top_k": TOP_K}
    if mode == "text":
        fields["text"] = QUERY_TEXT
    else:
        fields["vector"] = types_pb2.Vector(packed=query.astype("<f4").tobytes())
    if kind == "fanout":
        return spb.SearchRequest(
            targets=[spb.SearchTarget(store=s, collection=COLLECTION) for s in STORES], **fields
        )
    return spb.SearchRequest(collection=COLLECTION, store=kind, **fields)


def run(args: argparse.Namespace, rtt_ms: list[float]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vg-fanout-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        milvus_pid: int | None = None
        milvus_uri = str(workdir / "m.db")
        if args.milvus == "server":
            milvus = MilvusLiteServer(workdir / "milvus", free_port())
            stack.callback(milvus.kill)
            milvus.start(timeout=120)
            assert milvus.proc is not None
            milvus_pid = milvus.proc.pid
            milvus_uri = milvus.uri
        proc, port = start_server(workdir, rtt_ms, milvus_uri)
        target = f"127.0.0.1:{port}"
        try:
            started = time.monotonic()
            load(target, args.docs)
            load_s = time.monotonic() - started
            rng = np.random.default_rng(11)
            order_rng = random.Random(5)
            kinds = [*STORES, "fanout"]
            samples: dict[str, list[float]] = {k: [] for k in kinds}
            cpu: dict[str, float] = dict.fromkeys(kinds, 0.0)
            milvus_cpu: dict[str, float] = dict.fromkeys(kinds, 0.0)
            failures = 0
            with grpc.insecure_channel(target) as channel:
                stub = sgrpc.SearchServiceStub(channel)
                for round_no in range(args.warmup + args.rounds):
                    query = rng.standard_normal(DIM).astype(np.float32)
                    query /= np.linalg.norm(query)
                    order = kinds[:]
                    order_rng.shuffle(order)
                    for kind in order:
                        req = request(kind, query, args.query)
                        c0 = cpu_seconds(proc.pid)
                        m0 = cpu_seconds(milvus_pid) if milvus_pid else 0.0
                        t0 = time.perf_counter()
                        response = stub.Search(req, timeout=30)
                        elapsed = (time.perf_counter() - t0) * 1000
                        c1 = cpu_seconds(proc.pid)
                        m1 = cpu_seconds(milvus_pid) if milvus_pid else 0.0
                        if kind == "fanout" and response.failures:
                            failures += 1
                        if round_no >= args.warmup:
                            samples[kind].append(elapsed)
                            cpu[kind] += (c1 - c0) * 1000
                            milvus_cpu[kind] += (m1 - m0) * 1000
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    stats = {
        kind: {
            "p50_ms": statistics.median(values),
            "p90_ms": percentile(values, 0.90),
            "p99_ms": percentile(values, 0.99),
            "mean_ms": statistics.fmean(values),
            "gateway_cpu_ms_mean": cpu[kind] / len(values),
            "milvus_cpu_ms_mean": milvus_cpu[kind] / len(values),
        }
        for kind, values in samples.items()
    }
    slowest = max(stats[s]["p50_ms"] for s in STORES)
    slowest_store = max(STORES, key=lambda s: stats[s]["p50_ms"])
    limit = 1.15 * slowest + 0.5
    fan = stats["fanout"]["p50_ms"]
    return {
        "rtt_ms": dict(zip(STORES, rtt_ms, strict=True)),
        "milvus": "milvus-lite server" if args.milvus == "server" else "milvus lite in process",
        "docs_per_store": args.docs,
        "rounds": args.rounds,
        "query": args.query,
        "top_k": TOP_K,
        "load_seconds": load_s,
        "latency": stats,
        "slowest_single_store": slowest_store,
        "slowest_single_p50_ms": slowest,
        "fanout_p50_ms": fan,
        "ratio_to_slowest": fan / slowest,
        "target_ms": limit,
        "within_target": fan <= limit,
        "fanout_responses_with_failures": failures,
        "host": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }


def report(name: str, result: dict[str, Any]) -> None:
    rtt = ", ".join(f"{s} {v:g} ms" for s, v in result["rtt_ms"].items())
    print(f"\n[{name}] {result['docs_per_store']} docs per store, {result['rounds']} rounds")
    print(f"milvus: {result['milvus']}; simulated round trips: {rtt}")
    print(f"{'':10} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'gw cpu':>8} {'mv cpu':>8}")
    for kind, stat in result["latency"].items():
        print(
            f"{kind:10} {stat['p50_ms']:8.2f} {stat['p90_ms']:8.2f} {stat['p99_ms']:8.2f} "
            f"{stat['gateway_cpu_ms_mean']:8.2f} {stat['milvus_cpu_ms_mean']:8.2f}"
        )
    print(
        "(gw cpu / mv cpu: CPU ms per call of the gateway process / the milvus-lite server "
        "process, mean)"
    )
    print(
        f"fan-out p50 {result['fanout_p50_ms']:.2f} ms = {result['ratio_to_slowest']:.2f} x the "
        f"slowest single store ({result['slowest_single_store']}, "
        f"{result['slowest_single_p50_ms']:.2f} ms); target <= {result['target_ms']:.2f} ms: "
        f"{'met' if result['within_target'] else 'NOT met'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--docs", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--query", choices=("vector", "text"), default="vector")
    parser.add_argument("--scenario", choices=("embedded", "remote", "both"), default="both")
    parser.add_argument("--rtt-ms", default="0,4,8")
    parser.add_argument(
        "--milvus",
        choices=("server", "in-process"),
        default="server",
        help="Milvus Lite as a separate milvus-lite server (default) or inside the gateway",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    rtt = [float(v) for v in args.rtt_ms.split(",")]
    if len(rtt) != len(STORES):
        parser.error(f"--rtt-ms needs {len(STORES)} values")
    if args.serve:
        return serve(args.serve, rtt)
    args.docs = args.docs or (300 if args.smoke else 5000)
    args.rounds = args.rounds or (30 if args.smoke else 400)
    args.warmup = 5 if args.smoke else 30
    scenarios = {"embedded": [0.0] * len(STORES), "remote": rtt}
    if args.scenario != "both":
        scenarios = {args.scenario: scenarios[args.scenario]}
    results = {name: run(args, delays) for name, delays in scenarios.items()}
    for name, result in results.items():
        report(name, result)
    if not args.smoke:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
