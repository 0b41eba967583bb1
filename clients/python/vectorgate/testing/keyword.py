"""The optional keyword-search capability, checked on every backend of the contract suite.

A backend without it must answer ``Unsupported`` (UNIMPLEMENTED) through
:func:`vectorgate_server.adapters.base.keyword_search`; a backend with it must
find an exact rare term that vector search misses, apply the filter before
ranking, and return relevance scores best first.
"""

from __future__ import annotations

import numpy as np
import pytest

from vectorgate_server.adapters.base import Adapter, keyword_search, supports_keyword_search, upsert
from vectorgate_server.domain import CollectionSpec, Condition, Document, Op, as_float32
from vectorgate_server.errors import NotFound, Unsupported

from .fixtures import AdapterFixtures, Names

DIM = 8
TEXTS = [
    ("p1", "ZX-4471-Q stainless garden hose reel with wall bracket", "garden"),
    ("p2", "Spare seals for the ZX-4471-Q reel", "spares"),
    ("d1", "Part number XZ-4417-O", "parts"),
    ("d2", "Lawn mowers should be serviced before spring", "garden"),
    ("d3", "Boil the pasta for ten minutes in salted water", "kitchen"),
]


class KeywordSearchContractTests(AdapterFixtures):
    """Keyword search: the capability, or UNIMPLEMENTED."""

    pytestmark = [pytest.mark.asyncio]

    async def test_keyword_search_capability(self, adapter: Adapter, names: Names) -> None:
        if not supports_keyword_search(adapter):
            with pytest.raises(Unsupported) as info:
                await keyword_search(adapter, "anything", "ZX-4471-Q", 3)
            assert info.value.operation == "keyword search"
            return
        name = names.new("kw")
        await adapter.create_collection(CollectionSpec(name, DIM))
        rng = np.random.default_rng(3)
        await upsert(
            adapter,
            name,
            [
                Document(
                    id=i,
                    text=t,
                    vector=as_float32(rng.standard_normal(DIM).astype(np.float32)),
                    metadata={"k": k},
                )
                for i, t, k in TEXTS
            ],
        )
        hits = await keyword_search(adapter, name, "ZX-4471-Q", 5)
        assert {h.id for h in hits[:2]} == {"p1", "p2"}
        assert all(h.score > 0 for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert hits[0].text in {t for _, t, _ in TEXTS}
        filtered = await keyword_search(
            adapter, name, "ZX-4471-Q", 1, Condition("k", Op.EQ, "spares")
        )
        assert [h.id for h in filtered] == ["p2"]
        with pytest.raises(NotFound):
            await keyword_search(adapter, names.new("missing"), "x", 3)
