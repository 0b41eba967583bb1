"""``vectorgate copy``: LanceDB -> Milvus Lite -> Qdrant -> LanceDB, resume, refusals,
and pgvector to and from every other backend.

The ``qd`` store is a ``path:`` Qdrant store: embedded Qdrant, i.e. Qdrant's own
engine in-process (qdrant-edge).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from tests.contract.backends import lancedb, milvus, opensearch, pgvector, pinecone, qdrant
from vectorgate.testing import Factory
from vectorgate_server.adapters.base import Adapter
from vectorgate_server.adapters.factory import create_adapter
from vectorgate_server.cli import main
from vectorgate_server.config import Config, load_config
from vectorgate_server.copy import CopyInterrupted, copy_collection, default_checkpoint_path
from vectorgate_server.domain import CollectionSpec, Document, Metadata, Metric

pytestmark = pytest.mark.integration

DIM = 32
WORDS = ["alpha", "βeta", "gämma", "δέλτα", "日本語", "한국어", "emoji 🎉", "中文", "plain"]


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "vectorgate.yaml"
    path.write_text(
        f"""
server:
  data_dir: {tmp_path / "data"}
vector_stores:
  lance:
    type: lancedb
    uri: {tmp_path / "lance"}
  mil:
    type: milvus
    uri: {tmp_path / "milvus.db"}
  qd:
    type: qdrant
    path: {tmp_path / "qdrant"}
""",
        encoding="utf-8",
    )
    return path


def make_documents(n: int, seed: int) -> list[Document]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    docs = []
    for i in range(n):
        meta: Metadata = {}
        if i % 7:
            meta = {
                "n": i,
                "ratio": i / 8,
                "even": i % 2 == 0,
                "word": WORDS[i % len(WORDS)],
                "tags": [WORDS[(i + k) % len(WORDS)] for k in range(i % 4)],
            }
        text = "" if i % 11 == 0 else f"document {i}: {WORDS[i % len(WORDS)]} — “quoted” ✓"
        # Ids that sort differently as strings and as numbers, some non-ASCII.
        doc_id = f"doc-{i}" if i % 13 else f"dök-{i}-✓"
        docs.append(Document(id=doc_id, text=text, vector=vectors[i], metadata=meta))
    return docs


async def _with_store(config: Config, store: str) -> Adapter:
    adapter = create_adapter(config.stores[store], data_dir=config.server.data_dir)
    await adapter.start()
    return adapter


async def seed(config: Config, store: str, name: str, docs: Sequence[Document]) -> None:
    adapter = await _with_store(config, store)
    try:
        await adapter.create_collection(
            CollectionSpec(name=name, dimension=DIM, metric=Metric.COSINE, embedding_model="none")
        )
        for start in range(0, len(docs), 2000):
            await adapter.upsert(name, docs[start : start + 2000])
    finally:
        await adapter.close()


async def read_all(config: Config, store: str, name: str) -> list[Document]:
    adapter = await _with_store(config, store)
    try:
        out: list[Document] = []
        after: str | None = None
        while page := await adapter.scan(name, after=after, limit=1000, include_vectors=True):
            out.extend(page)
            after = page[-1].id
        return out
    finally:
        await adapter.close()


def assert_same(got: Sequence[Document], expected: Sequence[Document]) -> None:
    ids = [d.id for d in got]
    assert len(ids) == len(set(ids)), "duplicate ids"
    assert sorted(ids) == sorted(d.id for d in expected)
    by_id = {d.id: d for d in got}
    worst = 0.0
    for want in expected:
        doc = by_id[want.id]
        assert doc.text == want.text, want.id
        assert doc.metadata == want.metadata, want.id
        for key, value in want.metadata.items():
            # Numbers are numbers (some backends return 1.0 as 1); bools stay bools.
            assert isinstance(doc.metadata[key], bool) == isinstance(value, bool), (want.id, key)
        assert doc.vector is not None and want.vector is not None
        assert doc.vector.dtype == np.float32
        worst = max(worst, float(np.max(np.abs(doc.vector - want.vector))))
        assert np.allclose(doc.vector, want.vector, rtol=0, atol=1e-6), want.id
    assert worst <= 1e-6


def copy_cli(config_path: Path, source: str, target: str, *extra: str) -> int:
    return main(["copy", "--config", str(config_path), "--from", source, "--to", target, *extra])


def test_round_trip_lancedb_milvus_qdrant_lancedb(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = write_config(tmp_path)
    config = load_config(config_path)
    qd = create_adapter(config.stores["qd"], data_dir=config.server.data_dir)
    assert type(qd).__name__ == "QdrantEdgeAdapter"
    docs = make_documents(10_000, seed=1)
    asyncio.run(seed(config, "lance", "docs", docs))

    assert copy_cli(config_path, "lance/docs", "mil/docs") == 0
    assert copy_cli(config_path, "mil/docs", "qd/docs") == 0
    assert copy_cli(config_path, "qd/docs", "lance/back", "--page-size", "2500") == 0
    out = capsys.readouterr().out
    assert out.count("counts verified: 10000") == 3

    for store, name in (("mil", "docs"), ("qd", "docs"), ("lance", "back")):
        assert_same(asyncio.run(read_all(config, store, name)), docs)

    async def describe() -> tuple[int, Metric, str]:
        adapter = await _with_store(config, "lance")
        try:
            info = await adapter.describe_collection("back")
        finally:
            await adapter.close()
        return info.dimension, info.metric, info.embedding_model

    assert asyncio.run(describe()) == (DIM, Metric.COSINE, "none")
    # Finished copies leave no checkpoint behind.
    assert not list((tmp_path / "data" / "copy-checkpoints").glob("*.json"))


def test_interrupted_copy_resumes_without_duplicates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = write_config(tmp_path)
    config = load_config(config_path)
    docs = make_documents(2_600, seed=2)
    asyncio.run(seed(config, "lance", "src", docs))
    checkpoint = default_checkpoint_path(config.server.data_dir, "lance/src", "mil/dst")

    async def interrupted() -> int:
        source = await _with_store(config, "lance")
        target = await _with_store(config, "mil")
        try:
            with pytest.raises(CopyInterrupted):
                await copy_collection(
                    source,
                    "src",
                    target,
                    "dst",
                    page_size=500,
                    checkpoint=checkpoint,
                    stop_after_pages=2,
                )
            return await target.count("dst")
        finally:
            await source.close()
            await target.close()

    assert asyncio.run(interrupted()) == 1000
    state = json.loads(checkpoint.read_text(encoding="utf-8"))
    assert state["copied"] == 1000 and state["source"] == "lance/src"

    # Resuming a checkpoint of another pair is refused.
    assert (
        copy_cli(config_path, "lance/src", "qd/dst", "--resume", "--checkpoint", str(checkpoint))
        == 1
    )
    assert "is for lance/src -> mil/dst" in capsys.readouterr().err

    assert copy_cli(config_path, "lance/src", "mil/dst", "--resume", "--page-size", "500") == 0
    assert "copied 2600 document(s)" in capsys.readouterr().out
    assert not checkpoint.exists()
    assert_same(asyncio.run(read_all(config, "mil", "dst")), docs)


def test_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_path = write_config(tmp_path)
    config = load_config(config_path)
    docs = make_documents(30, seed=3)
    asyncio.run(seed(config, "lance", "src", docs))

    async def prepare() -> None:
        adapter = await _with_store(config, "lance")
        try:
            await adapter.create_collection(CollectionSpec(name="narrow", dimension=DIM // 2))
            await adapter.create_collection(CollectionSpec(name="extra", dimension=DIM))
            await adapter.upsert("extra", [Document(id="zzz", vector=np.ones(DIM, np.float32))])
        finally:
            await adapter.close()

    asyncio.run(prepare())
    assert copy_cli(config_path, "lance/src", "lance/narrow") == 1
    assert "exists with dimension 16 (source 32)" in capsys.readouterr().err
    assert copy_cli(config_path, "lance/src", "lance/extra") == 1
    assert "count mismatch" in capsys.readouterr().err
    assert copy_cli(config_path, "lance/missing", "lance/x") == 1
    assert "does not exist" in capsys.readouterr().err
    assert copy_cli(config_path, "nowhere/src", "lance/x") == 1
    assert "no store 'nowhere'" in capsys.readouterr().err
    assert copy_cli(config_path, "lance/src", "lance/fresh", "--resume") == 1
    assert "no checkpoint" in capsys.readouterr().err


def test_copy_to_and_from_the_real_milvus_server(
    tmp_path: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    """The pairs involving the real Milvus server: LanceDB -> server -> Milvus Lite and Qdrant."""
    from tests.contract.backends.milvus import database_for

    server = request.getfixturevalue("milvus_server")
    db_name = database_for(server, request, str(tmp_path))
    config_path = write_config(tmp_path)
    config_path.write_text(
        config_path.read_text(encoding="utf-8")
        + f"  srv:\n    type: milvus\n    uri: {server.uri}\n    db_name: {db_name}\n",
        encoding="utf-8",
    )
    config = load_config(config_path)
    docs = make_documents(2_000, seed=3)
    asyncio.run(seed(config, "lance", "docs", docs))

    assert copy_cli(config_path, "lance/docs", "srv/docs") == 0
    assert copy_cli(config_path, "srv/docs", "mil/fromsrv") == 0
    assert copy_cli(config_path, "srv/docs", "qd/fromsrv") == 0
    assert capsys.readouterr().out.count("counts verified: 2000") == 3
    for store, name in (("srv", "docs"), ("mil", "fromsrv"), ("qd", "fromsrv")):
        assert_same(asyncio.run(read_all(config, store, name)), docs)


def test_copy_with_pgvector_through_the_cli(
    tmp_path: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    """LanceDB -> pgvector -> Milvus Lite, each store from the configuration file."""
    server = request.getfixturevalue("pgvector_server")
    schema = pgvector.schema_for(request, server.dsn(), tmp_path)
    config_path = write_config(tmp_path)
    config_path.write_text(
        config_path.read_text(encoding="utf-8")
        + f"  pg:\n    type: pgvector\n    dsn: {server.dsn()}\n    schema_name: {schema}\n",
        encoding="utf-8",
    )
    config = load_config(config_path)
    docs = make_documents(3_000, seed=4)
    asyncio.run(seed(config, "lance", "docs", docs))

    assert copy_cli(config_path, "lance/docs", "pg/docs") == 0
    assert copy_cli(config_path, "pg/docs", "mil/frompg", "--page-size", "700") == 0
    assert capsys.readouterr().out.count("counts verified: 3000") == 2
    for store, name in (("pg", "docs"), ("mil", "frompg")):
        assert_same(asyncio.run(read_all(config, store, name)), docs)


#: Every other backend's factories of the contract suite (those without a server skip).
OTHER_BACKENDS: dict[str, Factory] = {
    name: factory
    for module in (lancedb, milvus, qdrant, opensearch, pinecone)
    for name, factory in module.FACTORIES.items()
}


async def _read(adapter: Adapter, name: str) -> list[Document]:
    out: list[Document] = []
    after: str | None = None
    while page := await adapter.scan(name, after=after, limit=400, include_vectors=True):
        out.extend(page)
        after = page[-1].id
    return out


@pytest.mark.parametrize("other", sorted(OTHER_BACKENDS))
async def test_copy_between_pgvector_and_every_backend(
    other: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """pgvector -> other backend -> pgvector (a new collection): nothing lost or changed."""
    docs = make_documents(600, seed=5)
    (tmp_path / "pg").mkdir()
    (tmp_path / "other").mkdir()
    async with (
        pgvector.server(request, tmp_path / "pg") as pg,
        OTHER_BACKENDS[other](request, tmp_path / "other") as target,
    ):
        await pg.create_collection(
            CollectionSpec(name="src", dimension=DIM, metric=Metric.COSINE, embedding_model="none")
        )
        await pg.upsert("src", docs)
        try:
            there = await copy_collection(pg, "src", target, "copied", page_size=250)
            assert there.copied == len(docs)
            assert_same(await _read(target, "copied"), docs)
            back = await copy_collection(target, "copied", pg, "back", page_size=250)
            assert back.copied == len(docs)
            assert_same(await _read(pg, "back"), docs)
            info = await pg.describe_collection("back")
            assert (info.dimension, info.metric, info.document_count) == (
                DIM,
                Metric.COSINE,
                len(docs),
            )
        finally:
            with contextlib.suppress(Exception):
                await target.drop_collection("copied")
