"""A log output that does not keep up never stalls the server.

Every HTTP request writes an access log line. Written on the event loop, one
stderr pipe that nobody reads (or a stalled log collector) would block the
whole server at its next request once the pipe's buffer is full; the handler
writes from a thread of its own, drops (and counts) what does not fit in its
queue, and says so when the output moves again.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from pathlib import Path

import httpx

from tests.support.servers import ServerProcess, write_config
from vectorgate_server import observability
from vectorgate_server.observability import (
    LOG_RECORDS_DROPPED,
    NonBlockingStreamHandler,
    RequestIdFilter,
    request_id_scope,
)


class _StuckStream:
    """A stream whose writes wait until it is released (a pipe nobody reads)."""

    def __init__(self) -> None:
        self.released = threading.Event()
        #: Set once the writer thread is inside a write (holding that line).
        self.writing = threading.Event()
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.writing.set()
        self.released.wait()
        self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord(
        "vectorgate_server.test", logging.INFO, __file__, 1, message, None, None
    )


def test_a_stuck_output_neither_blocks_the_caller_nor_loses_the_count() -> None:
    stream = _StuckStream()
    handler = NonBlockingStreamHandler(stream, max_queued=10)
    handler.setFormatter(logging.Formatter("%(message)s"))
    before = LOG_RECORDS_DROPPED._value.get()
    try:
        started = time.monotonic()
        handler.handle(_record("line 0"))
        # The writer thread takes line 0 and waits on the stream with it.
        assert stream.writing.wait(5)
        for i in range(1, 100):
            handler.handle(_record(f"line {i}"))
        assert time.monotonic() - started < 1.0  # no call waited on the stream
        # Line 0 held by the writer thread, ten more queued: the rest dropped.
        dropped = LOG_RECORDS_DROPPED._value.get() - before
        assert dropped == 89
        stream.released.set()
        handler.flush()
        written = "".join(stream.lines)
        assert "line 0\n" in written
        assert "line 99\n" not in written
        assert f"vectorgate: {int(dropped)} log records dropped" in written
        # The output moves again: nothing more is dropped.
        handler.handle(_record("after"))
        handler.flush()
        assert "".join(stream.lines).endswith("after\n")
    finally:
        stream.released.set()
        handler.close()


def test_the_drop_notice_stands_where_the_records_were_lost() -> None:
    """Lines queued before the loss come first, then the notice, then what came after."""
    stream = _StuckStream()
    handler = NonBlockingStreamHandler(stream, max_queued=3)
    handler.setFormatter(logging.Formatter("%(message)s"))
    try:
        handler.handle(_record("a"))
        assert stream.writing.wait(5)
        for name in ("b1", "b2", "b3", "x1", "x2"):  # x1 and x2 find the queue full
            handler.handle(_record(name))
        stream.released.set()
        handler.flush()
        handler.handle(_record("c"))
        handler.flush()
        assert "".join(stream.lines) == (
            "a\nb1\nb2\nb3\nvectorgate: 2 log records dropped (log output too slow)\nc\n"
        )
    finally:
        stream.released.set()
        handler.close()


def test_records_are_formatted_in_the_callers_context() -> None:
    stream = _StuckStream()
    stream.released.set()
    handler = NonBlockingStreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(request_id)s %(message)s"))
    try:
        with request_id_scope("req-123"):
            handler.handle(_record("hello"))
        handler.flush()
        assert stream.lines == ["req-123 hello\n"]
    finally:
        handler.close()


def test_configure_logging_replaces_and_stops_its_previous_handler() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    try:
        observability.configure_logging("INFO", "text")
        first = root.handlers[0]
        observability.configure_logging("INFO", "json")
        assert len(root.handlers) == 1 and root.handlers[0] is not first
        assert isinstance(first, NonBlockingStreamHandler)
        first._thread.join(2)
        assert not first._thread.is_alive()
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            if isinstance(handler, NonBlockingStreamHandler):
                handler.stop()
            else:
                handler.close()
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)


def test_the_server_keeps_answering_when_nobody_reads_its_stderr(tmp_path: Path) -> None:
    """``vectorgate serve`` with stderr a pipe that is never read (the access log
    alone fills its 64 KiB buffer many times over) answers every request."""
    cfg = write_config(
        tmp_path / "cfg.yaml",
        {
            "server": {
                "host": "127.0.0.1",
                "grpc_port": 0,
                "http_port": 0,
                "data_dir": str(tmp_path / "data"),
            }
        },
    )
    proc = ServerProcess(["serve", "--config", str(cfg), "--log-format", "json"])
    try:
        proc.wait_ready()
        # Each access line carries this 128-character request id: ~1,500 lines is > 256 KiB.
        headers = {"x-request-id": "r" * 128}
        with httpx.Client(base_url=f"http://127.0.0.1:{proc.http_port}", timeout=10) as client:
            for _ in range(1500):
                assert client.get("/healthz", headers=headers).status_code == 200
    finally:
        proc.terminate()
        proc.kill()


def test_a_closed_handler_keeps_writing_until_stopped() -> None:
    # pymilvus configures logging on import with dictConfig, which closes every existing
    # handler and leaves it installed: the gateway's log lines must survive that.
    stream = io.StringIO()
    handler = NonBlockingStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    try:
        handler.close()
        handler.emit(logging.makeLogRecord({"msg": "still here"}))
        handler.flush()
        assert stream.getvalue() == "still here\n"
    finally:
        handler.stop()
    handler._thread.join(2)
    assert not handler._thread.is_alive()
