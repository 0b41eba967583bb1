"""Raw-socket HTTP helpers for the adversarial tests (bodies and timings httpx will not send)."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class RawResult:
    status: int | None
    #: Body bytes the client managed to send.
    sent: int
    #: Whether the server closed or reset the connection.
    closed: bool
    head: bytes = b""


def _read_status(sock: socket.socket, timeout: float) -> tuple[int | None, bytes, bool]:
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, BrokenPipeError, TimeoutError, OSError):
        pass
    status = None
    if data.startswith(b"HTTP/1.1 "):
        status = int(data[9:12])
    return status, data, True


def send_body(
    port: int,
    path: str,
    headers: dict[str, str],
    total: int,
    *,
    chunked: bool,
    chunk: int = 1 << 20,
    fill: bytes = b" ",
    timeout: float = 60,
) -> RawResult:
    """POST ``total`` body bytes, stopping as soon as the server answers or hangs up."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    with sock:
        lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        block = fill * chunk
        framed = f"{len(block):x}\r\n".encode() + block + b"\r\n" if chunked else block
        sent = 0
        broken = False
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(framed)
            except (BrokenPipeError, ConnectionResetError):
                broken = True
                break
            sent += len(block)
        if not broken and sent >= total and chunked:
            with contextlib.suppress(OSError):
                sock.sendall(b"0\r\n\r\n")
        status, head, _ = _read_status(sock, timeout)
        return RawResult(status, sent, True, head)


def rss_bytes() -> int:
    """Resident set size of this process (the in-process server included)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class PeakRss:
    """The peak RSS of this process while the block runs (sampled every 10 ms)."""

    def __init__(self) -> None:
        self.start = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.01)

    def __enter__(self) -> PeakRss:
        self.start = rss_bytes()
        self.peak = self.start
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.start
