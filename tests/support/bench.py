"""Runs a bench script of bench/ as CI does: a child process, no store from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``bench/<script> *args`` with this interpreter; fails the test on a non-zero exit."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    for name in ("LANCEDB_URI", "VECTOR_STORE_TYPE", "QDRANT_URL", "MILVUS_HOST"):
        env.pop(name, None)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc
