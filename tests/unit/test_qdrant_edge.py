"""The embedded Qdrant store (qdrant-edge): what the contract suite does not reach."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import portalocker
import pytest
import qdrant_edge as qe

from vectorgate_server.adapters.configs import QdrantConfig
from vectorgate_server.adapters.factory import create_adapter
from vectorgate_server.adapters.qdrant import QdrantAdapter
from vectorgate_server.adapters.qdrant import edge as qdrant_edge
from vectorgate_server.adapters.qdrant.edge import (
    LOCK_FILE,
    SPEC_FILE,
    QdrantEdgeAdapter,
    edge_filter,
)
from vectorgate_server.domain import (
    And,
    CollectionSpec,
    Condition,
    Document,
    IndexSpec,
    Metric,
    Not,
    Op,
    Or,
    SearchQuery,
)
from vectorgate_server.errors import AlreadyExists, InvalidArgument, NotFound, Unavailable
from vectorgate_server.filters.qdrant import compile_filter

DIM = 4


@pytest.fixture
async def adapter(tmp_path: Path) -> AsyncIterator[QdrantEdgeAdapter]:
    a = QdrantEdgeAdapter("q", path=str(tmp_path / "edge"))
    await a.start()
    try:
        yield a
    finally:
        await a.close()


def docs(n: int, seed: int = 0) -> list[Document]:
    rng = np.random.default_rng(seed)
    return [
        Document(
            id=f"d{i}",
            text=f"text {i}",
            vector=rng.standard_normal(DIM).astype(np.float32),
            metadata={"n": i, "odd": i % 2 == 1, "tag": "x" if i < 3 else "y"},
        )
        for i in range(n)
    ]


def test_the_factory_runs_path_stores_on_qdrant_edge_and_url_stores_on_the_client(
    tmp_path: Path,
) -> None:
    embedded = create_adapter(QdrantConfig(name="e", path=str(tmp_path)), data_dir=tmp_path)
    server = create_adapter(QdrantConfig(name="s", url="http://q:6333"), data_dir=tmp_path)
    assert isinstance(embedded, QdrantEdgeAdapter)
    assert isinstance(server, QdrantAdapter) and not server.is_local


@pytest.mark.parametrize(
    "f",
    [
        Condition("odd", Op.EQ, True),
        Condition("odd", Op.NE, False),
        Condition("odd", Op.IN, (True,)),
        Or((Condition("odd", Op.EQ, False), Condition("tag", Op.EQ, "x"))),
        And((Condition("n", Op.GTE, 1), Not(Condition("id", Op.IN, ("d3",))))),
    ],
)
def test_filters_translate_one_to_one_bools_included(f: object) -> None:
    native = compile_filter(f)  # type: ignore[arg-type]
    translated = edge_filter(native)
    assert isinstance(translated, qe.Filter)


async def test_bool_conditions_match_stored_bools(adapter: QdrantEdgeAdapter) -> None:
    """qdrant-edge-py 0.9 turns a Python bool in MatchValue into 0/1; the adapter does not."""
    await adapter.create_collection(CollectionSpec("c", DIM))
    await adapter.upsert("c", docs(6))
    assert await adapter.count("c", Condition("odd", Op.EQ, True)) == 3
    assert await adapter.count("c", Condition("odd", Op.EQ, False)) == 3
    assert await adapter.count("c", Condition("odd", Op.IN, (True, False))) == 6


async def test_spec_and_metadata_types_persist_in_the_collection_directory(
    adapter: QdrantEdgeAdapter, tmp_path: Path
) -> None:
    spec = CollectionSpec(
        "c", DIM, metric=Metric.L2, text_field="body", embedding_model="m", index=IndexSpec("FLAT")
    )
    info = await adapter.create_collection(spec)
    await adapter.upsert("c", docs(3))
    stored = json.loads((tmp_path / "edge" / "c" / SPEC_FILE).read_text(encoding="utf-8"))
    assert stored["dimension"] == DIM and stored["metric"] == "l2"
    assert stored["text_field"] == "body" and stored["embedding_model"] == "m"
    assert stored["index"] == {"type": "FLAT", "params": {}}
    assert stored["fields"] == {"n": "number", "odd": "bool", "tag": "string"}
    with pytest.raises(InvalidArgument) as bad:
        await adapter.upsert(
            "c", [Document(id="z", vector=np.ones(DIM, np.float32), metadata={"n": "s"})]
        )
    assert bad.value.field == "documents[0].metadata.n"

    await adapter.close()
    again = QdrantEdgeAdapter("q", path=str(tmp_path / "edge"))
    await again.start()
    try:
        described = await again.describe_collection("c")
        assert described.metric is Metric.L2 and described.text_field == "body"
        assert described.create_time == info.create_time and described.document_count == 3
        with pytest.raises(InvalidArgument):
            await again.upsert(
                "c", [Document(id="z", vector=np.ones(DIM, np.float32), metadata={"n": "s"})]
            )
    finally:
        await again.close()


async def test_create_is_all_or_nothing_and_drop_removes_the_directory(
    adapter: QdrantEdgeAdapter, tmp_path: Path
) -> None:
    await adapter.create_collection(CollectionSpec("c", DIM))
    with pytest.raises(AlreadyExists):
        await adapter.create_collection(CollectionSpec("c", DIM))
    # A directory without a spec (e.g. left by a crash) is not a collection.
    (tmp_path / "edge" / "stray").mkdir()
    assert await adapter.list_collections() == ["c"]
    await adapter.drop_collection("c")
    assert await adapter.list_collections() == []
    assert not (tmp_path / "edge" / "c").exists()
    assert not [p for p in (tmp_path / "edge").iterdir() if p.name.startswith(".dropped")]
    with pytest.raises(NotFound):
        await adapter.drop_collection("c")
    with pytest.raises(NotFound):
        await adapter.count("c")


async def test_another_process_holding_the_directory_is_unavailable(tmp_path: Path) -> None:
    root = tmp_path / "edge"
    root.mkdir()
    with (root / LOCK_FILE).open("a+") as held:
        # flock locks belong to the open file, so this stands in for another process.
        portalocker.lock(held, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING)
        blocked = QdrantEdgeAdapter("q", path=str(root))
        with pytest.raises(Unavailable, match="open in another process"):
            await blocked.start()
        portalocker.unlock(held)
    ok = QdrantEdgeAdapter("q", path=str(root))
    await ok.start()
    await ok.close()


async def test_memory_store_is_a_temporary_directory_removed_on_close() -> None:
    a = QdrantEdgeAdapter("q", path=":memory:")
    await a.start()
    assert a._storage is not None
    root = a._storage.root
    await a.create_collection(CollectionSpec("c", DIM))
    await a.upsert("c", docs(2))
    assert await a.count("c") == 2
    await a.close()
    assert not root.exists()


async def test_engine_calls_run_off_the_event_loop(adapter: QdrantEdgeAdapter) -> None:
    await adapter.create_collection(CollectionSpec("c", DIM))
    await adapter.upsert("c", docs(50))
    loop_thread = asyncio.get_running_loop()
    seen: list[str] = []
    original = qdrant_edge._engine

    def spy(call, *args):  # type: ignore[no-untyped-def]
        import threading

        seen.append(threading.current_thread().name)
        return original(call, *args)

    qdrant_edge._engine = spy  # type: ignore[assignment]
    try:
        query = SearchQuery(vector=np.ones(DIM, np.float32), top_k=3)
        hits = await adapter.search("c", query)
    finally:
        qdrant_edge._engine = original  # type: ignore[assignment]
    assert len(hits) == 3 and loop_thread.is_running()
    assert seen and all(name.startswith("qdrant-edge") for name in seen)


async def test_two_stores_on_one_directory_share_the_shards_and_the_key_types(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "edge")
    a = QdrantEdgeAdapter("a", path=path)
    b = QdrantEdgeAdapter("b", path=path, keyword_search=False)
    await a.start()
    await b.start()
    try:
        await a.create_collection(CollectionSpec("c", DIM))
        one = np.ones(DIM, np.float32)
        results = await asyncio.gather(
            a.upsert("c", [Document(id="x", vector=one, metadata={"k": "text"})]),
            b.upsert("c", [Document(id="y", vector=one, metadata={"k": 1})]),
            return_exceptions=True,
        )
        # Whichever came first typed the key; the other was refused, naming the field.
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 1 and isinstance(errors[0], InvalidArgument)
        assert errors[0].field == "documents[0].metadata.k"
        assert await a.count("c") == 1 == await b.count("c")
        # A collection created with keyword search keeps it, whichever store reads it.
        assert (await a.describe_collection("c")).dimension == DIM
    finally:
        await a.close()
        await b.close()


async def test_a_search_racing_a_drop_is_not_found_or_served(adapter: QdrantEdgeAdapter) -> None:
    await adapter.create_collection(CollectionSpec("c", DIM))
    await adapter.upsert("c", docs(20))
    query = SearchQuery(vector=np.ones(DIM, np.float32), top_k=5)
    results = await asyncio.gather(
        *(adapter.search("c", query) for _ in range(20)),
        adapter.drop_collection("c"),
        *(adapter.search("c", query) for _ in range(20)),
        return_exceptions=True,
    )
    for result in results:
        assert result is None or isinstance(result, list | NotFound), result
