"""The README's first command and quickstart, as a newcomer runs them, in a fresh venv.

Nothing here uses the dev venv's packages: the install part of the first command (taken from
README.md, with only the venv's location changed) installs this checkout into a new venv in a
temp dir (pip's cache makes that quick), that venv's ``vectorgate serve`` runs on free ports
(the README's port flags), and the README's quickstart block runs twice against it with that
venv's python. The second smoke installs ``.[all]`` the same way and starts a server with one
store of every backend type, those that need a server given an address where none listens.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import readme
from tests.support.backend_configs import closed_port, config_text
from tests.support.milvus_lite import free_port
from tests.support.servers import STORE_ENV_VARS

pytestmark = [pytest.mark.newcomer, pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in STORE_ENV_VARS}
    # Nothing of the dev venv leaks in: no VIRTUAL_ENV, no PYTHONPATH, its bin not on PATH.
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
        env.pop(name, None)
    dev_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != dev_bin)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["OPENBLAS_NUM_THREADS"] = "1"
    return env


def first_command() -> tuple[list[str], str]:
    """The README's first command split at ``&&``: (install steps, the serve step)."""
    command = readme.bash_blocks(readme.section("The two commands"))[0].text.strip()
    steps = [step.strip() for step in command.split("&&")]
    serve = [s for s in steps if re.match(r"\S*vectorgate serve\b", s)]
    assert len(serve) == 1, f"the first command should end by starting the server: {command}"
    install = steps[: steps.index(serve[0])]
    assert any("pip install" in s for s in install), command
    return install, serve[0]


def _in_venv(step: str, venv: Path) -> str:
    """A README step with ``.venv`` (as its own path segment) moved to ``venv``."""
    return re.sub(r"(?<![\w/.-])\.venv(?=/|\s|$)", shlex.quote(str(venv)), step)


def install(venv: Path, *, extras: str = "") -> None:
    """The install part of the first command, run from the checkout's root."""
    steps, _ = first_command()
    script = " && ".join(_in_venv(step, venv) for step in steps)
    if extras:
        # The README's own variant: "add `.[all]` instead of `.`".
        assert "pip install -e ." in script, script
        script = script.replace("pip install -e .", f"pip install -e '.[{extras}]'", 1)
    proc = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, f"{script}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@contextlib.contextmanager
def serving(
    venv: Path, workdir: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[int, int, Path]]:
    """The first command's serve step from that venv, on free ports; yields the ports, log."""
    _, serve = first_command()
    grpc_port, http_port = free_port(), free_port()
    # The README documents these flags for the ports.
    command = (
        f"{_in_venv(serve, venv)} --grpc-port {grpc_port} --http-port {http_port} "
        + " ".join(shlex.quote(a) for a in args)
    )
    log = workdir / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=workdir,
            env={**_env(), **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, f"the server exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"the server did not start:\n{log.read_text()}"
            with contextlib.suppress(OSError):
                status, _ = _get(f"http://127.0.0.1:{http_port}/readyz")
                if status == 200:
                    break
            time.sleep(0.5)
        yield grpc_port, http_port, log
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


def quickstart(venv: Path, grpc_port: int, workdir: Path) -> tuple[readme.Block, str]:
    """The README's quickstart block, run with that venv against that server."""
    block = readme.bash_blocks(readme.section("Quickstart"))[0]
    assert block.output is not None, "the quickstart shows the output it prints"
    script = _in_venv(block.text, venv).replace("127.0.0.1:50051", f"127.0.0.1:{grpc_port}")
    assert f"127.0.0.1:{grpc_port}" in script
    proc = subprocess.run(
        ["bash", "-c", script],
        cwd=workdir,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return block, proc.stdout


def test_first_command_and_quickstart_twice_in_a_fresh_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    install(venv)
    # No extra is installed: the backend SDKs are absent, and serve needs none of them.
    probe = subprocess.run(
        [
            str(venv / "bin/python"),
            "-c",
            "import importlib.util as u; "
            "print([m for m in ('pymilvus', 'qdrant_client', 'opensearchpy', 'pinecone') "
            "if u.find_spec(m)])",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
    )
    assert probe.stdout.strip() == "[]"
    work = tmp_path / "work"
    work.mkdir()
    with serving(venv, work) as (grpc_port, _, log):
        outputs = []
        for _ in range(2):  # the quickstart is re-runnable
            block, out = quickstart(venv, grpc_port, work)
            assert readme.output_mismatches(block, out) == [], out
            outputs.append(out)
        assert outputs[0] == outputs[1]
    assert "Traceback" not in log.read_text()


def test_all_extras_start_with_every_backend_type_and_report_unreachable_stores(
    tmp_path: Path,
) -> None:
    venv = tmp_path / "venv"
    install(venv, extras="all")
    work = tmp_path / "work"
    work.mkdir()
    unreachable = ["milvus", "qdrant", "opensearch", "pinecone"]
    config = work / "vectorgate.yaml"
    config.write_text(config_text(["lancedb", *unreachable], work / "data"), encoding="utf-8")
    # Pinecone's control plane too (the SDK's own variable), not only the index host.
    pinecone = {"PINECONE_CONTROLLER_HOST": f"http://127.0.0.1:{closed_port()}"}
    with serving(venv, work, "--config", str(config), "--log-format", "text", env=pinecone) as (
        grpc_port,
        http_port,
        log,
    ):
        status, body = _get(f"http://127.0.0.1:{http_port}/readyz")
        assert status == 200, body
        stores = body["stores"]
        assert isinstance(stores, dict)
        assert stores["lancedb"] == {"status": "SERVING", "backend": "lancedb"}
        for name in unreachable:
            store = stores[name]
            assert isinstance(store, dict)
            assert store["status"] == "UNAVAILABLE" and store["backend"] == name, store
            assert "127.0.0.1" in str(store["error"]), store
        # The embedded store serves while the others are down; theirs answer UNAVAILABLE.
        probe = subprocess.run(
            [str(venv / "bin/python"), "-c", _PROBE, f"127.0.0.1:{grpc_port}", *unreachable],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=300,
        )
        assert probe.returncode == 0, probe.stdout + probe.stderr
        assert probe.stdout.split() == ["lancedb:ok", *(f"{n}:UNAVAILABLE" for n in unreachable)]
    text = log.read_text()
    assert "Traceback" not in text, text
    for name in unreachable:
        # Reported once at start (each failed call above logs its own line too).
        reported = f"store {name!r} ({name}) is unavailable: "
        assert len([line for line in text.splitlines() if reported in line]) == 1, (name, text)


_PROBE = """
import sys
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from vectorgate import Client, UnavailableError

target, names = sys.argv[1], sys.argv[2:]
with Client(target) as client:
    client.create_collection("smoke", exist_ok=True)
    client.upsert("smoke", [{"id": "a", "text": "hello"}])
    assert client.search("smoke", text="hello", top_k=1)[0].id == "a"
    print("lancedb:ok")
    for name in names:
        try:
            client.list_collections(store=name)
        except UnavailableError:
            print(f"{name}:UNAVAILABLE")
with grpc.insecure_channel(target) as channel:
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(service="")).status == 1
    for name in names:
        status = health.Check(health_pb2.HealthCheckRequest(service=f"vectorgate.store.{name}"))
        assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING, name
"""
