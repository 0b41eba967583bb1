"""vectorgate.langchain against a real running gateway, with the real langchain-core.

Includes LangChain's standard vector store suite (langchain-tests'
``VectorStoreIntegrationTests``): it brings deterministic fake embeddings of its
own size, so its collections store vectors.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest
from langchain_core.documents import Document
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from tests.support.readme import readme_block
from tests.support.servers import ServerThread, make_config
from vectorgate import Client, NotFoundError
from vectorgate.langchain import VectorgateVectorStore, langchain_filter
from vectorgate_server.embeddings import EmbeddingRegistry


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, embeddings: EmbeddingRegistry
) -> Iterator[ServerThread]:
    config = make_config(tmp_path_factory.mktemp("langchain") / "data")
    with ServerThread(config, embeddings) as server:
        yield server


def _drop(target: str, name: str) -> None:
    with Client(target) as client, contextlib.suppress(NotFoundError):
        client.delete_collection(name)


class TestStandardSuite(VectorStoreIntegrationTests):
    """LangChain's own contract for a VectorStore, unchanged."""

    @pytest.fixture()
    def vectorstore(self, gateway: ServerThread) -> Iterator[VectorgateVectorStore]:  # type: ignore[override]
        name = f"lc_{uuid.uuid4().hex[:12]}"
        store = VectorgateVectorStore(
            name, embedding=self.get_embeddings(), target=gateway.grpc_target
        )
        try:
            yield store
        finally:
            _drop(gateway.grpc_target, name)


def test_server_embeds_by_default_and_filters_map(gateway: ServerThread) -> None:
    name = f"lc_text_{uuid.uuid4().hex[:8]}"
    try:
        store = VectorgateVectorStore.from_texts(
            [
                "Lava cools into basalt near the volcano.",
                "Sourdough bread rises with a fermented starter.",
                "A neutron star is the collapsed core of a massive star.",
            ],
            metadatas=[
                {"topic": "geology", "year": 2020, "id": 7},
                {"topic": "cooking", "year": 2015, "ratio": 3.0},
                {"topic": "physics", "year": 2024, "big": 2**53 + 1},
            ],
            ids=["lava", "bread", "star"],
            collection=name,
            target=gateway.grpc_target,
        )
        hits = store.similarity_search("volcanic rock", k=1)
        assert hits == [
            Document(
                page_content="Lava cools into basalt near the volcano.",
                metadata={"topic": "geology", "year": 2020, "id": 7},
                id="lava",
            )
        ]
        scored = store.similarity_search_with_score(
            "bread starter", k=3, filter={"year": {"$lt": 2021}}
        )
        assert [d.id for d, _ in scored][:1] == ["bread"] and len(scored) == 2
        assert all(0 < s <= 1 for _, s in scored)
        assert store.similarity_search("x", k=3, filter={"$or": [{"topic": "physics"}, {"id": 7}]})
        got = store.similarity_search(
            "x",
            k=3,
            filter={
                "$and": [
                    {"year": {"$gte": 2015}},
                    {"topic": {"$nin": ["geology"]}},
                    {"$not": {"topic": "cooking"}},
                ]
            },
        )
        assert [d.id for d in got] == ["star"]
        assert [d.id for d in store.similarity_search("x", k=3, filter={"big": 2**53 + 1})] == [
            "star"
        ]
        [bread] = store.get_by_ids(["bread"])
        assert bread.metadata == {"topic": "cooking", "year": 2015, "ratio": 3.0}
        assert isinstance(bread.metadata["ratio"], float)
        mmr = store.max_marginal_relevance_search("stars and volcanoes", k=2, fetch_k=3)
        assert len(mmr) == 2
        retriever = store.as_retriever(search_kwargs={"k": 1})
        assert [d.id for d in retriever.invoke("fermented dough")] == ["bread"]
        store.delete(filter={"topic": "cooking"})
        assert store.get_by_ids(["bread"]) == []
    finally:
        _drop(gateway.grpc_target, name)


async def test_async_variants(gateway: ServerThread) -> None:
    name = f"lc_async_{uuid.uuid4().hex[:8]}"
    try:
        store = await VectorgateVectorStore.afrom_texts(
            ["Lava cools into basalt.", "Bread rises."],
            metadatas=[{"n": 1}, {"n": 2}],
            ids=["a", "b"],
            collection=name,
            target=gateway.grpc_target,
        )
        assert [d.id for d in await store.asimilarity_search("basalt rock", k=1)] == ["a"]
        assert [
            d.id for d in await store.asimilarity_search("x", k=2, filter={"n": {"$gt": 1}})
        ] == ["b"]
        assert len(await store.amax_marginal_relevance_search("rock", k=2, fetch_k=2)) == 2
        assert [d.id for d in await store.aget_by_ids(["b", "zz"])] == ["b"]
        await store.adelete(["a"])
        assert await store.aget_by_ids(["a"]) == []
    finally:
        _drop(gateway.grpc_target, name)


def test_filter_mapping_is_exact_and_refuses_unknown_operators() -> None:
    assert langchain_filter({"a": 1, "b": {"$gte": 2, "$lt": 5}}) == {
        "and": [
            {"field": "a", "op": "eq", "value": 1},
            {"field": "b", "op": "gte", "value": 2},
            {"field": "b", "op": "lt", "value": 5},
        ]
    }
    assert langchain_filter({"id": {"$in": [1, 2]}}) == {
        "field": "lc__id",
        "op": "in",
        "value": [1, 2],
    }
    with pytest.raises(ValueError, match=r"\$like"):
        langchain_filter({"a": {"$like": "x%"}})
    with pytest.raises(ValueError, match=r"\$exists"):
        langchain_filter({"$exists": "a"})


def test_readme_snippet_runs(gateway: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's LangChain lines, taken from README.md, against the running gateway."""
    code = readme_block("langchain").replace("127.0.0.1:50051", gateway.grpc_target)
    exec(compile(code, "README.md (langchain)", "exec"), {})
    assert capsys.readouterr().out.strip() == "Lava cools into basalt."
