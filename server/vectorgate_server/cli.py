"""``vectorgate`` command line: ``serve``, ``--version`` and the client commands in cli_tools."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from collections.abc import Sequence

from . import __version__, cli_tools
from .config import Config, ConfigError, load_config
from .errors import BackendUnavailable

log = logging.getLogger("vectorgate")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vectorgate",
        description="One gRPC/REST contract in front of Milvus, Qdrant, OpenSearch, "
        "LanceDB and Pinecone.",
    )
    parser.add_argument("--version", action="version", version=f"vectorgate {__version__}")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the gateway (gRPC and HTTP)")
    serve.add_argument("--config", help="YAML configuration file (default: none, embedded store)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--grpc-port", type=int, help="gRPC port (default 50051; 0 = any free)")
    serve.add_argument("--http-port", type=int, help="HTTP port (default 4000; 0 = any free)")
    serve.add_argument("--data-dir", help="where the embedded store and state live")
    serve.add_argument(
        "--insecure-allow-remote",
        action="store_true",
        help="serve beyond loopback with no master key: anyone reaching the port is admin",
    )
    serve.add_argument(
        "--log-level",
        default=os.environ.get("VECTORGATE_LOG_LEVEL", "INFO"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
    )
    serve.add_argument(
        "--log-format",
        default=os.environ.get("VECTORGATE_LOG_FORMAT") or None,
        choices=["json", "text"],
        help="log lines as JSON objects or text (default: text on a terminal, JSON otherwise)",
    )
    cli_tools.add_parsers(sub)
    return parser


def _server_flags(args: argparse.Namespace) -> dict[str, object]:
    flags = {
        "host": args.host,
        "grpc_port": args.grpc_port,
        "http_port": args.http_port,
        "data_dir": args.data_dir,
    }
    return {key: value for key, value in flags.items() if value is not None}


async def _serve(config: Config, *, allow_remote: bool = False) -> int:
    from .gc_freeze import freeze_startup_objects
    from .runtime import Server

    server = Server(config, allow_remote=allow_remote)
    try:
        await server.start()
    except BaseException:
        await server.stop(0)
        raise
    freeze_startup_objects()
    print(
        f"vectorgate {__version__} serving gRPC on {config.server.host}:{server.ports.grpc}"
        f" and HTTP on {config.server.host}:{server.ports.http}",
        flush=True,
    )
    await server.run_until_signal()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vectorgate`` command."""
    args = _parser().parse_args(argv)
    if args.command in cli_tools.COMMANDS:
        return cli_tools.run(args)
    if args.command != "serve":
        _parser().print_help()
        return 2
    # Before numpy loads: OpenBLAS threading makes small matrix work far slower.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # Before the server's threads start; see glibc_malloc for the figures.
    from . import glibc_malloc

    glibc_malloc.configure()
    from .observability import configure_logging

    configure_logging(args.log_level, args.log_format)
    from .embeddings import EmbeddingModelError

    def serve() -> int:
        config = load_config(args.config, server_overrides=_server_flags(args))
        return asyncio.run(_serve(config, allow_remote=args.insecure_allow_remote))

    return cli_tools.exit_code(
        "vectorgate",
        serve,
        [
            ((ConfigError, BackendUnavailable, EmbeddingModelError), 2, ""),
            (OSError, 1, "cannot start: "),
        ],
    )


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
