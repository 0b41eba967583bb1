"""A `vector_stores:` block per backend type, pointed at loopback ports where nothing listens.

Used by the missing-SDK tests (the server must refuse to start, naming the extra) and the
`.[all]` newcomer smoke (the server must start and report each store as unreachable).
"""

from __future__ import annotations

import socket
from pathlib import Path

#: The backend's SDK module that a missing extra leaves out, and the extra that installs it.
SDKS: dict[str, tuple[str, str]] = {
    "milvus": ("pymilvus", "milvus"),
    "qdrant": ("qdrant_client", "qdrant"),
    "opensearch": ("opensearchpy", "opensearch"),
    "pinecone": ("pinecone", "pinecone"),
}


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def store_block(backend: str, data_dir: Path) -> str:
    """The YAML of one store named after its backend; server backends get a dead address."""
    port = closed_port()
    if backend == "lancedb":
        return f"  lancedb:\n    type: lancedb\n    uri: {data_dir / 'lancedb'}\n"
    if backend == "milvus":
        return f"  milvus:\n    type: milvus\n    uri: http://127.0.0.1:{port}\n    timeout_s: 3\n"
    if backend == "qdrant":
        return f"  qdrant:\n    type: qdrant\n    url: http://127.0.0.1:{port}\n    timeout_s: 3\n"
    if backend == "opensearch":
        return (
            "  opensearch:\n    type: opensearch\n"
            f"    hosts: [http://127.0.0.1:{port}]\n    timeout_s: 3\n"
        )
    if backend == "pinecone":
        return (
            "  pinecone:\n    type: pinecone\n    api_key: pk-test\n"
            f"    host: http://127.0.0.1:{port}\n    timeout_s: 3\n"
        )
    raise ValueError(backend)


def config_text(backends: list[str], data_dir: Path, *, default: str = "lancedb") -> str:
    """A whole configuration: the stores, and the default store."""
    blocks = "".join(store_block(b, data_dir) for b in backends)
    return f"vector_stores:\n{blocks}default_store: {default}\nserver:\n  data_dir: {data_dir}\n"
