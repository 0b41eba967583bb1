"""Fused search on fake stores: fan-out, deadline sharing, failures, embedding once per model,
rerank fallback, RAG groups, request validation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from vectorgate_server.adapters.base import Capabilities
from vectorgate_server.app import Gateway
from vectorgate_server.domain import (
    CollectionInfo,
    Condition,
    Hit,
    KeywordQuery,
    Metric,
    Op,
    SearchQuery,
)
from vectorgate_server.embeddings import EmbeddingRegistry
from vectorgate_server.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
    Unsupported,
)
from vectorgate_server.fusion import FusionMethod, Retriever
from vectorgate_server.multisearch import FusedSearchRequest as Req
from vectorgate_server.multisearch import MultiSearcher, TargetRequest
from vectorgate_server.rerank import RerankerRegistry
from vectorgate_server.rerank.base import Reranker, RerankResult
from vectorgate_server.retrieval import RagGroup, Retrieval
from vectorgate_server.services.registry import CallContext
from vectorgate_server.storage import Database, IndexRegistry, filter_from_json, filter_to_json

DIM = 4


class FakeEmbedder:
    def __init__(self, name: str, dimension: int = DIM) -> None:
        self._name = name
        self._dimension = dimension
        self.calls: list[list[str]] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_batch(self) -> int:
        return 8

    def embed_sync(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        out[:, 0] = 1
        return out

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        await asyncio.sleep(0.01)
        if self._name == "broken":
            raise Unavailable("embedding model 'broken': provider down")
        return self.embed_sync(texts)


class FakeStore:
    """An adapter whose collections answer canned hits, slowly or with errors on demand."""

    backend = "fake"

    def __init__(
        self,
        store: str,
        docs: dict[str, list[str]],
        *,
        delay: float = 0.0,
        error: Exception | None = None,
        keyword: bool = False,
        model: str = "fake",
    ) -> None:
        self.store = store
        self.docs = docs
        self.delay = delay
        self.error = error
        self.model = model
        self.capabilities = Capabilities(
            filter_ops=frozenset({Op.EQ}),
            native_params=frozenset({"ef"}),
            keyword_search=keyword,
        )
        self.queries: list[SearchQuery] = []
        self.cancelled = 0

    async def start(self) -> None:
        return

    async def close(self) -> None:
        return

    async def list_collections(self) -> list[str]:
        # The gateway probes each store at start (store_health).
        return sorted(self.docs)

    async def describe_collection(self, name: str) -> CollectionInfo:
        if name not in self.docs:
            raise NotFound(f"collection {name!r} not found in store {self.store!r}")
        return CollectionInfo(name, DIM, Metric.COSINE, embedding_model=self.model)

    async def _answer(self, name: str, top_k: int, prefix: str = "") -> list[Hit]:
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.error is not None:
            raise self.error
        ids = self.docs[name][:top_k]
        return [
            Hit(id=i, score=1 - r / 10, raw_score=r / 10, text=f"{prefix}text of {i}")
            for r, i in enumerate(ids)
        ]

    async def search(self, name: str, query: SearchQuery) -> list[Hit]:
        self.queries.append(query)
        return await self._answer(name, query.top_k)

    async def keyword_search(self, name: str, query: KeywordQuery) -> list[Hit]:
        hits = await self._answer(name, query.top_k, prefix="kw ")
        return list(reversed(hits))

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


class FakeReranker(Reranker):
    def __init__(self, name: str = "fake-rerank", fail: bool = False) -> None:
        self._name = name
        self.fail = fail
        self.seen: list[list[str]] = []

    @property
    def name(self) -> str:
        return self._name

    async def _rank(
        self, query: str, documents: Sequence[str], top_n: int, mmr_lambda: float | None
    ) -> list[RerankResult]:
        self.seen.append(list(documents))
        if self.fail:
            raise Unavailable("rerank provider down")
        # Reverse order: proves the reranker decides.
        order = list(reversed(range(len(documents))))[:top_n]
        return [RerankResult(i, float(len(documents) - n)) for n, i in enumerate(order)]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    embeddings = EmbeddingRegistry()
    fake = FakeEmbedder("fake")
    other = FakeEmbedder("other")
    embeddings.register(fake, default=True)
    embeddings.register(other)
    embeddings.register(FakeEmbedder("broken"))
    stores = {
        "a": FakeStore("a", {"c": ["a1", "a2", "shared"]}),
        "b": FakeStore("b", {"c": ["b1", "shared", "b2"]}),
        "c": FakeStore("c", {"c": ["c1", "c2"]}, model="other"),
        "slow": FakeStore("slow", {"c": ["s1"]}, delay=5.0),
        "down": FakeStore("down", {"c": ["d1"]}, error=Unavailable("connection refused")),
        "kw": FakeStore("kw", {"c": ["k1", "k2", "k3"]}, keyword=True),
        "e": FakeStore("e", {"c": ["e1"]}, model="broken"),
    }
    db = Database(tmp_path / "vg.db")
    indexes = IndexRegistry(db, encode_filter=filter_to_json, decode_filter=filter_from_json)
    gateway = Gateway(
        stores=stores,  # type: ignore[arg-type]
        default_store="a",
        embeddings=embeddings,
        indexes=indexes,
        database=db,
    )
    reranker = FakeReranker()
    failing = FakeReranker("broken", fail=True)
    rerankers = RerankerRegistry([reranker, failing])  # type: ignore[list-item]
    retrieval = Retrieval(
        groups={
            "default": RagGroup(
                "default", ("a", "b"), top_k=3, weights={"b": 2.0}, rerank=False, rrf_k=10
            ),
            "router": RagGroup("router", ("a",), top_k=2, enabled=False),
        },
        store_collections={"a": "c", "b": "c"},
        rerankers=rerankers,
        store_timeouts={"slow": 30.0},
    )
    await gateway.start()
    yield {
        "gw": gateway,
        "ms": MultiSearcher(gateway, retrieval),
        "stores": stores,
        "fake": fake,
        "other": other,
        "reranker": reranker,
    }
    await gateway.close()


def targets(*stores: str, weights: dict[str, float] | None = None) -> tuple[TargetRequest, ...]:
    return tuple(TargetRequest(s, "c", (weights or {}).get(s)) for s in stores)


async def run(ms: MultiSearcher, request: Req, deadline: float | None = None) -> Any:
    ctx = CallContext(timeout=deadline)
    return await ms.run(ms.plan(request), ctx)


async def test_fan_out_fuses_and_dedupes(env: dict[str, Any]) -> None:
    out = await run(env["ms"], Req(targets=targets("a", "b"), text="q", top_k=10))
    ids = [h.hit.id for h in out.hits]
    assert ids[0] == "shared"  # in both lists: 1/63 + 1/62 beats any single rank-1
    assert set(ids) == {"a1", "a2", "shared", "b1", "b2"}
    shared = out.hits[0]
    assert {s.list.store for s in shared.sources} == {"a", "b"}
    assert shared.hit.raw_score == pytest.approx(1 / 63 + 1 / 62)
    assert out.failures == ()


async def test_query_is_embedded_once_per_distinct_model(env: dict[str, Any]) -> None:
    await run(env["ms"], Req(targets=targets("a", "b", "c"), text="hello", top_k=5))
    assert env["fake"].calls == [["hello"]]  # a and b share the pinned model
    assert env["other"].calls == [["hello"]]


async def test_target_order_does_not_matter(env: dict[str, Any]) -> None:
    one = await run(env["ms"], Req(targets=targets("a", "b", "c"), text="q", top_k=6))
    two = await run(env["ms"], Req(targets=targets("c", "b", "a"), text="q", top_k=6))
    assert [(h.hit.id, h.hit.score) for h in one.hits] == [
        (h.hit.id, h.hit.score) for h in two.hits
    ]


async def test_failed_store_gives_partial_results(env: dict[str, Any]) -> None:
    out = await run(env["ms"], Req(targets=targets("a", "down"), text="q", top_k=5))
    assert [h.hit.id for h in out.hits] == ["a1", "a2", "shared"]
    (failure,) = out.failures
    assert (failure.store, failure.collection, failure.stage, failure.code) == (
        "down",
        "c",
        "search",
        "UNAVAILABLE",
    )
    assert "connection refused" in failure.message


async def test_embedding_failure_is_reported_as_the_embed_stage(env: dict[str, Any]) -> None:
    out = await run(env["ms"], Req(targets=targets("a", "e"), text="q", top_k=3))
    assert [(f.store, f.stage, f.code) for f in out.failures] == [("e", "embed", "UNAVAILABLE")]
    assert [h.hit.id for h in out.hits] == ["a1", "a2", "shared"]


async def test_slow_store_is_cut_at_its_share_of_the_deadline(env: dict[str, Any]) -> None:
    started = time.monotonic()
    out = await run(env["ms"], Req(targets=targets("a", "slow"), text="q", top_k=5), deadline=0.4)
    elapsed = time.monotonic() - started
    assert elapsed < 0.4  # within the caller's deadline, reserve included
    assert [h.hit.id for h in out.hits] == ["a1", "a2", "shared"]
    (failure,) = out.failures
    assert (failure.store, failure.code) == ("slow", "DEADLINE_EXCEEDED")
    assert env["stores"]["slow"].cancelled == 1


async def test_store_timeout_applies_without_a_deadline(env: dict[str, Any]) -> None:
    env["ms"].retrieval.store_timeouts = {"slow": 0.2}
    started = time.monotonic()
    out = await run(env["ms"], Req(targets=targets("a", "slow"), text="q", top_k=5))
    assert time.monotonic() - started < 1.0
    assert [f.code for f in out.failures] == ["DEADLINE_EXCEEDED"]


async def test_all_failing_is_unavailable(env: dict[str, Any]) -> None:
    env["ms"].retrieval.store_timeouts = {"slow": 0.1}
    with pytest.raises(Unavailable, match="every target failed") as info:
        await run(env["ms"], Req(targets=targets("down", "slow"), text="q", top_k=5))
    assert info.value.metadata["failed_targets"] == "down/c,slow/c"


async def test_all_missing_keeps_not_found(env: dict[str, Any]) -> None:
    with pytest.raises(NotFound):
        await run(env["ms"], Req(targets=(TargetRequest("a", "nope"),), text="q", top_k=5))
    # ... while one missing among several is a reported failure.
    both = (TargetRequest("a", "nope"), TargetRequest("b", "c"))
    out = await run(env["ms"], Req(targets=both, text="q", top_k=3))
    assert [f.code for f in out.failures] == ["NOT_FOUND"]
    assert [h.hit.id for h in out.hits] == ["b1", "shared", "b2"]


async def test_weights_change_the_order(env: dict[str, Any]) -> None:
    out = await run(
        env["ms"],
        Req(targets=targets("a", "c", weights={"c": 3.0}), text="q", top_k=2),
    )
    assert [h.hit.id for h in out.hits] == ["c1", "c2"]


async def test_weighted_method(env: dict[str, Any]) -> None:
    out = await run(
        env["ms"],
        Req(targets=targets("a", "c"), text="q", top_k=4, method=FusionMethod.WEIGHTED),
    )
    assert {h.hit.id: h.hit.score for h in out.hits}["a1"] == pytest.approx(1.0)


async def test_rag_group_defaults(env: dict[str, Any]) -> None:
    out = await run(env["ms"], Req(rag_group="default", text="q"))
    # Group: stores a and b, weight b = 2, rrf_k 10, top_k 3.
    assert len(out.hits) == 3
    assert out.hits[0].hit.id == "shared"
    assert out.hits[1].hit.id == "b1"
    assert out.hits[0].hit.raw_score == pytest.approx(1 / 13 + 2 / 12)
    with pytest.raises(FailedPrecondition, match="rag_enabled"):
        env["ms"].plan(Req(rag_group="router", text="q"))
    with pytest.raises(InvalidArgument, match="unknown group"):
        env["ms"].plan(Req(rag_group="nope", text="q"))


async def test_hybrid_fuses_dense_and_keyword_lists(env: dict[str, Any]) -> None:
    out = await run(
        env["ms"],
        Req(
            targets=targets("kw"),
            text="q",
            top_k=3,
            retrievers=frozenset({Retriever.DENSE, Retriever.KEYWORD}),
            keyword_weight=0.5,
        ),
    )
    first = out.hits[0]
    assert {s.list.retriever for s in first.sources} == {"dense", "keyword"}
    # k1: 1/61 + 0.5/63, k2: 1/62 + 0.5/62, k3: 1/63 + 0.5/61.
    assert [h.hit.id for h in out.hits] == ["k1", "k2", "k3"]
    assert out.hits[1].hit.raw_score == pytest.approx(1.5 / 62)


async def test_keyword_mode_on_a_backend_without_it_is_unimplemented(
    env: dict[str, Any],
) -> None:
    with pytest.raises(Unsupported, match="keyword search"):
        env["ms"].plan(
            Req(
                targets=targets("a", "kw"),
                text="q",
                top_k=1,
                retrievers=frozenset({Retriever.KEYWORD}),
            )
        )


async def test_rerank_reorders_and_falls_back_on_failure(env: dict[str, Any]) -> None:
    out = await run(
        env["ms"],
        Req(
            targets=targets("a", "b"),
            text="q",
            top_k=2,
            rerank=True,
            rerank_model="fake-rerank",
            rerank_candidates=5,
        ),
    )
    assert out.reranked_by == "fake-rerank"
    assert len(env["reranker"].seen[0]) == 5  # the whole fused pool
    assert len(out.hits) == 2
    assert out.hits[0].hit.score == 5.0  # the reranker's score
    broken = await run(
        env["ms"],
        Req(targets=targets("a", "b"), text="q", top_k=2, rerank=True, rerank_model="broken"),
    )
    assert broken.reranked_by == ""
    assert [h.hit.id for h in broken.hits] == ["shared", "a1"]
    assert [(f.stage, f.code) for f in broken.failures] == [("rerank", "UNAVAILABLE")]


async def test_validation(env: dict[str, Any]) -> None:
    ms = env["ms"]
    cases: list[tuple[Req, str]] = [
        (Req(targets=targets("a"), collection="x", text="q", top_k=1), "collection"),
        (Req(targets=targets("a"), rag_group="default", text="q", top_k=1), "rag_group"),
        (Req(targets=targets("a", "a"), text="q", top_k=1), "targets[1]"),
        (Req(targets=targets("a", weights={"a": 0}), text="q", top_k=1), "targets[0].weight"),
        (Req(targets=targets("a"), text="q", top_k=0), "top_k"),
        (Req(targets=targets("a"), top_k=1), "text"),
        (Req(targets=targets("kw"), top_k=1, retrievers=frozenset({Retriever.KEYWORD})), "text"),
        (Req(targets=targets("a"), text="q", top_k=1, rrf_k=-1), "fusion.rrf_k"),
        (Req(targets=targets("a"), text="q", top_k=1, native_params={"nprobe": 1}), "native"),
        (Req(targets=targets("a"), text="q", top_k=1, rerank=True, mmr_lambda=2.0), "mmr"),
        (
            Req(
                targets=targets("a"),
                text="q",
                top_k=1,
                rerank=True,
                rerank_model="fake-rerank",
                mmr_lambda=0.5,
            ),
            "mmr",
        ),
        (
            Req(
                targets=targets("kw"),
                text="q",
                top_k=1,
                retrievers=frozenset({Retriever.DENSE, Retriever.KEYWORD}),
                dense_weight=0,
                keyword_weight=0,
            ),
            "hybrid",
        ),
    ]
    for request, field in cases:
        with pytest.raises(InvalidArgument) as info:
            ms.plan(request)
        assert field in (info.value.field or ""), (request, info.value.message)
    with pytest.raises(Unsupported, match="filter operator"):
        ms.plan(
            Req(
                targets=targets("a"),
                text="q",
                top_k=1,
                filter=Condition("x", Op.GT, 1),
            )
        )
    with pytest.raises(FailedPrecondition, match="not configured"):
        ms.plan(Req(targets=targets("a"), text="q", top_k=1, rerank=True, rerank_model="zzz"))
