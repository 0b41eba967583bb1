"""End to end over a real gRPC connection: text in, the semantically right hit out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.corpus import TOPICS, filler
from tests.support.servers import ServerThread, make_config
from vectorgate import Client, F
from vectorgate.errors import InvalidArgumentError
from vectorgate_server.embeddings import EmbeddingRegistry

COLLECTION = "kb"


def _documents() -> list[dict[str, object]]:
    docs: list[dict[str, object]] = [
        {"id": doc_id, "text": text, "metadata": meta} for doc_id, text, meta, _ in TOPICS
    ]
    docs += [
        {"id": doc_id, "text": text, "metadata": meta}
        for doc_id, text, meta in filler(1000 - len(TOPICS))
    ]
    return docs


def _load(client: Client) -> list[dict[str, object]]:
    docs = _documents()
    client.create_collection(COLLECTION)
    assert client.upsert(COLLECTION, docs, batch_size=250) == 1000
    return docs


def _reference(
    client: Client,
    embeddings: EmbeddingRegistry,
    docs: list[dict[str, object]],
    query: str,
    predicate: Callable[[dict[str, object]], bool],
    k: int,
) -> list[str]:
    """Brute-force cosine ranking in numpy over the stored vectors, filtered in Python."""
    ids = [str(d["id"]) for d in docs if predicate(d["metadata"])]  # type: ignore[arg-type]
    stored = client.get(COLLECTION, ids, include_vectors=True)
    assert [d.id for d in stored] == ids
    matrix = np.array([d.vector for d in stored], dtype=np.float32)
    q = embeddings.get().embed_sync([query])[0]
    sims = matrix @ q / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(q))
    order = np.argsort(-sims, kind="stable")[:k]
    return [ids[i] for i in order]


@pytest.fixture(scope="module")
def shared_loaded(
    tmp_path_factory: pytest.TempPathFactory, embeddings: EmbeddingRegistry
) -> Iterator[tuple[ServerThread, list[dict[str, object]]]]:
    """One server with the 1,000-document collection, shared by the filter tests."""
    config = make_config(tmp_path_factory.mktemp("shared") / "data")
    with ServerThread(config, embeddings) as srv, Client(srv.grpc_target) as client:
        docs = _load(client)
        yield srv, docs


def test_paraphrased_queries_find_their_documents_and_survive_restart(
    tmp_path: Path, embeddings: EmbeddingRegistry
) -> None:
    config = make_config(tmp_path / "data")
    with ServerThread(config, embeddings) as srv, Client(srv.grpc_target) as client:
        _load(client)
        info = client.get_collection(COLLECTION)
        assert info.document_count == 1000
        assert info.dimension == 384
        assert info.embedding_model == "all-MiniLM-L6-v2"
        misses = []
        for doc_id, _, _, query in TOPICS:
            hits = client.search(COLLECTION, text=query, top_k=3)
            if hits[0].id != doc_id:
                misses.append((query, doc_id, [h.id for h in hits]))
            assert all(h.score >= hits[-1].score for h in hits)
            assert hits[0].store == "lancedb" and hits[0].collection == COLLECTION
        assert not misses, misses

    # Restart on the same data directory: everything is still there.
    with ServerThread(config, embeddings) as srv, Client(srv.grpc_target) as client:
        assert client.get_collection(COLLECTION).document_count == 1000
        doc_id, text, meta, query = TOPICS[0]
        hits = client.search(COLLECTION, text=query, top_k=1)
        assert hits[0].id == doc_id
        assert hits[0].text == text
        assert hits[0].metadata == meta


def test_upsert_is_idempotent(server: ServerThread) -> None:
    with Client(server.grpc_target) as client:
        client.create_collection(COLLECTION)
        batch = [{"id": d, "text": t, "metadata": m} for d, t, m, _ in TOPICS]
        for _ in range(3):
            client.upsert(COLLECTION, batch)
        assert client.get_collection(COLLECTION).document_count == len(TOPICS)


@pytest.mark.parametrize(
    ("flt", "predicate"),
    [
        (F("domain") == "ecology", lambda m: m.get("domain") == "ecology"),
        (F("year") >= 2000, lambda m: m.get("year", -1e9) >= 2000),
        (
            (F("domain").is_in(["finance", "medicine"])) & (F("level") < 2.5),
            lambda m: m.get("domain") in ("finance", "medicine") and m.get("level", 1e9) < 2.5,
        ),
        (
            (F("domain") == "logistics") & ~(F("city") == "Oslo") & (F("year") > 2010),
            lambda m: (
                m.get("domain") == "logistics"
                and m.get("city") != "Oslo"
                and m.get("year", -1) > 2010
            ),
        ),
        (F("tags").contains("crates"), lambda m: "crates" in m.get("tags", [])),
        (
            (F("domain") != "logistics") | (F("year") < 2002),
            lambda m: m.get("domain") != "logistics" or m.get("year", 1e9) < 2002,
        ),
    ],
    ids=["eq", "gte", "in-and-lt", "and-not-gt", "contains", "or-ne-lt"],
)
def test_filtered_search_equals_brute_force(
    tmp_path: Path,
    embeddings: EmbeddingRegistry,
    shared_loaded: tuple[ServerThread, list[dict[str, object]]],
    flt: object,
    predicate: Callable[[dict[str, object]], bool],
) -> None:
    srv, docs = shared_loaded
    query = "environment and money questions"
    with Client(srv.grpc_target) as client:
        hits = client.search(COLLECTION, text=query, top_k=15, filter=flt)
        expected = _reference(client, embeddings, docs, query, predicate, 15)
    assert hits, "filter matched nothing"
    for hit in hits:
        assert predicate(hit.metadata), (hit.id, hit.metadata)
    assert [h.id for h in hits] == expected


def test_get_and_delete(server: ServerThread) -> None:
    with Client(server.grpc_target) as client:
        client.create_collection(COLLECTION)
        client.upsert(COLLECTION, [{"id": d, "text": t, "metadata": m} for d, t, m, _ in TOPICS])
        got = client.get(COLLECTION, ["volcano", "nope", "chess"])
        assert [d.id for d in got] == ["volcano", "chess"]
        assert got[0].metadata == TOPICS[1][2]
        assert got[0].vector is None
        client.delete(COLLECTION, ids=["volcano"])
        client.delete(COLLECTION, filter=F("domain") == "ecology")
        remaining = {d.id for d in client.get(COLLECTION, [t[0] for t in TOPICS])}
        expected = {t[0] for t in TOPICS if t[0] != "volcano" and t[2]["domain"] != "ecology"}
        assert remaining == expected
        assert client.get_collection(COLLECTION).document_count == len(expected)
        hits = client.search(COLLECTION, text=TOPICS[1][3], top_k=50)
        assert "volcano" not in {h.id for h in hits}


def test_bulk_upsert_stream(server: ServerThread) -> None:
    rng = np.random.default_rng(1)
    with Client(server.grpc_target) as client:
        client.create_collection("vecs", dimension=16, embedding_model="none", metric="l2")
        docs = (
            {
                "id": f"v{i}",
                "vector": rng.standard_normal(16).astype(np.float32),
                "metadata": {"i": i},
            }
            for i in range(5000)
        )
        assert client.bulk_upsert("vecs", docs, batch_size=700) == 5000
        assert client.get_collection("vecs").document_count == 5000
        vec = client.get("vecs", ["v42"], include_vectors=True)[0].vector
        hits = client.search("vecs", vector=vec, top_k=1)
        assert hits[0].id == "v42"
        assert hits[0].raw_score == pytest.approx(0.0, abs=1e-4)
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        # Fails while decoding batch 1 (batch 0's write is in flight then).
        ({"metadata": {"bad key": 1}}, "requests[1].documents[0].metadata.bad key"),
        # Fails in batch 1's own write.
        ({"vector": [1.0, 2.0]}, "requests[1].documents[0].vector"),
    ],
)
def test_bulk_upsert_stops_at_the_bad_batch_and_keeps_the_ones_before(
    server: ServerThread, bad: dict[str, object], field: str
) -> None:
    name = f"bulk{len(field)}"
    with Client(server.grpc_target) as client:
        client.create_collection(name, dimension=4, embedding_model="none")
        docs: list[dict[str, object]] = [
            {"id": f"d{i}", "vector": [1.0, 0.0, 0.0, float(i)]} for i in range(6)
        ]
        docs[2] = {**docs[2], **bad}
        with pytest.raises(InvalidArgumentError) as info:
            client.bulk_upsert(name, docs, batch_size=2)
        assert info.value.field == field
        # Batch 0 was written in full; nothing of batch 2 was.
        assert [d.id for d in client.get(name, [f"d{i}" for i in range(6)])] == ["d0", "d1"]


def test_list_collections_paginates(server: ServerThread) -> None:
    with Client(server.grpc_target) as client:
        names = [f"c{i:02d}" for i in range(7)]
        for name in names:
            client.create_collection(name, dimension=4, embedding_model="none")
        assert [c.name for c in client.list_collections(page_size=3)] == names


def test_virtual_index_routes_to_real_collection(server: ServerThread) -> None:
    with Client(server.grpc_target) as client:
        client.create_collection("real_collection")
        client.upsert(
            "real_collection", [{"id": d, "text": t, "metadata": m} for d, t, m, _ in TOPICS]
        )
        client.create_index("kb-view", collection="real_collection", store="lancedb")
        assert client.search("kb-view", text=TOPICS[3][3], top_k=1)[0].id == TOPICS[3][0]
        assert [i.index_name for i in client.list_indexes()] == ["kb-view"]
        client.delete_index("kb-view")
        assert client.list_indexes() == []
