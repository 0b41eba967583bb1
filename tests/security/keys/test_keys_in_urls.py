"""Keys stay out of URLs and logs.

``POST /key/info`` takes the key in its JSON body (``{"key": ...}``; no body:
the caller's own key), so no key needs to travel in a URL; LiteLLM's ``GET
/key/info?key=...`` keeps working. A real ``vectorgate serve`` at DEBUG level
is driven through every key route (including failing requests carrying keys
in query strings, paths and headers), and every line it logs is scanned for
every key the run minted.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx

from tests.security.keys.conftest import MASTER, Gateway, bearer, md
from tests.support.servers import ROOT, STORE_ENV_VARS, write_config
from vectorgate.v1 import key_service_pb2 as kpb
from vectorgate.v1 import key_service_pb2_grpc as kgrpc


def _token(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def test_key_info_takes_the_key_in_a_json_body(gateway: Gateway) -> None:
    key = gateway.mint({"key_alias": "in-body"})
    r = gateway.http.post("/key/info", json={"key": key}, headers=bearer(MASTER))
    assert r.status_code == 200, r.text
    assert r.json()["info"]["token"] == _token(key)
    assert r.json()["info"]["key_alias"] == "in-body"
    # No body, or an empty one: the caller's own key.
    for body in (None, {}):
        own = gateway.http.post("/key/info", json=body, headers=bearer(key))
        assert own.status_code == 200, own.text
        assert own.json()["info"]["token"] == _token(key)
    # The token works as well as the key.
    r = gateway.http.post("/key/info", json={"key": _token(key)}, headers=bearer(MASTER))
    assert r.status_code == 200 and r.json()["info"]["token"] == _token(key)


def test_key_info_keeps_the_litellm_query_form_and_grpc(gateway: Gateway) -> None:
    key = gateway.mint({"key_alias": "in-query"})
    r = gateway.http.get("/key/info", params={"key": key}, headers=bearer(MASTER))
    assert r.status_code == 200, r.text
    assert r.json()["info"]["token"] == _token(key)
    info = kgrpc.KeyServiceStub(gateway.channel).GetKey(
        kpb.GetKeyRequest(key=key), metadata=md(MASTER)
    )
    assert info.info.token == _token(key)


def test_key_info_in_a_body_is_checked_like_any_body(gateway: Gateway) -> None:
    key = gateway.mint({})
    r = gateway.http.post(
        "/key/info",
        content=f"key={key}",
        headers={**bearer(MASTER), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415, r.text
    r = gateway.http.post("/key/info?key=" + key, json={}, headers=bearer(MASTER))
    assert r.status_code == 400, r.text  # a body route takes nothing from the query string
    other = gateway.mint({})
    r = gateway.http.post("/key/info", json={"key": key}, headers=bearer(other))
    assert r.status_code == 404, r.text  # not the caller's key: same as no such key


def _serve(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path, int, int]:
    cfg = write_config(
        tmp_path / "config.yaml",
        {
            "server": {
                "host": "127.0.0.1",
                "grpc_port": 0,
                "http_port": 0,
                "data_dir": str(tmp_path / "data"),
            },
            "general_settings": {"master_key": MASTER},
        },
    )
    log = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if k not in STORE_ENV_VARS}
    env["OPENBLAS_NUM_THREADS"] = "1"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vectorgate_server",
                "serve",
                "--config",
                str(cfg),
                "--log-level",
                "DEBUG",
                "--log-format",
                "json",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=str(ROOT),
        )
    deadline = time.monotonic() + 120
    banner = re.compile(rb"serving gRPC on [\d.]+:(\d+) and HTTP on [\d.]+:(\d+)")
    while time.monotonic() < deadline:
        found = banner.search(log.read_bytes())
        if found:
            return proc, log, int(found.group(1)), int(found.group(2))
        if proc.poll() is not None:
            raise RuntimeError(log.read_text())
        time.sleep(0.1)
    proc.kill()
    raise TimeoutError(log.read_text())


def test_no_key_minted_in_a_server_run_appears_in_its_logs(tmp_path: Path) -> None:
    proc, log, grpc_port, http_port = _serve(tmp_path)
    minted: list[str] = []
    try:
        with (
            httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30) as http,
            grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel,
        ):
            admin = bearer(MASTER)
            for body in ({}, {"key": "sk-my-virtual-key"}, {"key_alias": "x", "duration": "1h"}):
                r = http.post("/key/generate", json=body, headers=admin)
                assert r.status_code == 200, r.text
                minted.append(r.json()["key"])
            stub = kgrpc.KeyServiceStub(channel)
            minted.append(stub.GenerateKey(kpb.GenerateKeyRequest(), metadata=md(MASTER)).key)
            child = http.post("/key/generate", json={}, headers=bearer(minted[0])).json()["key"]
            minted.append(child)
            for key in minted:
                # Served, and failing, in every place a key can travel.
                assert http.get("/key/info", params={"key": key}, headers=admin).status_code == 200
                assert http.post("/key/info", json={"key": key}, headers=admin).status_code == 200
                assert http.get("/key/info", headers=bearer(key)).status_code == 200
                http.get("/key/info", params={"key": key, "junk": key}, headers=admin)
                http.get("/key/info", params={"key": key + "x"}, headers=admin)
                http.get("/key/list", params={"key": key}, headers=admin)
                http.get("/key/info", params={"key": key}, headers=bearer(key + "x"))
                http.get("/key/info", params={"key": key})
                http.get(f"/nowhere/{key}", params={"key": key}, headers=admin)
                http.get("/v1/indexes", params={"page_token": key}, headers=admin)
                http.post(f"/v1/collections/{key}:search", json={"text": key}, headers=bearer(key))
                http.post("/key/generate", json={"key": key}, headers=admin)  # 409
                http.post("/key/update", json={"key": key, "duration": key}, headers=admin)
                http.post(
                    "/key/info",
                    content=key.encode(),
                    headers={**admin, "Content-Type": "text/plain"},
                )
                http.post("/v1/embeddings", json={"input": key, "model": key}, headers=bearer(key))
                with contextlib.suppress(grpc.RpcError):
                    stub.GetKey(kpb.GetKeyRequest(key=key + "x"), metadata=md(key))
                stub.GetKey(kpb.GetKeyRequest(key=key), metadata=md(MASTER))
            assert http.post("/key/delete", json={"keys": minted}, headers=admin).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    text = log.read_text()
    assert len(text.splitlines()) > 3, text  # the run did log (at DEBUG)
    for secret in [*minted, MASTER]:
        assert secret not in text, f"a key appears in the server's log: {secret[:6]}..."
