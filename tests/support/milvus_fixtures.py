"""A real Milvus server (PyPI ``milvus``: ``milvus-server``) for the whole test session.

``milvus-server`` runs Milvus 2.3 standalone with embedded etcd and rocksmq.
Every port it listens on is chosen here so that several servers (other test
sessions on the same machine) never clash:

* the nine component ports (proxy, root/query/index/data coordinators and
  nodes) through its ``--*-port`` options;
* the embedded etcd's client and peer ports (2379 / 2380 by default, which
  ``--etcd-port`` does not change) through an etcd configuration file named by
  the ``ETCD_CONFIG_PATH`` environment variable, which Milvus maps onto its
  ``etcd.config.path`` setting;
* the metrics / health port is picked by ``milvus-server`` itself (the first
  free port from 9091).

The server runs in its own session (process group) and is killed as a group
on teardown. Readiness: ``milvus-server`` prints its banner once the health
endpoint answers; the fixture then waits until a client call succeeds.

Set ``VECTORGATE_SKIP_MILVUS_SERVER=1`` to skip the server-backed tests (the
skip says so); a server that fails to start fails the tests with its log.
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

#: The component ports ``milvus-server`` accepts as options.
_PORT_OPTIONS = (
    "proxy-port",
    "proxy-internal-port",
    "root-coord-port",
    "query-coord-port",
    "query-node-port",
    "index-coord-port",
    "index-node-port",
    "data-coord-port",
    "data-node-port",
)
_READY_BANNER = "Ctrl+C to exit"
_START_TIMEOUT_S = 180.0
_TIME_TICK_MS = 50
_STOP_GRACE_S = 3.0


@dataclass(frozen=True, slots=True)
class MilvusServerInfo:
    """A running server."""

    uri: str
    port: int
    data_dir: Path
    pid: int


def _free_ports(count: int) -> list[int]:
    """Distinct free TCP ports (held open together so they differ)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _executable() -> str | None:
    candidate = Path(sys.executable).parent / "milvus-server"
    if candidate.exists():
        return str(candidate)
    return shutil.which("milvus-server")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"({path} not readable)"
    return "\n".join(text[-lines:])


def _diagnostics(data_dir: Path, out_log: Path) -> str:
    logs = data_dir / "logs"
    return (
        f"--- milvus-server output ({out_log}) ---\n{_tail(out_log)}\n"
        f"--- {logs / 'milvus-stderr.log'} ---\n{_tail(logs / 'milvus-stderr.log')}\n"
        f"--- {logs / 'etcd.log'} ---\n{_tail(logs / 'etcd.log', 10)}"
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the server's whole process group, then kill what is left."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        proc.wait(10)
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    # Milvus 2.3's graceful shutdown can hang for minutes; its data is thrown away anyway.
    deadline = time.monotonic() + _STOP_GRACE_S
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        proc.poll()
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    proc.wait(10)


def _wait_ready(
    proc: subprocess.Popen[bytes], uri: str, data_dir: Path, out_log: Path, token: str = ""
) -> None:
    from pymilvus import MilvusClient, MilvusException

    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"milvus-server exited with {proc.returncode} before it was ready\n"
                + _diagnostics(data_dir, out_log)
            )
        if _READY_BANNER in out_log.read_text(errors="replace"):
            break
        time.sleep(0.5)
    else:
        raise TimeoutError(
            f"milvus-server not ready after {_START_TIMEOUT_S:.0f}s\n"
            + _diagnostics(data_dir, out_log)
        )
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            client = MilvusClient(uri=uri, token=token, timeout=10)
            try:
                client.list_collections(timeout=10)
                return
            finally:
                client.close()
        except MilvusException as exc:
            last = exc
            time.sleep(1)
    raise TimeoutError(f"milvus-server never answered: {last}\n" + _diagnostics(data_dir, out_log))


@contextlib.contextmanager
def run_milvus_server(
    base_dir: Path, extra_config: Sequence[str] = (), token: str = ""
) -> Iterator[MilvusServerInfo]:
    """Start ``milvus-server`` under ``base_dir``; stop its process group on exit.

    ``extra_config``: more ``key=value`` settings (``--extra-config``); ``token``:
    the credentials to probe readiness with (``user:password`` when
    ``common.security.authorizationEnabled=true``).
    """
    executable = _executable()
    if executable is None:
        raise FileNotFoundError("milvus-server is not installed (pip install milvus)")
    data_dir = base_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    ports = _free_ports(len(_PORT_OPTIONS) + 2)
    component_ports = dict(zip(_PORT_OPTIONS, ports, strict=False))
    etcd_client, etcd_peer = ports[-2], ports[-1]
    etcd_config = base_dir / "embed-etcd.yaml"
    etcd_config.write_text(
        "name: default\n"
        f"listen-client-urls: http://127.0.0.1:{etcd_client}\n"
        f"advertise-client-urls: http://127.0.0.1:{etcd_client}\n"
        f"listen-peer-urls: http://127.0.0.1:{etcd_peer}\n"
        f"initial-advertise-peer-urls: http://127.0.0.1:{etcd_peer}\n"
        f"initial-cluster: default=http://127.0.0.1:{etcd_peer}\n"
    )
    args = [executable, "--data", str(data_dir), "--etcd-port", str(etcd_client)]
    # Strong reads wait for the next time tick (200 ms by default): tick faster.
    args += ["--extra-config", f"proxy.timeTickInterval={_TIME_TICK_MS}"]
    for setting in extra_config:
        args += ["--extra-config", setting]
    for option, port in component_ports.items():
        args += [f"--{option}", str(port)]
    env = {
        **os.environ,
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
        "ETCD_CONFIG_PATH": str(etcd_config),
    }
    out_log = base_dir / "milvus-server.out"
    with out_log.open("wb") as out:
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=str(base_dir),
            start_new_session=True,
        )
    proxy = component_ports["proxy-port"]
    uri = f"http://127.0.0.1:{proxy}"
    try:
        _wait_ready(proc, uri, data_dir, out_log, token)
        yield MilvusServerInfo(uri=uri, port=proxy, data_dir=data_dir, pid=proc.pid)
    finally:
        _stop(proc)
        shutil.rmtree(data_dir, ignore_errors=True)


def skip_without_milvus_server() -> None:
    """Skip the test when real Milvus server tests are off or ``milvus-server`` is missing."""
    if os.environ.get("VECTORGATE_SKIP_MILVUS_SERVER") == "1":
        pytest.skip("VECTORGATE_SKIP_MILVUS_SERVER=1: real Milvus server tests disabled")
    if _executable() is None:
        pytest.skip("milvus-server is not installed (PyPI package 'milvus'); cannot start Milvus")


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusServerInfo]:
    """A Milvus 2.3 server for the session (``milvus-server`` from PyPI's ``milvus``)."""
    skip_without_milvus_server()
    with run_milvus_server(tmp_path_factory.mktemp("milvus-server")) as info:
        yield info
