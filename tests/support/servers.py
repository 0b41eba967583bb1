"""Run a real vectorgate server for tests: in a thread (own event loop) or as a process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from vectorgate_server.config import Config, load_config
from vectorgate_server.embeddings import EmbeddingRegistry
from vectorgate_server.runtime import Server

ROOT = Path(__file__).resolve().parents[2]

#: Environment variables that configure stores: not inherited by test servers.
STORE_ENV_VARS = frozenset(
    {
        "LANCEDB_URI",
        "VECTOR_STORE_TYPE",
        "OPENSEARCH_HOSTS",
        "QDRANT_URL",
        "PINECONE_API_KEY",
        "MILVUS_HOST",
        "VECTORGATE_MASTER_KEY",
        "DATABASE_URL",
    }
)


def write_config(path: Path, data: Mapping[str, Any]) -> Path:
    """Write a YAML config file."""
    path.write_text(yaml.safe_dump(dict(data), sort_keys=False))
    return path


def make_config(data_dir: Path, extra: Mapping[str, Any] | None = None) -> Config:
    """A config on ``data_dir`` with ports 0, loaded through the real loader."""
    data: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "grpc_port": 0, "http_port": 0, "data_dir": str(data_dir)},
    }
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    cfg_path = data_dir.parent / f"{data_dir.name}.yaml"
    data_dir.mkdir(parents=True, exist_ok=True)
    write_config(cfg_path, data)
    return load_config(
        cfg_path, environ={k: v for k, v in os.environ.items() if k not in STORE_ENV_VARS}
    )


class ServerThread:
    """A real server (gRPC and HTTP on port 0) running on its own event loop in a thread."""

    def __init__(self, config: Config, embeddings: EmbeddingRegistry | None = None) -> None:
        self.config = config
        self._embeddings = embeddings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.server: Server | None = None

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

        async def boot() -> Server:
            server = Server(self.config, embeddings=self._embeddings)
            await server.start()
            return server

        self.server = asyncio.run_coroutine_threadsafe(boot(), self._loop).result(120)

    @property
    def grpc_target(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.ports.grpc}"

    @property
    def http_base(self) -> str:
        """Base URL of the HTTP server, e.g. ``http://127.0.0.1:41234``."""
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.ports.http}"

    def call(self, coro: Any, timeout: float = 60) -> Any:
        """Run a coroutine on the server's loop."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self, grace: float = 5.0) -> None:
        if self.server is not None:
            self.call(self.server.stop(grace), timeout=grace + 60)
            self.server = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()


class ServerProcess:
    """``vectorgate serve`` as a child process; the gRPC port is read from its stdout."""

    BANNER = re.compile(r"serving gRPC on ([\d.]+):(\d+)")
    HTTP_BANNER = re.compile(r"HTTP on ([\d.]+):(\d+)")

    def __init__(self, args: list[str], env: Mapping[str, str] | None = None) -> None:
        inherited = {k: v for k, v in os.environ.items() if k not in STORE_ENV_VARS}
        full_env = {**inherited, "OPENBLAS_NUM_THREADS": "1", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vectorgate_server", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=full_env,
            text=True,
            cwd=str(ROOT),
        )
        self.grpc_port = 0
        self.http_port = 0
        self.stdout_lines: list[str] = []
        # stderr is read as it comes (a pipe nobody reads fills at 64 KiB and the
        # server's log lines would then be dropped); kill() returns all of it.
        self._stderr: list[str] = []
        self._stderr_reader = threading.Thread(
            target=self._drain, args=(self.proc.stderr, self._stderr), daemon=True
        )
        self._stderr_reader.start()
        self._stdout_reader: threading.Thread | None = None

    @staticmethod
    def _drain(stream: Any, sink: list[str]) -> None:
        for line in iter(stream.readline, ""):
            sink.append(line)

    def stderr_so_far(self) -> str:
        """What the server wrote to stderr until now."""
        return "".join(self._stderr)

    def wait_ready(self, timeout: float = 120) -> int:
        """Block until the banner line appears; return the gRPC port."""
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                self.proc.wait(timeout=10)
                self._stderr_reader.join(10)
                err = self.stderr_so_far()
                raise RuntimeError(f"server exited with {self.proc.returncode}: {err}")
            self.stdout_lines.append(line)
            match = self.BANNER.search(line)
            if match:
                self.grpc_port = int(match.group(2))
                http = self.HTTP_BANNER.search(line)
                if http:
                    self.http_port = int(http.group(2))
                self._stdout_reader = threading.Thread(
                    target=self._drain, args=(self.proc.stdout, self.stdout_lines), daemon=True
                )
                self._stdout_reader.start()
                return self.grpc_port
        raise TimeoutError("server did not start")

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30) -> str:
        """SIGTERM, up to ``timeout`` seconds for a graceful exit, then :meth:`kill`;
        return what it wrote to stderr."""
        self.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout)
        return self.kill()

    def kill(self) -> str:
        """Kill if still running, reap, close the pipes; return what it wrote to stderr."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        for reader in (self._stderr_reader, self._stdout_reader):
            if reader is not None:
                reader.join(30)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return self.stderr_so_far()
