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
from types import ModuleType

import pytest

from tests.servers.citations import Cite, Harness, NotEmulated

#: Double module -> (its error helpers, the documentation sites its citations may name).
DOUBLES: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {
    "tests.servers.pinecone_server": (
        frozenset({"data_error", "control_error", "_ctl_err"}),
        ("https://docs.pinecone.io/", "https://www.pinecone.io/docs/"),
    ),
}
#: Exceptions that are no refusal of a request (the server's own lifecycle).
LIFECYCLE = frozenset({"RuntimeError"})
SOURCES = (Cite, NotEmulated, Harness)


def _module(name: str) -> tuple[ModuleType, ast.Module]:
    module = importlib.import_module(name)
    return module, ast.parse(inspect.getsource(module))


def _source_arg(call: ast.Call, helper: str) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == "source":
            return keyword.value
    # control_error(status, code, message, source); the others (status, message, source).
    position = 3 if helper == "control_error" else 2
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
    helpers, _sites = DOUBLES[name]
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
            if called not in helpers and called not in LIFECYCLE:
                problems.append(f"line {node.lineno}: raises {ast.unparse(call)[:60]}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            helper = node.func.id
            if helper not in helpers:
                continue
            arg = _source_arg(node, helper)
            if arg is None or not isinstance(_resolve(module, arg), SOURCES):
                problems.append(f"line {node.lineno}: {helper}(...) without a source")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(DOUBLES))
def test_citations_name_the_vendor_documentation(name: str) -> None:
    _helpers, sites = DOUBLES[name]
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
