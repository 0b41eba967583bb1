"""A backend whose SDK is not installed fails at start-up with one line naming the extra.

Each case runs `vectorgate serve` in a subprocess where the SDK's module is made unimportable
(a ``None`` entry in ``sys.modules`` makes ``import`` raise ``ImportError``, as a missing package
does), with a configuration naming that backend.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.backend_configs import SDKS, config_text

_RUN = """
import sys
sys.modules[{module!r}] = None
from vectorgate_server.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow  # a server process per backend
@pytest.mark.parametrize("backend", sorted(SDKS))
def test_missing_sdk_fails_at_start_with_one_line_naming_the_extra(
    backend: str, tmp_path: Path
) -> None:
    module, extra = SDKS[backend]
    config = tmp_path / "vectorgate.yaml"
    config.write_text(config_text(["lancedb", backend], tmp_path / "data"), encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _RUN.format(module=module),
            "serve",
            "--config",
            str(config),
            "--grpc-port",
            "0",
            "--http-port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        f"vectorgate: store {backend!r} ({backend}) needs {module}, which is not installed: "
        f"pip install 'vectorgate[{extra}]'"
    ], proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_every_backend_type_has_an_extra() -> None:
    import tomllib

    from vectorgate_server.adapters.factory import EXTRAS

    extras = tomllib.loads(
        (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    )["project"]["optional-dependencies"]
    assert set(EXTRAS) == set(SDKS)
    assert all(extra in extras for extra in EXTRAS.values())
