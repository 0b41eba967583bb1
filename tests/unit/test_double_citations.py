"""Every refusal of a vendor test double says where it comes from.

The doubles (``tests/servers``) stand in for services that cannot run here, so
they must enforce only what the vendor documents. Each refusal goes through the
double's error helper with a source (:mod:`tests.servers.citations`): a
:class:`Cite` of the vendor's documentation, or :class:`NotEmulated` /
:class:`Harness` for what is the double's own. A ``raise`` that bypasses the
helpers, or a helper call without a source, fails here.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType

import pytest

from tests.servers.citations import Cite, Harness, NotEmulated


@dataclass(frozen=True)
class Double:
    """A double's error helpers and the documentation sites its citations may name."""

    #: helper -> position of its ``source`` argument (None: keyword only).
    helpers: Mapping[str, int | None]
    sites: tuple[str, ...]
    #: Functions whose result may be raised as is: they wrap an error that already
    #: carries its source (a shard failure wrapping a sourced query error).
    wrappers: frozenset[str] = frozenset()


DOUBLES: dict[str, Double] = {
    "tests.servers.pinecone_server": Double(
        {"data_error": 2, "control_error": 3, "_ctl_err": 2},
        ("https://docs.pinecone.io/", "https://www.pinecone.io/docs/"),
    ),
    "tests.servers.opensearch_server": Double(
        dict.fromkeys(
            (
                "api_error",
                "index_not_found",
                "_bad_request",
                "_parsing",
                "_mapper_parsing",
                "_ShardError",
                "fail",
                "invalid",
            )
        ),
        (
            "https://docs.opensearch.org/",
            "https://opensearch.org/docs/",
            # OpenSearch's engine: limits OpenSearch inherits from Lucene unchanged.
            "https://lucene.apache.org/core/",
        ),
        frozenset({"_shard_failure"}),
    ),
}
#: Exceptions that are no refusal of a request (the server's own lifecycle).
LIFECYCLE = frozenset({"RuntimeError"})
SOURCES = (Cite, NotEmulated, Harness)


def _module(name: str) -> tuple[ModuleType, ast.Module]:
    module = importlib.import_module(name)
    return module, ast.parse(inspect.getsource(module))


def _source_arg(call: ast.Call, position: int | None) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == "source":
            return keyword.value
    if position is None:
        return None
    return call.args[position] if len(call.args) > position else None


def _resolve(module: ModuleType, node: ast.expr) -> object:
    if isinstance(node, ast.Name):
        return getattr(module, node.id, None)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        # An inline Cite(...) / NotEmulated(...) with literal arguments.
        kind = getattr(module, node.func.id, None)
        if kind in SOURCES:
            args = [ast.literal_eval(a) for a in node.args]
            return kind(*args)
    return None


@pytest.mark.parametrize("name", sorted(DOUBLES))
def test_every_refusal_goes_through_a_helper_with_a_source(name: str) -> None:
    double = DOUBLES[name]
    helpers = double.helpers
    module, tree = _module(name)
    problems: list[str] = []
    # A helper may forward its own ``source`` to another helper.
    forwarding = {
        id(inner)
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef) and fn.name in helpers
        for inner in ast.walk(fn)
    }
    for node in ast.walk(tree):
        if id(node) in forwarding:
            continue
        if isinstance(node, ast.Raise) and node.exc is not None:
            call = node.exc
            func = call.func if isinstance(call, ast.Call) else None
            called = func.id if isinstance(func, ast.Name) else None
            if called not in helpers and called not in LIFECYCLE | double.wrappers:
                problems.append(f"line {node.lineno}: raises {ast.unparse(call)[:60]}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            helper = node.func.id
            if helper not in helpers:
                continue
            arg = _source_arg(node, helpers[helper])
            if arg is None or not isinstance(_resolve(module, arg), SOURCES):
                problems.append(f"line {node.lineno}: {helper}(...) without a source")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(DOUBLES))
def test_citations_name_the_vendor_documentation(name: str) -> None:
    sites = DOUBLES[name].sites
    module, _tree = _module(name)
    cites = [v for v in vars(module).values() if isinstance(v, Cite)]
    assert cites
    for cite in cites:
        assert cite.url.startswith(sites), cite
        assert len(cite.says.strip()) >= 20, cite
    for value in vars(module).values():
        if isinstance(value, NotEmulated | Harness):
            assert value.what.strip(), value


def test_helpers_refuse_a_refusal_without_a_source() -> None:
    from tests.servers import pinecone_server as pc

    with pytest.raises(TypeError):
        pc.data_error(400, "x", "https://example.com")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        pc.control_error(400, "INVALID_ARGUMENT", "x", None)  # type: ignore[arg-type]
    failure = pc.data_error(400, "x", NotEmulated("y"))
    assert failure.body["message"] == "x (this test server does not emulate y)"


def test_opensearch_helpers_refuse_a_refusal_without_a_source() -> None:
    from tests.servers import opensearch_server as os_

    with pytest.raises(TypeError):
        os_.api_error(400, "x", "y", source="https://example.com")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        os_._ShardError("x", source=None)  # type: ignore[arg-type]
    failure = os_._bad_request("x", source=NotEmulated("y"))
    assert failure.body()["error"]["reason"] == "x (this test server does not emulate y)"
    cited = os_._parsing("x", source=os_.QUERY_DSL)
    assert cited.body()["error"]["reason"] == "x"
