"""Root test configuration. Keep it small: suites put their fixtures in their own conftest."""

from __future__ import annotations

import sys
from pathlib import Path

# ``tests.support`` is imported as a package: make the repository root importable
# however pytest is started (``pytest`` or ``python -m pytest``, from any directory).
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

# Session fixtures that start backend servers live in tests/support/*_fixtures.py.
pytest_plugins = sorted(
    f"tests.support.{path.stem}"
    for path in (Path(__file__).parent / "support").glob("*_fixtures.py")
)
