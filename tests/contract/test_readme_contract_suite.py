"""The README's "Testing an adapter of your own" example, run as a user outside this repo runs it.

The example module is taken from README.md unchanged and run by pytest in a fresh
directory with pytest-asyncio in *strict* mode and ``--strict-markers`` (what a project
that is not this one may well use). Its ``my_adapter.MyAdapter`` is an adapter
"written elsewhere": a LanceDB adapter behind the constructor the example calls.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

MY_ADAPTER = """
from vectorgate_server.adapters.lancedb import LanceDBAdapter


class MyAdapter(LanceDBAdapter):
    def __init__(self, store: str, *, path: str) -> None:
        super().__init__(store, path)
"""

PYTEST_INI = """[pytest]
asyncio_mode = strict
asyncio_default_fixture_loop_scope = function
addopts = --strict-markers -p no:cacheprovider
"""


def readme_example() -> tuple[str, str]:
    """The file name and the code of the README's contract-suite example."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Testing an adapter of your own", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    first = block.splitlines()[0]
    assert first.startswith("# test_"), first
    return first.removeprefix("# ").strip(), block


def test_readme_example_runs_the_whole_suite_on_an_outside_adapter(tmp_path: Path) -> None:
    name, code = readme_example()
    (tmp_path / name).write_text(code, encoding="utf-8")
    (tmp_path / "my_adapter.py").write_text(MY_ADAPTER, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["OPENBLAS_NUM_THREADS"] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", name],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    passed = int(re.search(r"(\d+) passed", summary).group(1))  # type: ignore[union-attr]
    # Every test of the suite ran (LanceDB supports every operator, so those skip).
    assert passed >= 24, summary
    assert "failed" not in summary and "error" not in summary, summary
