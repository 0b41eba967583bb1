"""A PostgreSQL server for tests, the way ``scripts/test.sh`` provides one.

``VECTORGATE_TEST_POSTGRES_URL`` when set (``scripts/test.sh`` exports it);
otherwise, as root with Debian's packages installed, a throwaway cluster:
``initdb`` in a temporary directory run as the ``postgres`` user (``runuser``),
on a free loopback port, stopped and removed when the session ends. Each
caller gets its own database (:func:`fresh_database`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator

import pytest

ENV_VAR = "VECTORGATE_TEST_POSTGRES_URL"


def _pg_bin() -> str | None:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in p.split("/")[-2].split(".")],
    )
    return found[-1] if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """The URL of a running PostgreSQL server (its ``postgres`` database)."""
    given = os.environ.get(ENV_VAR, "")
    if given:
        yield given
        return
    pg_bin = _pg_bin()
    if pg_bin is None or os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip(f"{ENV_VAR} is not set and no Debian PostgreSQL can be started here")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip(f"{ENV_VAR} is not set and there is no postgres user")
    workdir = tempfile.mkdtemp(prefix="vectorgate-pg-")
    shutil.chown(workdir, "postgres")
    data = os.path.join(workdir, "data")
    port = _free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_postgres, f"{pg_bin}/initdb", "-D", data, "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [
            *as_postgres,
            f"{pg_bin}/pg_ctl",
            "-D",
            data,
            "-l",
            f"{workdir}/log",
            "-w",
            "-o",
            options,
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_postgres, f"{pg_bin}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server; dropped afterwards."""
    import psycopg

    name = f"vg_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
