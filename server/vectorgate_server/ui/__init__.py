"""The web console at ``/ui``: static pages, and the file upload route they ingest with.

The pages (``static/``, packaged in the wheel) are public static content: they
hold no data and no secret. Everything they show comes from the same REST API
every client calls (transcoded RPCs, ``/key/*``, ``/metrics``), authorized by
the same permission table with the key the user signs in with, sent as
``Authorization: Bearer``.

Every page response carries a strict Content-Security-Policy (scripts and
styles from this origin only, no inline code, no framing, no plugins, no
``<base>``), ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy:
no-referrer``.

``POST /v1/collections/{collection}/documents:ingest`` takes one file as the
raw request body (its name in ``?filename=``) and loads it the way
``vectorgate ingest`` does: :func:`..ingest.read_file`, :class:`..ingest.Chunker`
with the local tokenizer and :func:`..ingest.iter_chunks` (so the same file gives
the same chunk ids from either), skipping chunks already stored, through the
``GetDocuments`` and ``UpsertDocuments`` RPCs (so the caller's key is
authorized per index, exactly as for an upsert).
"""

from __future__ import annotations

import asyncio
import functools
import mimetypes
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from vectorgate.v1 import upsert_service_pb2 as upb

from ..convert import dict_to_struct
from ..errors import InvalidArgument
from ..http.common import (
    FILE_BODY,
    error_response,
    invoke,
    json_response,
    parse_timeout,
    read_body,
    start_call,
)
from ..ingest import (
    SUPPORTED_SUFFIXES,
    Chunk,
    Chunker,
    FileError,
    iter_chunks,
    local_token_counter,
    read_file,
)
from ..services.registry import CallContext, Rpc

__all__ = [
    "INGEST_PATH",
    "SECURITY_HEADERS",
    "STATIC_DIR",
    "UI_PATHS",
    "console_routes",
]

#: Where the packaged pages live.
STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
#: Route paths of the pages (declared PUBLIC in the permission table).
UI_PATHS: Final = ("/ui", "/ui/{path:path}")
#: Route path of the upload (declared WRITE; each RPC it calls is authorized again).
INGEST_PATH: Final = "/v1/collections/{collection}/documents:ingest"

CSP: Final = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    )
)

#: Headers of every page and asset.
SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    # Pages change with the installed version; revalidate rather than serve stale code.
    "Cache-Control": "no-cache",
}

_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

CallAuthorizer = Callable[[Rpc, Any, CallContext], Awaitable[None]]

#: Ingest defaults, as ``vectorgate ingest``'s options.
DEFAULT_CHUNK_TOKENS: Final = 200
DEFAULT_OVERLAP: Final = 30
BATCH_SIZE: Final = 64


def _packaged_files() -> dict[str, Path]:
    """Every packaged static file by its URL path (relative, ``/``-separated)."""
    files: dict[str, Path] = {}
    for path in STATIC_DIR.rglob("*"):
        relative = path.relative_to(STATIC_DIR)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            files[relative.as_posix()] = path
    return files


#: The files /ui serves, listed once: a request path is only ever a key into this
#: table, never turned into a filesystem path (no traversal, NUL or encoding tricks).
_FILES: Final = _packaged_files()


def _static_file(relative: str) -> Path | None:
    """The packaged file at ``relative`` (one of :data:`_FILES`), if any."""
    return _FILES.get(relative or "index.html")


def _page(body: bytes, content_type: str, status: int = 200) -> Response:
    return Response(body, status, headers={**SECURITY_HEADERS, "Content-Type": content_type})


async def _serve(request: Request) -> Response:
    relative = str(request.path_params.get("path", ""))
    path = _static_file(relative)
    if path is None:
        return _page(b"not found\n", "text/plain; charset=utf-8", 404)
    kind = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    body = await asyncio.to_thread(path.read_bytes)
    return _page(body, kind or "application/octet-stream")


async def _index(request: Request) -> Response:
    # /ui -> /ui/ so that the page's relative asset URLs resolve under /ui/.
    return RedirectResponse("/ui/", 308, headers=dict(SECURITY_HEADERS))


@functools.cache
def _token_counter() -> Callable[[str], int]:
    """The local model's tokenizer, as ``vectorgate ingest`` counts chunk sizes (loaded once)."""
    return local_token_counter()


def _chunker(chunk_tokens: int, overlap: int) -> Chunker:
    return Chunker(_token_counter(), chunk_tokens, overlap)


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise InvalidArgument(
            f"{name}: must be an integer from {low} to {high}, got {raw!r}", field=name
        )
    return value


def _filename(request: Request) -> str:
    name = request.query_params.get("filename", "")
    if not name:
        raise InvalidArgument(
            "filename: required, the uploaded file's name (its suffix picks the reader)",
            field="filename",
            reason="MISSING_FIELD",
        )
    if len(name) > 255 or any(c in name for c in "/\\\0") or name in (".", ".."):
        raise InvalidArgument(
            "filename: a plain file name (no directories), at most 255 characters",
            field="filename",
        )
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InvalidArgument(
            f"filename: unsupported file type {suffix or '(none)'!r} (supported: "
            f"{', '.join(sorted(SUPPORTED_SUFFIXES))})",
            field="filename",
        )
    return name


def _chunks_of(raw: bytes, name: str, chunker: Chunker) -> tuple[str, list[Chunk]]:
    """Read the upload with the CLI's reader (it reads paths: a private temp file)."""
    with tempfile.TemporaryDirectory(prefix="vectorgate-ingest-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(raw)
        filetype, records = read_file(path)
        return filetype, list(iter_chunks(filetype, records, name, chunker))


class IngestRoute:
    """``POST /v1/collections/{collection}/documents:ingest``: one file, loaded.

    Query: ``filename`` (required), ``store``, ``chunk_tokens``, ``overlap``.
    """

    def __init__(
        self, rpcs: Mapping[str, Rpc], max_body_bytes: int, authorize: CallAuthorizer
    ) -> None:
        self.get_rpc = rpcs["/vectorgate.v1.UpsertService/GetDocuments"]
        self.upsert_rpc = rpcs["/vectorgate.v1.UpsertService/UpsertDocuments"]
        self.limit = max_body_bytes
        self.authorize = authorize

    async def handle(self, request: Request) -> Response:
        """The route endpoint."""
        call = start_call(request)
        try:
            parse_timeout(call)
            collection = str(request.path_params["collection"])
            store = request.query_params.get("store", "")
            name = _filename(request)
            chunk_tokens = _int_param(request, "chunk_tokens", DEFAULT_CHUNK_TOKENS, 8, 8192)
            overlap = _int_param(request, "overlap", DEFAULT_OVERLAP, 0, 8191)
            if overlap >= chunk_tokens:
                raise InvalidArgument("overlap: must be smaller than chunk_tokens", field="overlap")
            # An upload is a write, even of chunks all stored already: refused up
            # front, before the body is read, when the key may not upsert here.
            await self.authorize(
                self.upsert_rpc,
                upb.UpsertDocumentsRequest(collection=collection, store=store),
                call.context,
            )
            raw = await read_body(request, self.limit)
            chunker = await asyncio.to_thread(_chunker, chunk_tokens, overlap)
            try:
                filetype, chunks = await asyncio.to_thread(_chunks_of, raw, name, chunker)
            except FileError as err:
                raise InvalidArgument(f"body: {name}: {err}", field="body") from None
            written = await self._load(store, collection, chunks, call.context)
            return json_response(
                call,
                {
                    "source": name,
                    "filetype": filetype,
                    "chunk_count": len(chunks),
                    "upserted_count": written,
                    "present_count": len(chunks) - written,
                    "ids": [c.id for c in chunks],
                },
            )
        except Exception as exc:
            return error_response(call, exc)

    async def _load(
        self, store: str, collection: str, chunks: Sequence[Chunk], ctx: CallContext
    ) -> int:
        """Upsert the chunks not stored yet, in batches; the number written."""
        written = 0
        for start in range(0, len(chunks), BATCH_SIZE):
            batch = chunks[start : start + BATCH_SIZE]
            found = await invoke(
                self.get_rpc,
                upb.GetDocumentsRequest(
                    collection=collection, store=store, ids=[c.id for c in batch]
                ),
                ctx,
            )
            assert isinstance(found, upb.GetDocumentsResponse)
            present = {d.id for d in found.documents}
            todo = [c for c in batch if c.id not in present]
            if not todo:
                continue
            request = upb.UpsertDocumentsRequest(collection=collection, store=store)
            for chunk in todo:
                doc = request.documents.add(id=chunk.id, text=chunk.text)
                dict_to_struct(chunk.metadata, doc.metadata)
            await invoke(self.upsert_rpc, request, ctx)
            written += len(todo)
        return written


def console_routes(
    rpcs: Sequence[Rpc], max_body_bytes: int, authorize: CallAuthorizer
) -> list[Route]:
    """The console's routes: the pages and the upload route.

    ``authorize(rpc, request, ctx)`` authenticates and authorizes a call without
    making it (:func:`..auth.call_authorizer`).
    """
    by_name: dict[str, Any] = {rpc.full_name: rpc for rpc in rpcs}
    ingest = Route(
        INGEST_PATH, IngestRoute(by_name, max_body_bytes, authorize).handle, methods=["POST"]
    )
    # The body is a file of any type (the console sends application/octet-stream):
    # declared so, the auth gate neither refuses its Content-Type nor parses it as JSON.
    ingest.body_format = FILE_BODY  # type: ignore[attr-defined]
    return [
        Route(UI_PATHS[0], _index, methods=["GET"]),
        Route(UI_PATHS[1], _serve, methods=["GET"]),
        ingest,
    ]
