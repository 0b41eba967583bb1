"""Settings that used to do nothing, each observed doing its job (issue #17).

LanceDB ``api_key`` and ``timeout_s``, ``native_defaults`` of the stores whose adapter does
not apply them itself, a store's ``metric`` and ``limits.max_metadata_bytes``. Real
LanceDB (embedded) where a store is needed.
"""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import lancedb
import numpy as np
import pytest

from vectorgate_server import deadline
from vectorgate_server.adapters import lancedb as lancedb_module
from vectorgate_server.adapters.factory import create_adapter
from vectorgate_server.app import Gateway
from vectorgate_server.config import ConfigError, load_config
from vectorgate_server.domain import Document, IndexSpec, Metric, SearchQuery
from vectorgate_server.errors import DeadlineExceeded, LimitExceeded, Unavailable
from vectorgate_server.runtime import build_gateway


def _config(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "config.yaml"
    body = f"server:\n  data_dir: {tmp_path / 'data'}\n" + textwrap.dedent(text)
    path.write_text(body, encoding="utf-8")
    return load_config(path, environ={})


async def _gateway(tmp_path: Path, text: str) -> Gateway:
    gateway = build_gateway(_config(tmp_path, text))
    await gateway.start()
    return gateway


def test_lancedb_cloud_store_connects_with_its_api_key_and_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(
        tmp_path,
        """
        vector_stores:
          cloud:
            type: lancedb
            uri: db://my-project
            api_key: sk-lance-cloud
            timeout_s: 12.5
        """,
    )
    adapter = create_adapter(config.stores["cloud"], data_dir=tmp_path)
    seen: dict[str, Any] = {}

    async def connect_async(uri: str, **kwargs: Any) -> object:
        seen.update(kwargs, uri=uri)
        return object()

    monkeypatch.setattr(lancedb, "connect_async", connect_async)
    asyncio.run(adapter.start())
    assert seen["uri"] == "db://my-project"
    assert seen["api_key"] == "sk-lance-cloud"
    timeouts = seen["client_config"].timeout_config
    assert timeouts.timeout.total_seconds() == 12.5


def test_lancedb_call_past_its_timeout_is_unavailable_naming_the_setting(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        f"""
        vector_stores:
          local:
            type: lancedb
            uri: {tmp_path / "lance"}
            timeout_s: 0.05
        """,
    )
    adapter = create_adapter(config.stores["local"], data_dir=tmp_path)
    assert isinstance(adapter, lancedb_module.LanceDBAdapter)

    async def run() -> None:
        await adapter.start()
        try:
            assert await adapter.list_collections() == []

            async def stalled() -> list[str]:
                await asyncio.sleep(5)
                return []

            adapter._table_names = stalled  # type: ignore[method-assign]
            with pytest.raises(Unavailable, match=r"no answer within 0.05s \(timeout_s\)"):
                await adapter.list_collections()
        finally:
            await adapter.close()

    asyncio.run(run())


def test_native_defaults_reach_the_backend_under_the_query_own(tmp_path: Path) -> None:
    async def run() -> None:
        gateway = await _gateway(
            tmp_path,
            f"""
            vector_stores:
              local:
                type: lancedb
                uri: {tmp_path / "lance"}
                native_defaults: {{nprobes: 17, refine_factor: 3}}
            """,
        )
        try:
            target, _ = await gateway.create_collection(
                store="local",
                name="docs",
                dimension=4,
                metric=None,
                text_field="",
                embedding_model="none",
                index=IndexSpec(),
            )
            vector = np.ones(4, dtype=np.float32)
            query = SearchQuery(vector=vector, top_k=3, native_params={"refine_factor": 5})
            explained = await gateway.explain(target, query)
            assert explained.native_params["nprobes"] == 17
            assert explained.native_params["refine_factor"] == 5
        finally:
            await gateway.close()

    asyncio.run(run())


def test_native_default_the_backend_does_not_know_is_refused_at_startup(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        f"""
        vector_stores:
          local:
            type: lancedb
            uri: {tmp_path / "lance"}
            native_defaults: {{ef_search: 64}}
        """,
    )
    with pytest.raises(ConfigError) as info:
        build_gateway(config)
    assert "vector_stores.local.native_defaults.ef_search: not a lancedb search parameter" in str(
        info.value
    )


def test_store_metric_is_the_default_of_new_collections(tmp_path: Path) -> None:
    async def run() -> None:
        gateway = await _gateway(
            tmp_path,
            f"""
            vector_stores:
              local:
                type: lancedb
                uri: {tmp_path / "lance"}
                metric: l2
            """,
        )
        try:
            _, info = await gateway.create_collection(
                store="local",
                name="docs",
                dimension=4,
                metric=None,
                text_field="",
                embedding_model="none",
                index=IndexSpec(),
            )
            assert info.metric is Metric.L2
            _, named = await gateway.create_collection(
                store="local",
                name="other",
                dimension=4,
                metric=Metric.IP,
                text_field="",
                embedding_model="none",
                index=IndexSpec(),
            )
            assert named.metric is Metric.IP
        finally:
            await gateway.close()

    asyncio.run(run())


def test_metadata_over_max_metadata_bytes_is_refused_naming_the_field(tmp_path: Path) -> None:
    async def run() -> None:
        gateway = await _gateway(
            tmp_path,
            f"""
            limits:
              max_metadata_bytes: 64
            vector_stores:
              local:
                type: lancedb
                uri: {tmp_path / "lance"}
            """,
        )
        try:
            target, _ = await gateway.create_collection(
                store="local",
                name="docs",
                dimension=4,
                metric=None,
                text_field="",
                embedding_model="none",
                index=IndexSpec(),
            )
            vector = np.ones(4, dtype=np.float32)
            fits = Document(id="a", vector=vector, metadata={"k": "x" * 40})
            assert await gateway.upsert(target, [fits]) == 1
            big = Document(id="b", vector=vector, metadata={"k": "é" * 40})
            with pytest.raises(LimitExceeded) as info:
                await gateway.upsert(target, [fits, big])
            assert info.value.field == "documents[1].metadata"
            assert "limits.max_metadata_bytes" in info.value.message
            assert [d.id for d in await gateway.get(target, ["a", "b"], False)] == ["a"]
        finally:
            await gateway.close()

    asyncio.run(run())


def test_max_concurrency_bounds_the_calls_in_flight_of_an_async_store(tmp_path: Path) -> None:
    """LanceDB runs on its own async engine: the gateway's slots hold the excess back."""

    async def run() -> None:
        gateway = await _gateway(
            tmp_path,
            f"""
            vector_stores:
              local:
                type: lancedb
                uri: {tmp_path / "lance"}
                max_concurrency: 2
            """,
        )
        adapter = gateway.stores["local"]
        inner = adapter.inner  # type: ignore[attr-defined]
        in_flight = 0
        most = 0
        release = asyncio.Event()

        async def stalled() -> list[str]:
            nonlocal in_flight, most
            in_flight += 1
            most = max(most, in_flight)
            try:
                await release.wait()
                return []
            finally:
                in_flight -= 1

        inner._table_names = stalled
        try:
            calls = [asyncio.create_task(adapter.list_collections()) for _ in range(5)]
            await asyncio.sleep(0.2)
            assert (in_flight, most) == (2, 2)
            # A call whose deadline passes while it waits for a slot fails fast.
            with deadline.start(0.1), pytest.raises(DeadlineExceeded, match="slots stayed busy"):
                await adapter.list_collections()
            release.set()
            assert await asyncio.gather(*calls) == [[]] * 5
            assert most == 2
        finally:
            await gateway.close()

    asyncio.run(run())
