"""Client-side ``vectorgate`` commands: ``ingest``, ``search``, ``collections``, ``indexes``.

``copy`` is the exception: it opens the stores of a configuration file directly
(see :mod:`vectorgate_server.copy`), no gateway involved.

They talk to a running gateway through the Python client (:mod:`vectorgate`),
at ``--target`` (default ``$VECTORGATE_TARGET`` or ``127.0.0.1:50051``) with
``--api-key`` (default ``$VECTORGATE_API_KEY``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from vectorgate import Client, CollectionInfo

__all__ = ["COMMANDS", "ExitCodes", "add_parsers", "exit_code", "run"]

COMMANDS: Final = frozenset({"ingest", "search", "collections", "indexes", "keys", "copy"})
DEFAULT_TARGET: Final = "127.0.0.1:50051"
_SNIPPET_CHARS: Final = 160


def _connection_options(parser: argparse.ArgumentParser, *, inherit: bool = False) -> None:
    """``--target``, ``--api-key``, ``--timeout``.

    With ``inherit`` (an action subparser) the options default to what the parent
    parser parsed, so ``collections --target X list`` and ``collections list
    --target X`` mean the same.
    """
    group = parser.add_argument_group("connection")
    defaults: dict[str, Any] = {
        "target": os.environ.get("VECTORGATE_TARGET", DEFAULT_TARGET),
        "api_key": os.environ.get("VECTORGATE_API_KEY"),
        "timeout": 120.0,
    }
    if inherit:
        defaults = dict.fromkeys(defaults, argparse.SUPPRESS)
    group.add_argument(
        "--target",
        default=defaults["target"],
        help=f"gateway host:port (default $VECTORGATE_TARGET or {DEFAULT_TARGET})",
    )
    group.add_argument(
        "--api-key", default=defaults["api_key"], help="API key (default $VECTORGATE_API_KEY)"
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=defaults["timeout"],
        help="deadline of each call in seconds (default 120)",
    )


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be at least 0")
    return number


def _named_actions(
    parser: argparse.ArgumentParser, plural: str, one: str, delete_help: str
) -> tuple[argparse.ArgumentParser, ...]:
    """The ``list`` (the default), ``get NAME``, ``create NAME`` and ``delete NAME`` actions
    of a command over named things."""
    actions = parser.add_subparsers(dest="action", metavar="{list,get,create,delete}")
    listing = actions.add_parser("list", help=f"list {plural} (the default)")
    named = [
        actions.add_parser("get", help=f"describe {one}"),
        actions.add_parser("create", help=f"create {one}"),
        actions.add_parser("delete", help=delete_help),
    ]
    for action in named:
        action.add_argument("name")
    return (listing, *named)


def add_parsers(sub: Any) -> None:
    """Adds the client commands to the ``vectorgate`` subparsers ``sub``."""
    ingest = sub.add_parser(
        "ingest", help="load .txt/.md/.html/.jsonl/.pdf files into a collection"
    )
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    ingest.add_argument("--collection", required=True, help="created if it does not exist")
    ingest.add_argument("--store", help="the store (default: the gateway's default store)")
    ingest.add_argument(
        "--chunk-tokens", type=_positive, default=200, help="chunk size in tokens (default 200)"
    )
    ingest.add_argument(
        "--overlap", type=_non_negative, default=30, help="tokens shared by chunks (default 30)"
    )
    ingest.add_argument(
        "--batch-size", type=_positive, default=64, help="documents per upsert (default 64)"
    )
    _connection_options(ingest)

    copy = sub.add_parser(
        "copy",
        help="copy a collection between configured stores (server-side, resumable)",
        description="Stream every document (id, vector, text, metadata) of a collection into "
        "another store of the configuration file, creating the target collection like the "
        "source if missing; resumable from a checkpoint; verifies counts at the end.",
    )
    copy.add_argument(
        "--from", dest="source", required=True, metavar="STORE/COLLECTION", help="source"
    )
    copy.add_argument(
        "--to",
        dest="target",
        required=True,
        metavar="STORE/COLLECTION",
        help="target (created like the source if missing)",
    )
    copy.add_argument("--config", help="YAML configuration file naming both stores")
    copy.add_argument(
        "--page-size", type=_positive, default=1000, help="documents per page (default 1000)"
    )
    copy.add_argument(
        "--checkpoint",
        type=Path,
        help="resume checkpoint JSON (default <data_dir>/copy-checkpoints/<from>--<to>-*.json)",
    )
    copy.add_argument(
        "--resume", action="store_true", help="continue after the checkpoint's last document"
    )

    search = sub.add_parser("search", help="search a collection and print a table of hits")
    search.add_argument("text", help="the query text")
    search.add_argument("--collection", required=True, help="collection or virtual index")
    search.add_argument("--store", help="the store (default: the gateway's default store)")
    search.add_argument("--top-k", type=_positive, default=10)
    search.add_argument(
        "--filter",
        help='metadata filter as JSON: {"field": "year", "op": "gte", "value": 2000}, '
        '{"and": [...]}, ... or {"filetype": "pdf"} for equality',
    )
    _connection_options(search)

    collections = sub.add_parser("collections", help="list, describe, create or delete collections")
    c_list, c_get, c_create, c_delete = _named_actions(
        collections, "collections", "a collection", "delete a collection and its documents"
    )
    c_create.add_argument("--dimension", type=_non_negative, default=0)
    c_create.add_argument("--metric", choices=["cosine", "l2", "ip"], default="cosine")
    c_create.add_argument("--embedding-model", default="", help="'' = server default, 'none'")
    c_create.add_argument("--index-type", default="")
    for parser in (collections, c_list, c_get, c_create, c_delete):
        inherit = parser is not collections
        parser.add_argument(
            "--store",
            default=argparse.SUPPRESS if inherit else None,
            help="the store (default: the gateway's default store)",
        )
        _connection_options(parser, inherit=inherit)

    indexes = sub.add_parser("indexes", help="list, describe, create or delete virtual indexes")
    i_list, i_get, i_create, i_delete = _named_actions(
        indexes, "virtual indexes", "a virtual index", "delete a virtual index"
    )
    i_create.add_argument("--collection", required=True)
    i_create.add_argument("--store", required=True)
    i_create.add_argument("--policy-filter", help="filter ANDed into every call, as JSON")
    i_create.add_argument("--description", default="")
    for parser in (indexes, i_list, i_get, i_create, i_delete):
        _connection_options(parser, inherit=parser is not indexes)

    keys = sub.add_parser("keys", help="generate, describe, list or delete virtual keys")
    k_actions = keys.add_subparsers(dest="action", metavar="{list,info,generate,delete}")
    k_list = k_actions.add_parser("list", help="list the keys you manage (the default)")
    k_info = k_actions.add_parser("info", help="describe a key (default: your own)")
    k_info.add_argument("key", nargs="?", default="")
    k_generate = k_actions.add_parser("generate", help="generate a key; it is shown only once")
    k_generate.add_argument(
        "--index",
        action="append",
        default=[],
        metavar="NAME=PERMS",
        help="grant a virtual index, e.g. docs=read,write (repeatable)",
    )
    k_generate.add_argument("--model", action="append", default=[], help="allowed model")
    k_generate.add_argument("--alias", default="")
    k_generate.add_argument("--duration", default="", help="lifetime such as 30d, 12h")
    k_generate.add_argument(
        "--key",
        default="",
        metavar="SK",
        help="choose the key's value instead of a random one (master key only; sk- and 16 "
        "to 256 printable characters), e.g. a key migrated from LiteLLM; '-' reads it from "
        "stdin, keeping it out of the process list and shell history",
    )
    k_delete = k_actions.add_parser("delete", help="delete keys")
    k_delete.add_argument("key", nargs="+")
    for parser in (keys, k_list, k_info, k_generate, k_delete):
        _connection_options(parser, inherit=parser is not keys)


# -- helpers ---------------------------------------------------------------------------------


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def _client(args: argparse.Namespace) -> Client:
    from vectorgate import Client

    return Client(args.target, api_key=args.api_key or None, timeout=args.timeout)


def _json_arg(value: str | None, option: str) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as err:
        raise _UsageError(f"{option}: invalid JSON: {err.msg}") from None
    if not isinstance(parsed, dict):
        raise _UsageError(f"{option}: expected a JSON object")
    return parsed


class _UsageError(Exception):
    pass


_FILTER_KEYS: Final = frozenset({"and", "or", "not", "field", "op", "value"})


def _filter_arg(value: str | None, option: str) -> dict[str, Any] | None:
    """A filter in the client's dict form; ``{"key": value, ...}`` is shorthand for equalities."""
    parsed = _json_arg(value, option)
    if parsed is None or not parsed or set(parsed) & _FILTER_KEYS:
        return parsed
    conditions = [{"field": key, "op": "eq", "value": v} for key, v in parsed.items()]
    return conditions[0] if len(conditions) == 1 else {"and": conditions}


def _print_table(
    console: Console,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    empty: str,
    right: Sequence[str] = (),
) -> None:
    """A listing: ``empty`` when there are no rows, else a rich table of them, the ``right``
    columns right-justified (numbers), the others folding."""
    if not rows:
        console.print(empty)
        return
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        if column in right:
            table.add_column(column, justify="right")
        else:
            table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET_CHARS else flat[: _SNIPPET_CHARS - 1] + "…"


#: How a command reports what it raised: the exception types, the exit code, and what the
#: line on stderr says before the error. The first entry that matches wins.
ExitCodes = Sequence[tuple[type[Exception] | tuple[type[Exception], ...], int, str]]


def exit_code(prefix: str, call: Callable[[], int], codes: ExitCodes) -> int:
    """``call()``'s exit code; when it raises one of ``codes``' types, that entry's code after
    ``prefix: error`` on stderr; 130 on Ctrl-C. Anything else propagates."""
    try:
        return call()
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        for types, code, lead in codes:
            if isinstance(err, types):
                print(f"{prefix}: {lead}{err}", file=sys.stderr)
                return code
        raise


def run(args: argparse.Namespace) -> int:
    """Runs a client command; returns the exit code."""
    from vectorgate.errors import VectorgateError

    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "ingest": _ingest,
        "search": _search,
        "collections": _collections,
        "indexes": _indexes,
        "keys": _keys,
        "copy": _copy,
    }
    return exit_code(
        f"vectorgate {args.command}",
        lambda: commands[args.command](args),
        [(_UsageError, 2, ""), (VectorgateError, 1, "")],
    )


# -- search and admin ------------------------------------------------------------------------


def _search(args: argparse.Namespace) -> int:
    filter_ = _filter_arg(args.filter, "--filter")
    with _client(args) as client:
        hits = client.search(
            args.collection, text=args.text, top_k=args.top_k, filter=filter_, store=args.store
        )
    rows = []
    for rank, hit in enumerate(hits, start=1):
        source = hit.metadata.get("source", "")
        chunk = hit.metadata.get("chunk")
        where = f"{source}#{chunk}" if source and chunk is not None else str(source)
        rows.append((str(rank), f"{hit.score:.4f}", hit.id, where, _snippet(hit.text)))
    title = f"{len(hits)} hits for {args.text!r} in {args.collection}"
    columns = ("rank", "score", "id", "source", "snippet")
    _print_table(_console(), title, columns, rows, empty="no hits", right=("rank", "score"))
    return 0


def _action_command(
    command: Callable[[argparse.Namespace, Client, Console, str], int],
) -> Callable[[argparse.Namespace], int]:
    """A command of actions (``collections``, ``indexes``, ``keys``): it runs with the action
    named (``list`` when none), a console and an open client."""

    def run(args: argparse.Namespace) -> int:
        console = _console()
        with _client(args) as client:
            return command(args, client, console, args.action or "list")

    return run


def _print_collections(
    console: Console, collections: Sequence[CollectionInfo], counts: bool = False
) -> None:
    columns = ["name", "store", "backend", "dimension", "metric", "embedding model"]
    rows = [
        [c.name, c.store, c.backend, str(c.dimension), c.metric, c.embedding_model]
        + ([str(c.document_count)] if counts else [])
        for c in collections
    ]
    if counts:
        columns.append("documents")
    _print_table(
        console, "collections", columns, rows, empty="no collections", right=("documents",)
    )


@_action_command
def _collections(args: argparse.Namespace, client: Client, console: Console, action: str) -> int:
    if action == "list":
        _print_collections(console, client.list_collections(store=args.store))
    elif action == "get":
        _print_collections(
            console, [client.get_collection(args.name, store=args.store)], counts=True
        )
    elif action == "create":
        created = client.create_collection(
            args.name,
            store=args.store,
            dimension=args.dimension,
            metric=args.metric,
            embedding_model=args.embedding_model,
            index_type=args.index_type,
        )
        console.print(f"created collection {created.name} in store {created.store}")
        _print_collections(console, [created])
    else:
        client.delete_collection(args.name, store=args.store)
        console.print(f"deleted collection {args.name}")
    return 0


@_action_command
def _indexes(args: argparse.Namespace, client: Client, console: Console, action: str) -> int:
    if action in ("list", "get", "create"):
        if action == "list":
            found = client.list_indexes()
        elif action == "get":
            found = [client.get_index(args.name)]
        else:
            found = [
                client.create_index(
                    args.name,
                    collection=args.collection,
                    store=args.store,
                    policy_filter=_filter_arg(args.policy_filter, "--policy-filter"),
                    description=args.description,
                )
            ]
            console.print(f"created virtual index {args.name}")
        rows = [
            (
                index.index_name,
                index.collection,
                index.store,
                json.dumps(index.policy_filter) if index.policy_filter else "",
                index.description,
            )
            for index in found
        ]
        columns = ("name", "collection", "store", "policy filter", "description")
        _print_table(console, "virtual indexes", columns, rows, empty="no virtual indexes")
    else:
        client.delete_index(args.name)
        console.print(f"deleted virtual index {args.name}")
    return 0


@_action_command
def _keys(args: argparse.Namespace, client: Client, console: Console, action: str) -> int:
    if action == "generate":
        grants: dict[str, list[str]] = {}
        for item in args.index:
            name, sep, perms = item.partition("=")
            if not sep or not name or not perms:
                raise _UsageError(f"--index {item!r}: use NAME=read,write")
            grants[name] = [p.strip() for p in perms.split(",") if p.strip()]
        chosen = sys.stdin.readline().strip() if args.key == "-" else args.key
        created = client.generate_key(
            indexes=grants,
            models=args.model,
            alias=args.alias,
            duration=args.duration,
            key=chosen,
        )
        console.print(f"key (shown only once): {created['key']}")
        return 0
    if action == "delete":
        deleted = client.delete_keys(args.key)
        console.print(f"deleted {len(deleted)} key(s)")
        return 0 if len(deleted) == len(args.key) else 1
    infos = [client.key_info(args.key)] if action == "info" else client.list_keys()
    rows = [
        (
            str(info.get("key_prefix") or info.get("token", ""))[:16],
            str(info.get("key_alias", "")),
            ", ".join(
                f"{g.get('index_name', '')}:{'+'.join(g.get('index_permissions', []))}"
                for g in info.get("allowed_vector_store_indexes", [])
            ),
            ", ".join(info.get("models", [])),
            str(info.get("expires", "")),
        )
        for info in infos
    ]
    columns = ("token", "alias", "indexes", "models", "expires")
    _print_table(console, "virtual keys", columns, rows, empty="no keys")
    return 0


# -- ingest ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Totals:
    files_ok: int = 0
    files_failed: int = 0
    chunks: int = 0
    new: int = 0
    present: int = 0


def _ensure_collection(client: Client, args: argparse.Namespace, console: Console) -> str:
    """The collection's embedding model, creating the collection if it does not exist."""
    from vectorgate.errors import NotFoundError

    try:
        info = client.get_collection(args.collection, store=args.store)
    except NotFoundError:
        info = client.create_collection(args.collection, store=args.store)
        console.print(f"created collection {info.name} in store {info.store}")
    return info.embedding_model


def _progress(console: Console, detail: str, *, remaining: bool = False) -> Progress:
    """The commands' progress display: spinner, description, bar, count, ``detail``, time
    elapsed (and an estimate of the time remaining)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns: list[ProgressColumn] = [
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(detail),
        TimeElapsedColumn(),
    ]
    if remaining:
        columns.append(TimeRemainingColumn())
    return Progress(*columns, console=console)


def _ingest(args: argparse.Namespace) -> int:
    from vectorgate.errors import VectorgateError

    from .embeddings import MODEL_ALIASES, MODEL_NAME
    from .ingest import (
        Chunker,
        FileError,
        collect_files,
        iter_chunks,
        local_token_counter,
        read_file,
    )

    if args.overlap >= args.chunk_tokens:
        raise _UsageError("--overlap must be smaller than --chunk-tokens")
    console = _console(stderr=True)
    missing = [p for p in args.paths if not p.exists()]
    for path in missing:
        console.print(f"[red]skipped[/] {path}: no such file or directory")
    files = collect_files([p for p in args.paths if p.exists()])
    if not files:
        console.print("[red]no files to ingest[/]")
        return 1

    started = time.monotonic()
    totals = _Totals(files_failed=len(missing))
    with _client(args) as client:
        model = _ensure_collection(client, args, console)
        if model == "none":
            raise _UsageError(f"collection {args.collection} has no embedding model (vectors only)")
        if model not in (MODEL_NAME, *MODEL_ALIASES):
            console.print(
                f"note: chunk sizes are counted with the {MODEL_NAME} tokenizer "
                f"(the collection's model {model!r} has no local tokenizer)"
            )
        chunker = Chunker(local_token_counter(), args.chunk_tokens, args.overlap)
        progress = _progress(console, "files · {task.fields[chunks]} chunks · {task.fields[rate]}")
        with progress:
            task = progress.add_task("ingesting", total=len(files), chunks=0, rate="- chunks/s")
            for path, root in files:
                source = path.relative_to(root).as_posix() if path != root else path.name
                try:
                    filetype, records = read_file(path)
                    chunks = list(iter_chunks(filetype, records, source, chunker))
                    new = 0
                    for start in range(0, len(chunks), args.batch_size):
                        batch = chunks[start : start + args.batch_size]
                        present = {
                            d.id
                            for d in client.get(
                                args.collection, [c.id for c in batch], store=args.store
                            )
                        }
                        todo = [
                            {"id": c.id, "text": c.text, "metadata": c.metadata}
                            for c in batch
                            if c.id not in present
                        ]
                        if todo:
                            client.upsert(args.collection, todo, store=args.store)
                        new += len(todo)
                except FileError as err:
                    totals.files_failed += 1
                    progress.console.print(f"[red]skipped[/] {source}: {err}")
                except (VectorgateError, ValueError, TypeError) as err:
                    totals.files_failed += 1
                    progress.console.print(f"[red]failed[/] {source}: {err}")
                else:
                    totals.files_ok += 1
                    totals.chunks += len(chunks)
                    totals.new += new
                    totals.present += len(chunks) - new
                    if not chunks:
                        progress.console.print(f"[yellow]empty[/] {source}: no text")
                elapsed = max(time.monotonic() - started, 1e-6)
                progress.update(
                    task,
                    advance=1,
                    chunks=totals.chunks,
                    rate=f"{totals.chunks / elapsed:.1f} chunks/s",
                )

    elapsed = time.monotonic() - started
    print(
        f"ingested {totals.files_ok} file(s) into {args.collection}: {totals.chunks} chunks, "
        f"{totals.new} new, {totals.present} already present; "
        f"{totals.files_failed} file(s) skipped; {elapsed:.1f} s "
        f"({totals.chunks / max(elapsed, 1e-6):.1f} chunks/s)",
        flush=True,
    )
    return 0 if totals.files_ok else 1


# -- copy --------------------------------------------------------------------------------------


def _copy(args: argparse.Namespace) -> int:
    import asyncio

    from .config import ConfigError, load_config
    from .copy import CopyError
    from .errors import BackendUnavailable
    from .errors import VectorgateError as ServerError

    console = _console(stderr=True)
    return exit_code(
        "vectorgate copy",
        lambda: asyncio.run(_run_copy(args, load_config(args.config), console)),
        [((ConfigError, BackendUnavailable), 2, ""), ((CopyError, ServerError), 1, "")],
    )


async def _run_copy(args: argparse.Namespace, config: Any, console: Console) -> int:
    import contextlib

    from .adapters.base import Adapter
    from .adapters.factory import create_adapter
    from .copy import CopyError, copy_collection, default_checkpoint_path, parse_location

    source_store, source_name = parse_location(args.source, config.default_store)
    target_store, target_name = parse_location(args.target, config.default_store)
    for store in (source_store, target_store):
        if store not in config.stores:
            known = ", ".join(sorted(config.stores))
            raise CopyError(f"no store {store!r} in the configuration (stores: {known})")
    data_dir: Path = config.server.data_dir
    checkpoint = args.checkpoint or default_checkpoint_path(
        data_dir, f"{source_store}/{source_name}", f"{target_store}/{target_name}"
    )
    started = time.monotonic()
    async with contextlib.AsyncExitStack() as stack:
        adapters: dict[str, Adapter] = {}
        for store in dict.fromkeys((source_store, target_store)):
            adapter = create_adapter(config.stores[store], data_dir=data_dir)
            await adapter.start()
            stack.push_async_callback(adapter.close)
            adapters[store] = adapter
        progress = _progress(console, "docs · {task.fields[rate]}", remaining=True)
        with progress:
            task = progress.add_task(
                f"{args.source} → {args.target}", total=None, completed=0, rate="- docs/s"
            )
            first: list[int] = []

            def report(copied: int, total: int | None) -> None:
                if not first:
                    first.append(copied)
                elapsed = max(time.monotonic() - started, 1e-6)
                progress.update(
                    task,
                    completed=copied,
                    total=total,
                    rate=f"{(copied - first[0]) / elapsed:.0f} docs/s",
                )

            result = await copy_collection(
                adapters[source_store],
                source_name,
                adapters[target_store],
                target_name,
                page_size=args.page_size,
                checkpoint=checkpoint,
                resume=args.resume,
                on_progress=report,
            )
    elapsed = time.monotonic() - started
    print(
        f"copied {result.copied} document(s) from {args.source} to {args.target} "
        f"({'created' if result.created else 'existing'} collection"
        f"{', resumed' if args.resume else ''}); counts verified: {result.target_count}; "
        f"{elapsed:.1f} s",
        flush=True,
    )
    return 0
