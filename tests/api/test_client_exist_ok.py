"""create_collection(exist_ok=True): a script that creates its collection can run again."""

from __future__ import annotations

import pytest

from tests.support.servers import ServerThread
from vectorgate import AlreadyExistsError, AsyncClient, Client


def test_exist_ok_returns_the_existing_collection_unless_it_differs(server: ServerThread) -> None:
    with Client(server.grpc_target) as client:
        created = client.create_collection("c", metric="l2")
        again = client.create_collection("c", metric="l2", exist_ok=True)
        assert (again.name, again.dimension, again.metric) == ("c", created.dimension, "l2")
        with pytest.raises(AlreadyExistsError):
            client.create_collection("c", metric="l2")
        with pytest.raises(AlreadyExistsError, match="metric l2 \\(asked: cosine\\)"):
            client.create_collection("c", exist_ok=True)
        with pytest.raises(AlreadyExistsError, match="dimension"):
            client.create_collection(
                "c", metric="l2", dimension=8, embedding_model="none", exist_ok=True
            )


async def test_async_exist_ok(server: ServerThread) -> None:
    async with AsyncClient(server.grpc_target) as client:
        await client.create_collection("a")
        assert (await client.create_collection("a", exist_ok=True)).metric == "cosine"
        with pytest.raises(AlreadyExistsError):
            await client.create_collection("a", metric="ip", exist_ok=True)
