"""Schemathesis against the running server's ``/openapi.json``: no request gets a 5xx.

Every operation of the published schema gets positive (schema-valid) and
negative (schema-violating) generated requests, ``EXAMPLES_PER_MODE`` of each,
sent to a real server (HTTP on port 0). At least ``MIN_REQUESTS`` requests in
total, zero 5xx answers, within ``TIME_BUDGET_S``.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator

import hypothesis
import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings

from tests.support.servers import ServerThread, make_config
from vectorgate import Client

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402

pytestmark = [pytest.mark.timeout(240)]

EXAMPLES_PER_MODE = 25
MIN_REQUESTS = 1_000


def _realistic_deadline(case: schemathesis.Case) -> None:
    """A generated *valid* ``X-Request-Timeout`` below a second becomes 30 s.

    A caller asking for a 1e-300 s deadline gets the documented 504; that is
    the contract, not a server error. Invalid values (0, negative, NaN, text)
    are kept: they must get a 400.
    """
    for name, value in list((case.headers or {}).items()):
        if name.lower() != "x-request-timeout":
            continue
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(seconds) and 0 < seconds < 1:
            case.headers[name] = "30"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    config = make_config(tmp_path_factory.mktemp("schemathesis") / "data")
    with ServerThread(config) as srv:
        with Client(srv.grpc_target) as client:
            # Something to find for paths that name an existing collection.
            client.create_collection("string", dimension=4, embedding_model="none")
            client.upsert("string", [{"id": "a", "text": "x", "vector": [0.1, 0.2, 0.3, 0.4]}])
        yield srv


@pytest.mark.slow  # ~1 min of generated requests: full run only, not --quick
def test_generated_requests_get_no_5xx(server: ServerThread) -> None:
    schema = schemathesis.openapi.from_url(f"{server.http_base}/openapi.json")
    statuses: Counter[int] = Counter()
    per_operation: Counter[str] = Counter()
    server_errors: list[str] = []
    started = time.monotonic()
    session = requests.Session()

    for result in schema.get_all_operations():
        operation = result.ok()
        # Every operation gets its examples in both modes, however slow the
        # machine: the examples are derandomized, so the count is the same every run.
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES_PER_MODE,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
                derandomize=True,
            )
            def send(case: schemathesis.Case) -> None:
                _realistic_deadline(case)
                response = case.call(base_url=server.http_base, session=session, timeout=30)
                statuses[response.status_code] += 1
                per_operation[case.operation.label] += 1
                if response.status_code >= 500:
                    server_errors.append(
                        f"{response.status_code} {case.method} {case.formatted_path} "
                        f"query={case.query!r} body={case.body!r}: {response.text[:300]}"
                    )

            try:
                send()
            except hypothesis.errors.Unsatisfiable:
                continue
    session.close()
    elapsed = time.monotonic() - started
    total = sum(statuses.values())
    print(
        f"\nschemathesis: {total} requests over {len(per_operation)} operations in "
        f"{elapsed:.1f}s; statuses {dict(sorted(statuses.items()))}"
    )
    assert not server_errors, "\n".join(server_errors[:20])
    assert total >= MIN_REQUESTS, (total, dict(per_operation))


def test_openapi_served(server: ServerThread) -> None:
    response = requests.get(f"{server.http_base}/openapi.json", timeout=10)
    assert response.status_code == 200
