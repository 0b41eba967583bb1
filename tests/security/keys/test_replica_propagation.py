"""Replicas on one PostgreSQL agree within 100 ms on indexes and keys.

Two real ``vectorgate serve`` processes share one PostgreSQL database (the one
``scripts/test.sh`` provides, or a throwaway cluster started here the same
way). Changes are made on replica A and watched on replica B by polling it as
fast as it answers: an index created, deleted, re-pointed to another tenant's
policy, a key deleted or downgraded. Each change must be in force on B within
100 ms of A acknowledging it, and a re-pointed policy never serves the old
tenant's documents after that. The measured windows are printed (``-s``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.security.keys.conftest import MASTER, bearer
from tests.support.postgres import fresh_database, postgres_server
from tests.support.servers import ServerProcess, write_config

WINDOW_S = 0.100
#: How long B is watched after each change.
WATCH_S = 0.5
TENANTS = ("acme", "globex")


@dataclass
class Replicas:
    a: httpx.Client
    b: httpx.Client


def _start(tmp: Path, name: str, url: str) -> ServerProcess:
    cfg = write_config(
        tmp / f"{name}.yaml",
        {
            "server": {
                "host": "127.0.0.1",
                "grpc_port": 0,
                "http_port": 0,
                "data_dir": str(tmp / name),
            },
            "general_settings": {"master_key": MASTER, "database_url": url},
        },
    )
    proc = ServerProcess(["serve", "--config", str(cfg), "--log-format", "text"])
    proc.wait_ready()
    return proc


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    tmp = tmp_path_factory.mktemp("replicas")
    with postgres_server() as server, fresh_database(server) as url:
        procs = [_start(tmp, "a", url), _start(tmp, "b", url)]
        try:
            with (
                httpx.Client(
                    base_url=f"http://127.0.0.1:{procs[0].http_port}",
                    headers=bearer(MASTER),
                    timeout=30,
                ) as a,
                httpx.Client(
                    base_url=f"http://127.0.0.1:{procs[1].http_port}",
                    headers=bearer(MASTER),
                    timeout=30,
                ) as b,
            ):
                # The documents live in B's store; A only manages the shared state.
                ok(
                    b.post(
                        "/v1/collections",
                        json={
                            "collection": {
                                "name": "docs",
                                "dimension": 4,
                                "embedding_model": "none",
                            }
                        },
                    )
                )
                docs = [
                    {
                        "id": f"{tenant}-{i}",
                        "vector": {"values": [1.0, 0.1 * i, 0.0, 0.5]},
                        "metadata": {"tenant_id": tenant},
                    }
                    for tenant in TENANTS
                    for i in range(5)
                ]
                ok(b.post("/v1/collections/docs/documents:upsert", json={"documents": docs}))
                yield Replicas(a, b)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.kill()


def ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _index(name: str, tenant: str) -> dict[str, Any]:
    return {
        "index_name": name,
        "litellm_params": {"vector_store_index": "docs", "vector_store_name": "lancedb"},
        "policy_filter": {
            "condition": {
                "field": "tenant_id",
                "op": "FILTER_OPERATOR_EQ",
                "value": {"string_value": tenant},
            }
        },
    }


def _tenants_seen(b: httpx.Client, index: str, key: str = MASTER) -> set[str] | int:
    r = b.post(
        f"/v1/collections/{index}:search",
        json={"vector": {"values": [1, 0, 0, 0.5]}, "top_k": 10},
        headers=bearer(key),
    )
    if r.status_code != 200:
        return r.status_code
    return {h["metadata"]["tenant_id"] for h in r.json().get("hits", [])}


def _watch(done: float, probe: Callable[[], Any]) -> list[tuple[float, Any]]:
    """Poll ``probe`` for ``WATCH_S``: (seconds after ``done`` the request was sent, answer).

    The send time: a request made 100 ms after the acknowledgement must see the
    change (one sent earlier may be answered later than that, by a busy machine).
    """
    out = []
    while time.monotonic() - done < WATCH_S:
        sent = time.monotonic() - done
        out.append((sent, probe()))
    return out


def _last_wrong(samples: list[tuple[float, Any]], wrong: Callable[[Any], bool]) -> float:
    """When (seconds after the acknowledgement) the last request answered as before the
    change was sent; 0.0 if none was."""
    last = 0.0
    for at, answer in samples:
        if wrong(answer):
            last = at
    return last


def test_an_index_change_reaches_the_other_replica_within_100ms(replicas: Replicas) -> None:
    a, b = replicas.a, replicas.b
    windows: list[float] = []
    for trial in range(6):
        name = f"tenant{trial}"
        ok(a.post("/v1/indexes", json=_index(name, "acme")))
        done = time.monotonic()
        samples = _watch(done, lambda name=name: _tenants_seen(b, name))
        windows.append(_last_wrong(samples, lambda s: s == 404))
        assert samples[-1][1] == {"acme"}
        # Re-point: the same name, the other tenant's policy.
        for old, new in (("acme", "globex"), ("globex", "acme")):
            r = a.delete(f"/v1/indexes/{name}")
            assert r.status_code == 200, r.text
            ok(a.post("/v1/indexes", json=_index(name, new)))
            done = time.monotonic()
            samples = _watch(done, lambda name=name: _tenants_seen(b, name))
            served_old = _last_wrong(samples, lambda s, old=old: isinstance(s, set) and old in s)
            windows.append(served_old)
            assert served_old < WINDOW_S, (
                f"{old}'s documents served {served_old * 1000:.0f} ms after the change"
            )
            assert all(s == {new} for at, s in samples if at >= WINDOW_S)
        r = a.delete(f"/v1/indexes/{name}")
        assert r.status_code == 200
        done = time.monotonic()
        samples = _watch(done, lambda name=name: b.get(f"/v1/indexes/{name}").status_code)
        windows.append(_last_wrong(samples, lambda s: s == 200))
    print(f"\nindex changes: worst window {max(windows) * 1000:.1f} ms over {len(windows)} changes")
    assert max(windows) < WINDOW_S, [round(w * 1000, 1) for w in windows]


def test_a_key_change_reaches_the_other_replica_within_100ms(replicas: Replicas) -> None:
    a, b = replicas.a, replicas.b
    ok(a.post("/v1/indexes", json=_index("keyed", "acme")))
    time.sleep(WINDOW_S)
    windows: list[float] = []
    for _ in range(5):
        grant = [{"index_name": "keyed", "index_permissions": ["read", "write"]}]
        key = ok(a.post("/key/generate", json={"allowed_vector_store_indexes": grant}))["key"]
        assert _tenants_seen(b, "keyed", key) == {"acme"}  # at once: a new key is read through
        child = ok(
            b.post(
                "/key/generate", json={"allowed_vector_store_indexes": grant}, headers=bearer(key)
            )
        )["key"]
        # Downgrade on A: the key (and its child, on B) lose read.
        ok(
            a.post(
                "/key/update",
                json={
                    "key": key,
                    "allowed_vector_store_indexes": [
                        {"index_name": "keyed", "index_permissions": ["write"]}
                    ],
                },
            )
        )
        done = time.monotonic()
        samples = _watch(
            done,
            lambda key=key, child=child: (
                _tenants_seen(b, "keyed", key),
                _tenants_seen(b, "keyed", child),
            ),
        )
        windows.append(_last_wrong(samples, lambda s: s[0] != 403 or s[1] != 403))
        # Delete on A.
        ok(a.post("/key/delete", json={"keys": [key]}))
        done = time.monotonic()
        samples = _watch(
            done, lambda child=child: b.get("/key/info", headers=bearer(child)).status_code
        )
        windows.append(_last_wrong(samples, lambda s: s != 401))
    print(f"\nkey changes: worst window {max(windows) * 1000:.1f} ms over {len(windows)} changes")
    assert max(windows) < WINDOW_S, [round(w * 1000, 1) for w in windows]
