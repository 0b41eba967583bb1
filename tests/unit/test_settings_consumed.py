"""Every configuration setting is consumed: a field nothing reads is dead weight that users
set in good faith (issue #17, "every setting consumed").

The test loads configurations that set every field of every configuration model (the top
level, ``server``, ``limits``, ``embedding``, ``model_list``, ``general_settings``,
``rag_settings``, ``router_settings`` and each store type with each of its connection
variants) to a distinctive, non-default sentinel. It then records every read of a model field
while the runtime is built from it (:class:`vectorgate_server.runtime.Server`: the adapters
through the factory, the gateway, the embedders, the transports) — nothing connects to a
backend — and asserts that each field was read at least once. The models are found by
walking :class:`~vectorgate_server.config.Config`'s annotations, so a field added later is
covered without touching this file, and a field the sentinels below do not set fails the
test too.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

import pydantic
import pytest
import yaml

from vectorgate_server.config import Config, load_config

#: Files whose reads do not count: pydantic's own machinery (validation, dumps, equality).
_IGNORED_READERS = (str(Path(pydantic.__file__).parent),)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _models(annotation: Any, seen: set[type[pydantic.BaseModel]]) -> None:
    """Every pydantic model reachable from ``annotation`` (through Optional, list, dict, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        if annotation in seen:
            return
        seen.add(annotation)
        for field in annotation.model_fields.values():
            _models(field.annotation, seen)
        return
    origin = get_origin(annotation)
    if origin is not None or isinstance(annotation, types.UnionType):
        for arg in get_args(annotation):
            _models(arg, seen)


def config_models() -> set[type[pydantic.BaseModel]]:
    seen: set[type[pydantic.BaseModel]] = set()
    _models(Config, seen)
    return seen


def _variants(tmp: Path) -> list[dict[str, Any]]:
    """Configuration documents that, together, set every field to a sentinel."""
    data_dir = tmp / "sentinel-data"
    endpoint = {
        "api_base": "http://127.0.0.1:9/sentinel-endpoint",
        "api_key": "sentinel-endpoint-key",
        "api_version": "2031-01-01",
    }

    def common(n: int) -> dict[str, Any]:
        # Fields every store type has (BaseStoreConfig).
        return {
            "embedding_model": "sentinel-embedder",
            "embedding_config": dict(endpoint),
            "metric": "l2",
            "timeout_s": 7.25 + n,
            "max_concurrency": 3 + n,
        }

    def top() -> dict[str, Any]:
        return {
            "server": {
                "host": "127.0.0.1",
                "grpc_port": _free_port(),
                "http_port": _free_port(),
                "data_dir": str(data_dir),
                "max_message_bytes": 3 * 1024 * 1024 + 7,
                "header_timeout_s": 4.5,
                "body_timeout_s": 6.5,
                "body_min_bytes_per_s": 321.0,
                "grace_period_s": 2.5,
            },
            "limits": {
                "max_top_k": 77,
                "max_batch_documents": 55,
                "max_text_bytes": 123_457,
                "max_metadata_bytes": 23_457,
                "max_dimension": 4099,
            },
            "embedding": {"default_model": "sentinel-embedder", "threads": 3, "batch_size": 13},
            "model_list": [
                {
                    "model_name": "sentinel-embedder",
                    "litellm_params": {
                        "model": "openai/sentinel-model",
                        **endpoint,
                        "dimensions": 8,
                    },
                    "model_info": {"mode": "embedding", "sentinel": True},
                }
            ],
            "general_settings": {
                "master_key": "sk-sentinel-master",
                "database_url": "postgresql://sentinel:pw@127.0.0.1:9/sentinel_keys",
            },
            "rag_settings": {
                "stores": ["lance"],
                "merge_strategy": "reciprocal_rank_fusion",
                "top_k": 9,
                "rerank": True,
                "rerank_model": "sentinel-reranker",
                "rrf_k": 42,
                "weights": {"lance": 0.75},
            },
            "router_settings": {
                "routing_strategy": "sentinel-strategy",
                "rag_enabled": True,
                "rag_settings": {
                    "vector_store": "lance",
                    "top_k": 8,
                    "rerank": True,
                    "rerank_model": "sentinel-reranker",
                },
            },
            "default_store": "lance",
        }

    stores: list[dict[str, Any]] = [
        {
            "lance": {
                "type": "lancedb",
                **common(0),
                "uri": "db://sentinel-db",
                "table_name": "sentinel_table",
                "api_key": "sk-sentinel-lance",
                "dimensions": 8,
                "native_defaults": {"nprobes": 17},
            },
            "milvus_uri": {
                "type": "milvus",
                **common(1),
                "uri": "http://127.0.0.1:9",
                "token": "sentinel-token",
                "db_name": "sentinel_db",
                "collection_name": "sentinel_collection",
                "index_type": "HNSW",
                "metric_type": "L2",
                "index_params": {"M": 11},
                "text_field": "sentinel_text",
                "dimensions": 8,
                "native_defaults": {"annsField": "sentinel_vector"},
            },
            "qdrant_url": {
                "type": "qdrant",
                **common(2),
                "url": "http://127.0.0.1:9",
                "api_key": "sentinel-qdrant-key",
                "prefer_grpc": False,
                "keyword_search": False,
                "collection_name": "sentinel_collection",
                "vector_size": 8,
                "native_defaults": {"hnsw_ef": 19},
            },
            "opensearch_basic": {
                "type": "opensearch",
                **common(3),
                "hosts": ["http://127.0.0.1:9"],
                "index_name": "sentinel_index",
                "auth": {"type": "basic", "username": "sentinel", "password": "sentinel-pw"},
                "dimensions": 8,
                "engine": "faiss",
                "space_type": "innerproduct",
                "verify_certs": False,
                "native_defaults": {"ef_search": 23},
            },
            "pinecone": {
                "type": "pinecone",
                **common(4),
                "api_key": "sentinel-pinecone-key",
                "environment": "sentinel-env",
                "cloud": "gcp",
                "region": "sentinel-region",
                "index_name": "sentinel-index",
                "host": "http://127.0.0.1:9",
                "namespace": "sentinel-ns",
                "dimensions": 8,
                "native_defaults": {"max_candidates": 29},
            },
            "pg": {
                "type": "pgvector",
                **common(5),
                "dsn": "postgresql://sentinel:pw@127.0.0.1:9/sentinel",
                "schema_name": "sentinel_schema",
                "table_prefix": "sen_",
                "collection_name": "sentinel_collection",
                "index_type": "IVFFLAT",
                "index_params": {"lists": 31},
                "metric_type": "L2",
                "dimensions": 8,
                "index_min_rows": 37,
                "text_search_config": "simple",
                "pool_min_size": 2,
                "pool_max_size": 5,
                "native_defaults": {"ivfflat_probes": 3},
            },
        },
        {
            # The other connection variants of the same models.
            "lance": {"type": "lancedb", "uri": str(tmp / "sentinel-lance")},
            "milvus_host": {"type": "milvus", **common(6), "host": "127.0.0.1", "port": 9},
            "milvus_key": {"type": "milvus", "uri": "http://127.0.0.1:9", "api_key": "k"},
            "qdrant_path": {"type": "qdrant", **common(7), "path": str(tmp / "sentinel-qdrant")},
            "pinecone_env": {"type": "pinecone", "api_key": "k", "environment": "sentinel-env"},
            "opensearch_sigv4": {
                "type": "opensearch",
                "hosts": ["https://127.0.0.1:9"],
                "auth": {"type": "aws_sigv4", "region": "sentinel-1", "service": "aoss"},
            },
        },
    ]
    return [{**top(), "vector_stores": block} for block in stores]


class _Reads:
    """Records which fields of which model instances are read."""

    def __init__(self) -> None:
        self.read: set[tuple[int, str]] = set()

    @contextlib.contextmanager
    def spying(self, classes: set[type[pydantic.BaseModel]]) -> Iterator[None]:
        reads = self.read
        originals = {cls: cls.__dict__.get("__getattribute__") for cls in classes}

        def spy(obj: Any, name: str) -> Any:
            fields = type(obj).model_fields
            if name in fields:
                caller = sys._getframe(1).f_code.co_filename
                if not caller.startswith(_IGNORED_READERS):
                    reads.add((id(obj), name))
            return object.__getattribute__(obj, name)

        for cls in classes:
            cls.__getattribute__ = spy  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            for cls, original in originals.items():
                if original is None:
                    del cls.__getattribute__
                else:
                    cls.__getattribute__ = original  # type: ignore[method-assign]


def _instances(obj: Any, path: str) -> Iterator[tuple[str, pydantic.BaseModel]]:
    if isinstance(obj, pydantic.BaseModel):
        yield path, obj
        for name in type(obj).model_fields:
            yield from _instances(obj.__dict__[name], f"{path}.{name}")
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from _instances(value, f"{path}[{key!r}]")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from _instances(value, f"{path}[{i}]")


async def _build_and_stop(server_class: Any, config: Config) -> None:
    """Build the runtime (nothing connects: stores open on start) and release what it bound."""
    server = server_class(config)
    await server.stop()


def unread_fields(configs: list[Config]) -> dict[str, list[str]]:
    """Build a server from each configuration; model class -> fields never read."""
    from vectorgate_server import runtime
    from vectorgate_server.storage import open_database

    def local_database(url: str | None, path: Path | str) -> Any:
        # The key database URL is read by the runtime; opening PostgreSQL would connect.
        assert url is None or url.startswith("postgresql://")
        return open_database(None, path)

    classes = config_models()
    read_by_class: dict[str, set[str]] = {}
    for config in configs:
        reads = _Reads()
        with pytest.MonkeyPatch.context() as patch, reads.spying(classes):
            patch.setattr(runtime, "open_database", local_database)
            patch.setenv("AWS_ACCESS_KEY_ID", "AKIDSENTINEL")
            patch.setenv("AWS_SECRET_ACCESS_KEY", "sentinel-secret")
            asyncio.run(_build_and_stop(runtime.Server, config))
        for _, model in _instances(config, "config"):
            cls = type(model).__name__
            got = read_by_class.setdefault(cls, set())
            got.update(n for n in type(model).model_fields if (id(model), n) in reads.read)
    unread: dict[str, list[str]] = {}
    for cls in sorted(classes, key=lambda c: c.__name__):
        missing = sorted(set(cls.model_fields) - read_by_class.get(cls.__name__, set()))
        if missing:
            unread[cls.__name__] = missing
    return unread


def load_variants(tmp_path: Path) -> list[Config]:
    configs = []
    for i, document in enumerate(_variants(tmp_path)):
        path = tmp_path / f"sentinel-{i}.yaml"
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        configs.append(load_config(path, environ={}))
    return configs


#: Fields that are not settings a user writes: filled in by the loader.
NOT_SETTINGS: Mapping[str, frozenset[str]] = {"Config": frozenset({"source_path"})}


def test_every_field_of_every_config_model_is_read(tmp_path: Path) -> None:
    configs = load_variants(tmp_path)
    unread = unread_fields(configs)
    exempt = dict(NOT_SETTINGS)
    dead = {
        cls: sorted(set(fields) - exempt.get(cls, frozenset()))
        for cls, fields in unread.items()
        if set(fields) - exempt.get(cls, frozenset())
    }
    assert dead == {}
    # Each exemption is still needed (a field that became read leaves the list).
    stale = {
        cls: sorted(fields - set(unread.get(cls, [])))
        for cls, fields in exempt.items()
        if fields - set(unread.get(cls, []))
    }
    assert stale == {}


def test_every_model_is_walked() -> None:
    names = {cls.__name__ for cls in config_models()}
    assert {
        "Config",
        "ServerSettings",
        "LimitsSettings",
        "EmbeddingSettings",
        "EmbeddingModelConfig",
        "EmbeddingEndpointConfig",
        "GeneralSettings",
        "RagSettings",
        "RouterSettings",
        "RouterRagSettings",
        "OpenSearchAuth",
        "LanceDBConfig",
        "MilvusConfig",
        "QdrantConfig",
        "OpenSearchConfig",
        "PineconeConfig",
        "PgvectorConfig",
    } <= names


def test_the_spy_sees_an_unread_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test above can fail: when the fused-search settings are not passed on, it names them."""
    import vectorgate_server.runtime as runtime

    configs = load_variants(tmp_path)
    monkeypatch.setattr(runtime.Retrieval, "from_config", classmethod(lambda cls, config: None))
    unread = unread_fields(configs)
    assert set(unread.get("RagSettings", [])) >= {"rrf_k", "weights", "top_k"}
