"""``milvus-lite server`` as a child process on a loopback port, in its own session.

Used by the fault tests (tests/integration/test_faults.py) and the fan-out bench
(bench/bench_fanout.py), which run Milvus Lite apart from the gateway as a
deployment would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def milvus_lite_executable() -> str | None:
    """The ``milvus-lite`` command (next to this Python first), or None."""
    candidate = Path(sys.executable).with_name("milvus-lite")
    if candidate.exists():
        return str(candidate)
    return shutil.which("milvus-lite")


class MilvusLiteServer:
    """``milvus-lite server`` as a child process in its own session."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"milvus-lite-{port}.log"

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        exe = milvus_lite_executable()
        if exe is None:
            raise FileNotFoundError("the milvus-lite command is not installed")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    exe,
                    "server",
                    "--data-dir",
                    str(self.data_dir),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"milvus-lite exited: {self.log.read_text()[-2000:]}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return
            time.sleep(0.1)
        self.kill()
        raise TimeoutError(f"milvus-lite did not listen: {self.log.read_text()[-2000:]}")

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL the whole process group (continuing it first if stopped)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGCONT)
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
