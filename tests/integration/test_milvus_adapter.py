"""Milvus adapter behaviour beyond the contract suite, on Milvus Lite and the real server.

Native search parameters, score conversion against numpy, index specs, name
mapping, limits and error mapping. The adapters come from the contract
factories (``tests/contract/backends/milvus.py``).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymilvus import MilvusClient

from tests.contract.backends.milvus import FACTORIES, database_for
from tests.support.columnar import check_native_columns
from vectorgate_server.adapters.configs import MilvusConfig
from vectorgate_server.adapters.milvus import NATIVE_PARAMS, MilvusAdapter
from vectorgate_server.domain import (
    CollectionSpec,
    Condition,
    Document,
    IndexSpec,
    Metric,
    Op,
    OutputFields,
    SearchQuery,
    as_float32,
    normalise_score,
)
from vectorgate_server.errors import (
    InvalidArgument,
    LimitExceeded,
    NotFound,
    Unavailable,
    Unsupported,
)

pytestmark = pytest.mark.integration

DIM = 8


@pytest.fixture(params=sorted(FACTORIES))
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def adapter(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[MilvusAdapter]:
    async with FACTORIES[engine](request, tmp_path) as instance:
        assert isinstance(instance, MilvusAdapter)
        yield instance


def vectors(n: int, seed: int, dim: int = DIM) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def docs(matrix: np.ndarray[Any, Any], prefix: str = "d") -> list[Document]:
    return [
        Document(
            id=f"{prefix}{i}",
            text=f"text {i}",
            vector=as_float32(row),
            metadata={"n": i, "group": ["even", "odd"][i % 2], "flag": i % 3 == 0},
        )
        for i, row in enumerate(matrix)
    ]


async def filled(adapter: MilvusAdapter, name: str, metric: Metric = Metric.COSINE) -> Any:
    await adapter.create_collection(CollectionSpec(name=name, dimension=DIM, metric=metric))
    data = vectors(20, 1)
    await adapter.upsert(name, docs(data))
    return data


# --------------------------------------------------------------------------- scores


@pytest.mark.parametrize("metric", list(Metric), ids=lambda m: m.value)
async def test_scores_match_numpy(adapter: MilvusAdapter, metric: Metric) -> None:
    data = await filled(adapter, f"scores_{metric.value}", metric)
    q = vectors(1, 2)[0]
    hits = await adapter.search(f"scores_{metric.value}", SearchQuery(vector=q, top_k=20))
    assert len(hits) == 20
    v, qq = data.astype(np.float64), q.astype(np.float64)
    for hit in hits:
        row = v[int(hit.id[1:])]
        if metric is Metric.COSINE:
            canonical = float(row @ qq / (np.linalg.norm(row) * np.linalg.norm(qq)))
            raw = canonical  # Milvus returns the similarity itself
        elif metric is Metric.L2:
            canonical = float(np.linalg.norm(row - qq))
            raw = canonical**2  # ... the squared distance
        else:
            canonical = float(row @ qq)
            raw = canonical
        assert math.isclose(hit.raw_score, raw, rel_tol=1e-4, abs_tol=1e-4), hit
        assert math.isclose(
            hit.score, normalise_score(metric, canonical), rel_tol=1e-4, abs_tol=1e-4
        )


# --------------------------------------------------------------------------- native params


async def test_native_params_pass_through(adapter: MilvusAdapter, engine: str) -> None:
    data = await filled(adapter, "native")
    q = data[3]
    base = await adapter.search("native", SearchQuery(vector=q, top_k=6))

    same = await adapter.search(
        "native", SearchQuery(vector=q, top_k=6, native_params={"limit": 6})
    )
    assert [h.id for h in same] == [h.id for h in base]

    paged = await adapter.search(
        "native", SearchQuery(vector=q, top_k=3, native_params={"offset": 3})
    )
    assert [h.id for h in paged] == [h.id for h in base[3:6]]

    filtered = await adapter.search(
        "native",
        SearchQuery(
            vector=q,
            top_k=20,
            filter=Condition("group", Op.EQ, "odd"),
            native_params={"filter": 'metadata_num["n"] < 10', "consistencyLevel": "bounded"},
        ),
    )
    assert {h.id for h in filtered} == {"d1", "d3", "d5", "d7", "d9"}

    tuned = await adapter.search(
        "native",
        SearchQuery(
            vector=q,
            top_k=6,
            native_params={
                "searchParams": {"metric_type": "COSINE", "params": {"nprobe": 4}},
                "annsField": "vector",
                "dbName": adapter.db_name,
                "milvus_text_field": "text",
                "outputFields": ["text"],
            },
        ),
    )
    assert [h.id for h in tuned] == [h.id for h in base]
    assert tuned[0].text == "text 3"

    explained = await adapter.explain(
        "native",
        SearchQuery(
            vector=q,
            top_k=5,
            filter=Condition("n", Op.GT, 1),
            native_params={"filter": 'id != "d0"', "offset": 2},
        ),
    )
    assert explained.backend == "milvus"
    assert explained.native_filter == (
        '(id != "d0") and ((exists metadata_num["n"]) and (metadata_num["n"] > 1))'
    )
    assert explained.native_params["limit"] == 5
    assert explained.native_params["offset"] == 2
    assert explained.native_params["search_params"] == {"metric_type": "COSINE", "params": {}}
    assert explained.native_params["consistency_level"] == "Strong"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 7}, "native_params.limit"),
        ({"limit": "5"}, "native_params.limit"),
        ({"offset": -1}, "native_params.offset"),
        ({"offset": 16380}, "native_params.offset"),
        ({"dbName": "elsewhere"}, "native_params.dbName"),
        ({"annsField": "text"}, "native_params.annsField"),
        ({"annsField": 3}, "native_params.annsField"),
        ({"outputFields": ["nope"]}, "native_params.outputFields"),
        ({"outputFields": "text"}, "native_params.outputFields"),
        ({"filter": 'n == 1) or (id != ""'}, "native_params.filter"),
        ({"filter": 'id == "open'}, "native_params.filter"),
        ({"filter": ""}, "native_params.filter"),
        ({"filter": "no_such_field ==== 1"}, "native_params.filter"),
        ({"groupingField": "metadata_str"}, "native_params.groupingField"),
        ({"searchParams": {"metric_type": "L2"}}, "native_params.searchParams.metric_type"),
        ({"searchParams": {"params": {"nprobe": 0}}}, "native_params.searchParams.params.nprobe"),
        ({"searchParams": {"params": {"ef": 2}}}, "native_params.searchParams.params.ef"),
        ({"searchParams": {"params": {"bogus": 1}}}, "native_params.searchParams.params.bogus"),
        ({"searchParams": {"other": 1}}, "native_params.searchParams.other"),
        ({"searchParams": []}, "native_params.searchParams"),
        ({"partitionNames": ["nope"]}, "native_params.partitionNames"),
        ({"partitionNames": []}, "native_params.partitionNames"),
        ({"consistencyLevel": "always"}, "native_params.consistencyLevel"),
        ({"milvus_text_field": "vector"}, "native_params.milvus_text_field"),
        ({"milvus_text_field": "id"}, "native_params.milvus_text_field"),
        ({"nprobe": 3}, "native_params.nprobe"),
    ],
)
async def test_native_params_are_validated(
    adapter: MilvusAdapter, params: dict[str, Any], field: str
) -> None:
    await adapter.create_collection(CollectionSpec(name="checked", dimension=DIM))
    await adapter.upsert("checked", docs(vectors(3, 1)))
    with pytest.raises(InvalidArgument) as info:
        await adapter.search(
            "checked", SearchQuery(vector=vectors(1, 2)[0], top_k=5, native_params=params)
        )
    assert info.value.field == field
    assert set(NATIVE_PARAMS) == adapter.capabilities.native_params


async def test_grouping_and_partitions(
    adapter: MilvusAdapter, engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    await adapter.create_collection(CollectionSpec(name="grouped", dimension=DIM))
    await adapter.upsert("grouped", docs(vectors(6, 3)))
    q = SearchQuery(vector=vectors(1, 4)[0], top_k=3, native_params={"groupingField": "text"})
    if engine == "milvus-server":
        # Milvus 2.3 ignores group_by_field without an error: refused rather than degraded.
        with pytest.raises(Unsupported) as info:
            await adapter.search("grouped", q)
        assert "groupingField" in info.value.operation
    else:
        hits = await adapter.search("grouped", q)
        assert len({h.text for h in hits}) == len(hits) == 3

    # A partition created with pymilvus is searchable by name.
    location: dict[str, Any] = {"uri": str(tmp_path / "milvus.db")}
    if engine == "milvus-server":
        info_server = request.getfixturevalue("milvus_server")
        location = {
            "uri": info_server.uri,
            "db_name": database_for(info_server, request, str(tmp_path)),
        }
    client = MilvusClient(**location)
    try:
        client.create_partition("grouped", "extra")
        client.upsert(
            "grouped",
            [
                {
                    "id": "p0",
                    "vector": vectors(1, 5)[0].tolist(),
                    "text": "in partition",
                    "metadata_str": {},
                    "metadata_num": {},
                    "metadata_bool": {},
                    "metadata_list": {},
                }
            ],
            partition_name="extra",
        )
    finally:
        client.close()
    hits = await adapter.search(
        "grouped",
        SearchQuery(vector=vectors(1, 6)[0], top_k=5, native_params={"partitionNames": ["extra"]}),
    )
    assert [h.id for h in hits] == ["p0"]


# --------------------------------------------------------------------------- collections


@pytest.mark.parametrize(
    ("index", "ok"),
    [
        (IndexSpec("HNSW", {"M": 8, "efConstruction": 64}), True),
        (IndexSpec("ivf_flat", {"nlist": 4}), True),
        (IndexSpec("IVF_SQ8", {}), True),
        (IndexSpec("HNSW"), True),
        (IndexSpec("IVF_PQ", {"nlist": 4}), False),
        (IndexSpec("AUTOINDEX"), True),
        (IndexSpec("FLAT"), True),
        (IndexSpec("HNSW", {"M": 1}), False),
        (IndexSpec("HNSW", {"ef": 10}), False),
        (IndexSpec("IVF_FLAT", {"nlist": "many"}), False),
        (IndexSpec("DISKANN"), False),
        (IndexSpec("", {"M": 8}), False),
    ],
    ids=lambda v: repr(v) if isinstance(v, IndexSpec) else str(v),
)
async def test_index_specs(adapter: MilvusAdapter, index: IndexSpec, ok: bool) -> None:
    spec = CollectionSpec(name="indexed", dimension=DIM, metric=Metric.L2, index=index)
    if not ok:
        with pytest.raises(InvalidArgument) as info:
            await adapter.create_collection(spec)
        assert (info.value.field or "").startswith("collection.index")
        assert await adapter.list_collections() == []
        return
    info = await adapter.create_collection(spec)
    assert info.index.type == index.type.upper()
    assert dict(info.index.params).items() >= dict(index.params).items()
    data = vectors(40, 7)
    await adapter.upsert("indexed", docs(data))
    hits = await adapter.search("indexed", SearchQuery(vector=data[5], top_k=3))
    assert hits[0].id == "d5"
    assert (await adapter.describe_collection("indexed")).index == info.index


async def test_names_with_dashes_map_reversibly(adapter: MilvusAdapter) -> None:
    for name in ("my-coll", "_vg_trick", "a_b-c"):
        await adapter.create_collection(CollectionSpec(name=name, dimension=DIM))
        await adapter.upsert(name, docs(vectors(2, 1)))
        assert (await adapter.describe_collection(name)).name == name
    assert await adapter.list_collections() == sorted(["my-coll", "_vg_trick", "a_b-c"])
    assert await adapter.count("a_b-c") == 2
    await adapter.drop_collection("my-coll")
    with pytest.raises(NotFound):
        await adapter.count("my-coll")


async def test_bad_text_field_and_long_text(adapter: MilvusAdapter) -> None:
    for text_field in ("vector", "metadata_num", "has-dash"):
        with pytest.raises(InvalidArgument) as info:
            await adapter.create_collection(
                CollectionSpec(name="t", dimension=DIM, text_field=text_field)
            )
        assert info.value.field == "collection.text_field"
    await adapter.create_collection(CollectionSpec(name="t", dimension=DIM, text_field="body"))
    doc = Document(id="long", text="é" * 40000, vector=as_float32(vectors(1, 1)[0]))
    with pytest.raises(LimitExceeded) as limit:
        await adapter.upsert("t", [doc])
    assert limit.value.field == "documents[0].text"
    assert await adapter.count("t") == 0


async def test_output_projection_and_vectors(adapter: MilvusAdapter) -> None:
    data = await filled(adapter, "proj")
    hits = await adapter.search(
        "proj",
        SearchQuery(
            vector=data[4],
            top_k=1,
            output=OutputFields(text=False, vector=True, metadata_keys=frozenset({"group"})),
        ),
    )
    assert hits[0].id == "d4"
    assert hits[0].text == ""
    assert hits[0].metadata == {"group": "even"}
    assert hits[0].vector is not None
    np.testing.assert_allclose(hits[0].vector, data[4], rtol=1e-6)


# --------------------------------------------------------------------------- errors


async def test_unreachable_server_is_unavailable_without_credentials() -> None:
    adapter = MilvusAdapter.from_config(
        MilvusConfig(name="down", uri="http://user:s3cret@127.0.0.1:1", timeout_s=2)
    )
    with pytest.raises(Unavailable) as info:
        await adapter.start()
    assert info.value.reason == "BACKEND_UNAVAILABLE"
    assert "down" in info.value.message and "milvus" in info.value.message
    assert "s3cret" not in info.value.message and "user" not in info.value.message
    with pytest.raises(Unavailable):
        await adapter.list_collections()


async def test_backend_going_away_is_unavailable(tmp_path: Path) -> None:
    from milvus_lite.server_manager import server_manager_instance

    path = tmp_path / "gone.db"
    adapter = MilvusAdapter("lite-gone", str(path), timeout_s=3)
    await adapter.start()
    try:
        await adapter.create_collection(CollectionSpec(name="c", dimension=DIM))
        server_manager_instance.release_server(str(path.resolve()))
        with pytest.raises(Unavailable) as info:
            await adapter.count("c")
        assert info.value.reason == "BACKEND_UNAVAILABLE"
        assert "lite-gone" in info.value.message
    finally:
        await adapter.close()


async def test_upsert_columns_is_native_and_writes_what_upsert_writes(
    adapter: MilvusAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No per-row documents: the batch's columns become the backend's rows, typed as
    ``upsert`` types them (ints stay ints, absent values absent)."""
    await check_native_columns(adapter, monkeypatch, "columnar")
