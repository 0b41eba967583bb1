"""vectorgate.llama_index against a real running gateway, with the real llama-index-core."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from tests.support.readme import readme_block
from tests.support.servers import ServerThread, make_config
from vectorgate.llama_index import VectorgateVectorStore, llama_index_filter
from vectorgate_server.embeddings import EmbeddingRegistry

MF = MetadataFilter
OP = FilterOperator


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, embeddings: EmbeddingRegistry
) -> Iterator[ServerThread]:
    config = make_config(tmp_path_factory.mktemp("llama") / "data")
    with ServerThread(config, embeddings) as server:
        yield server


@pytest.fixture
def store(gateway: ServerThread) -> Iterator[VectorgateVectorStore]:
    s = VectorgateVectorStore(f"li_{uuid.uuid4().hex[:10]}", target=gateway.grpc_target)
    try:
        yield s
    finally:
        s.clear()


def _node(node_id: str, vector: list[float], doc: str, **metadata: object) -> TextNode:
    node = TextNode(id_=node_id, text=f"text of {node_id}", embedding=vector, metadata=metadata)
    node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=doc)
    return node


NODES = [
    ("a", [1.0, 0.0, 0.0, 0.0], "doc1", {"year": 2020, "tags": ["x", "y"], "kind": "post"}),
    ("b", [0.9, 0.1, 0.0, 0.0], "doc1", {"year": 2021, "tags": ["y"], "kind": "note"}),
    ("c", [0.0, 1.0, 0.0, 0.0], "doc2", {"year": 2022, "tags": ["z"], "kind": "post"}),
    ("d", [0.0, 0.0, 1.0, 0.0], "doc3", {"year": 2023, "big": 2**53 + 1, "ratio": 3.0}),
]


def _ids(store: VectorgateVectorStore, filters: MetadataFilters, k: int = 10) -> set[str]:
    result = store.query(
        VectorStoreQuery(query_embedding=[1.0, 0, 0, 0], similarity_top_k=k, filters=filters)
    )
    return set(result.ids or [])


def test_add_query_filters_delete(store: VectorgateVectorStore) -> None:
    ids = store.add([_node(i, v, d, **m) for i, v, d, m in NODES])
    assert ids == ["a", "b", "c", "d"]
    result = store.query(VectorStoreQuery(query_embedding=[1.0, 0, 0, 0], similarity_top_k=2))
    assert result.ids == ["a", "b"]
    assert result.nodes is not None and result.nodes[0].get_content() == "text of a"
    assert result.nodes[0].ref_doc_id == "doc1"
    assert result.nodes[0].metadata == {"year": 2020, "tags": ["x", "y"], "kind": "post"}
    assert result.similarities is not None and result.similarities[0] == pytest.approx(1.0)
    [d] = store.get_nodes(["d"])
    assert d.metadata["big"] == 2**53 + 1 and isinstance(d.metadata["ratio"], float)

    f = MetadataFilters
    assert _ids(store, f(filters=[MF(key="year", value=2021, operator=OP.GT)])) == {"c", "d"}
    assert _ids(store, f(filters=[MF(key="year", value=2021, operator=OP.GTE)])) == {"b", "c", "d"}
    assert _ids(store, f(filters=[MF(key="year", value=2021, operator=OP.LT)])) == {"a"}
    assert _ids(store, f(filters=[MF(key="year", value=2021, operator=OP.LTE)])) == {"a", "b"}
    assert _ids(store, f(filters=[MF(key="kind", value="post")])) == {"a", "c"}
    assert _ids(store, f(filters=[MF(key="kind", value="post", operator=OP.NE)])) == {"b", "d"}
    assert _ids(store, f(filters=[MF(key="year", value=[2020, 2023], operator=OP.IN)])) == {
        "a",
        "d",
    }
    assert _ids(store, f(filters=[MF(key="kind", value=["post"], operator=OP.NIN)])) == {"b", "d"}
    assert _ids(store, f(filters=[MF(key="tags", value="y", operator=OP.CONTAINS)])) == {"a", "b"}
    assert _ids(store, f(filters=[MF(key="tags", value=["x", "z"], operator=OP.ANY)])) == {"a", "c"}
    assert _ids(store, f(filters=[MF(key="tags", value=["x", "y"], operator=OP.ALL)])) == {"a"}
    assert _ids(store, f(filters=[MF(key="big", value=2**53 + 1)])) == {"d"}
    either = f(
        filters=[MF(key="kind", value="note"), MF(key="year", value=2023)],
        condition=FilterCondition.OR,
    )
    assert _ids(store, either) == {"b", "d"}
    nested = f(
        filters=[MF(key="kind", value="post"), f(filters=[MF(key="year", value=2022)])],
        condition=FilterCondition.AND,
    )
    assert _ids(store, nested) == {"c"}
    negated = f(filters=[MF(key="kind", value="post")], condition=FilterCondition.NOT)
    assert _ids(store, negated) == {"b", "d"}
    with pytest.raises(ValueError, match="text_match"):
        _ids(store, f(filters=[MF(key="kind", value="po", operator=OP.TEXT_MATCH)]))
    assert set(
        store.query(
            VectorStoreQuery(query_embedding=[1.0, 0, 0, 0], similarity_top_k=5, doc_ids=["doc2"])
        ).ids
        or []
    ) == {"c"}

    mmr = store.query(
        VectorStoreQuery(
            query_embedding=[1.0, 0, 0, 0],
            similarity_top_k=2,
            mode=VectorStoreQueryMode.MMR,
            mmr_threshold=0.3,
        )
    )
    assert mmr.ids is not None and mmr.ids[0] == "a" and "b" not in mmr.ids  # diversified
    with pytest.raises(ValueError, match="svm"):
        store.query(VectorStoreQuery(query_embedding=[1.0, 0, 0, 0], mode=VectorStoreQueryMode.SVM))

    store.delete("doc1")
    assert store.get_nodes(["a", "b", "c"]) == store.get_nodes(["c"])
    store.delete_nodes(["c"])
    assert [n.node_id for n in store.get_nodes(["c", "d"])] == ["d"]


def test_hybrid_and_keyword_on_a_gateway_embedded_collection(
    store: VectorgateVectorStore,
) -> None:
    nodes = [
        TextNode(id_="lava", text="Lava cools into basalt near the volcano."),
        TextNode(id_="bread", text="Sourdough bread rises with a fermented starter."),
    ]
    store.add(nodes)  # no embeddings: the gateway embeds with its model
    hybrid = store.query(
        VectorStoreQuery(
            query_str="sourdough starter",
            similarity_top_k=1,
            mode=VectorStoreQueryMode.HYBRID,
            alpha=0.5,
        )
    )
    assert hybrid.ids == ["bread"]
    keyword = store.query(
        VectorStoreQuery(
            query_str="basalt", similarity_top_k=1, mode=VectorStoreQueryMode.TEXT_SEARCH
        )
    )
    assert keyword.ids == ["lava"]


async def test_async_add_and_query(store: VectorgateVectorStore) -> None:
    await store.async_add([_node(i, v, d, **m) for i, v, d, m in NODES[:2]])
    result = await store.aquery(
        VectorStoreQuery(query_embedding=[0.0, 1.0, 0, 0], similarity_top_k=1)
    )
    assert result.ids == ["b"]
    await store.adelete("doc1")
    assert store.get_nodes(["a", "b"]) == []


def test_vector_store_index_end_to_end(store: VectorgateVectorStore) -> None:
    context = StorageContext.from_defaults(vector_store=store)
    index = VectorStoreIndex.from_documents(
        [Document(text="Basalt forms from cooled lava.", id_="geo")],
        storage_context=context,
        embed_model=MockEmbedding(embed_dim=8),
    )
    [hit] = index.as_retriever(similarity_top_k=1).retrieve("rocks")
    assert hit.node.get_content() == "Basalt forms from cooled lava."
    assert hit.node.ref_doc_id == "geo"


def test_filter_mapping() -> None:
    assert llama_index_filter(MetadataFilters(filters=[MF(key="id", value=1)])) == {
        "field": "li__id",
        "op": "eq",
        "value": 1,
    }


def test_readme_snippet_runs(gateway: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's LlamaIndex lines, taken from README.md, against the running gateway."""
    code = readme_block("llama-index").replace("127.0.0.1:50051", gateway.grpc_target)
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md (llama-index)", "exec"), namespace)
    assert capsys.readouterr().out.strip() == "Lava cools into basalt."
    store = namespace["store"]
    assert isinstance(store, VectorgateVectorStore)
    store.clear()
