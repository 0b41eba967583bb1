"""Benchmark the local embedding model (all-MiniLM-L6-v2, int8 ONNX).

    python bench/bench_embeddings.py [--smoke] [--threads N] [--compare-threads]
                                     [--out bench/results/embeddings.json]

Measures, for one embedder configuration:
  * model load time and process RSS right after loading (VmRSS),
  * single short sentence latency, p50/p99 (embed_sync and async embed),
  * throughput for 1,000 sentences of 4-40 words (sentences/s),
  * event-loop lag (largest gap of a 5 ms ticker) while the async embed runs,
  * peak RSS (VmHWM) over the whole run.
``--compare-threads`` also measures latency and throughput with 1 and 2
onnxruntime intra-op threads. Results go to stdout and to the JSON file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import onnxruntime

from vectorgate_server.embeddings import LocalOnnxEmbedder

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "embeddings.json"
SHORT_SENTENCE = "How do I reset my password?"

_SUBJECTS = ["The customer", "Our team", "A new user", "The database", "This service", "My manager"]
_VERBS = ["reported", "fixed", "asked about", "deployed", "reviewed", "could not find"]
_OBJECTS = [
    "the billing problem",
    "a slow query on the orders table",
    "the password reset flow",
    "an outage in the European region",
    "the vector index rebuild",
    "duplicate search results",
]
_TAILS = [
    "yesterday",
    "before the release",
    "after several retries and a long discussion with support",
    "while migrating the old records to the new cluster in the background",
    "and everyone agreed that the documentation should explain it better next time",
]


def status_kb(field: str) -> int:
    """A ``kB`` field of /proc/self/status (VmRSS, VmHWM); 0 where unavailable."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def make_sentences(n: int, seed: int = 1234) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = [rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)]
        if rng.random() < 0.7:
            parts.append(rng.choice(_TAILS))
        out.append(" ".join(parts) + ".")
    return out


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def single_latency(embedder: LocalOnnxEmbedder, runs: int) -> dict[str, float]:
    for _ in range(max(3, runs // 10)):
        embedder.embed_sync([SHORT_SENTENCE])
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        embedder.embed_sync([SHORT_SENTENCE])
        samples.append(time.perf_counter() - t0)
    return {
        "p50_ms": ms(percentile(samples, 50)),
        "p99_ms": ms(percentile(samples, 99)),
        "mean_ms": ms(statistics.fmean(samples)),
        "runs": runs,
    }


async def async_single_latency(embedder: LocalOnnxEmbedder, runs: int) -> dict[str, float]:
    for _ in range(max(3, runs // 10)):
        await embedder.embed([SHORT_SENTENCE])
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await embedder.embed([SHORT_SENTENCE])
        samples.append(time.perf_counter() - t0)
    return {"p50_ms": ms(percentile(samples, 50)), "p99_ms": ms(percentile(samples, 99))}


def throughput(embedder: LocalOnnxEmbedder, sentences: list[str], repeats: int) -> dict[str, float]:
    embedder.embed_sync(sentences[:64])
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        embedder.embed_sync(sentences)
        best = min(best, time.perf_counter() - t0)
    return {
        "sentences": len(sentences),
        "seconds": round(best, 3),
        "sentences_per_s": round(len(sentences) / best, 1),
        "repeats_best_of": repeats,
    }


async def async_throughput_and_loop_lag(
    embedder: LocalOnnxEmbedder, sentences: list[str]
) -> dict[str, float]:
    ticks: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    t0 = time.perf_counter()
    await embedder.embed(sentences)
    elapsed = time.perf_counter() - t0
    done.set()
    await task
    gaps = np.diff(np.asarray(ticks)) if len(ticks) > 1 else np.asarray([elapsed])
    return {
        "sentences_per_s": round(len(sentences) / elapsed, 1),
        "loop_max_gap_ms": ms(float(gaps.max())),
        "loop_p99_gap_ms": ms(float(np.percentile(gaps, 99))),
    }


async def concurrent_small_requests(
    embedder: LocalOnnxEmbedder, sentences: list[str], concurrency: int
) -> dict[str, float]:
    """``len(sentences)`` one-sentence requests, ``concurrency`` in flight."""
    queue = list(sentences)
    latencies: list[float] = []

    async def client() -> None:
        while queue:
            text = queue.pop()
            t0 = time.perf_counter()
            await embedder.embed([text])
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {
        "requests": len(sentences),
        "concurrency": concurrency,
        "requests_per_s": round(len(sentences) / elapsed, 1),
        "p50_ms": ms(percentile(latencies, 50)),
        "p99_ms": ms(percentile(latencies, 99)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--smoke", action="store_true", help="few iterations, for CI")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads")
    parser.add_argument("--compare-threads", action="store_true", help="also try 1 and 2")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    runs = 20 if args.smoke else 200
    repeats = 1 if args.smoke else 3
    sentences = make_sentences(100 if args.smoke else 1000)

    rss_start_kb = status_kb("VmRSS")
    embedder = LocalOnnxEmbedder(intra_op_num_threads=args.threads)
    t0 = time.perf_counter()
    embedder.warm_up()
    load_s = time.perf_counter() - t0
    rss_loaded_kb = status_kb("VmRSS")

    tokenizer = embedder._ensure_loaded().tokenizer
    mean_tokens = statistics.fmean(len(tokenizer.encode(s).ids) for s in sentences)

    result: dict[str, Any] = {
        "model": embedder.name,
        "smoke": args.smoke,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__,
            "platform": platform.platform(),
        },
        "config": {
            "intra_op_num_threads": embedder.intra_op_num_threads,
            "max_batch": embedder.max_batch,
            "max_seq_length": embedder.max_seq_length,
        },
        "load_seconds": round(load_s, 3),
        "rss_mb": {
            "before_load": round(rss_start_kb / 1024, 1),
            "after_load": round(rss_loaded_kb / 1024, 1),
        },
        "single_sentence": single_latency(embedder, runs),
        "single_sentence_async": asyncio.run(async_single_latency(embedder, runs)),
        "throughput": {**throughput(embedder, sentences, repeats), "mean_tokens": mean_tokens},
        "throughput_async": asyncio.run(async_throughput_and_loop_lag(embedder, sentences)),
        "concurrent_single_requests": asyncio.run(
            concurrent_small_requests(embedder, sentences[: runs * 2], concurrency=8)
        ),
    }
    embedder.close()

    if args.compare_threads:
        comparison = {}
        for threads in (1, 2):
            e = LocalOnnxEmbedder(intra_op_num_threads=threads)
            e.warm_up()
            comparison[str(threads)] = {
                "single_sentence": single_latency(e, runs),
                "throughput": throughput(e, sentences, repeats),
                "concurrent_single_requests": asyncio.run(
                    concurrent_small_requests(e, sentences[: runs * 2], concurrency=8)
                ),
            }
            e.close()
        result["threads_comparison"] = comparison

    result["rss_mb"]["peak"] = round(status_kb("VmHWM") / 1024, 1)
    result["rss_mb"]["end"] = round(status_kb("VmRSS") / 1024, 1)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    single = result["single_sentence"]
    tp = result["throughput"]
    print(f"model {result['model']}, intra_op_num_threads={embedder.intra_op_num_threads}")
    print(f"load {result['load_seconds']} s, RSS after load {result['rss_mb']['after_load']} MB")
    print(f"single sentence: p50 {single['p50_ms']} ms, p99 {single['p99_ms']} ms ({runs} runs)")
    print(
        f"throughput: {tp['sentences_per_s']} sentences/s "
        f"({tp['sentences']} sentences, mean {mean_tokens:.1f} tokens)"
    )
    lag = result["throughput_async"]
    print(f"async: {lag['sentences_per_s']} sentences/s, loop max gap {lag['loop_max_gap_ms']} ms")
    if args.compare_threads:
        for threads, r in result["threads_comparison"].items():
            print(
                f"threads={threads}: p50 {r['single_sentence']['p50_ms']} ms, "
                f"p99 {r['single_sentence']['p99_ms']} ms, "
                f"{r['throughput']['sentences_per_s']} sentences/s, "
                f"8 concurrent clients {r['concurrent_single_requests']['requests_per_s']} req/s"
            )
    print(f"peak RSS {result['rss_mb']['peak']} MB; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
