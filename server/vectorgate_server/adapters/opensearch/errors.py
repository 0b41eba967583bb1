"""OpenSearch failures as domain errors: transport errors, bulk items, index creation.

One :class:`ErrorMap` per adapter (its store, hosts and layout cache): a
missing index is ``NotFound`` (and its cached layout dropped), an unreachable
or overloaded cluster ``Unavailable`` (credentials in host URLs masked),
refused credentials ``BackendAuthFailed``, a query over OpenSearch's clause
limits ``InvalidArgument`` naming the filter or the text, a rejected document
``InvalidArgument`` naming the document field, anything else ``Internal``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, NoReturn

from opensearchpy import exceptions as os_exc

from ...errors import (
    AlreadyExists,
    BackendAuthFailed,
    Internal,
    InvalidArgument,
    NotFound,
    Unavailable,
    VectorgateError,
)
from ...filters.opensearch import GROUPS, INT_GROUP, METADATA_FIELD, metadata_key
from ...retry import backend_error, http_code
from .layout import BACKEND, Layout

log = logging.getLogger(__name__)


class _NoTraceback(logging.Filter):
    """opensearch-py logs each failed request with the transport's traceback; the adapter
    maps the failure itself (a connection error is UNAVAILABLE with the host), so the SDK's
    line is kept and its traceback dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


logging.getLogger("opensearch").addFilter(_NoTraceback())

#: The field an OpenSearch error reason names: ``field [a.b]`` or ``field="a.b"``.
_FIELD_IN_REASON: Final = re.compile(r"field(?: \[([^\]]+)\]|=\"([^\"]+)\")")
#: Errors OpenSearch returns for queries over its size limits (boolean clauses, terms).
_TOO_BIG_QUERY: Final = re.compile(
    r"too_many_nested_clauses|too_many_clauses|maxClauseCount|number of terms \[\d+\] used"
)
_CREDENTIALS_IN_URL: Final = re.compile(r"(//)[^/@\s]+@")


def _error_body(exc: os_exc.TransportError) -> dict[str, Any]:
    """The JSON error body of a failed request (opensearch-py parses it only sometimes)."""
    info = exc.info
    if isinstance(info, Mapping):
        return dict(info)
    error = exc.error
    if isinstance(error, str) and error.lstrip().startswith("{"):
        with contextlib.suppress(ValueError):
            parsed = json.loads(error)
            if isinstance(parsed, dict):
                return parsed
    return {}


def _error_type(body: Mapping[str, Any]) -> str:
    error = body.get("error")
    if isinstance(error, Mapping):
        return str(error.get("type", ""))
    return ""


def _error_reason(body: Mapping[str, Any]) -> str:
    error = body.get("error")
    if isinstance(error, Mapping):
        causes = error.get("root_cause")
        if isinstance(causes, list) and causes and isinstance(causes[0], Mapping):
            return str(causes[0].get("reason", "")) or str(error.get("reason", ""))
        return str(error.get("reason", ""))
    return str(error or "")


def _item_reason(error: Mapping[str, Any]) -> str:
    reason = str(error.get("reason", ""))
    cause = error.get("caused_by")
    if isinstance(cause, Mapping) and cause.get("reason"):
        reason = f"{reason}: {cause['reason']}" if reason else str(cause["reason"])
    return reason


#: The request path of a part of the item at a position of a ``_bulk`` call:
#: ``path(i, part)``, ``part`` as :attr:`..batches.WriteRow.path` takes it (``""``
#: the item itself, ``"vector"``, ``"text"``, ``"metadata.<key>"``).
BulkPath = Callable[[int, str], str]


def _document_field(layout: Layout, reason: str, path: Callable[[str], str]) -> str:
    """The request field a rejected bulk item's error reason names (else the item);
    ``path``: the item's request path of a part."""
    match = _FIELD_IN_REASON.search(reason)
    if match is None:
        return path("")
    field = match.group(1) or match.group(2)
    if field == layout.vector_field:
        return path("vector")
    if field == layout.text_field:
        return path("text")
    parts = field.split(".", 2)
    groups = (*GROUPS.values(), INT_GROUP)
    if len(parts) == 3 and parts[0] == METADATA_FIELD and parts[1] in groups:
        return path(f"metadata.{metadata_key(parts[2])}")
    return path("")


@dataclass(frozen=True, slots=True)
class ErrorMap:
    """Domain errors of one store's failures."""

    store: str
    hosts: Sequence[str]
    #: The adapter's layout cache: a collection found missing is dropped from it.
    layouts: dict[str, Layout]

    def not_found(self, name: str) -> NotFound:
        self.layouts.pop(name, None)
        return NotFound(
            f"collection {name!r} not found in store {self.store!r}",
            reason="COLLECTION_NOT_FOUND",
            metadata={"collection": name, "store": self.store},
        )

    def unavailable(self, exc: Exception, what: str) -> Unavailable:
        detail = type(exc).__name__
        if isinstance(exc, os_exc.TransportError) and not isinstance(exc, os_exc.ConnectionError):
            detail = f"HTTP {exc.status_code} {_error_type(_error_body(exc)) or ''}".strip()
        elif isinstance(exc, os_exc.ConnectionTimeout):
            detail = "timed out"
        text = _CREDENTIALS_IN_URL.sub(r"\1***@", detail)
        # Where it tried (credentials in a host URL masked): what an operator fixes.
        hosts = ", ".join(_CREDENTIALS_IN_URL.sub(r"\1***@", host) for host in self.hosts)
        return Unavailable(
            f"store {self.store!r} ({BACKEND}) at {hosts} is unavailable: {what} failed ({text})",
            metadata={"store": self.store, "backend": BACKEND},
        )

    @contextlib.asynccontextmanager
    async def translated(
        self, what: str, name: str | None = None, *, keyword: bool = False
    ) -> AsyncIterator[None]:
        """Translate client errors into domain errors (``keyword``: of a keyword search)."""
        try:
            yield
        except VectorgateError:
            raise
        except os_exc.ConnectionError as exc:  # includes ConnectionTimeout and SSLError
            raise self.unavailable(exc, what) from exc
        except os_exc.TransportError as exc:
            self._raise_transport(exc, what, name, keyword=keyword)

    def _raise_transport(
        self, exc: os_exc.TransportError, what: str, name: str | None, *, keyword: bool = False
    ) -> NoReturn:
        body = _error_body(exc)
        kind = _error_type(body)
        status = exc.status_code
        if status == 404 and kind == "index_not_found_exception" and name is not None:
            raise self.not_found(name) from exc
        if isinstance(status, int) and (status >= 500 or status in (401, 403, 408, 429)):
            error = backend_error(
                http_code(status),
                store=self.store,
                backend=BACKEND,
                where=f"store {self.store!r} ({BACKEND})",
                cause=f"{what} failed (HTTP {status})",
            )
            if isinstance(error, BackendAuthFailed):
                raise error from exc
            raise self.unavailable(exc, what) from exc
        text = json.dumps(body)
        if status == 400 and keyword and _TOO_BIG_QUERY.search(text) and "Terms Query" not in text:
            # A keyword query has a clause per query word besides the filter's clauses.
            raise InvalidArgument(
                f"text: OpenSearch rejected the keyword query as too large "
                f"({_error_reason(body)}); use fewer words or fewer filter conditions",
                field="text",
            ) from exc
        if status == 400 and _TOO_BIG_QUERY.search(text):
            # Otherwise the only large queries are compiled filters: the filter is too big.
            raise InvalidArgument(
                f"filter: OpenSearch rejected the filter as too large ({_error_reason(body)}); "
                "use fewer conditions or IN values",
                field="filter",
            ) from exc
        log.error("%s: OpenSearch rejected %s: %s %s", self.store, what, status, body or exc)
        raise Internal(f"{what}: OpenSearch returned {status} {kind}".strip()) from exc

    def creation_error(self, name: str, exc: os_exc.TransportError) -> None:
        """Raise the domain error of a refused index creation (returns for other errors)."""
        body = _error_body(exc)
        kind = _error_type(body)
        if kind == "resource_already_exists_exception":
            raise AlreadyExists(
                f"collection {name!r} already exists in store {self.store!r}",
                reason="COLLECTION_ALREADY_EXISTS",
                metadata={"collection": name, "store": self.store},
            ) from exc
        if exc.status_code == 400:
            # Our mapping is fixed: what OpenSearch rejects is the requested index
            # (engine / space type / parameters this cluster does not support).
            raise InvalidArgument(
                f"collection.index: OpenSearch rejected the index: {_error_reason(body)}",
                field="collection.index",
            ) from exc

    def check_bulk(
        self, name: str, layout: Layout, response: Mapping[str, Any], path: BulkPath
    ) -> None:
        """Raise the domain error of the first failed item of a ``_bulk`` response,
        named by ``path`` (of the item's position in the call): ``documents[i]``,
        ``columns.ids[i]``, ``ids[i]``, or the field of it the error names."""
        if not response.get("errors"):
            return
        for position, item in enumerate(response.get("items") or ()):
            result = next(iter(item.values())) if isinstance(item, Mapping) and item else {}
            error = result.get("error") if isinstance(result, Mapping) else None
            if not isinstance(error, Mapping):
                continue
            status = int(result.get("status", 0))
            kind = str(error.get("type", ""))
            reason = _item_reason(error)
            where = path(position, "")
            if kind == "index_not_found_exception":
                raise self.not_found(name)
            if status >= 500 or status == 429:
                raise Unavailable(
                    f"store {self.store!r} ({BACKEND}) is unavailable: writing {where} "
                    f"failed ({status} {kind})",
                    metadata={"store": self.store, "backend": BACKEND},
                )
            if status == 400:
                field_path = _document_field(layout, reason, partial(path, position))
                doc_id = result.get("_id")
                if doc_id is not None:
                    where = f"{where} (id {doc_id!r})"
                raise InvalidArgument(
                    f"{field_path}: OpenSearch rejected {where}: {reason}", field=field_path
                )
            log.error("%s: bulk item %s failed: %s", self.store, where, error)
            raise Internal(f"{where}: OpenSearch returned {status} {kind}")

    def check_mget(self, name: str, entry: Mapping[str, Any]) -> None:
        """Raise the domain error of a failed ``_mget`` entry (returns for a good one)."""
        error = entry.get("error")
        if isinstance(error, Mapping):
            if error.get("type") == "index_not_found_exception":
                raise self.not_found(name)
            log.error("%s: mget of %s failed: %s", self.store, entry.get("_id"), error)
            raise Internal(f"reading documents: OpenSearch returned {error.get('type')}")
