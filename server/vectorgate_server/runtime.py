"""Builds the gateway from configuration and runs the servers until a signal."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

from .adapters.base import Adapter
from .adapters.factory import create_adapter, native_defaults_for_gateway
from .app import Gateway, Limits, StoreDefaults
from .auth import (
    Authenticator,
    call_authorizer,
    check_bind,
    route_declarations,
    secure_http,
    secure_rpcs,
    streaming_routes,
)
from .config import Config
from .domain import Metric
from .embeddings import EmbeddingRegistry, LocalOnnxEmbedder, default_registry
from .embeddings.remote import register_configured_embedders
from .grpc_server import GrpcServer
from .http import HttpServer
from .milvus_rest import MilvusPassthrough
from .observability import (
    instrument_adapter,
    instrument_embeddings,
    instrument_rpcs,
    mount_metrics,
)
from .retrieval import Retrieval
from .services.handlers import implementations
from .services.keys import KeyService
from .services.registry import Rpc, build_rpcs
from .storage import IndexRegistry, KeyStore, filter_from_json, filter_to_json, open_database
from .ui import console_routes
from .workers import DEFAULT_WAIT_S, CallSlots

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Ports:
    """Where the servers listen (after binding: port 0 becomes the real port)."""

    grpc: int
    http: int


def build_embeddings(config: Config) -> EmbeddingRegistry:
    """The embedding models: the local model as default, per the config."""
    settings = config.embedding
    local = LocalOnnxEmbedder(max_batch=settings.batch_size, intra_op_num_threads=settings.threads)
    registry = default_registry(local=local)
    # Remote models (openai/..., azure/..., OpenAI-compatible) of model_list and the stores.
    register_configured_embedders(registry, config)
    return registry


def build_gateway(config: Config, *, embeddings: EmbeddingRegistry | None = None) -> Gateway:
    """A gateway (not started) for the configuration."""
    data_dir = config.server.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    stores: dict[str, Adapter] = {
        name: instrument_adapter(
            create_adapter(store, data_dir=data_dir),
            CallSlots(name, store.max_concurrency, wait_s=store.timeout_s or DEFAULT_WAIT_S),
        )
        for name, store in config.stores.items()
    }
    url = config.general_settings.database_url
    db = open_database(
        url.get_secret_value() if url is not None else None, data_dir / "vectorgate.db"
    )
    indexes = IndexRegistry(db, encode_filter=filter_to_json, decode_filter=filter_from_json)
    limits = Limits(
        max_top_k=config.limits.max_top_k,
        max_batch_documents=config.limits.max_batch_documents,
        max_text_bytes=config.limits.max_text_bytes,
        max_metadata_bytes=config.limits.max_metadata_bytes,
        max_dimension=config.limits.max_dimension,
    )
    store_defaults = {
        name: StoreDefaults(
            metric=Metric(store.default_metric) if store.default_metric else None,
            native_params=native_defaults_for_gateway(store, stores[name]),
        )
        for name, store in config.stores.items()
    }
    return Gateway(
        stores=stores,
        default_store=config.default_store,
        embeddings=instrument_embeddings(embeddings or build_embeddings(config)),
        indexes=indexes,
        limits=limits,
        database=db,
        store_embedding_models={
            name: store.embedding_model
            for name, store in config.stores.items()
            if store.embedding_model
        },
        retrieval=Retrieval.from_config(config),
        store_defaults=store_defaults,
    )


class Server:
    """The gateway and its transports, started and stopped together."""

    def __init__(
        self,
        config: Config,
        *,
        embeddings: EmbeddingRegistry | None = None,
        allow_remote: bool = False,
    ) -> None:
        self.config = config
        master_key = config.general_settings.master_key
        check_bind(config.server.host, master_key=master_key is not None, allow_remote=allow_remote)
        self.gateway = build_gateway(config, embeddings=embeddings)
        assert self.gateway.database is not None
        self.authenticator = Authenticator(
            master_key.get_secret_value() if master_key is not None else None,
            KeyStore(self.gateway.database),
        )
        services = implementations(self.gateway)
        services["KeyService"] = KeyService(
            self.authenticator.keys,
            master_key.get_secret_value() if master_key is not None else None,
        )
        self.rpcs: list[Rpc] = instrument_rpcs(
            secure_rpcs(
                build_rpcs(services),
                self.authenticator,
                self.gateway.indexes.lookup,
                self.gateway.indexes.refresh,
            )
        )
        self.grpc = GrpcServer(
            self.rpcs,
            host=config.server.host,
            port=config.server.grpc_port,
            max_message_bytes=config.server.max_message_bytes,
        )
        self.http = HttpServer(self.rpcs, self.gateway, config)
        mount_metrics(self.http.app)
        self.http.app.router.routes[:0] = console_routes(
            self.rpcs,
            config.server.max_message_bytes,
            call_authorizer(self.authenticator, self.gateway.indexes.lookup),
        )
        self.http.app.router.routes.insert(
            0,
            MilvusPassthrough(
                self.gateway,
                self.authenticator,
                self.rpcs,
                max_body_bytes=config.server.max_message_bytes,
            ).route(),
        )
        secure_http(
            self.http.app.router.routes,
            route_declarations(self.rpcs),
            self.authenticator,
            config.server.max_message_bytes,
            streaming=streaming_routes(self.rpcs),
        )
        self.ports = Ports(grpc=self.grpc.port, http=self.http.port)
        self._stopped = asyncio.Event()

    async def start(self, *, warm_up: bool = True) -> None:
        """Open stores, load the embedding model, start serving."""
        await self.gateway.start()
        if warm_up:
            await asyncio.to_thread(self.gateway.embeddings.warm_up)
        await self.grpc.start()
        health = self.gateway.store_health
        for name, state in health.states.items():
            await self.grpc.set_store_serving(name, state.available)
        health.listeners.append(self.grpc.set_store_serving)
        await self.http.start()
        log.info(
            "vectorgate serving gRPC on %s:%d and HTTP on port %d (stores: %s; default %s)",
            self.config.server.host,
            self.ports.grpc,
            self.ports.http,
            ", ".join(f"{n} ({a.backend})" for n, a in self.gateway.stores.items()),
            self.gateway.default_store,
        )

    async def stop(self, grace: float | None = None) -> None:
        """Graceful stop: NOT_SERVING, finish in-flight calls within the grace period."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        period = self.config.server.grace_period_s if grace is None else grace
        log.info("shutting down (grace period %.1fs)", period)
        await asyncio.gather(self.grpc.stop(period), self.http.stop(period))
        await self.gateway.close()
        log.info("stopped")

    async def run_until_signal(self) -> None:
        """Serve until SIGTERM or SIGINT, then stop gracefully."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await self.stop()
