"""The LangChain / LlamaIndex stores are imported lazily and never reach the network."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_NO_NETWORK = textwrap.dedent(
    """
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access at import: {args!r}")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
    """
)


def _run(code: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _NO_NETWORK + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]


def test_vectorgate_does_not_import_the_frameworks() -> None:
    _run(
        """
        import sys
        import vectorgate
        import vectorgate_server.app
        assert not any(m.split(".")[0] in ("langchain_core", "llama_index") for m in sys.modules)
        """
    )


def test_the_stores_import_without_network() -> None:
    _run(
        """
        from vectorgate.langchain import VectorgateVectorStore as LC
        from vectorgate.llama_index import VectorgateVectorStore as LI
        from langchain_core.vectorstores import VectorStore
        from llama_index.core.vector_stores.types import BasePydanticVectorStore
        assert issubclass(LC, VectorStore) and issubclass(LI, BasePydanticVectorStore)
        LI("x", target="127.0.0.1:1")
        LC("x", target="127.0.0.1:1")
        """
    )
