"""No dead code in the server: what nothing calls is removed, not left to drift (issue #17).

vulture (a well-kept library; name-based, so it errs towards "used") reads the server with
the tests, clients and benches beside it, so code that only the tests drive counts as used.
What remains at 60 % confidence are names that a framework calls by convention: those are
listed below by kind, and anything else fails the test with vulture's own report line.
"""

from __future__ import annotations

from pathlib import Path

import vulture

ROOT = Path(__file__).resolve().parents[2]

#: Names that frameworks call or read, never the project's own code.
FRAMEWORK_NAMES = frozenset(
    {
        # pydantic: model settings (validators are skipped by their decorators)
        "model_config",
        # LiteLLM config keys accepted (and ignored) so LiteLLM's YAML loads unchanged
        "vector_store_description",
        "vector_store_metadata",
        # logging.LogRecord, onnxruntime.SessionOptions, numpy flags: attributes set
        "exc_text",
        "inter_op_num_threads",
        "execution_mode",
        "graph_optimization_level",
        "log_severity_level",
        "writeable",
        # Starlette / uvicorn: response, convertor and server attributes
        "media_type",
        "background",
        "raw_headers",
        "to_string",
        "lifespan",
        "timeout_graceful_shutdown",
        "should_exit",
        # html.parser.HTMLParser callbacks
        "handle_starttag",
        "handle_endtag",
        "handle_data",
        "attrs",
        # gRPC servicer methods, called by the generated service handlers
        "ListStores",
        "DeleteCollection",
        "ListDocuments",
        "CreateIndex",
        "GetIndex",
        "DeleteIndex",
        "ListKeys",
        "DeleteKey",
    }
)


def test_the_server_has_no_dead_code() -> None:
    v = vulture.Vulture(ignore_decorators=["@field_validator", "@model_validator"])
    v.scavenge(
        [
            str(ROOT / "server" / "vectorgate_server"),
            str(ROOT / "tests"),
            str(ROOT / "clients" / "python" / "vectorgate"),
            str(ROOT / "bench"),
            str(ROOT / "scripts"),
        ],
        exclude=["*_pb2.py", "*_pb2_grpc.py", "*_pb2.pyi", "*/node_modules/*"],
    )
    server = ROOT / "server" / "vectorgate_server"
    dead = [
        item.get_report(add_size=False)
        for item in v.get_unused_code(min_confidence=60)
        if Path(item.filename).is_relative_to(server) and item.name not in FRAMEWORK_NAMES
    ]
    assert not dead, "unused code in the server:\n" + "\n".join(dead)
