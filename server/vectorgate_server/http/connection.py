"""What the HTTP server does about slow and vanished clients.

Slow clients (slowloris)
------------------------
uvicorn's ``timeout_keep_alive`` only covers the idle time *between*
requests. :class:`GuardedHttpProtocol` (uvicorn's httptools protocol plus two
timers) also bounds:

* the request head: from the connection's first byte (or the first byte of
  the next request on a kept-alive connection) to the end of its headers,
  at most ``server.header_timeout_s``; past it the server answers ``408`` and
  closes the connection. A connection that sends nothing at all is closed
  after the same time.
* a response sent before the request body was complete (an early 413, 401,
  404 ...): a rest of up to :data:`DISCARD_LIMIT` bytes is read and dropped
  within the head timeout (so the connection serves the next request); a
  longer rest closes the connection instead of being read (the response then
  says ``Connection: close`` when the body's length tells so in advance).

:class:`ClientGuard` (ASGI) bounds the body, counting only the time a route
spends waiting for body bytes (never the server's own work between reads):
no single wait longer than ``server.body_timeout_s``, and in total no more
than ``body_timeout_s`` plus one second per ``server.body_min_bytes_per_s``
bytes received (a body trickling in one byte a second is cut after about
``body_timeout_s``). Past either: ``408`` with ``Connection: close``, through
the route's own error body.

Vanished clients
----------------
A client that goes away before its response cancels the request, exactly as a
gRPC cancel does (a bulk upsert stops writing; the batch being written is
cancelled, nothing is acknowledged). :class:`ClientGuard` notices it from an
``http.disconnect`` and, while the request runs, by polling the connection
every :data:`POLL_S` seconds: the protocol puts a ``client_gone`` check in the
scope that reads the TCP state, so a peer that closed (FIN, state CLOSE_WAIT)
or reset is seen at once even while unread body bytes still sit in the
socket buffer (a stream the server would otherwise go on consuming).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any, Final

import grpc
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .common import RouteError

log = logging.getLogger("vectorgate_server.http")

#: Scope key of the protocol's ``() -> bool`` "has the client gone?" check.
CLIENT_GONE: Final = "vectorgate.client_gone"
#: How often a running request checks that its client is still there.
POLL_S: Final = 0.1
#: Largest rest of a body answered early that is still read (and dropped) to keep the
#: connection, by default; the server sets it to its body limit (``protocol_class``,
#: ``ClientGuard``), so that any body it would have taken is drained and the answer
#: reaches the client (closing with unread data sends a reset that can destroy the
#: answer in flight). Only a body over the limit ends the connection.
DISCARD_LIMIT: Final = 64 * 1024
#: Linux ``tcp_info.tcpi_state`` values of a connection the peer closed or reset.
_PEER_CLOSED_STATES: Final = frozenset({7, 8})  # TCP_CLOSE, TCP_CLOSE_WAIT

_TIMEOUT_RESPONSE: Final = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
    b"content-length: %d\r\n\r\n%s"
)


class BodyTimeout(RouteError):
    """The request body is too slow (HTTP 408): see :class:`ClientGuard`."""

    def __init__(self, seconds: float, min_rate: float) -> None:
        super().__init__(
            408,
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"the request body is too slow: it stalled for {seconds:g}s or averaged under "
            f"{min_rate:g} bytes/s after its first {seconds:g}s "
            "(server.body_timeout_s, server.body_min_bytes_per_s)",
            {"Connection": "close"},
        )


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request-head timeout (see the module doc)."""

    #: Set per server by :func:`protocol_class`.
    header_timeout_s: float = 10.0
    discard_limit: int = DISCARD_LIMIT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._discard_timer: asyncio.TimerHandle | None = None
        #: Body bytes of the current request seen by the parser.
        self._body_seen = 0
        #: Body bytes dropped after an early response.
        self._discarded = 0

    def _arm_head_timer(self) -> None:
        if self._head_timer is None and self.header_timeout_s > 0:
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being served; its body is the ClientGuard's business
        body = (
            b'{"code": 4, "message": "request headers not received within '
            + f"{self.header_timeout_s:g}".encode()
            + b's (server.header_timeout_s)", "details": []}'
        )
        self.transport.write(_TIMEOUT_RESPONSE % (len(body), body))
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()  # a connection that never sends a request is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        self._disarm_discard_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._body_seen = 0
        self._arm_head_timer()

    def on_body(self, body: bytes) -> None:
        self._body_seen += len(body)
        cycle = self.cycle
        if cycle is not None and cycle.response_complete:
            # Dropping the rest of a body answered early: a bounded amount only.
            self._discarded += len(body)
            if self._discarded > self.discard_limit and not self.transport.is_closing():
                self.transport.close()
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm_discard_timer()
        super().on_message_complete()

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        self.scope[CLIENT_GONE] = self._client_gone  # type: ignore[typeddict-unknown-key]
        super().on_headers_complete()

    def _client_gone(self) -> bool:
        """Whether the peer closed or reset the connection (unread data notwithstanding)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return True
        sock = transport.get_extra_info("socket")
        if sock is None or not hasattr(socket, "TCP_INFO"):
            return False
        try:
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)
        except OSError:
            return False
        return bool(info) and info[0] in _PEER_CLOSED_STATES

    def on_response_complete(self) -> None:
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not self.transport.is_closing():
            # Answered before the body was complete (an early 413, 401, 404 ...): a short
            # rest is read and dropped, within the head timeout, so that the connection
            # can carry the next request; a long or unsized rest is not read at all.
            remaining = _declared_length(cycle.scope["headers"])
            if remaining is not None:
                remaining -= self._body_seen
            too_long = remaining is not None and remaining > self.discard_limit
            if too_long or self.header_timeout_s <= 0:
                self.transport.close()
                return
            self._discarded = 0
            self._discard_timer = self.loop.call_later(self.header_timeout_s, self._discard_late)
        super().on_response_complete()

    def _disarm_discard_timer(self) -> None:
        if self._discard_timer is not None:
            self._discard_timer.cancel()
            self._discard_timer = None

    def _discard_late(self) -> None:
        self._discard_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def _long_rest(scope: Scope, received: int, limit: int) -> bool:
    declared = _declared_length(scope.get("headers", ()))
    return declared is not None and declared - received > limit


def _declared_length(headers: Any) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def protocol_class(
    header_timeout_s: float, discard_limit: int = DISCARD_LIMIT
) -> type[GuardedHttpProtocol]:
    """The protocol class with this server's head timeout and drain limit."""
    return type(
        "GuardedHttpProtocol",
        (GuardedHttpProtocol,),
        {"header_timeout_s": header_timeout_s, "discard_limit": discard_limit},
    )


class ClientGuard:
    """ASGI: body idle timeout and cancel-on-disconnect for every HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        body_timeout_s: float,
        body_min_rate: float = 500,
        discard_limit: int = DISCARD_LIMIT,
    ) -> None:
        self.app = app
        self.body_timeout_s = body_timeout_s
        #: A rest of a body answered early up to this many bytes is drained, not cut.
        self.discard_limit = discard_limit
        #: Bytes per second a body must average, beyond ``body_timeout_s`` of grace.
        self.body_min_rate = body_min_rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        task = asyncio.current_task()
        assert task is not None
        state = _State()
        timeout = self.body_timeout_s
        gone: Callable[[], bool] | None = scope.get(CLIENT_GONE)
        loop = asyncio.get_running_loop()

        def disconnected() -> None:
            if not state.response_done and not state.cancelled:
                state.cancelled = True
                task.cancel()

        def poll() -> None:
            state.timer = None
            if state.response_done or state.cancelled:
                return
            if gone is not None and gone():
                disconnected()
                return
            state.timer = loop.call_later(POLL_S, poll)

        async def guarded_receive() -> Message:
            if state.body_done:
                return await receive()
            # The client's share of the time: what the route spent waiting for body bytes.
            budget = timeout + state.body_bytes / self.body_min_rate - state.body_waited
            wait = min(timeout, budget)
            started = loop.time()
            try:
                if timeout > 0:
                    if wait <= 0:
                        raise TimeoutError
                    async with asyncio.timeout(wait):
                        message = await receive()
                else:
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(timeout, self.body_min_rate) from None
            finally:
                state.body_waited += loop.time() - started
            if message["type"] == "http.disconnect" or (gone is not None and gone()):
                state.body_done = True
                disconnected()
                await asyncio.sleep(0)  # the cancellation lands here, in the route
            else:
                state.body_bytes += len(message.get("body", b""))
                if not message.get("more_body", False):
                    state.body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state.response_started = True
                if not state.body_done and _long_rest(scope, state.body_bytes, self.discard_limit):
                    # Answered early with much body still to come: the connection ends
                    # with this response, and the client is told so.
                    message = {
                        **message,
                        "headers": [*message.get("headers", ()), (b"connection", b"close")],
                    }
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                state.response_done = True
            await send(message)

        if gone is not None:
            state.timer = loop.call_later(POLL_S, poll)
        try:
            await self.app(scope, guarded_receive, guarded_send)
        except BodyTimeout as exc:
            # Raised where no route answers it (e.g. while the gate reads the body).
            if state.response_started:
                raise
            body = orjson.dumps({"code": exc.code.value[0], "message": exc.message, "details": []})
            await send(
                {
                    "type": "http.response.start",
                    "status": 408,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        except asyncio.CancelledError:
            if state.cancelled and task.uncancel() == 0:
                log.info(
                    "%s %s: the client disconnected; request cancelled",
                    scope.get("method"),
                    scope.get("path"),
                )
                return
            raise
        finally:
            if state.timer is not None:
                state.timer.cancel()


class _State:
    __slots__ = (
        "body_bytes",
        "body_done",
        "body_waited",
        "cancelled",
        "response_done",
        "response_started",
        "timer",
    )

    def __init__(self) -> None:
        self.body_bytes = 0
        self.body_waited = 0.0
        self.body_done = False
        self.response_started = False
        self.response_done = False
        self.cancelled = False
        self.timer: asyncio.TimerHandle | None = None
