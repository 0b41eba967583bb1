"""Tests for vectorgate_server.config: YAML + environment loading and validation."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

import pydantic
import pytest

from vectorgate_server.adapters.configs import (
    LanceDBConfig,
    MilvusConfig,
    OpenSearchConfig,
    PgvectorConfig,
    PineconeConfig,
    QdrantConfig,
)
from vectorgate_server.config import DEFAULT_STORE_NAME, Config, ConfigError, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "config.yaml"


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, environ: Mapping[str, str] | None = None) -> Config:
    return load_config(write(tmp_path, text), environ={} if environ is None else environ)


def load_error(tmp_path: Path, text: str, environ: Mapping[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, environ)
    return info.value


# --------------------------------------------------------------------------- seed 000, verbatim

SEED_OPENSEARCH = """\
# Planned configuration
vector_stores:
  opensearch:
    enabled: true
    hosts:
      - "https://opensearch-node:9200"
    index_name: "embeddings"
    auth:
      type: "basic"  # or "aws_sigv4"
      username: os.environ/OPENSEARCH_USER
      password: os.environ/OPENSEARCH_PASSWORD
    embedding_model: "text-embedding-3-small"
    dimensions: 1536
"""

SEED_LANCEDB = """\
# Planned configuration
vector_stores:
  lancedb:
    enabled: true
    uri: "/app/data/lancedb"  # Local or S3 path
    table_name: "embeddings"
    embedding_model: "text-embedding-3-small"
"""

SEED_QDRANT = """\
# Planned configuration
vector_stores:
  qdrant:
    enabled: true
    url: "http://qdrant:6333"
    api_key: os.environ/QDRANT_API_KEY
    collection_name: "embeddings"
    embedding_model: "text-embedding-3-small"
    vector_size: 1536
"""

SEED_PINECONE = """\
# Planned configuration
vector_stores:
  pinecone:
    enabled: true
    api_key: os.environ/PINECONE_API_KEY
    environment: "us-east-1"
    index_name: "embeddings"
    embedding_model: "text-embedding-3-small"
    namespace: "default"
"""

SEED_MILVUS = """\
# Planned configuration
vector_stores:
  milvus:
    enabled: true
    host: "milvus"
    port: 19530
    collection_name: "embeddings"
    embedding_model: "text-embedding-3-small"
    index_type: "IVF_FLAT"
    metric_type: "L2"
"""

SEED_ROUTER = """\
router_settings:
  routing_strategy: llmrouter-knn
  rag_enabled: true
  rag_settings:
    vector_store: "opensearch"
    top_k: 5
    rerank: true
    rerank_model: "cohere-rerank"
"""

SEED_MULTI = """\
vector_stores:
  primary:
    type: "opensearch"
    # ...
  secondary:
    type: "qdrant"
    # ...

rag_settings:
  stores: ["primary", "secondary"]
  merge_strategy: "reciprocal_rank_fusion"
"""

# --------------------------------------------------------------------------- seed 004, verbatim

SEED_REGISTRY = """\
vector_store_registry:
  - vector_store_name: "milvus-knowledgebase"
    litellm_params:
        vector_store_id: "my-collection-name"
        custom_llm_provider: "milvus"
        api_key: os.environ/MILVUS_API_KEY
        api_base: https://your-milvus-instance.milvus.io
        litellm_embedding_model: "azure/text-embedding-3-large"
        litellm_embedding_config:
            api_base: https://your-endpoint.cognitiveservices.azure.com/
            api_key: os.environ/AZURE_API_KEY
            api_version: "2025-09-01"
        milvus_text_field: "book_intro"
        # Optional Milvus parameters
        annsField: "book_intro_vector"
        limit: 10
"""

SEED_PASSTHROUGH = """\
model_list:  
  - model_name: embedding-model
    litellm_params:
      model: azure/text-embedding-3-large
      api_base: https://your-endpoint.cognitiveservices.azure.com/
      api_key: os.environ/AZURE_API_KEY
      api_version: "2025-09-01"

vector_store_registry:
  - vector_store_name: "milvus-store"
    litellm_params:
      vector_store_id: "can-be-anything" # vector store id can be anything for the purpose of passthrough api
      custom_llm_provider: "milvus"
      api_key: os.environ/MILVUS_API_KEY
      api_base: https://your-milvus-instance.milvus.io

general_settings:
    database_url: "postgresql://user:password@host:port/database"
    master_key: "sk-1234"
"""  # noqa: E501, W291 - long line and trailing spaces are in the seed

SEED_ENV = {
    "OPENSEARCH_USER": "os-user",
    "OPENSEARCH_PASSWORD": "os-secret-password",
    "QDRANT_API_KEY": "qdrant-secret-key",
    "MILVUS_API_KEY": "milvus-secret-key",
    "AZURE_API_KEY": "azure-secret-key",
}
# Kept apart: PINECONE_API_KEY also defines a "pinecone" store when none is configured.
PINECONE_ENV = {**SEED_ENV, "PINECONE_API_KEY": "pinecone-secret-key"}


def test_seed_opensearch(tmp_path: Path) -> None:
    config = load(tmp_path, SEED_OPENSEARCH, SEED_ENV)
    store = config.stores["opensearch"]
    assert isinstance(store, OpenSearchConfig)
    assert store.type == "opensearch"
    assert store.hosts == ["https://opensearch-node:9200"]
    assert store.index_name == "embeddings" == store.collection
    assert store.auth is not None
    assert store.auth.type == "basic"
    assert store.auth.username == "os-user"
    assert store.auth.password is not None
    assert store.auth.password.get_secret_value() == "os-secret-password"
    assert store.embedding_model == "text-embedding-3-small"
    assert store.dimensions == 1536 == store.dimension
    assert config.default_store == "opensearch"


def test_seed_lancedb(tmp_path: Path) -> None:
    config = load(tmp_path, SEED_LANCEDB, SEED_ENV)
    store = config.stores["lancedb"]
    assert isinstance(store, LanceDBConfig)
    assert store.uri == "/app/data/lancedb"
    assert store.table_name == "embeddings" == store.collection
    assert store.embedding_model == "text-embedding-3-small"
    assert list(config.stores) == ["lancedb"]


def test_seed_qdrant(tmp_path: Path) -> None:
    config = load(tmp_path, SEED_QDRANT, SEED_ENV)
    store = config.stores["qdrant"]
    assert isinstance(store, QdrantConfig)
    assert store.url == "http://qdrant:6333"
    assert store.path is None
    assert store.api_key is not None
    assert store.api_key.get_secret_value() == "qdrant-secret-key"
    assert store.collection_name == "embeddings" == store.collection
    assert store.vector_size == 1536 == store.dimension
    assert store.prefer_grpc is True


def test_seed_pinecone(tmp_path: Path) -> None:
    config = load(tmp_path, SEED_PINECONE, PINECONE_ENV)
    store = config.stores["pinecone"]
    assert isinstance(store, PineconeConfig)
    assert store.api_key.get_secret_value() == "pinecone-secret-key"
    assert store.environment == "us-east-1"
    assert store.index_name == "embeddings" == store.collection
    assert store.namespace == "default"


def test_seed_milvus(tmp_path: Path) -> None:
    config = load(tmp_path, SEED_MILVUS, SEED_ENV)
    store = config.stores["milvus"]
    assert isinstance(store, MilvusConfig)
    assert (store.host, store.port, store.uri) == ("milvus", 19530, None)
    assert store.connection_uri == "http://milvus:19530"
    assert not store.is_lite
    assert store.collection_name == "embeddings"
    assert store.index_type == "IVF_FLAT"
    assert store.metric_type == "L2"


def test_seed_router_settings(tmp_path: Path) -> None:
    config = load(tmp_path, SEED_OPENSEARCH + "\n" + SEED_ROUTER, SEED_ENV)
    router = config.router_settings
    # LiteLLM's LLM routing key: accepted and ignored (vectorgate routes no LLM).
    assert "routing_strategy" not in type(router).model_fields
    assert router.rag_enabled is True
    assert router.rag_settings is not None
    assert router.rag_settings.vector_store == "opensearch"
    assert router.rag_settings.top_k == 5
    assert router.rag_settings.rerank is True
    assert router.rag_settings.rerank_model == "cohere-rerank"


def test_seed_router_settings_alone_needs_the_store(tmp_path: Path) -> None:
    err = load_error(tmp_path, SEED_ROUTER)
    assert "router_settings.rag_settings.vector_store: store 'opensearch' is not configured" in str(
        err
    )
    # ... which OPENSEARCH_HOSTS can provide.
    config = load(tmp_path, SEED_ROUTER, {"OPENSEARCH_HOSTS": "http://os:9200"})
    assert config.stores["opensearch"].origin == "environment"


def test_seed_multi_store(tmp_path: Path) -> None:
    config = load(tmp_path, SEED_MULTI)
    assert list(config.stores) == ["primary", "secondary"]
    assert isinstance(config.stores["primary"], OpenSearchConfig)
    assert isinstance(config.stores["secondary"], QdrantConfig)
    assert config.rag_settings.stores == ["primary", "secondary"]
    assert config.rag_settings.rrf_k == 60
    assert config.default_store == "primary"


def test_seed_registry(tmp_path: Path) -> None:
    config = load(tmp_path, SEED_REGISTRY, SEED_ENV)
    store = config.stores["milvus-knowledgebase"]
    assert isinstance(store, MilvusConfig)
    assert store.origin == "vector_store_registry"
    assert store.collection_name == "my-collection-name" == store.collection
    assert store.uri == "https://your-milvus-instance.milvus.io" == store.connection_uri
    assert store.auth_token is not None
    assert store.auth_token.get_secret_value() == "milvus-secret-key"
    assert store.embedding_model == "azure/text-embedding-3-large"
    assert store.embedding_config is not None
    assert store.embedding_config.api_base == "https://your-endpoint.cognitiveservices.azure.com/"
    assert store.embedding_config.api_key is not None
    assert store.embedding_config.api_key.get_secret_value() == "azure-secret-key"
    assert store.embedding_config.api_version == "2025-09-01"
    assert store.text_field == "book_intro"
    assert store.native_defaults == {
        "milvus_text_field": "book_intro",
        "annsField": "book_intro_vector",
        "limit": 10,
    }
    assert config.default_store == "milvus-knowledgebase"


def test_seed_passthrough(tmp_path: Path) -> None:
    config = load(tmp_path, SEED_PASSTHROUGH, SEED_ENV)
    assert list(config.stores) == ["milvus-store"]
    assert config.stores["milvus-store"].collection == "can-be-anything"
    [model] = config.embedding_models
    assert model.name == "embedding-model"
    assert model.model == "azure/text-embedding-3-large"
    assert model.api_base == "https://your-endpoint.cognitiveservices.azure.com/"
    assert model.api_key is not None
    assert model.api_key.get_secret_value() == "azure-secret-key"
    assert model.api_version == "2025-09-01"
    assert config.get_embedding_model("embedding-model") is model
    assert config.get_embedding_model("nope") is None
    settings = config.general_settings
    assert settings.master_key is not None
    assert settings.master_key.get_secret_value() == "sk-1234"
    assert settings.database_url is not None
    assert (
        settings.database_url.get_secret_value() == "postgresql://user:password@host:port/database"
    )


def test_seed_blocks_combined(tmp_path: Path) -> None:
    stores = "\n".join(
        block.split("vector_stores:\n", 1)[1]
        for block in (SEED_OPENSEARCH, SEED_LANCEDB, SEED_QDRANT, SEED_PINECONE, SEED_MILVUS)
    )
    text = "vector_stores:\n" + stores + "\n" + SEED_ROUTER + "\n" + SEED_REGISTRY
    config = load(tmp_path, text, PINECONE_ENV)
    assert list(config.stores) == [
        "opensearch",
        "lancedb",
        "qdrant",
        "pinecone",
        "milvus",
        "milvus-knowledgebase",
    ]


# --------------------------------------------------------------------------- secrets


def test_secrets_never_printed(tmp_path: Path) -> None:
    stores = "\n".join(
        block.split("vector_stores:\n", 1)[1]
        for block in (SEED_OPENSEARCH, SEED_QDRANT, SEED_PINECONE)
    )
    extra = """
        native_defaults: {access_token: native-secret-token, nprobe: 8}
    """
    text = "vector_stores:\n" + stores + textwrap.indent(textwrap.dedent(extra), "    ")
    text += "\n" + SEED_PASSTHROUGH
    config = load(tmp_path, text, PINECONE_ENV)
    secrets = [
        *PINECONE_ENV.values(),
        "sk-1234",
        "user:password@host",
        "native-secret-token",
    ]
    secrets.remove("os-user")  # a user name is not a secret
    dumped = [repr(config), str(config), str(config.redacted_dict()), repr(config.stores)]
    for text_form in dumped:
        for secret in secrets:
            assert secret not in text_form
    redacted = config.redacted_dict()
    assert redacted["general_settings"]["master_key"] == "**********"
    assert redacted["stores"]["qdrant"]["api_key"] == "**********"
    assert redacted["stores"]["pinecone"]["native_defaults"] == {
        "access_token": "**********",
        "nprobe": 8,
    }
    assert redacted["stores"]["opensearch"]["auth"]["password"] == "**********"
    # still usable by the code that needs them
    pinecone = config.stores["pinecone"]
    assert isinstance(pinecone, PineconeConfig)
    assert pinecone.native_defaults["access_token"].get_secret_value() == "native-secret-token"


def test_secret_values_not_echoed_in_errors(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        """
        vector_stores:
          qdrant:
            api_key: {nested: hunter2}
        general_settings:
          master_key: [sk-hunter2]
        """,
    )
    assert "vector_stores.qdrant.api_key: Input should be a valid string" in err.errors
    assert "general_settings.master_key: Input should be a valid string" in err.errors
    assert "hunter2" not in str(err)


def test_registry_extra_secret_kept_as_secret(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        vector_store_registry:
          - vector_store_name: os-kb
            litellm_params:
              vector_store_id: docs
              custom_llm_provider: opensearch
              api_base: "http://a:9200, http://b:9200"
              api_key: opensearch-api-key
              aws_secret_access_key: aws-secret
              searchParams: {k: 3}
        """,
    )
    store = config.stores["os-kb"]
    assert isinstance(store, OpenSearchConfig)
    assert store.hosts == ["http://a:9200", "http://b:9200"]
    assert store.index_name == "docs"
    assert store.native_defaults["searchParams"] == {"k": 3}
    assert store.native_defaults["api_key"].get_secret_value() == "opensearch-api-key"
    assert store.native_defaults["aws_secret_access_key"].get_secret_value() == "aws-secret"
    assert "aws-secret" not in repr(config)
    assert "opensearch-api-key" not in str(config.redacted_dict())


# --------------------------------------------------------------------------- os.environ/


def test_env_refs_resolved_anywhere(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        server:
          grpc_port: os.environ/GRPC_PORT
        vector_stores:
          os:
            type: opensearch
            hosts: [os.environ/OS_HOST_A, "http://b:9200"]
            index_name: os.environ/INDEX
        """,
        {"GRPC_PORT": "6000", "OS_HOST_A": "http://a:9200", "INDEX": "docs"},
    )
    assert config.server.grpc_port == 6000
    store = config.stores["os"]
    assert isinstance(store, OpenSearchConfig)
    assert store.hosts == ["http://a:9200", "http://b:9200"]
    assert store.index_name == "docs"


def test_env_ref_missing_names_key_and_variable(tmp_path: Path) -> None:
    err = load_error(tmp_path, SEED_QDRANT)
    assert err.errors == (
        "vector_stores.qdrant.api_key: environment variable QDRANT_API_KEY is not set",
    )


def test_env_ref_missing_in_list_and_registry(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        textwrap.dedent(
            """
            vector_stores:
              opensearch:
                hosts: ["http://a:9200", os.environ/SECOND_HOST]
            """
        )
        + SEED_REGISTRY,
        {"MILVUS_API_KEY": "x"},
    )
    assert err.errors == (
        "vector_stores.opensearch.hosts[1]: environment variable SECOND_HOST is not set",
        "vector_store_registry[0].litellm_params.litellm_embedding_config.api_key: "
        "environment variable AZURE_API_KEY is not set",
    )


def test_env_ref_empty_is_an_error(tmp_path: Path) -> None:
    err = load_error(tmp_path, SEED_QDRANT, {"QDRANT_API_KEY": ""})
    assert err.errors == (
        "vector_stores.qdrant.api_key: environment variable QDRANT_API_KEY is empty",
    )


def test_env_ref_invalid_name(tmp_path: Path) -> None:
    err = load_error(tmp_path, "server:\n  host: os.environ/not-a-name\n")
    assert err.errors == (
        "server.host: invalid environment variable reference 'os.environ/not-a-name'",
    )


def test_env_refs_not_resolved_in_ignored_sections_or_disabled_stores(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        litellm_settings:
          callbacks: os.environ/UNSET_CALLBACK
        environment_variables:
          REDIS_PASSWORD: os.environ/UNSET_REDIS
        vector_stores:
          pinecone:
            enabled: false
            api_key: os.environ/UNSET_PINECONE
          lancedb: {}
        """,
    )
    assert list(config.stores) == ["lancedb"]


# --------------------------------------------------------------------------- file / YAML errors


def test_malformed_yaml_reports_line_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        vector_stores:
          qdrant:
            url: http://x: y: z
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    err = info.value
    assert err.errors == ("line 3, column 18: mapping values are not allowed here",)
    assert str(path) in str(err)
    assert "Traceback" not in str(err)
    assert err.__cause__ is None
    assert err.__suppress_context__


def test_yaml_duplicate_key(tmp_path: Path) -> None:
    err = load_error(tmp_path, "vector_stores:\n  lancedb: {}\n  lancedb: {}\n")
    assert err.errors == ("line 3, column 3: duplicate key 'lancedb'",)


def test_yaml_tab_indentation(tmp_path: Path) -> None:
    err = load_error(tmp_path, "server:\n\thost: x\n")
    assert err.errors[0].startswith("line 2, column 1: ")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert (
        str(info.value) == f"invalid vectorgate configuration in {path}:\n  config file not found"
    )


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path, environ={})


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    err = load_error(tmp_path, "- a\n- b\n")
    assert err.errors == ("the top level must be a mapping of sections, got a list",)


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, "# nothing here\n")
    assert list(config.stores) == [DEFAULT_STORE_NAME]
    assert config.source_path == tmp_path / "config.yaml"


# --------------------------------------------------------------------------- validation errors


def test_typo_in_store_block(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        """
        vector_stores:
          qdrant:
            url: http://qdrant:6333
            colection_name: docs
        """,
    )
    assert err.errors == (
        "vector_stores.qdrant.colection_name: unknown key (did you mean 'collection_name'?)",
    )


def test_typo_in_nested_block(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        """
        vector_stores:
          opensearch:
            auth: {type: basic, username: u, pasword: p}
        """,
    )
    assert "vector_stores.opensearch.auth.pasword: unknown key (did you mean 'password'?)" in (
        err.errors
    )


def test_wrong_type_reports_path_and_value(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        """
        vector_stores:
          qdrant:
            vector_size: abc
            prefer_grpc: maybe
        server:
          grpc_port: [1]
        """,
    )
    assert set(err.errors) == {
        "server.grpc_port: Input should be a valid integer, got a list",
        "vector_stores.qdrant.vector_size: Input should be a valid integer, got 'abc'",
        "vector_stores.qdrant.prefer_grpc: Input should be a valid boolean, got 'maybe'",
    }


def test_invalid_values(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        """
        vector_stores:
          milvus:
            port: 70000
            metric: manhattan
          qdrant:
            url: http://q:6333
            path: ./local
          opensearch:
            engine: elastic
        limits:
          max_top_k: 0
        """,
    )
    assert set(err.errors) == {
        "limits.max_top_k: Input should be greater than or equal to 1, got 0",
        "vector_stores.milvus.port: Input should be less than or equal to 65535, got 70000",
        "vector_stores.milvus.metric: Input should be 'cosine', 'l2' or 'ip', got 'manhattan'",
        "vector_stores.qdrant: set either 'url' (server) or 'path' (embedded), not both",
        "vector_stores.opensearch.engine: Input should be 'lucene', 'faiss' or 'nmslib', "
        "got 'elastic'",
    }


def test_store_type_required_unless_name_is_a_type(tmp_path: Path) -> None:
    err = load_error(tmp_path, "vector_stores:\n  docs:\n    uri: /x\n")
    assert err.errors == (
        "vector_stores.docs.type: field required (the store name 'docs' is not a store type; "
        "set type to one of lancedb, milvus, qdrant, opensearch, pinecone, pgvector)",
    )
    err = load_error(tmp_path, "vector_stores:\n  docs:\n    type: chroma\n")
    assert err.errors == (
        "vector_stores.docs.type: unknown store type 'chroma'; "
        "expected one of lancedb, milvus, qdrant, opensearch, pinecone, pgvector",
    )


def test_store_name_reserved_keys(tmp_path: Path) -> None:
    err = load_error(tmp_path, "vector_stores:\n  lancedb:\n    name: other\n")
    assert err.errors == (
        "vector_stores.lancedb.name: unknown key (the store name is the mapping key)",
    )


def test_missing_required_field(tmp_path: Path) -> None:
    err = load_error(tmp_path, "vector_stores:\n  pinecone:\n    index_name: x\n")
    assert err.errors == ("vector_stores.pinecone.api_key: field required",)


def test_unknown_top_level_key(tmp_path: Path) -> None:
    err = load_error(tmp_path, "vector_store:\n  lancedb: {}\nlitelm_settings: {}\n")
    assert err.errors == (
        "vector_store: unknown top-level key (did you mean 'vector_stores'?)",
        "litelm_settings: unknown top-level key (did you mean 'litellm_settings'?)",
    )


def test_litellm_sections_ignored(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        litellm_settings: {drop_params: true}
        environment_variables: {REDIS_HOST: localhost}
        callback_settings: {otel: {message_logging: false}}
        credential_list: []
        general_settings:
          master_key: sk-x
          store_model_in_db: true
        router_settings:
          routing_strategy: simple-shuffle
          redis_password: os.environ/REDIS_PASSWORD
        """,
        {"REDIS_PASSWORD": "r"},
    )
    assert config.router_settings.rag_enabled is False


def test_all_errors_reported_together(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        """
        vector_stores:
          qdrant: {vector_size: -1}
          milvus: {prot: 1}
        embedding: {batch_size: 0}
        """,
    )
    assert len(err.errors) == 3
    text = str(err)
    assert text.startswith(f"invalid vectorgate configuration in {tmp_path / 'config.yaml'}:\n")
    assert all(f"  {line}" in text for line in err.errors)


def test_dimension_alias_and_limit(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        vector_stores:
          qdrant: {dimensions: 768}
          opensearch: {vector_size: 384}
        """,
    )
    assert config.stores["qdrant"].dimension == 768
    assert config.stores["opensearch"].dimension == 384
    err = load_error(tmp_path, "vector_stores:\n  qdrant: {dimensions: 8, vector_size: 9}\n")
    assert err.errors == (
        "vector_stores.qdrant: 'vector_size' and 'dimensions' are both set and differ; "
        "set only one",
    )
    err = load_error(tmp_path, "vector_stores:\n  lancedb: {dimensions: 9000}\n")
    assert err.errors == (
        "vector_stores.lancedb.dimensions: 9000 exceeds limits.max_dimension (8192)",
    )


def test_milvus_uri_wins_and_lite(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        vector_stores:
          milvus: {host: ignored, uri: ./milvus.db, metric: l2, metric_type: l2}
          cloud: {type: milvus, uri: "https://z.zilliz.com", api_key: k}
        """,
    )
    lite = config.stores["milvus"]
    assert isinstance(lite, MilvusConfig)
    assert lite.connection_uri == "./milvus.db"
    assert lite.is_lite
    assert lite.metric_type == "L2"
    cloud = config.stores["cloud"]
    assert isinstance(cloud, MilvusConfig)
    assert cloud.connection_uri == "https://z.zilliz.com"
    assert not cloud.is_lite
    assert cloud.auth_token is not None


def test_defaults_for_bare_stores(tmp_path: Path) -> None:
    config = load(tmp_path, "vector_stores:\n  milvus:\n  qdrant:\n  opensearch: {}\n")
    milvus = config.stores["milvus"]
    qdrant = config.stores["qdrant"]
    opensearch = config.stores["opensearch"]
    assert isinstance(milvus, MilvusConfig)
    assert milvus.connection_uri == "http://localhost:19530"
    assert isinstance(qdrant, QdrantConfig)
    assert qdrant.url == "http://localhost:6333"
    assert isinstance(opensearch, OpenSearchConfig)
    assert opensearch.hosts == ["http://localhost:9200"]


def test_disabled_stores_dropped(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        vector_stores:
          lancedb: {enabled: false}
          qdrant: {enabled: "true"}
        """,
    )
    assert list(config.stores) == ["qdrant"]
    err = load_error(tmp_path, "vector_stores:\n  qdrant: {enabled: sometimes}\n")
    assert err.errors == (
        "vector_stores.qdrant.enabled: Input should be a valid boolean, got 'sometimes'",
    )


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(None, environ={})
    attribute = "default_store"
    with pytest.raises(pydantic.ValidationError):
        setattr(config, attribute, "x")


# --------------------------------------------------------------------------- registry


def test_registry_name_collision(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        """
        vector_stores:
          kb: {type: qdrant}
        vector_store_registry:
          - vector_store_name: kb
            litellm_params: {vector_store_id: c, custom_llm_provider: milvus}
          - vector_store_name: other
            litellm_params: {vector_store_id: c, custom_llm_provider: milvus}
          - vector_store_name: other
            litellm_params: {vector_store_id: d, custom_llm_provider: qdrant}
        """,
    )
    assert err.errors == (
        "vector_store_registry[0].vector_store_name: store 'kb' is already defined at "
        "vector_stores.kb",
        "vector_store_registry[2].vector_store_name: store 'other' is already defined at "
        "vector_store_registry[1]",
    )


def test_registry_unsupported_provider_and_missing_fields(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        """
        vector_store_registry:
          - vector_store_name: kb
            litellm_params: {vector_store_id: c, custom_llm_provider: bedrock}
          - vector_store_name: kb2
            litellm_params: {custom_llm_provider: milvus}
          - vector_store_name: kb3
            litellm_params: {vector_store_id: c, custom_llm_provider: qdrant}
            extra_thing: 1
        """,
    )
    assert err.errors == (
        "vector_store_registry[0].litellm_params.custom_llm_provider: unsupported provider "
        "'bedrock'; vectorgate supports lancedb, milvus, qdrant, opensearch, pinecone, pgvector",
        "vector_store_registry[1].litellm_params.vector_store_id: field required",
        "vector_store_registry[2].extra_thing: unknown key",
    )


def test_registry_errors_use_litellm_names(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        """
        vector_store_registry:
          - vector_store_name: kb
            litellm_params:
              vector_store_id: c
              custom_llm_provider: qdrant
              api_base: http://q:6333
              path: ./also-local
              vector_size: big
        """,
    )
    assert set(err.errors) == {
        "vector_store_registry[0].litellm_params.vector_size: Input should be a valid integer, "
        "got 'big'",
    }
    config = load(
        tmp_path,
        """
        vector_store_registry:
          - vector_store_name: kb
            litellm_params:
              vector_store_id: c
              custom_llm_provider: qdrant
              api_base: http://q:6333
              vector_size: 64
        """,
    )
    store = config.stores["kb"]
    assert isinstance(store, QdrantConfig)
    assert (store.url, store.collection_name, store.vector_size) == ("http://q:6333", "c", 64)
    # A parameter that became a store field is not also a native search default (only
    # Milvus reads LiteLLM's own parameters; the gateway would refuse it as one).
    assert store.native_defaults == {}


# --------------------------------------------------------------------------- rag settings


def test_rag_settings_unknown_store(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        SEED_MULTI.replace('["primary", "secondary"]', '["primary", "tertiary"]'),
    )
    assert err.errors == (
        "rag_settings.stores[1]: store 'tertiary' is not configured "
        "(configured: primary, secondary)",
    )


def test_rag_settings_disabled_store_and_weights(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        """
        vector_stores:
          a: {type: qdrant}
          b: {type: qdrant, enabled: false}
          c: {type: lancedb}
        rag_settings:
          stores: [a, b]
          weights: {a: 2.0, c: 1.0, z: 1.0}
          top_k: 5000
        """,
    )
    assert err.errors == (
        "rag_settings.stores[1]: store 'b' is disabled (configured: a, c)",
        "rag_settings.weights.c: store 'c' is not listed in rag_settings.stores",
        "rag_settings.weights.z: store 'z' is not configured (configured: a, c)",
        "rag_settings.top_k: exceeds limits.max_top_k (1000)",
    )


def test_rag_settings_valid(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        vector_stores:
          a: {type: qdrant}
          b: {type: lancedb}
        rag_settings:
          stores: [a, b]
          weights: {a: 2.0}
          rrf_k: 10
          rerank: true
          rerank_model: cohere-rerank
        """,
    )
    assert config.rag_settings.weights == {"a": 2.0}
    assert config.rag_settings.rrf_k == 10


# --------------------------------------------------------------------------- environment


def test_no_path_gives_default_lancedb() -> None:
    config = load_config(None, environ={})
    store = config.stores[DEFAULT_STORE_NAME]
    assert isinstance(store, LanceDBConfig)
    assert store.origin == "default"
    assert Path(store.uri) == Path("vectorgate-data") / "lancedb"
    assert config.default_store == DEFAULT_STORE_NAME
    assert config.get_store() is store
    assert config.server.grpc_port == 50051
    assert config.server.http_port == 4000
    assert config.server.max_message_bytes == 64 * 1024 * 1024
    assert config.limits.max_dimension == 8192
    assert config.embedding.default_model == "all-MiniLM-L6-v2"
    assert config.embedding.batch_size == 32


def test_default_lancedb_follows_data_dir(tmp_path: Path) -> None:
    config = load(tmp_path, f"server:\n  data_dir: {tmp_path}/state\n")
    store = config.stores[DEFAULT_STORE_NAME]
    assert isinstance(store, LanceDBConfig)
    assert store.uri == str(tmp_path / "state" / "lancedb")


def test_lancedb_uri_env() -> None:
    config = load_config(None, environ={"LANCEDB_URI": "s3://bucket/lance"})
    store = config.stores["lancedb"]
    assert isinstance(store, LanceDBConfig)
    assert store.uri == "s3://bucket/lance"
    assert store.origin == "environment"


def test_lancedb_uri_env_fills_but_file_wins(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        vector_stores:
          a: {type: lancedb}
          b: {type: lancedb, uri: /file/wins}
        """,
        {"LANCEDB_URI": "/from/env"},
    )
    a, b = config.stores["a"], config.stores["b"]
    assert isinstance(a, LanceDBConfig)
    assert isinstance(b, LanceDBConfig)
    assert (a.uri, b.uri) == ("/from/env", "/file/wins")


def test_qdrant_url_env(tmp_path: Path) -> None:
    config = load_config(None, environ={"QDRANT_URL": "http://qdrant:6333"})
    assert list(config.stores) == ["qdrant"]
    store = config.stores["qdrant"]
    assert isinstance(store, QdrantConfig)
    assert store.url == "http://qdrant:6333"
    assert config.default_store == "qdrant"
    config = load(
        tmp_path,
        """
        vector_stores:
          q1: {type: qdrant}
          q2: {type: qdrant, url: "http://file:6333"}
          q3: {type: qdrant, path: ":memory:"}
        """,
        {"QDRANT_URL": "http://env:6333"},
    )
    urls = {name: getattr(store, "url", None) for name, store in config.stores.items()}
    assert urls == {"q1": "http://env:6333", "q2": "http://file:6333", "q3": None}


def test_opensearch_hosts_env(tmp_path: Path) -> None:
    config = load_config(None, environ={"OPENSEARCH_HOSTS": "https://a:9200, https://b:9200,"})
    store = config.stores["opensearch"]
    assert isinstance(store, OpenSearchConfig)
    assert store.hosts == ["https://a:9200", "https://b:9200"]
    config = load(tmp_path, SEED_OPENSEARCH, {**SEED_ENV, "OPENSEARCH_HOSTS": "http://env:9200"})
    store = config.stores["opensearch"]
    assert isinstance(store, OpenSearchConfig)
    assert store.hosts == ["https://opensearch-node:9200"]


def test_pinecone_api_key_env(tmp_path: Path) -> None:
    config = load_config(None, environ={"PINECONE_API_KEY": "pc-env-key"})
    store = config.stores["pinecone"]
    assert isinstance(store, PineconeConfig)
    assert store.api_key.get_secret_value() == "pc-env-key"
    assert "pc-env-key" not in repr(config)
    config = load(
        tmp_path,
        "vector_stores:\n  pc:\n    type: pinecone\n    index_name: docs\n",
        {"PINECONE_API_KEY": "pc-env-key"},
    )
    store = config.stores["pc"]
    assert isinstance(store, PineconeConfig)
    assert store.api_key.get_secret_value() == "pc-env-key"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("milvus", ("milvus", 19530, None, "http://milvus:19530")),
        ("milvus:19531", ("milvus", 19531, None, "http://milvus:19531")),
        ("http://milvus:19530", (None, 19530, "http://milvus:19530", "http://milvus:19530")),
        ("./data/milvus.db", (None, 19530, "./data/milvus.db", "./data/milvus.db")),
    ],
)
def test_milvus_host_env(value: str, expected: tuple[object, ...]) -> None:
    config = load_config(None, environ={"MILVUS_HOST": value})
    store = config.stores["milvus"]
    assert isinstance(store, MilvusConfig)
    assert (store.host, store.port, store.uri, store.connection_uri) == expected


def test_milvus_host_env_fills_and_file_wins(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        vector_stores:
          m1: {type: milvus, port: 29530}
          m2: {type: milvus, host: file-host}
          m3: {type: milvus, uri: "http://file-uri:19530"}
        """,
        {"MILVUS_HOST": "env-host:19531"},
    )
    uris = {name: getattr(s, "connection_uri", None) for name, s in config.stores.items()}
    assert uris == {
        "m1": "http://env-host:29530",
        "m2": "http://file-host:19530",
        "m3": "http://file-uri:19530",
    }


def test_milvus_host_env_invalid() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, environ={"MILVUS_HOST": "milvus:port"})
    assert info.value.errors == (
        "MILVUS_HOST: expected host, host:port or a URI, got 'milvus:port'",
    )


def test_milvus_litellm_env_fallbacks(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        vector_store_registry:
          - vector_store_name: kb
            litellm_params: {vector_store_id: c, custom_llm_provider: milvus}
        """,
        {"MILVUS_API_BASE": "https://zilliz:443", "MILVUS_API_KEY": "mk"},
    )
    store = config.stores["kb"]
    assert isinstance(store, MilvusConfig)
    assert store.connection_uri == "https://zilliz:443"
    assert store.auth_token is not None
    assert store.auth_token.get_secret_value() == "mk"
    # they never define a store on their own
    config = load_config(None, environ={"MILVUS_API_BASE": "https://zilliz:443"})
    assert list(config.stores) == [DEFAULT_STORE_NAME]


def test_env_store_not_defined_when_type_disabled(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "vector_stores:\n  q:\n    type: qdrant\n    enabled: false\n  lancedb: {}\n",
        {"QDRANT_URL": "http://qdrant:6333"},
    )
    assert list(config.stores) == ["lancedb"]


def test_env_store_name_collision(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        "vector_stores:\n  qdrant:\n    type: milvus\n",
        {"QDRANT_URL": "http://qdrant:6333"},
    )
    assert err.errors == (
        "QDRANT_URL: cannot define store 'qdrant': that name is already used by a store of "
        "another type",
    )


def test_env_value_validated_with_hint() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, environ={"MILVUS_HOST": "milvus:0"})
    assert info.value.errors == (
        "vector_stores.milvus.port: Input should be greater than or equal to 1, got 0 "
        "(from MILVUS_HOST)",
    )
    with pytest.raises(ConfigError) as info:
        load_config(None, environ={"OPENSEARCH_HOSTS": " , "})
    assert info.value.errors == ("OPENSEARCH_HOSTS: no hosts in ','",)


def test_master_key_and_database_url_env(tmp_path: Path) -> None:
    env = {"VECTORGATE_MASTER_KEY": "sk-env", "DATABASE_URL": "postgresql://env"}
    config = load_config(None, environ=env)
    assert config.general_settings.master_key is not None
    assert config.general_settings.master_key.get_secret_value() == "sk-env"
    assert config.general_settings.database_url is not None
    assert config.general_settings.database_url.get_secret_value() == "postgresql://env"
    config = load(tmp_path, "general_settings:\n  master_key: sk-file\n", env)
    assert config.general_settings.master_key is not None
    assert config.general_settings.master_key.get_secret_value() == "sk-file"
    assert config.general_settings.database_url is not None
    assert config.general_settings.database_url.get_secret_value() == "postgresql://env"


# --------------------------------------------------------------------------- default store

MULTI = """
vector_stores:
  docs: {type: qdrant}
  faq: {type: qdrant}
  local: {type: lancedb}
  search: {type: opensearch}
"""


@pytest.mark.parametrize(
    ("value", "expected"),
    [("local", "local"), ("faq", "faq"), ("lancedb", "local"), ("OpenSearch", "search")],
)
def test_vector_store_type_selects(tmp_path: Path, value: str, expected: str) -> None:
    config = load(tmp_path, MULTI, {"VECTOR_STORE_TYPE": value})
    assert config.default_store == expected
    assert config.get_store().name == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "qdrant",
            "VECTOR_STORE_TYPE: 2 stores have type 'qdrant' (docs, faq); "
            "name one of them or set default_store",
        ),
        ("milvus", "VECTOR_STORE_TYPE: no enabled store of type 'milvus' is configured"),
        (
            "chroma",
            "VECTOR_STORE_TYPE: 'chroma' is neither a configured store (docs, faq, local, "
            "search) nor a store type (lancedb, milvus, qdrant, opensearch, pinecone, pgvector)",
        ),
    ],
)
def test_vector_store_type_errors(tmp_path: Path, value: str, message: str) -> None:
    err = load_error(tmp_path, MULTI, {"VECTOR_STORE_TYPE": value})
    assert err.errors == (message,)


def test_default_store_precedence(tmp_path: Path) -> None:
    assert load(tmp_path, MULTI).default_store == "docs"  # first store
    text = MULTI + "default_store: search\n"
    # the file wins over VECTOR_STORE_TYPE (which is then not even checked)
    assert load(tmp_path, text, {"VECTOR_STORE_TYPE": "chroma"}).default_store == "search"
    err = load_error(tmp_path, MULTI + "default_store: nope\n")
    assert err.errors == (
        "default_store: store 'nope' is not configured (configured: docs, faq, local, search)",
    )


def test_vector_store_type_with_defaults_only() -> None:
    config = load_config(None, environ={"VECTOR_STORE_TYPE": "lancedb"})
    assert config.default_store == "lancedb"
    with pytest.raises(ConfigError, match="no enabled store of type 'qdrant'"):
        load_config(None, environ={"VECTOR_STORE_TYPE": "qdrant"})
    config = load_config(
        None, environ={"VECTOR_STORE_TYPE": "qdrant", "QDRANT_URL": "http://q:6333"}
    )
    assert config.default_store == "qdrant"


def test_process_environment_used_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QDRANT_URL", "http://from-process:6333")
    for name in ("LANCEDB_URI", "MILVUS_HOST", "OPENSEARCH_HOSTS", "PINECONE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("VECTOR_STORE_TYPE", raising=False)
    config = load_config(None)
    assert config.default_store == "qdrant"


# --------------------------------------------------------------------------- example file


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE, environ={})
    assert list(config.stores) == ["local"]
    assert config.default_store == "local"


def test_example_config_every_store_valid(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace("enabled: false", "enabled: true")
    env = {
        name: "x"
        for name in (
            "MILVUS_TOKEN",
            "QDRANT_API_KEY",
            "OPENSEARCH_USER",
            "OPENSEARCH_PASSWORD",
            "PINECONE_API_KEY",
            "PGVECTOR_DSN",
        )
    }
    config = load(tmp_path, text, env)
    assert [store.type for store in config.stores.values()] == [
        "lancedb",
        "milvus",
        "qdrant",
        "opensearch",
        "pinecone",
        "pgvector",
    ]


def test_server_overrides_apply_before_derived_paths(tmp_path: Path) -> None:
    """Command-line flags (``--data-dir``) move the embedded store with the data dir."""
    cfg = load_config(
        None, environ={}, server_overrides={"data_dir": str(tmp_path / "d"), "grpc_port": 0}
    )
    assert cfg.server.grpc_port == 0
    store = cfg.stores["lancedb"]
    assert isinstance(store, LanceDBConfig)
    assert store.uri == str(tmp_path / "d" / "lancedb")


SEED_PGVECTOR = """\
vector_stores:
  pgvector:
    enabled: true
    dsn: os.environ/PGVECTOR_DSN
    table_prefix: rag_
    embedding_model: "text-embedding-3-small"
    dimensions: 1536
    index_type: hnsw
    metric_type: COSINE
"""


def test_seed_style_pgvector(tmp_path: Path) -> None:
    dsn = "postgresql://vg:pg-secret-pw@db:5432/rag"
    config = load(tmp_path, SEED_PGVECTOR, {"PGVECTOR_DSN": dsn})
    store = config.stores["pgvector"]
    assert isinstance(store, PgvectorConfig)
    assert store.type == "pgvector"
    assert store.dsn.get_secret_value() == dsn
    assert (store.table_prefix, store.schema_name) == ("rag_", "public")
    assert (store.index_type, store.default_index_type, store.metric_type) == (
        "HNSW",
        "HNSW",
        "COSINE",
    )
    assert (store.dimension, store.embedding_model) == (1536, "text-embedding-3-small")
    assert store.index_min_rows == 20_000
    assert "pg-secret-pw" not in repr(store)
    assert "pg-secret-pw" not in str(config.redacted_dict())


def test_pgvector_dsn_is_required_and_never_echoed(tmp_path: Path) -> None:
    err = load_error(tmp_path, "vector_stores:\n  pgvector:\n    table_prefix: x_\n")
    assert any(e.startswith("vector_stores.pgvector.dsn: field required") for e in err.errors)
    err = load_error(
        tmp_path,
        "vector_stores:\n  pgvector:\n    dsn: [postgresql://u:pg-secret-pw@h/db]\n",
    )
    assert "pg-secret-pw" not in str(err)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("table_prefix: Bad-Prefix", "table_prefix 'Bad-Prefix'"),
        ("table_prefix: ''", "table_prefix ''"),
        ("schema_name: 'a b'", "schema_name 'a b'"),
        ('text_search_config: "english\'; --"', "text_search_config"),
        ("index_type: diskann", "index_type 'DISKANN'"),
        ("metric_type: hamming", "metric_type 'HAMMING'"),
        ("metric: l2\n    metric_type: COSINE", "disagree"),
        ("pool_min_size: 5\n    pool_max_size: 2", "pool_min_size"),
        ("index_min_rows: 0", "index_min_rows"),
    ],
)
def test_pgvector_invalid_settings(tmp_path: Path, extra: str, message: str) -> None:
    err = load_error(
        tmp_path,
        f"vector_stores:\n  pg:\n    type: pgvector\n    dsn: postgresql://h/db\n    {extra}\n",
    )
    assert any(message in e for e in err.errors), err.errors


def test_pgvector_ivf_flat_spelling_and_registry(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        vector_stores:
          pg:
            type: pgvector
            dsn: postgresql://h/db
            index_type: IVF_FLAT
        vector_store_registry:
          - vector_store_name: kb
            litellm_params:
              custom_llm_provider: pgvector
              vector_store_id: docs
              api_base: postgresql://u:pw@h/db
        """,
    )
    pg = config.stores["pg"]
    assert isinstance(pg, PgvectorConfig)
    assert (pg.index_type, pg.default_index_type) == ("IVF_FLAT", "IVFFLAT")
    kb = config.stores["kb"]
    assert isinstance(kb, PgvectorConfig)
    assert kb.collection == "docs"
    assert kb.dsn.get_secret_value() == "postgresql://u:pw@h/db"


def test_merge_strategy_other_than_rrf_is_refused(tmp_path: Path) -> None:
    err = load_error(tmp_path, "rag_settings:\n  merge_strategy: linear\n")
    assert any(
        line.startswith("rag_settings:") and "merge_strategy: 'linear' is not supported" in line
        for line in err.errors
    ), err.errors
