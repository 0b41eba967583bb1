"""The gateway's channel to Milvus keeps alive the way Milvus servers allow: no GOAWAY.

pymilvus pings every 10 s even on an idle connection; a gRPC C-core server
(the ``milvus-lite server`` here, as the gateway meets it in a deployment)
counts every ping on an idle connection as a strike and, past the second,
answers GOAWAY ``too_many_pings`` (ENHANCE_YOUR_CALM), which gRPC's client core
logs on stderr. The client core spaces its own pings without data (two, then
one a minute), so pymilvus's channel meets the GOAWAY after about a minute of
idling. To keep the test short, both the product's options and the control's
have their interval cut to 1 s and that client-side spacing lifted
(``grpc.http2.max_pings_without_data`` 0); the server keeps its own default
enforcement, so a client that pings while idle is caught within seconds.

* The control (pymilvus's own options, interval cut the same way) shows that
  the setup does produce and detect the GOAWAY.
* The gateway, with :func:`vectorgate_server.adapters.milvus.client.grpc_options`,
  idles as long, then serves calls: no GOAWAY, no failed call.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.milvus_lite import MilvusLiteServer, free_port, milvus_lite_executable
from tests.support.servers import ServerThread, make_config
from vectorgate import Client
from vectorgate_server.adapters.milvus import client as milvus_adapter
from vectorgate_server.embeddings import EmbeddingRegistry

pytestmark = [
    pytest.mark.integration,  # a Milvus Lite server process, idled twice
    pytest.mark.skipif(
        milvus_lite_executable() is None, reason="the milvus-lite command is not installed"
    ),
]

GOAWAY = "too_many_pings"
#: Cut keepalive interval (ms) and the idle time (s): ten intervals.
INTERVAL_MS = 1000
IDLE_S = 10.0
#: Lift the client core's own spacing of pings without data.
HARSH = {"grpc.http2.max_pings_without_data": 0}


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[MilvusLiteServer]:
    server = MilvusLiteServer(tmp_path / "lite", free_port())
    server.data_dir.mkdir(parents=True)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def test_pymilvus_defaults_are_refused_while_idle(
    lite: MilvusLiteServer, capfd: pytest.CaptureFixture[str]
) -> None:
    from pymilvus import MilvusClient

    client = MilvusClient(
        uri=lite.uri, grpc_options={"grpc.keepalive_time_ms": INTERVAL_MS, **HARSH}
    )
    try:
        client.list_collections()
        time.sleep(IDLE_S)
        client.list_collections()
    finally:
        client.close()
    assert GOAWAY in capfd.readouterr().err


def test_gateway_idles_then_serves_without_goaway(
    lite: MilvusLiteServer,
    tmp_path: Path,
    embeddings: EmbeddingRegistry,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(milvus_adapter, "KEEPALIVE_TIME_MS", INTERVAL_MS)
    assert milvus_adapter.grpc_options() == {
        "grpc.keepalive_time_ms": INTERVAL_MS,
        "grpc.keepalive_timeout_ms": milvus_adapter.KEEPALIVE_TIMEOUT_MS,
        "grpc.keepalive_permit_without_calls": 0,
    }
    product = milvus_adapter.grpc_options
    monkeypatch.setattr(milvus_adapter, "grpc_options", lambda: {**product(), **HARSH})
    config = make_config(
        tmp_path / "data",
        {
            "vector_store_registry": [
                {
                    "vector_store_name": "lite",
                    "litellm_params": {
                        "vector_store_id": "idle",
                        "custom_llm_provider": "milvus",
                        "api_base": lite.uri,
                    },
                }
            ],
        },
    )
    with ServerThread(config, embeddings) as server, Client(server.grpc_target) as client:
        client.create_collection("idle", store="lite")
        client.upsert("idle", [{"id": "a", "text": "keep the line open"}], store="lite")
        for _ in range(2):
            time.sleep(IDLE_S)
            hits = client.search("idle", text="line", top_k=1, store="lite")
            assert [h.id for h in hits] == ["a"]
    err = capfd.readouterr().err
    assert GOAWAY not in err
    assert "GOAWAY" not in err
