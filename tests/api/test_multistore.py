"""Multi-store RAG search over real gRPC/HTTP with three real stores in one server:
LanceDB, Milvus Lite and Qdrant local mode, plus a store that is down and one that hangs.

The Qdrant store "qdrant" runs with ``keyword_search: false``; "qdrant_kw" has it
on (the default) and opens the same local storage, so it also sees "docs", a
collection created without keyword search."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterator

import grpc
import httpx
import pytest

from tests.support.servers import ServerThread, make_config
from vectorgate import Client
from vectorgate.testing.corpus import PRODUCTS
from vectorgate.v1 import search_service_pb2 as spb
from vectorgate.v1 import search_service_pb2_grpc as sgrpc
from vectorgate.v1 import types_pb2
from vectorgate_server.embeddings import EmbeddingRegistry

pytest.importorskip("pymilvus")
pytest.importorskip("qdrant_client")

COLLECTION = "docs"
SHARED_TEXT = "Reciprocal rank fusion merges ranked lists from several search engines."

#: Different documents per store; "shared-1" is in two stores.
CORPUS: dict[str, list[tuple[str, str]]] = {
    "lance": [
        ("cook-1", "Boil the pasta for ten minutes in plenty of salted water."),
        ("cook-2", "Knead the bread dough until it is smooth, then let it rise for an hour."),
        ("cook-3", "A good risotto needs warm stock added one ladle at a time."),
        ("cook-4", "Sear the steak in a very hot cast-iron pan for two minutes per side."),
        ("shared-1", SHARED_TEXT),
    ],
    "milvus": [
        ("astro-1", "Jupiter is the largest planet in the solar system."),
        ("astro-2", "A light-year is the distance light travels in one year."),
        ("astro-3", "Black holes bend light so strongly that nothing escapes them."),
        ("astro-4", "The Moon's phases come from the changing angle of sunlight."),
    ],
    "qdrant": [
        ("code-1", "Python lists are dynamic arrays that grow as items are appended."),
        ("code-2", "A hash map gives average constant-time lookups by key."),
        ("code-3", "Unit tests check one small piece of code in isolation."),
        ("code-4", "Git branches let several people work on the same code base."),
        ("shared-1", SHARED_TEXT),
    ],
}

QUERIES = [
    "how long do I cook spaghetti",
    "what is the biggest planet",
    "how do dictionaries look up values quickly",
    "combining search results from many engines",
]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def black_hole() -> Iterator[int]:
    """A port that accepts connections (kernel backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, embeddings: EmbeddingRegistry, black_hole: int
) -> Iterator[ServerThread]:
    root = tmp_path_factory.mktemp("multistore")
    stores = {
        "lance": {"type": "lancedb", "uri": str(root / "lance")},
        "milvus": {"type": "milvus", "uri": str(root / "m.db")},
        "qdrant": {"type": "qdrant", "path": str(root / "q"), "keyword_search": False},
        "qdrant_kw": {"type": "qdrant", "path": str(root / "q")},
        "down": {
            "type": "qdrant",
            "url": f"http://127.0.0.1:{_closed_port()}",
            "prefer_grpc": False,
        },
        "slow": {
            "type": "qdrant",
            "url": f"http://127.0.0.1:{black_hole}",
            "prefer_grpc": False,
            "timeout_s": 60,
        },
    }
    config = make_config(
        root / "data",
        extra={
            "vector_stores": stores,
            "default_store": "lance",
            "rag_settings": {
                "stores": ["lance", "milvus", "qdrant"],
                "merge_strategy": "reciprocal_rank_fusion",
                "top_k": 3,
            },
        },
    )
    with ServerThread(config, embeddings) as srv, Client(srv.grpc_target) as client:
        for store, docs in CORPUS.items():
            client.create_collection(COLLECTION, store=store)
            client.upsert(COLLECTION, [{"id": i, "text": t} for i, t in docs], store=store)
        for store in ("lance", "qdrant_kw"):
            client.create_collection("products", store=store)
            client.upsert("products", [{"id": i, "text": t} for i, t in PRODUCTS], store=store)
        yield srv


@pytest.fixture(scope="module")
def stub(server: ServerThread) -> Iterator[sgrpc.SearchServiceStub]:
    with grpc.insecure_channel(server.grpc_target) as channel:
        yield sgrpc.SearchServiceStub(channel)


def fused(
    stub: sgrpc.SearchServiceStub,
    text: str,
    stores: list[str],
    top_k: int,
    deadline: float = 30.0,
    **fields: object,
) -> spb.SearchResponse:
    request = spb.SearchRequest(
        text=text,
        top_k=top_k,
        targets=[spb.SearchTarget(store=s, collection=COLLECTION) for s in stores],
        **fields,  # type: ignore[arg-type]
    )
    response: spb.SearchResponse = stub.Search(request, timeout=deadline)
    return response


def test_fused_results_contain_the_best_hit_of_each_store(
    server: ServerThread, stub: sgrpc.SearchServiceStub
) -> None:
    stores = ["lance", "milvus", "qdrant"]
    with Client(server.grpc_target) as client:
        for query in QUERIES:
            best = {
                s: client.search(COLLECTION, text=query, top_k=1, store=s)[0].id for s in stores
            }
            response = fused(stub, query, stores, top_k=3)
            assert not response.failures
            ids = [h.id for h in response.hits]
            assert len(ids) == len(set(ids))
            assert set(best.values()) <= set(ids), (query, best, ids)
            for hit in response.hits:
                assert hit.sources, hit
                source = hit.sources[0]
                assert (hit.store, hit.collection) == (source.store, source.collection)
                assert source.retriever == types_pb2.RETRIEVER_DENSE
                assert source.rank >= 1


def test_the_same_document_in_two_stores_is_one_hit(stub: sgrpc.SearchServiceStub) -> None:
    response = fused(
        stub, "merging ranked lists from several search engines", ["lance", "qdrant"], 3
    )
    top = response.hits[0]
    assert top.id == "shared-1"
    assert sorted(s.store for s in top.sources) == ["lance", "qdrant"]
    assert [s.rank for s in top.sources] == [1, 1]
    assert top.score == pytest.approx(2 / 61, rel=1e-6)


def test_rrf_is_independent_of_store_order(stub: sgrpc.SearchServiceStub) -> None:
    outcomes = set()
    for order in itertools.permutations(["lance", "milvus", "qdrant"]):
        response = fused(stub, QUERIES[3], list(order), top_k=6)
        outcomes.add(tuple((h.id, h.score, h.store) for h in response.hits))
    assert len(outcomes) == 1


def test_rag_group_from_config(stub: sgrpc.SearchServiceStub) -> None:
    request = spb.SearchRequest(rag_group="default", collection=COLLECTION, text=QUERIES[1])
    response = stub.Search(request, timeout=30)
    assert len(response.hits) == 3  # rag_settings.top_k
    assert "astro-1" in [h.id for h in response.hits]
    # The group is its stores as targets, fused with rag_settings' RRF.
    explicit = fused(stub, QUERIES[1], ["lance", "milvus", "qdrant"], top_k=3)
    assert [(h.id, h.score) for h in response.hits] == [(h.id, h.score) for h in explicit.hits]
    with pytest.raises(grpc.RpcError) as info:
        stub.Search(spb.SearchRequest(rag_group="router", text="x"), timeout=30)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_down_and_slow_stores_give_partial_results_within_the_deadline(
    stub: sgrpc.SearchServiceStub,
) -> None:
    deadline = 2.0
    started = time.monotonic()
    response = fused(
        stub, QUERIES[0], ["lance", "milvus", "qdrant", "down", "slow"], top_k=3, deadline=deadline
    )
    elapsed = time.monotonic() - started
    assert elapsed < deadline
    assert "cook-1" in [h.id for h in response.hits]
    assert {h.store for h in response.hits} <= {"lance", "milvus", "qdrant"}
    failures = {f.store: f for f in response.failures}
    assert set(failures) == {"down", "slow"}
    assert failures["down"].code == "UNAVAILABLE"
    assert failures["down"].collection == COLLECTION
    assert failures["slow"].code == "DEADLINE_EXCEEDED"
    assert "share of the deadline" in failures["slow"].message


def test_only_failing_stores_is_unavailable(stub: sgrpc.SearchServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        fused(stub, "x", ["down", "slow"], top_k=3, deadline=1.0)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "every target failed" in (info.value.details() or "")


@pytest.mark.parametrize("store", ["lance", "qdrant_kw"])
def test_hybrid_finds_an_exact_product_code_that_dense_misses(
    stub: sgrpc.SearchServiceStub, store: str
) -> None:
    def search(mode: int, top_k: int = 5) -> list[str]:
        response = stub.Search(
            spb.SearchRequest(
                collection="products", store=store, text="ZX-4471-Q", top_k=top_k, mode=mode
            ),
            timeout=30,
        )
        assert not response.failures
        return [h.id for h in response.hits]

    assert "p1" not in search(spb.SEARCH_MODE_DENSE)
    assert search(spb.SEARCH_MODE_KEYWORD)[0] == "p1"
    assert "p1" in search(spb.SEARCH_MODE_HYBRID, top_k=3)
    hybrid = stub.Search(
        spb.SearchRequest(
            collection="products",
            store=store,
            text="ZX-4471-Q",
            top_k=3,
            mode=spb.SEARCH_MODE_HYBRID,
            hybrid=spb.HybridOptions(keyword_weight=2.0),
        ),
        timeout=30,
    )
    assert hybrid.hits[0].id == "p1"
    assert hybrid.hits[0].sources[0].retriever == types_pb2.RETRIEVER_KEYWORD


def test_hybrid_on_a_store_without_full_text_search_is_unimplemented(
    stub: sgrpc.SearchServiceStub,
) -> None:
    # "qdrant" is configured with keyword_search: false.
    with pytest.raises(grpc.RpcError) as info:
        fused(stub, "x", ["lance", "qdrant"], top_k=3, mode=spb.SEARCH_MODE_HYBRID)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "qdrant" in (info.value.details() or "")


def test_keyword_search_on_a_collection_created_without_it_is_unimplemented(
    stub: sgrpc.SearchServiceStub,
) -> None:
    """ "docs" was created through "qdrant" (no sparse vector); "qdrant_kw" has keyword search."""
    response = fused(stub, QUERIES[2], ["lance", "qdrant_kw"], top_k=3, mode=spb.SEARCH_MODE_HYBRID)
    assert "code-2" in [h.id for h in response.hits]  # the dense stage of qdrant_kw answered
    (failure,) = response.failures
    assert (failure.store, failure.collection, failure.stage) == (
        "qdrant_kw",
        COLLECTION,
        "keyword",
    )
    assert failure.code == "UNIMPLEMENTED"
    assert "collection 'docs'" in failure.message and "keyword_search: true" in failure.message
    with pytest.raises(grpc.RpcError) as info:
        fused(stub, QUERIES[2], ["qdrant_kw"], top_k=3, mode=spb.SEARCH_MODE_KEYWORD)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "created without keyword search" in (info.value.details() or "")


def test_reranked_retrieve_packs_cited_passages(stub: sgrpc.SearchServiceStub) -> None:
    response = stub.Retrieve(
        spb.RetrieveRequest(
            search=spb.SearchRequest(
                rag_group="default",
                collection=COLLECTION,
                text="how long should pasta cook",
                top_k=4,
                rerank=spb.RerankOptions(model="local", candidates=10),
            ),
            max_tokens=40,
        ),
        timeout=30,
    )
    assert response.passages[0].id == "cook-1"
    assert response.passages[0].store == "lance"
    assert response.context.startswith("[1] Boil the pasta")
    assert 0 < response.token_count <= 40
    assert [p.citation for p in response.passages] == list(range(1, len(response.passages) + 1))
    assert response.omitted_count == 4 - len(response.passages)


def test_http_routes(server: ServerThread) -> None:
    base = server.http_base
    body = {
        "text": QUERIES[1],
        "topK": 3,
        "targets": [{"store": s, "collection": COLLECTION} for s in ("lance", "milvus")],
    }
    answer = httpx.post(f"{base}/v1/search", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    hits = answer.json()["hits"]
    assert hits[0]["id"] == "astro-1" and hits[0]["sources"][0]["store"] == "milvus"
    retrieved = httpx.post(
        f"{base}/v1/retrieve",
        json={
            "search": {"ragGroup": "default", "collection": COLLECTION, "text": QUERIES[1]},
            "maxTokens": 64,
        },
        timeout=30,
    )
    assert retrieved.status_code == 200, retrieved.text
    page = retrieved.json()
    assert page["context"].startswith("[1] ")
    jupiter = next(p for p in page["passages"] if p["id"] == "astro-1")
    assert f"[{jupiter['citation']}] Jupiter is the largest planet" in page["context"]
    assert jupiter["store"] == "milvus" and page["token_count"] <= 64


def test_a_single_collection_search_is_unchanged(server: ServerThread) -> None:
    with Client(server.grpc_target) as client:
        hits = client.search(COLLECTION, text=QUERIES[0], top_k=2, store="lance")
    assert hits[0].id == "cook-1"
    assert hits[0].score < 1.0  # a cosine similarity, not a fusion score


def test_unknown_path_shapes_are_rejected(stub: sgrpc.SearchServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.Search(
            spb.SearchRequest(
                collection="docs",
                text="x",
                top_k=1,
                targets=[spb.SearchTarget(store="lance", collection="docs")],
            ),
            timeout=30,
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
