"""The Python clients at parity with the contract, against a real server.

Multi-target search (``targets``, ``rag_group``), ``mode``/hybrid weights,
``fusion``, ``rerank``, ``Retrieve``, ``UpdateKey``, per-hit sources and
per-target failures, through :class:`Client` and :class:`AsyncClient` alike.
(``tests/unit/test_client_surface.py`` checks from the descriptors that every
request field has a parameter.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.servers import ServerThread, make_config
from vectorgate import AsyncClient, Client, SearchTarget
from vectorgate_server.embeddings import EmbeddingRegistry

MASTER = "sk-master-parity-0123456789"
DOCS_A = [
    {"id": "volcano", "text": "Magma erupts from a volcano as lava and ash."},
    {"id": "bread", "text": "Sourdough bread rises with a fermented starter."},
    {"id": "star", "text": "A neutron star is the collapsed core of a massive star."},
]
DOCS_B = [
    {"id": "lava", "text": "Lava flows cool into basalt rock near the volcano."},
    {"id": "cake", "text": "A sponge cake rises with beaten eggs."},
]


@pytest.fixture(scope="module")
def srv(
    tmp_path_factory: pytest.TempPathFactory, embeddings: EmbeddingRegistry
) -> Iterator[ServerThread]:
    data = tmp_path_factory.mktemp("parity") / "data"
    config = make_config(
        data,
        {
            "general_settings": {"master_key": MASTER},
            "rag_settings": {"stores": ["local"], "top_k": 3},
            "vector_stores": {"local": {"type": "lancedb", "uri": str(data / "lancedb")}},
        },
    )
    with (
        ServerThread(config, embeddings) as server,
        Client(server.grpc_target, api_key=MASTER) as client,
    ):
        for name, docs in (("pa", DOCS_A), ("pb", DOCS_B)):
            client.create_collection(name)
            client.upsert(name, docs)
        yield server


def test_multi_target_search_with_sources_and_failures(srv: ServerThread) -> None:
    with Client(srv.grpc_target, api_key=MASTER) as client:
        hits = client.search(
            text="volcano lava", targets=[("", "pa"), SearchTarget("pb", weight=2.0)], top_k=3
        )
        assert hits.failures == []
        # RRF with pb weighted 2: both of pb's documents outrank pa's best one.
        assert [h.id for h in hits] == ["lava", "cake", "volcano"]
        for hit in hits:
            assert hit.sources and hit.sources[0].retriever == "dense"
            assert hit.sources[0].collection in {"pa", "pb"} and hit.sources[0].rank >= 1
        # A target that does not answer is a failure; the others' hits come back.
        partial = client.search(
            text="volcano", targets=[{"collection": "pa"}, {"collection": "missing_coll"}], top_k=2
        )
        assert [h.id for h in partial][:1] == ["volcano"]
        assert [(f.collection, f.code) for f in partial.failures] == [("missing_coll", "NOT_FOUND")]


def test_hybrid_weighted_fusion_and_rerank(srv: ServerThread) -> None:
    with Client(srv.grpc_target, api_key=MASTER) as client:
        hits = client.search(
            "pa",
            text="sourdough starter",
            top_k=3,
            mode="hybrid",
            fusion="weighted",
            candidates=3,
            dense_weight=1.0,
            keyword_weight=0.5,
        )
        assert hits[0].id == "bread"
        assert {s.retriever for s in hits[0].sources} == {"dense", "keyword"}
        reranked = client.search(
            text="collapsed star core",
            targets=[("", "pa"), ("", "pb")],
            top_k=3,
            rerank=True,
            rerank_model="local",
            rerank_top_n=2,
            rerank_candidates=5,
            mmr_lambda=0.8,
            rrf_k=10,
        )
        assert len(reranked) == 2 and reranked[0].id == "star"
        keyword = client.search("pb", text="basalt", mode="keyword", top_k=1)
        assert [h.id for h in keyword] == ["lava"]
        with pytest.raises(ValueError, match="mode"):
            client.search("pa", text="x", mode="fuzzy")


def test_rag_group_and_retrieve(srv: ServerThread) -> None:
    with Client(srv.grpc_target, api_key=MASTER) as client:
        grouped = client.search("pa", text="neutron star", rag_group="default")
        assert grouped[0].id == "star" and len(grouped) <= 3
        result = client.retrieve(
            text="volcano lava", targets=[("", "pa"), ("", "pb")], max_tokens=48, top_k=3
        )
        assert result.context.startswith("[1] ")
        assert result.passages[0].citation == 1 and result.passages[0].id in {"volcano", "lava"}
        assert result.passages[0].sources
        assert 0 < result.token_count <= 48
        assert result.failures == []


def test_update_key(srv: ServerThread) -> None:
    with Client(srv.grpc_target, api_key=MASTER) as client:
        created = client.generate_key(alias="before", indexes={})
        key = created["key"]
        info = client.update_key(key, alias="after", metadata={"team": "search"})
        assert info["key_alias"] == "after" and info["metadata"] == {"team": "search"}
        assert client.key_info(key)["key_alias"] == "after"


async def test_async_client_has_the_same_reach(srv: ServerThread) -> None:
    async with AsyncClient(srv.grpc_target, api_key=MASTER) as client:
        hits = await client.search(
            text="volcano", targets=[("", "pa"), ("", "missing_coll")], top_k=2
        )
        assert hits[0].id == "volcano" and hits[0].sources
        assert [f.collection for f in hits.failures] == ["missing_coll"]
        result = await client.retrieve("pa", text="sourdough", max_tokens=32, top_k=1)
        assert result.passages[0].id == "bread"
        hybrid = await client.search("pa", text="sourdough", mode="hybrid", rerank=True)
        assert hybrid[0].id == "bread"
        created = await client.generate_key(alias="async-before", indexes={})
        info = await client.update_key(created["key"], alias="async-after")
        assert info["key_alias"] == "async-after"


def test_list_documents_pages_and_list_stores(srv: ServerThread) -> None:
    with Client(srv.grpc_target, api_key=MASTER) as client:
        first, token = client.list_documents("pa", page_size=2)
        assert len(first) == 2 and token
        rest, last = client.list_documents("pa", page_size=2, page_token=token)
        assert last == ""
        assert sorted(d.id for d in first + rest) == sorted(d["id"] for d in DOCS_A)
        assert all(d.vector is None or len(d.vector) == 0 for d in first)
        with_vectors, _ = client.list_documents("pb", page_size=1, include_vectors=True)
        assert with_vectors[0].vector is not None and len(with_vectors[0].vector) == 384
        stores = client.list_stores()
        assert [(s["name"], s["backend"]) for s in stores] == [("local", "lancedb")]


async def test_async_list_documents_and_list_stores(srv: ServerThread) -> None:
    async with AsyncClient(srv.grpc_target, api_key=MASTER) as client:
        docs, token = await client.list_documents("pb", page_size=10)
        assert sorted(d.id for d in docs) == sorted(d["id"] for d in DOCS_B) and token == ""
        assert [s["name"] for s in await client.list_stores()] == ["local"]
