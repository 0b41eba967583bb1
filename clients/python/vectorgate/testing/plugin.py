"""pytest plugin of :mod:`vectorgate.testing` (registered as the ``vectorgate`` entry point).

It only registers the markers the contract suite uses, so a project running the
suite with ``--strict-markers`` needs no configuration for them.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
