"""Hybrid (dense + keyword) search through the gateway, on every backend of the contract suite.

The issue's acceptance: hybrid search finds an exact keyword match (a product
code) that dense search alone misses, on every backend that has full-text
search; a backend without it answers UNIMPLEMENTED. The documents are
embedded by the real local model, so "dense misses it" is a property of the
test set below (near-miss codes and spellings that a dense model ranks
closer to the bare query), checked on each backend rather than assumed.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from vectorgate_server.adapters.base import Adapter, supports_keyword_search
from vectorgate_server.app import Gateway
from vectorgate_server.domain import Document, IndexSpec
from vectorgate_server.embeddings import EmbeddingRegistry, default_registry
from vectorgate_server.errors import Unsupported
from vectorgate_server.fusion import Retriever
from vectorgate_server.multisearch import FusedSearchRequest, MultiSearcher
from vectorgate_server.retrieval import Retrieval
from vectorgate_server.services.registry import CallContext
from vectorgate_server.storage import Database, IndexRegistry, filter_from_json, filter_to_json

from . import corpus
from .fixtures import AdapterFixtures, Names

STORE = "store"

#: The product-code set plus a rare name: only "n1" carries "Oyelaran-Whitcombe";
#: n2..n5 are near-miss spellings a dense model ranks closer to it.
PRODUCTS = [
    *corpus.PRODUCTS,
    (
        "n1",
        "Minutes of the spring meeting: Oyelaran-Whitcombe reported that the river "
        "restoration budget was approved and the wetland survey starts in May.",
    ),
    ("n2", "Oyelowo Whytcomb is a name of Yoruba and English origin."),
    ("n3", "Whytcomb and Oyelara are common surnames."),
    ("n4", "Dr. Olayinka Whitcoomb-Oyelade wrote about surnames."),
    ("n5", "The Whytcombe-Oyelarin family history."),
]

DENSE = frozenset({Retriever.DENSE})
KEYWORD = frozenset({Retriever.KEYWORD})
HYBRID = frozenset({Retriever.DENSE, Retriever.KEYWORD})


@functools.cache
def _embeddings() -> EmbeddingRegistry:
    """The local embedding model, loaded once per process."""
    registry = default_registry()
    registry.warm_up()
    return registry


async def _load(searcher: MultiSearcher, name: str) -> None:
    gw = searcher.gw
    target, _ = await gw.create_collection(
        store=STORE,
        name=name,
        dimension=0,
        metric=None,
        text_field="",
        embedding_model="",
        index=IndexSpec(),
    )
    await gw.upsert(target, [Document(id=i, text=t) for i, t in PRODUCTS])


async def _ids(
    searcher: MultiSearcher,
    name: str,
    text: str,
    retrievers: frozenset[Retriever],
    top_k: int,
    keyword_weight: float | None = None,
) -> list[str]:
    request = FusedSearchRequest(
        collection=name,
        store=STORE,
        text=text,
        top_k=top_k,
        retrievers=retrievers,
        keyword_weight=keyword_weight,
    )
    outcome = await searcher.run(searcher.plan(request), CallContext(timeout=60.0))
    assert outcome.failures == ()
    return [h.hit.id for h in outcome.hits]


class HybridSearchContractTests(AdapterFixtures):
    """Hybrid search through the gateway finds what dense search misses."""

    pytestmark = [pytest.mark.asyncio]

    @pytest.fixture
    def embeddings(self) -> EmbeddingRegistry:
        """The gateway's default embedding model (the local ONNX MiniLM)."""
        return _embeddings()

    @pytest_asyncio.fixture
    async def searcher(
        self, adapter: Adapter, embeddings: EmbeddingRegistry, tmp_path: Path
    ) -> AsyncIterator[MultiSearcher]:
        """A gateway with ``adapter`` as its only store, and its fused searcher."""
        db = Database(tmp_path / "state.db")
        gateway = Gateway(
            stores={STORE: adapter},
            default_store=STORE,
            embeddings=embeddings,
            indexes=IndexRegistry(db, encode_filter=filter_to_json, decode_filter=filter_from_json),
            database=db,
        )
        yield MultiSearcher(gateway, Retrieval())
        db.close()

    async def test_hybrid_finds_exact_terms_that_dense_misses(
        self, adapter: Adapter, searcher: MultiSearcher, names: Names
    ) -> None:
        name = names.new("hybrid")
        await _load(searcher, name)
        if not supports_keyword_search(adapter):
            with pytest.raises(Unsupported) as info:
                await _ids(searcher, name, "ZX-4471-Q", HYBRID, 3)
            assert info.value.operation == "keyword search"
            return
        for query, wanted in (("ZX-4471-Q", "p1"), ("Oyelaran-Whitcombe", "n1")):
            dense = await _ids(searcher, name, query, DENSE, 1)
            keyword = await _ids(searcher, name, query, KEYWORD, 3)
            hybrid = await _ids(searcher, name, query, HYBRID, 3, keyword_weight=2.0)
            # Dense alone does not put the exact match first; keyword search does,
            # and hybrid (keyword weighted 2:1) keeps it first.
            assert dense != [wanted], (query, dense)
            assert keyword[0] == wanted, (query, keyword)
            assert hybrid[0] == wanted, (query, hybrid)
