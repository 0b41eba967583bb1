"""A Milvus collection created with pymilvus (the seed's schema) searched by text over gRPC.

Seed 004: a collection vectorgate did not create, with ``book_id`` INT64 primary
key and a ``book_intro`` vector field, is searched through ``SearchService`` by
query *text* with ``milvus_text_field``, ``annsField`` and ``outputFields``.
The query is embedded by the gateway with the store's embedding model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pymilvus import DataType, MilvusClient

from tests.support.corpus import TOPICS
from tests.support.servers import ServerThread, make_config
from vectorgate import Client
from vectorgate.errors import InvalidArgumentError
from vectorgate_server.embeddings import EmbeddingRegistry

BOOKS = TOPICS[:8]
NATIVE = {
    "annsField": "book_intro",
    "outputFields": ["book_id", "word_count", "book_text"],
    "milvus_text_field": "book_text",
}


@pytest.fixture
def milvus_server_with_books(
    tmp_path: Path, embeddings: EmbeddingRegistry
) -> Iterator[ServerThread]:
    uri = str(tmp_path / "milvus.db")
    client = MilvusClient(uri=uri)
    schema = client.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("book_id", DataType.INT64, is_primary=True)
    schema.add_field("word_count", DataType.INT64)
    schema.add_field("book_intro", DataType.FLOAT_VECTOR, dim=384)
    schema.add_field("book_text", DataType.VARCHAR, max_length=2000)
    index = client.prepare_index_params()
    index.add_index("book_intro", index_type="AUTOINDEX", metric_type="L2")
    client.create_collection("book_collection", schema=schema, index_params=index)
    vectors = embeddings.get().embed_sync([text for _, text, _, _ in BOOKS])
    client.insert(
        "book_collection",
        [
            {
                "book_id": i + 1,
                "word_count": 10 * (i + 1),
                "book_intro": vectors[i].tolist(),
                "book_text": text,
            }
            for i, (_, text, _, _) in enumerate(BOOKS)
        ],
    )
    client.flush("book_collection")
    client.close()
    config = make_config(
        tmp_path / "data",
        {
            "vector_store_registry": [
                {
                    "vector_store_name": "milvus-knowledgebase",
                    "litellm_params": {
                        "vector_store_id": "book_collection",
                        "custom_llm_provider": "milvus",
                        "api_base": uri,
                        "litellm_embedding_model": "all-MiniLM-L6-v2",
                        "milvus_text_field": "book_text",
                    },
                }
            ]
        },
    )
    with ServerThread(config, embeddings) as srv:
        yield srv


def test_existing_collection_searched_by_text(milvus_server_with_books: ServerThread) -> None:
    with Client(milvus_server_with_books.grpc_target) as client:
        info = client.get_collection("book_collection", store="milvus-knowledgebase")
        assert info.dimension == 384 and info.document_count == len(BOOKS)
        for i, (_, text, _, question) in enumerate(BOOKS):
            hits = client.search(
                "book_collection",
                store="milvus-knowledgebase",
                text=question,
                top_k=3,
                native_params=NATIVE,
            )
            assert hits[0].id == str(i + 1), (question, [h.id for h in hits])
            assert hits[0].text == text
            assert hits[0].metadata == {"word_count": 10 * (i + 1)}
            assert hits[0].store == "milvus-knowledgebase"
            assert 0 < hits[0].score <= 1 and hits[0].raw_score >= 0


def test_native_params_are_validated(milvus_server_with_books: ServerThread) -> None:
    with Client(milvus_server_with_books.grpc_target) as client:
        with pytest.raises(InvalidArgumentError) as info:
            client.search(
                "book_collection",
                store="milvus-knowledgebase",
                text="anything",
                top_k=3,
                native_params={**NATIVE, "annsField": "word_count"},
            )
        field = info.value.field or ""
        assert field.startswith("native_params.annsField")
