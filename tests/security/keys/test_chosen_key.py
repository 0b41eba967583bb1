"""The master key may choose a key's value, so keys migrate from LiteLLM unchanged.

``/key/generate``, ``GenerateKey``, the Python clients' ``generate_key(key=...)``
and ``vectorgate keys generate --key``: master key only, ``sk-`` and 16 to 256
printable ASCII characters, 409 / ALREADY_EXISTS on a key that exists.
"""

from __future__ import annotations

import io

import grpc
import pytest

from tests.security.keys.conftest import MASTER, Gateway, bearer, md
from vectorgate import AsyncClient, Client
from vectorgate.errors import AlreadyExistsError, InvalidArgumentError, PermissionDeniedError
from vectorgate.v1 import key_service_pb2 as kpb
from vectorgate.v1 import key_service_pb2_grpc as kgrpc
from vectorgate_server.cli import main

GRANT = [{"index_name": "idx_vec", "index_permissions": ["read", "write"]}]
SEARCH = {"vector": {"values": [1, 0, 0, 0]}, "top_k": 1}


def test_seed_walkthrough_key_over_rest(gateway: Gateway) -> None:
    body = {
        "key": "sk-my-virtual-key",
        "allowed_vector_store_indexes": GRANT,
        "models": ["embedding-model"],
    }
    r = gateway.http.post("/key/generate", json=body, headers=bearer(MASTER))
    assert r.status_code == 200, r.text
    assert r.json()["key"] == "sk-my-virtual-key"
    assert r.json()["info"]["key_prefix"] == "sk-my-v"
    ok = gateway.http.post(
        "/v1/collections/idx_vec:search", json=SEARCH, headers=bearer("sk-my-virtual-key")
    )
    assert ok.status_code == 200, ok.text
    again = gateway.http.post("/key/generate", json=body, headers=bearer(MASTER))
    assert again.status_code == 409, again.text
    assert again.json()["details"][0]["reason"] == "KEY_ALREADY_EXISTS"


def test_chosen_key_over_grpc(gateway: Gateway) -> None:
    stub = kgrpc.KeyServiceStub(gateway.channel)
    req = kpb.GenerateKeyRequest(key="sk-litellm-migrated-0001")
    req.allowed_vector_store_indexes.add(index_name="idx_vec", index_permissions=["read"])
    assert stub.GenerateKey(req, metadata=md(MASTER)).key == "sk-litellm-migrated-0001"
    with pytest.raises(grpc.RpcError) as info:
        stub.GenerateKey(req, metadata=md(MASTER))
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS


@pytest.mark.parametrize(
    "bad",
    [
        "sk-short",  # 8 characters
        "sk-123456789012",  # 15 characters
        "my-virtual-key-without-prefix",
        "SK-uppercase-prefix-000",
        "sk-has space-in-the-middle",
        "sk-tab\tin-the-middle-0000",
        "sk-newline-at-the-end-000\n",
        "sk-ünïcödé-characters-000",
        "sk-" + "x" * 254,  # 257 characters
        MASTER,
    ],
)
def test_bad_chosen_keys_are_refused(gateway: Gateway, bad: str) -> None:
    r = gateway.http.post("/key/generate", json={"key": bad}, headers=bearer(MASTER))
    assert r.status_code == 400, r.text
    assert r.json()["details"][0]["metadata"]["field"] == "key"


def test_only_the_master_key_chooses(gateway: Gateway) -> None:
    key = gateway.mint({"allowed_vector_store_indexes": GRANT})
    r = gateway.http.post(
        "/key/generate", json={"key": "sk-chosen-by-a-key-0001"}, headers=bearer(key)
    )
    assert r.status_code == 403, r.text
    with pytest.raises(grpc.RpcError) as info:
        kgrpc.KeyServiceStub(gateway.channel).GenerateKey(
            kpb.GenerateKeyRequest(key="sk-chosen-by-a-key-0002"), metadata=md(key)
        )
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # Nothing was created.
    assert (
        gateway.http.get("/key/info", headers=bearer("sk-chosen-by-a-key-0001")).status_code == 401
    )


def test_python_clients(gateway: Gateway) -> None:
    with Client(gateway.srv.grpc_target, api_key=MASTER) as client:
        made = client.generate_key(key="sk-sync-client-key-0001", indexes={"idx_vec": ["read"]})
        assert made["key"] == "sk-sync-client-key-0001"
        with pytest.raises(AlreadyExistsError):
            client.generate_key(key="sk-sync-client-key-0001")
        with pytest.raises(InvalidArgumentError):
            client.generate_key(key="sk-short")
    with (
        Client(gateway.srv.grpc_target, api_key="sk-sync-client-key-0001") as keyed,
        pytest.raises(PermissionDeniedError),
    ):
        keyed.generate_key(key="sk-sync-client-key-0002")

    async def run() -> str:
        async with AsyncClient(gateway.srv.grpc_target, api_key=MASTER) as client:
            made = await client.generate_key(key="sk-async-client-key-001")
            return str(made["key"])

    import asyncio

    assert asyncio.run(run()) == "sk-async-client-key-001"


def test_cli(
    gateway: Gateway, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = ["--target", gateway.srv.grpc_target, "--api-key", MASTER]
    assert (
        main(
            [
                "keys",
                "generate",
                "--key",
                "sk-from-the-cli-0000001",
                "--index",
                "idx_vec=read",
                *target,
            ]
        )
        == 0
    )
    assert "sk-from-the-cli-0000001" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("sk-from-stdin-000000001\n"))
    assert main(["keys", "generate", "--key", "-", *target]) == 0
    assert "sk-from-stdin-000000001" in capsys.readouterr().out
    ok = gateway.http.post(
        "/v1/collections/idx_vec:search", json=SEARCH, headers=bearer("sk-from-the-cli-0000001")
    )
    assert ok.status_code == 200, ok.text
    assert main(["keys", "generate", "--key", "sk-from-the-cli-0000001", *target]) != 0
