"""The Milvus adapter built from configuration (no engine needed): LiteLLM registries, names."""

from __future__ import annotations

from pathlib import Path

import pytest

from vectorgate_server.adapters.configs import MilvusConfig
from vectorgate_server.adapters.milvus import (
    NATIVE_PARAMS,
    MilvusAdapter,
    collection_name,
    milvus_name,
)
from vectorgate_server.config import load_config
from vectorgate_server.domain import Metric, Op
from vectorgate_server.errors import InvalidArgument

LITELLM_CONFIG = """
vector_store_registry:
  - vector_store_name: "milvus-knowledgebase"
    litellm_params:
      vector_store_id: "book_collection"
      custom_llm_provider: "milvus"
      api_key: os.environ/MILVUS_API_KEY
      api_base: https://user:pw@milvus.example.com:19530
      litellm_embedding_model: "azure/text-embedding-3-large"
      milvus_text_field: "book_text"
      dbName: "default"
      annsField: "book_intro"
      limit: 10
      outputFields: ["id", "book_text", "title"]
      filter: "book_id > 0"
      searchParams: {"metric_type": "L2", "params": {"nprobe": 10}}
      consistencyLevel: "Bounded"
"""


def test_from_litellm_registry(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(LITELLM_CONFIG)
    config = load_config(path, environ={"MILVUS_API_KEY": "sk-secret"})
    store = config.stores["milvus-knowledgebase"]
    assert isinstance(store, MilvusConfig)
    adapter = MilvusAdapter.from_config(store)
    assert adapter.store == "milvus-knowledgebase"
    assert adapter.backend == "milvus"
    assert not adapter.is_lite
    assert adapter.db_name == "default"
    # Credentials never show in messages.
    assert adapter.display_uri == "https://milvus.example.com:19530"
    caps = adapter.capabilities
    assert caps.metrics == frozenset(Metric)
    assert caps.filter_ops == frozenset(Op)
    assert caps.native_params == NATIVE_PARAMS
    assert "IVF_PQ" in caps.index_types and "HNSW" in caps.index_types


def test_lite_from_config(tmp_path: Path) -> None:
    adapter = MilvusAdapter.from_config(
        MilvusConfig(name="lite", uri=str(tmp_path / "sub" / "milvus.db"), index_type="hnsw")
    )
    assert adapter.is_lite
    assert adapter.display_uri == str(tmp_path / "sub" / "milvus.db")
    assert "IVF_PQ" not in adapter.capabilities.index_types
    assert adapter.capabilities.index_types >= {"FLAT", "HNSW", "IVF_FLAT", "AUTOINDEX"}


def test_config_errors() -> None:
    with pytest.raises(ValueError, match=r"\.db"):
        MilvusAdapter("lite", "/tmp/not-a-db-file")
    with pytest.raises(ValueError, match=r"native_defaults\.dbName"):
        MilvusAdapter("s", "http://localhost:19530", native_defaults={"dbName": "other"})
    with pytest.raises(ValueError, match=r"native_defaults\.filter"):
        MilvusAdapter("s", "http://localhost:19530", native_defaults={"filter": "a == (1"})
    with pytest.raises(ValueError, match=r"native_defaults\.searchParams"):
        MilvusAdapter(
            "s", "http://localhost:19530", native_defaults={"searchParams": {"params": {"x": 1}}}
        )
    with pytest.raises(InvalidArgument):
        MilvusAdapter("s", "http://localhost:19530", index_type="BOGUS")
    with pytest.raises(InvalidArgument):
        MilvusAdapter("s", "http://localhost:19530", index_type="HNSW", index_params={"M": 0})
    # LiteLLM-only keys and per-request-only params in native_defaults are ignored.
    MilvusAdapter(
        "s",
        "http://localhost:19530",
        native_defaults={"limit": 3, "offset": 2, "litellm_embedding_model": "x"},
    )


def test_name_mapping() -> None:
    for name in ("plain", "with_underscore", "dash-ed", "-x_-_", "_vg_", "_vg_u", "a" * 120):
        stored = milvus_name(name)
        assert collection_name(stored) == name
        assert "-" not in stored
    assert milvus_name("plain_name") == "plain_name"
    assert milvus_name("a-b_c") == "_vg_a_db_uc"
    # A native collection that merely looks escaped keeps its name.
    assert collection_name("_vg_x_zz") == "_vg_x_zz"
