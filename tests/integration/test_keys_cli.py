"""`vectorgate keys` against a real server with a master key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.servers import ServerThread, make_config
from vectorgate import Client
from vectorgate.errors import PermissionDeniedError
from vectorgate_server.cli import main

MASTER = "sk-master-test-0123456789abcdef"


def test_generate_use_list_and_delete_a_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path / "data", {"general_settings": {"master_key": MASTER}})
    with ServerThread(config) as srv:
        target = ["--target", srv.grpc_target, "--api-key", MASTER]
        with Client(srv.grpc_target, api_key=MASTER) as admin:
            admin.create_collection("docs_real", dimension=4, embedding_model="none")
            admin.create_index("docs", collection="docs_real", store="lancedb")

        assert main(["keys", "generate", "--index", "docs=read", "--alias", "ro", *target]) == 0
        out = capsys.readouterr().out
        match = re.search(r"(sk-[A-Za-z0-9_\-]+)", out)
        assert match, out
        key = match.group(1)

        with Client(srv.grpc_target, api_key=key) as reader:
            assert reader.search("docs", vector=[1, 0, 0, 0], top_k=1) == []
            with pytest.raises(PermissionDeniedError):
                reader.upsert("docs", [{"id": "a", "vector": [1, 0, 0, 0]}])

        assert main(["keys", "list", *target]) == 0
        listing = capsys.readouterr().out
        assert "ro" in listing and "docs:read" in listing
        assert key not in listing  # the secret is never shown again

        assert main(["keys", "delete", key, *target]) == 0
        capsys.readouterr()
        with Client(srv.grpc_target, api_key=key) as reader, pytest.raises(Exception) as info:
            reader.search("docs", vector=[1, 0, 0, 0], top_k=1)
        assert "UNAUTHENTICATED" in str(info.value)

        assert main(["keys", "generate", "--index", "nonsense", *target]) == 2
