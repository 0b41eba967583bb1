"""The Pinecone connection: clients, handles, SDK calls and read-your-writes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from pinecone import (
    AsyncIndex,
    AsyncPinecone,
    NotFoundError,
    PineconeConnectionError,
    PineconeError,
    Vector,
)
from pinecone._internal.adapters.vectors_adapter import extract_response_info
from pinecone.models.indexes.index import IndexModel
from pinecone.models.indexes.schema import DenseVectorField
from pinecone.models.response_info import ResponseInfo

from ...domain import Filter, Metric
from ...errors import Unavailable, Unsupported
from ...filters.pinecone import compile_filter
from .errors import collection_not_found, sdk_error
from .layout import (
    BACKEND,
    DENSE_FIELD,
    METRIC_FROM_PINECONE,
    _Handle,
    _ScanPosition,
    fetch_chunks,
    index_name_for,
    spec_from_tags,
)

T = TypeVar("T")


@dataclass(slots=True)
class _Pending:
    """What a write must make visible, for the no-LSN fallback."""

    present: list[str]
    absent: list[str]
    gone_filter: dict[str, Any] | None = None


def _max_lsn(current: int | None, info: ResponseInfo | None) -> int | None:
    committed = info.lsn_committed if info is not None else None
    if committed is None:
        return current
    return committed if current is None else max(current, committed)


class PineconeConnection:
    """One Pinecone project: the control-plane client and one data-plane client per index."""

    def __init__(
        self,
        store: str,
        *,
        api_key: str,
        control_host: str | None = None,
        cloud: str = "aws",
        region: str = "us-east-1",
        namespace: str = "",
        index_name: str | None = None,
        index_host: str | None = None,
        timeout_s: float = 30.0,
        ready_timeout_s: float = 300.0,
        consistency_timeout_s: float = 60.0,
        poll_interval_s: float = 0.05,
    ) -> None:
        """``control_host`` defaults to ``PINECONE_CONTROLLER_HOST``, then Pinecone's API.

        ``index_host`` is the data-plane host of the collection ``index_name``
        (skips the host lookup for it). ``ready_timeout_s`` bounds waiting for
        an index to become ready or gone; ``consistency_timeout_s`` bounds
        read-your-writes.
        """
        self.store = store
        self._api_key = api_key
        self._control_host = control_host
        self._cloud = cloud
        self._region = region
        self._namespace = namespace
        self._fixed_collection = index_name
        self._fixed_host = index_host
        self._timeout_s = timeout_s
        self._ready_timeout_s = ready_timeout_s
        self._consistency_timeout_s = consistency_timeout_s
        self._poll_interval_s = poll_interval_s
        self._pc: AsyncPinecone | None = None
        self._handles: dict[str, _Handle] = {}
        self._lock = asyncio.Lock()
        #: (collection, last Pinecone id of a scan page) -> where listing continues.
        self._scan_positions: dict[tuple[str, str], _ScanPosition] = {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Create the client (no network call: connections open on first use)."""
        self._connect()

    def _connect(self) -> AsyncPinecone:
        if self._pc is None:
            try:
                self._pc = AsyncPinecone(
                    api_key=self._api_key, host=self._control_host, timeout=self._timeout_s
                )
            except PineconeError as exc:
                raise Unavailable(
                    f"pinecone store {self.store!r}: cannot create the client: "
                    f"{type(exc).__name__}",
                    metadata={"store": self.store},
                ) from None
        return self._pc

    async def close(self) -> None:
        """Close the control-plane and every index client. Idempotent."""
        handles, self._handles = list(self._handles.values()), {}
        for handle in handles:
            await handle.client.close()
        if self._pc is not None:
            pc, self._pc = self._pc, None
            await pc.close()

    @property
    def _client(self) -> AsyncPinecone:
        # After close() the client is created again on use: the adapter holds
        # no other state that closing invalidates.
        return self._connect()

    # ------------------------------------------------------------------ errors

    def _fail(
        self,
        exc: Exception,
        *,
        collection: str | None = None,
        field: str | None = None,
        action: str = "call",
    ) -> NoReturn:
        """Raise the domain error for an SDK error."""
        raise sdk_error(
            exc, store=self.store, collection=collection, field=field, action=action
        ) from None

    async def _control(
        self,
        call: Callable[[], Awaitable[T]],
        *,
        collection: str | None = None,
        field: str | None = None,
        action: str,
    ) -> T:
        try:
            return await call()
        except PineconeError as exc:
            self._fail(exc, collection=collection, field=field, action=action)

    async def _data(
        self,
        handle: _Handle,
        call: Callable[[AsyncIndex], Awaitable[T]],
        *,
        field: str | None = None,
        action: str,
    ) -> T:
        try:
            return await call(handle.client)
        except (NotFoundError, PineconeConnectionError) as exc:
            # The index may have been dropped (its host gone) or dropped and
            # recreated (a new host): ask the control plane, and retry once on
            # the current host when the index exists.
            await self._forget(handle.collection)
            if not await self._exists(handle.index_name):
                raise collection_not_found(self.store, handle.collection) from None
            if isinstance(exc, PineconeConnectionError):
                self._fail(exc, collection=handle.collection, field=field, action=action)
            fresh = await self._handle(handle.collection)
            try:
                return await call(fresh.client)
            except NotFoundError:
                raise collection_not_found(self.store, handle.collection) from None
            except PineconeError as again:
                self._fail(again, collection=handle.collection, field=field, action=action)
        except PineconeError as exc:
            self._fail(exc, collection=handle.collection, field=field, action=action)

    async def _exists(self, index: str) -> bool:
        try:
            await self._client.indexes.describe(index)
        except NotFoundError:
            return False
        except PineconeError:
            return True
        return True

    # ------------------------------------------------------------------ indexes

    async def _poll(
        self, done: Callable[[], Awaitable[bool]], *, collection: str, late: str, index: bool
    ) -> None:
        """Call ``done`` until it is true, waiting longer each time from ``poll_interval_s``.

        ``index``: an index change (bounded by ``ready_timeout_s``, waits of at most 2 s),
        else a write becoming visible (``consistency_timeout_s``, at most 1 s). Past the
        bound, ``Unavailable`` saying ``late``.
        """
        timeout_s = self._ready_timeout_s if index else self._consistency_timeout_s
        deadline = time.monotonic() + timeout_s
        delay = self._poll_interval_s
        while not await done():
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"pinecone store {self.store!r}, collection {collection!r}: {late}"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 2.0 if index else 1.0)

    async def _wait_ready(self, collection: str, index: str) -> IndexModel:
        model: IndexModel | None = None

        async def ready() -> bool:
            nonlocal model
            model = await self._describe(collection, index)
            if model.status.ready and model.host:
                return True
            if model.status.state in ("InitializationFailed", "Terminating", "Disabled"):
                raise Unavailable(
                    f"pinecone store {self.store!r}, collection {collection!r}: index "
                    f"{index!r} is {model.status.state}"
                )
            return False

        late = f"index {index!r} not ready after {self._ready_timeout_s:g}s"
        await self._poll(ready, collection=collection, late=late, index=True)
        assert model is not None
        return model

    async def _describe(self, collection: str, index: str) -> IndexModel:
        return await self._control(
            lambda: self._client.indexes.describe(index),
            collection=collection,
            action="describe the index",
        )

    def _vector_field(self, collection: str, model: IndexModel) -> tuple[int, Metric]:
        dense = [f for f in model.schema.fields.values() if isinstance(f, DenseVectorField)]
        field = model.schema.fields.get(DENSE_FIELD)
        if not isinstance(field, DenseVectorField) or len(dense) != 1:
            raise Unsupported(
                backend=BACKEND,
                operation="schema-based (document) indexes",
                detail=f"index of collection {collection!r} has no single {DENSE_FIELD!r} "
                "dense vector field",
            )
        metric = METRIC_FROM_PINECONE.get(field.metric)
        if metric is None:
            raise Unsupported(backend=BACKEND, operation=f"metric {field.metric!r}")
        return field.dimension, metric

    # ------------------------------------------------------------------ handles

    async def _handle(self, collection: str, model: IndexModel | None = None) -> _Handle:
        handle = self._handles.get(collection)
        if handle is not None:
            return handle
        async with self._lock:
            handle = self._handles.get(collection)
            if handle is not None:
                return handle
            index = index_name_for(collection)
            if model is None:
                model = await self._describe(collection, index)
            dimension, metric = self._vector_field(collection, model)
            spec = spec_from_tags(model.tags, collection)
            typed = spec is not None
            host = model.host
            if collection == self._fixed_collection and self._fixed_host:
                host = self._fixed_host
            if not host:
                model = await self._wait_ready(collection, index)
                host = model.host
            assert host is not None
            client = await self._client.index(host=host)
            handle = _Handle(
                collection=collection,
                index_name=index,
                client=client,
                dimension=dimension,
                metric=metric,
                typed=typed,
                text_field=spec.text_field if spec is not None else "text",
            )
            self._handles[collection] = handle
            return handle

    async def _forget(self, collection: str) -> None:
        handle = self._handles.pop(collection, None)
        if handle is not None:
            await handle.client.close()

    def _compile(self, handle: _Handle, f: Filter, path: str = "filter") -> dict[str, Any]:
        if not handle.typed:
            raise Unsupported(
                backend=BACKEND,
                operation="metadata filters on an index not created by vectorgate",
                detail="Pinecone's filters are exact only over vectorgate's typed metadata layout",
            )
        return compile_filter(f, path)

    # ------------------------------------------------------------------ data

    async def _delete_call(
        self, handle: _Handle, body: dict[str, Any], field: str
    ) -> ResponseInfo | None:
        """``POST /vectors/delete`` and the response's LSN info.

        ``AsyncIndex.delete`` discards the response, and with it the LSN that
        read-your-writes needs, so the same request (the body ``delete``
        builds) goes through the index client's own HTTP client. Without that
        client, ``delete`` is used and visibility is checked on the data.
        """
        body = {"namespace": self._namespace, **body}
        http = getattr(handle.client, "_http", None)
        post = getattr(http, "post", None)
        if post is None:
            await self._data(
                handle,
                lambda c: c.delete(
                    ids=body.get("ids"), filter=body.get("filter"), namespace=self._namespace
                ),
                field=field,
                action="delete",
            )
            return None
        response = await self._data(
            handle, lambda c: post("/vectors/delete", json=body), field=field, action="delete"
        )
        return extract_response_info(response)

    async def _await_visible(self, handle: _Handle, lsn: int | None, pending: _Pending) -> None:
        """Poll until the index has caught up with ``lsn`` (or, without LSNs, the data)."""
        probe = [0.0] * handle.dimension
        probe[0] = 1.0

        async def visible() -> bool:
            nonlocal lsn
            if lsn is not None:
                response = await self._data(
                    handle,
                    lambda c: c.query(top_k=1, vector=probe, namespace=self._namespace),
                    action="check write visibility",
                )
                info = response.response_info
                reconciled = info.lsn_reconciled if info is not None else None
                if reconciled is not None:
                    return reconciled >= lsn
                lsn = None  # this backend reports no LSNs: check the data instead
            return await self._data_visible(handle, pending)

        late = f"the write was accepted but is not visible after {self._consistency_timeout_s:g}s"
        await self._poll(visible, collection=handle.collection, late=late, index=False)

    async def _fetch(
        self, handle: _Handle, pids: Sequence[str], *, field: str | None = None, action: str
    ) -> dict[str, Vector]:
        """The stored records with these Pinecone ids (absent ones left out), in URL-sized
        fetches."""
        found: dict[str, Vector] = {}
        for chunk in fetch_chunks(pids):
            response = await self._data(
                handle,
                lambda c, ch=chunk: c.fetch(ids=ch, namespace=self._namespace),  # type: ignore[misc]
                field=field,
                action=action,
            )
            found.update(response.vectors)
        return found

    async def _data_visible(self, handle: _Handle, pending: _Pending) -> bool:
        wanted = pending.present + pending.absent
        found = await self._fetch(handle, wanted, action="check write visibility")
        if any(p not in found for p in pending.present) or any(p in found for p in pending.absent):
            return False
        if pending.gone_filter is not None:
            page = await self._data(
                handle,
                lambda c: c.fetch_by_metadata(
                    filter=pending.gone_filter or {}, namespace=self._namespace, limit=1
                ),
                action="check write visibility",
            )
            return not page.vectors
        return True
