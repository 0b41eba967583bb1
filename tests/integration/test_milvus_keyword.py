"""Keyword (BM25) search of the Milvus adapter.

On Milvus Lite in process, Milvus Lite as a separate ``milvus-lite server``
reached over the network, through the gateway (gRPC ``SEARCH_MODE_KEYWORD`` /
``HYBRID``), and on the real Milvus 2.3 server, which has no BM25 functions
and must answer ``Unsupported``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from pymilvus import DataType, Function, FunctionType, MilvusClient

from tests.contract.backends.milvus import FACTORIES
from tests.support.servers import ServerThread, make_config
from vectorgate import Client
from vectorgate.v1 import search_service_pb2 as spb
from vectorgate.v1 import search_service_pb2_grpc as sgrpc
from vectorgate_server.adapters.base import keyword_search, supports_keyword_search
from vectorgate_server.adapters.configs import MilvusConfig
from vectorgate_server.adapters.milvus import (
    SPARSE_FIELD,
    SPEC_PROPERTY,
    MilvusAdapter,
    milvus_name,
)
from vectorgate_server.adapters.milvus import client as milvus_module
from vectorgate_server.adapters.milvus.plan import _MAX_WINDOW as MAX_WINDOW
from vectorgate_server.domain import (
    CollectionSpec,
    Condition,
    Document,
    KeywordQuery,
    Op,
    OutputFields,
    SearchQuery,
    as_float32,
)
from vectorgate_server.errors import InvalidArgument, LimitExceeded, NotFound, Unsupported

pytestmark = pytest.mark.integration

DIM = 8
TEXTS = [
    ("p1", "ZX-4471-Q stainless garden hose reel with wall bracket", "garden"),
    ("p2", "Spare seals for the ZX-4471-Q reel", "spares"),
    ("d1", "Part number XZ-4417-O", "parts"),
    ("d2", "Lawn mowers should be serviced before spring", "garden"),
    ("d3", "Boil the pasta for ten minutes in salted water", "kitchen"),
    ("u1", "Unicode text: 日本語 ✨ emoji 🎉 and CJK 中文 한국어 — with 'quotes'", "unicode"),
    ("u2", "東京は日本の首都です", "unicode"),
    ("e1", "", "empty"),
]


def _docs(seed: int = 3) -> list[Document]:
    rng = np.random.default_rng(seed)
    return [
        Document(id=i, text=t, vector=as_float32(rng.standard_normal(DIM)), metadata={"k": k})
        for i, t, k in TEXTS
    ]


def _bm25(query: str, texts: list[str], k1: float = 1.5, b: float = 0.75) -> list[float]:
    """Okapi BM25 of each text, terms as the standard analyzer of Milvus Lite makes them."""
    docs = [re.findall(r"\w+", t.lower()) for t in texts]
    avgdl = sum(len(d) for d in docs) / len(docs)
    scores = [0.0] * len(docs)
    for term, weight in Counter(re.findall(r"\w+", query.lower())).items():
        df = sum(term in d for d in docs)
        if not df:
            continue
        idf = math.log((len(docs) - df + 0.5) / (df + 0.5) + 1.0)
        for i, d in enumerate(docs):
            tf = d.count(term)
            if tf:
                scores[i] += weight * idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl))
    return scores


@pytest.fixture
async def lite(tmp_path: Path) -> AsyncIterator[MilvusAdapter]:
    adapter = MilvusAdapter.from_config(MilvusConfig(name="m", uri=str(tmp_path / "m.db")))
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.close()


async def test_the_capability_is_known_once_started(tmp_path: Path) -> None:
    adapter = MilvusAdapter.from_config(MilvusConfig(name="m", uri=str(tmp_path / "m.db")))
    assert not supports_keyword_search(adapter)
    await adapter.start()
    try:
        assert adapter.server_version.startswith("milvus_lite")
        assert adapter.full_text_search
        assert supports_keyword_search(adapter)
    finally:
        await adapter.close()


async def test_bm25_scores_are_positive_and_ranked(lite: MilvusAdapter) -> None:
    await lite.create_collection(CollectionSpec("kw", DIM))
    await lite.upsert("kw", _docs())
    query = "ZX-4471-Q reel"
    hits = await lite.keyword_search("kw", KeywordQuery(query, 10))
    expected = _bm25(query, [t for _, t, _ in TEXTS])
    reference = sorted(
        ((s, i) for s, (i, _, _) in zip(expected, TEXTS, strict=True) if s > 0), reverse=True
    )
    assert [h.id for h in hits] == [i for _, i in reference] == ["p2", "p1"]
    for hit, (score, _) in zip(hits, reference, strict=True):
        assert hit.score == pytest.approx(score, rel=1e-5)
        assert hit.score > 0
        # Milvus Lite reports the negated BM25 score; raw_score keeps it as returned.
        assert hit.raw_score == pytest.approx(-hit.score)
        assert hit.store == "m" and hit.collection == "kw"
    assert hits[0].text == TEXTS[1][1]
    assert hits[0].metadata == {"k": "spares"}
    # Terms the collection does not hold, and queries without any term, match nothing.
    assert await lite.keyword_search("kw", KeywordQuery("QQ-9999 hoses", 5)) == []
    assert await lite.keyword_search("kw", KeywordQuery("🎉 ✨ — !!", 5)) == []
    assert await lite.keyword_search("kw", KeywordQuery("", 5)) == []


async def test_filter_applies_before_ranking_and_output_fields(lite: MilvusAdapter) -> None:
    docs = _docs()
    await lite.create_collection(CollectionSpec("kw", DIM))
    await lite.upsert("kw", docs)
    # p1 outranks nothing here: the filter leaves only p2, which must still come back at top_k 1.
    only = await lite.keyword_search(
        "kw", KeywordQuery("ZX-4471-Q", 1, Condition("k", Op.EQ, "spares"))
    )
    assert [h.id for h in only] == ["p2"]
    garden = await lite.keyword_search(
        "kw", KeywordQuery("reel spring", 5, Condition("k", Op.EQ, "garden"))
    )
    assert {h.id for h in garden} == {"p1", "d2"}
    none = await lite.keyword_search(
        "kw", KeywordQuery("ZX-4471-Q", 5, Condition("k", Op.EQ, "nope"))
    )
    assert none == []
    hits = await lite.keyword_search(
        "kw",
        KeywordQuery(
            "ZX-4471-Q",
            1,
            output=OutputFields(text=False, vector=True, metadata_keys=frozenset({"absent"})),
        ),
    )
    assert hits[0].id == "p2"
    assert hits[0].text == "" and hits[0].metadata == {}
    assert hits[0].vector is not None
    np.testing.assert_array_equal(hits[0].vector, docs[1].vector)


async def test_unicode_and_the_text_size_limit(lite: MilvusAdapter) -> None:
    await lite.create_collection(CollectionSpec("kw", DIM))
    await lite.upsert("kw", _docs())
    # Milvus Lite's standard analyzer keeps a run of ideographs as one term.
    assert [
        h.id for h in await lite.keyword_search("kw", KeywordQuery("東京は日本の首都です", 5))
    ] == ["u2"]
    assert [h.id for h in await lite.keyword_search("kw", KeywordQuery("한국어 emoji", 5))] == [
        "u1"
    ]
    vector = as_float32(np.ones(DIM))
    largest = "wörter " * (65535 // len("wörter ".encode()))
    largest += "x" * (65535 - len(largest.encode()))
    assert len(largest.encode()) == 65535
    await lite.upsert("kw", [Document(id="big", text=largest, vector=vector)])
    assert [h.id for h in await lite.keyword_search("kw", KeywordQuery("WÖRTER", 3))] == ["big"]
    with pytest.raises(LimitExceeded) as info:
        await lite.upsert("kw", [Document(id="too-big", text=largest + "x", vector=vector)])
    assert info.value.field == "documents[0].text"


async def test_errors(lite: MilvusAdapter) -> None:
    with pytest.raises(NotFound):
        await lite.keyword_search("missing", KeywordQuery("x", 3))
    await lite.create_collection(CollectionSpec("kw", DIM))
    # top_k >= 1 is the application's check (validated once); the adapter keeps
    # Milvus's own window.
    with pytest.raises(InvalidArgument) as info:
        await lite.keyword_search("kw", KeywordQuery("x", MAX_WINDOW + 1))
    assert info.value.field == "top_k"


async def test_the_spec_records_the_function(lite: MilvusAdapter) -> None:
    await lite.create_collection(CollectionSpec("with-dash", DIM, text_field="body"))
    described = lite.require_client().describe_collection(milvus_name("with-dash"))
    spec = json.loads(described["properties"][SPEC_PROPERTY])
    assert spec["keyword"] == {
        "function": "BM25",
        "sparse_field": SPARSE_FIELD,
        "analyzer": "standard",
    }
    (function,) = described["functions"]
    assert function["input_field_names"] == ["body"]
    assert function["output_field_names"] == [SPARSE_FIELD]
    await lite.upsert("with-dash", _docs())
    hits = await lite.keyword_search("with-dash", KeywordQuery("pasta", 3))
    assert [h.id for h in hits] == ["d3"]
    assert hits[0].text == TEXTS[4][1]
    # The sparse field is neither metadata nor a document field.
    (doc,) = await lite.get("with-dash", ["d3"], include_vectors=True)
    assert doc.metadata == {"k": "kitchen"} and doc.text == TEXTS[4][1]
    dense = await lite.search("with-dash", SearchQuery(vector=doc.vector, top_k=1))  # type: ignore[arg-type]
    assert dense[0].id == "d3" and SPARSE_FIELD not in dense[0].metadata


async def test_a_collection_created_without_the_function_is_unsupported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = MilvusConfig(name="m", uri=str(tmp_path / "m.db"))
    old = MilvusAdapter.from_config(config)
    with monkeypatch.context() as patch:
        patch.setattr(milvus_module, "_has_full_text", lambda version, *, lite: False)
        await old.start()
    try:
        assert not supports_keyword_search(old)
        with pytest.raises(Unsupported):
            await keyword_search(old, "kw", "x", 3)
        await old.create_collection(CollectionSpec("old", DIM))
        await old.upsert("old", _docs())
        with pytest.raises(Unsupported) as info:
            await old.keyword_search("old", KeywordQuery("reel", 3))
        assert "has no full-text search" in info.value.message
    finally:
        await old.close()
    adapter = MilvusAdapter.from_config(config)
    await adapter.start()
    try:
        with pytest.raises(Unsupported) as info:
            await adapter.keyword_search("old", KeywordQuery("reel", 3))
        assert info.value.operation == "keyword search"
        assert "'old' was created without a BM25 function" in info.value.message
        assert await adapter.count("old") == len(TEXTS)  # the collection still works
    finally:
        await adapter.close()


def _foreign(client: MilvusClient, name: str, *, bm25: bool) -> None:
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("emb", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("text", DataType.VARCHAR, max_length=1000, enable_analyzer=bm25)
    schema.add_field("year", DataType.INT64)
    index = MilvusClient.prepare_index_params()
    index.add_index("emb", index_type="FLAT", metric_type="L2")
    if bm25:
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="fts",
                function_type=FunctionType.BM25,
                input_field_names=["text"],
                output_field_names=["sparse"],
            )
        )
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(name, schema=schema, index_params=index)
    rng = np.random.default_rng(1)
    client.insert(
        name,
        [
            {"pk": n, "emb": rng.standard_normal(DIM).tolist(), "text": t, "year": 2000 + n}
            for n, (_, t, _) in enumerate(TEXTS)
        ],
    )


async def test_foreign_collections(lite: MilvusAdapter) -> None:
    client = lite.require_client()
    _foreign(client, "books", bm25=True)
    _foreign(client, "plain", bm25=False)
    hits = await lite.keyword_search(
        "books", KeywordQuery("ZX-4471-Q", 5, Condition("year", Op.LT, 2001))
    )
    assert [(h.id, h.metadata) for h in hits] == [("0", {"year": 2000})]
    assert hits[0].text == TEXTS[0][1] and hits[0].score > 0
    with pytest.raises(Unsupported) as info:
        await lite.keyword_search("plain", KeywordQuery("reel", 3))
    assert "'plain' has no BM25 function on its text field 'text'" in info.value.message


# --------------------------------------------------------------------------- through the gateway


def test_keyword_and_hybrid_modes_through_the_gateway(tmp_path: Path) -> None:
    config = make_config(
        tmp_path / "data",
        extra={
            "vector_stores": {"m": {"type": "milvus", "uri": str(tmp_path / "m.db")}},
            "default_store": "m",
        },
    )
    with ServerThread(config) as srv, Client(srv.grpc_target) as client:
        client.create_collection("kw", dimension=DIM, embedding_model="none")
        client.upsert(
            "kw",
            [
                {"id": d.id, "text": d.text, "vector": d.vector, "metadata": d.metadata}
                for d in _docs()
            ],
        )
        with grpc.insecure_channel(srv.grpc_target) as channel:
            stub = sgrpc.SearchServiceStub(channel)
            response = stub.Search(
                spb.SearchRequest(
                    collection="kw", text="ZX-4471-Q", top_k=3, mode=spb.SEARCH_MODE_KEYWORD
                ),
                timeout=30,
            )
            assert not response.failures
            assert [h.id for h in response.hits] == ["p2", "p1"]


# --------------------------------------------------------------------------- milvus-lite server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def lite_server(tmp_path: Path) -> Iterator[str]:
    """``milvus-lite server`` in its own process group; yields its uri."""
    exe = shutil.which("milvus-lite") or str(Path(sys.executable).with_name("milvus-lite"))
    if not Path(exe).exists():
        pytest.skip("milvus-lite server command not installed")
    port = _free_port()
    log = tmp_path / "milvus-lite.log"
    args = [exe, "server", "--data-dir", str(tmp_path / "lite")]
    args += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()[-2000:]
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


async def test_milvus_lite_server_over_the_network(lite_server: str) -> None:
    adapter = MilvusAdapter.from_config(MilvusConfig(name="remote", uri=lite_server))
    await adapter.start()
    try:
        assert not adapter.is_lite and adapter.full_text_search
        await adapter.create_collection(CollectionSpec("kw", DIM))
        await adapter.upsert("kw", _docs())
        hits = await adapter.keyword_search("kw", KeywordQuery("ZX-4471-Q reel", 5))
        assert [h.id for h in hits] == ["p2", "p1"]
        assert all(h.score > 0 and h.raw_score == -h.score for h in hits)
    finally:
        await adapter.close()


# --------------------------------------------------------------------------- Milvus 2.3 server


@pytest.fixture
async def server_adapter(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[MilvusAdapter]:
    async with FACTORIES["milvus-server"](request, tmp_path) as instance:
        assert isinstance(instance, MilvusAdapter)
        yield instance


async def test_a_server_without_bm25_functions(server_adapter: MilvusAdapter) -> None:
    assert not server_adapter.full_text_search
    assert not supports_keyword_search(server_adapter)
    await server_adapter.create_collection(CollectionSpec("kw", DIM))
    await server_adapter.upsert("kw", _docs())
    described = server_adapter.require_client().describe_collection("kw")
    assert "keyword" not in json.loads(described["properties"][SPEC_PROPERTY])
    assert all(f["name"] != SPARSE_FIELD for f in described["fields"])
    with pytest.raises(Unsupported) as info:
        await server_adapter.keyword_search("kw", KeywordQuery("reel", 3))
    assert f"Milvus {server_adapter.server_version}" in info.value.message
    assert "'kw'" in info.value.message
