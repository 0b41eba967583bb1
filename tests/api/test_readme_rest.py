"""The README's REST walkthrough, run from README.md against real servers.

The section "Every REST path, step by step" is run as one bash session (so a key one block
captures is seen by the next) in a temp dir that holds a ``.venv`` link to this venv and a
``tests`` link to this checkout's tests. Only the ports change: ``4000``, ``50051`` and
``19530`` become free ones, in the commands and in the documented outputs. Every block with
a documented output must print it (see tests/support/readme.py for the conventions).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import readme
from tests.support.milvus_lite import free_port, milvus_lite_executable
from tests.support.servers import STORE_ENV_VARS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
SECTION = "Every REST path, step by step"
_MARK = "@@vectorgate-readme-block-{}@@"


def _ports() -> dict[str, str]:
    return {"4000": str(free_port()), "50051": str(free_port()), "19530": str(free_port())}


def _with_ports(text: str, ports: dict[str, str]) -> str:
    for old, new in ports.items():
        text = re.sub(rf"(?<=[:\s/]){old}\b", new, text)
    return text


def test_every_rest_example_prints_its_documented_response(tmp_path: Path) -> None:
    if milvus_lite_executable() is None:
        pytest.fail("milvus-lite is part of the [milvus] extra the dev venv installs")
    blocks = readme.bash_blocks(readme.section(SECTION))
    assert len(blocks) >= 9, "the walkthrough's steps are in README.md"
    shown = [b for b in blocks if b.output is not None]
    paths = "".join(b.text for b in shown)
    for path in (
        "/v1/vector/store",
        "/v1/vector/search",
        "/v1/vector_stores/",
        "/v1/embeddings",
        "/v1/indexes",
        "/key/generate",
        "MilvusRESTClient",
    ):
        assert path in paths, f"no README example with its response for {path}"
    ports = _ports()
    script = ["set -u"]
    for i, block in enumerate(blocks):
        script += [f"printf '\\n%s\\n' {_MARK.format(i)}", _with_ports(block.text, ports)]
    script.append(f"printf '\\n%s\\n' {_MARK.format(len(blocks))}")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    env = {k: v for k, v in os.environ.items() if k not in STORE_ENV_VARS}
    env["OPENBLAS_NUM_THREADS"] = "1"
    proc = subprocess.Popen(
        ["bash", "-c", "\n".join(script)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=780)
    finally:
        # The walkthrough's servers run in the background of that session.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    logs = "".join(
        f"\n--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(tmp_path.glob("*.log"))
    )
    assert proc.returncode == 0, f"{err}{logs}"
    outputs = re.split(r"@@vectorgate-readme-block-\d+@@\n", out)[1:]
    assert len(outputs) == len(blocks) + 1, out
    failures: list[str] = []
    for block, got in zip(blocks, outputs, strict=False):
        if block.output is None:
            continue
        expected = readme.Block(block.output.lang, _with_ports(block.output.text, ports))
        problems = readme.output_mismatches(readme.Block("bash", block.text, expected), got)
        if problems:
            failures.append(f"{block.text.strip()[:200]}\n  " + "\n  ".join(problems))
    assert not failures, "\n\n".join(failures) + logs
    assert "Traceback" not in logs, logs
