"""The Node.js client test (clients/node-test, @grpc/grpc-js) against ``vectorgate serve``."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.support.servers import ROOT, ServerProcess

pytestmark = pytest.mark.integration

NODE_TEST = ROOT / "clients" / "node-test"


@pytest.fixture(scope="module")
def node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node (Node.js) is not installed: the Node.js client test cannot run")
    if not (NODE_TEST / "node_modules" / "@grpc" / "grpc-js").is_dir():
        npm = shutil.which("npm")
        assert npm, "node is installed but npm is not: cannot install clients/node-test"
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_TEST, check=True, timeout=240
        )
    return node


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("node") / "data"
    proc = ServerProcess(
        [
            "serve",
            "--host",
            "127.0.0.1",
            "--grpc-port",
            "0",
            "--http-port",
            "0",
            "--data-dir",
            str(data),
        ]
    )
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


def test_node_client_creates_upserts_and_searches(node: str, server: ServerProcess) -> None:
    result = subprocess.run(
        [node, "test.js"],
        cwd=NODE_TEST,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("VECTORGATE_")},
            "VECTORGATE_TARGET": f"127.0.0.1:{server.grpc_port}",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "top hit: jaws" in result.stdout
    assert "filtered: " in result.stdout and "alien" not in result.stdout.split("filtered: ")[1]
    assert "node client test: ok" in result.stdout
