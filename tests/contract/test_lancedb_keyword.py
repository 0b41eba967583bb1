"""LanceDB keyword (BM25 full-text) search: index upkeep off the request path, prefiltering."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa
import pytest

from vectorgate_server.adapters.base import keyword_search, supports_keyword_search
from vectorgate_server.adapters.lancedb import LanceDBAdapter
from vectorgate_server.domain import (
    CollectionSpec,
    Condition,
    Document,
    Op,
    OutputFields,
    as_float32,
)
from vectorgate_server.errors import FailedPrecondition

DIM = 4
TEXTS = {
    "a": ("The ZX-4471-Q pump is red.", "pumps"),
    "b": ("A blue widget for pumps.", "widgets"),
    "c": ("Nothing to see here.", "pumps"),
    "d": ("Spare seals for the ZX-4471-Q.", "spares"),
}


def docs(texts: dict[str, tuple[str, str]]) -> list[Document]:
    rng = np.random.default_rng(0)
    return [
        Document(id=i, text=t, vector=as_float32(rng.random(DIM)), metadata={"kind": k})
        for i, (t, k) in texts.items()
    ]


async def fts_indices(uri: str, name: str) -> list[str]:
    db = await lancedb.connect_async(uri)
    table = await db.open_table(name)
    try:
        return [str(i.index_type) for i in await table.list_indices()]
    finally:
        table.close()
        db.close()


@pytest.fixture
async def lance(tmp_path: Path) -> AsyncIterator[LanceDBAdapter]:
    adapter = LanceDBAdapter("lance", str(tmp_path / "db"))
    await adapter.start()
    yield adapter
    await adapter.close()


async def test_keyword_search_ranks_by_bm25_with_a_prefilter(lance: LanceDBAdapter) -> None:
    assert supports_keyword_search(lance)
    await lance.create_collection(CollectionSpec("t", DIM))
    await lance.upsert("t", docs(TEXTS))
    await lance.wait_for_maintenance("t")  # the full-text index is built in the background
    assert await fts_indices(lance.uri, "t") == ["FTS"]

    hits = await keyword_search(lance, "t", "ZX-4471-Q", 10)
    assert [h.id for h in hits][:2] in (["a", "d"], ["d", "a"]) and len(hits) == 2
    assert all(h.score > 0 and h.score == h.raw_score for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].store == "lance" and hits[0].collection == "t"

    # The filter applies before ranking: limit 1 still finds the only matching document.
    only = await keyword_search(lance, "t", "ZX-4471-Q pump", 1, Condition("kind", Op.EQ, "spares"))
    assert [h.id for h in only] == ["d"]
    assert only[0].metadata == {"kind": "spares"} and only[0].text.startswith("Spare seals")
    bare = await keyword_search(
        lance, "t", "pump", 5, output=OutputFields(text=False, metadata=False)
    )
    assert bare and all(h.text == "" and h.metadata == {} for h in bare)
    assert await keyword_search(lance, "t", "unmatched-term", 5) == []


async def test_rows_written_after_the_index_are_found(lance: LanceDBAdapter) -> None:
    await lance.create_collection(CollectionSpec("t", DIM))
    await lance.upsert("t", docs(TEXTS))
    await lance.wait_for_maintenance("t")
    await lance.upsert("t", docs({"e": ("Quixotic Zebulon Farnsworth", "names")}))
    hits = await keyword_search(lance, "t", "Zebulon", 3)
    assert [h.id for h in hits] == ["e"]
    await lance.upsert("t", docs({"e": ("Renamed entirely", "names")}))
    assert await keyword_search(lance, "t", "Zebulon", 3) == []


async def test_a_table_without_the_index_gets_it_on_first_keyword_search(
    tmp_path: Path, lance: LanceDBAdapter
) -> None:
    # A table another tool wrote: vectorgate never scheduled its index.
    db = await lancedb.connect_async(str(tmp_path / "db"))
    data = pa.table(
        {
            "id": ["x", "y"],
            "text": ["alpha bravo", "charlie delta"],
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(np.zeros(2 * DIM, dtype=np.float32)), DIM
            ),
        }
    )
    table = await db.create_table("foreign", data=data)
    table.close()
    db.close()
    assert await fts_indices(lance.uri, "foreign") == []
    hits = await keyword_search(lance, "foreign", "charlie", 5)
    assert [h.id for h in hits] == ["y"]
    assert await fts_indices(lance.uri, "foreign") == ["FTS"]


async def test_vector_only_tables_get_no_full_text_index(lance: LanceDBAdapter) -> None:
    await lance.create_collection(CollectionSpec("v", DIM))
    await lance.upsert("v", [Document("a", "", as_float32(np.ones(DIM)), {})])
    await lance.wait_for_maintenance("v")
    assert await fts_indices(lance.uri, "v") == []


async def test_a_table_without_text_cannot_be_keyword_searched(
    tmp_path: Path, lance: LanceDBAdapter
) -> None:
    db = await lancedb.connect_async(str(tmp_path / "db"))
    data = pa.table(
        {
            "id": ["x"],
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(np.zeros(DIM, dtype=np.float32)), DIM
            ),
        }
    )
    (await db.create_table("notext", data=data)).close()
    db.close()
    with pytest.raises(FailedPrecondition, match="no text column"):
        await keyword_search(lance, "notext", "x", 3)
