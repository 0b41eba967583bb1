"""No import circles among the server's modules.

The graph is built with :mod:`ast` from the source (nothing is imported), and
every import statement counts wherever it stands: at module level, under
``if TYPE_CHECKING:`` and inside functions. A deferred import only hides a
circle from the interpreter; the two modules still depend on each other (the
``app`` <-> ``multisearch`` circle of issue #17 was a ``TYPE_CHECKING`` one, and
``adapters.factory`` <-> ``adapters.opensearch`` a function-level one).

Hand-written rather than grimp / import-linter: the whole check is a ~40-line
walk over ``ast`` plus Tarjan's strongly-connected components, with no new
dependency, and it can say exactly which statements count.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[2] / "server"
PACKAGE = "vectorgate_server"


def _modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> source file, for every module of ``package`` below ``root``."""
    out: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _targets(module: str, is_package: bool, node: ast.stmt, known: Mapping[str, Path]) -> set[str]:
    """The package modules one import statement names (a ``from M import x`` naming a
    submodule ``M.x`` depends on that submodule, else on ``M``)."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            target = ".".join([*base, *([node.module] if node.module else [])])
        else:
            target = node.module or ""
        for alias in node.names:
            sub = f"{target}.{alias.name}"
            names.append(sub if sub in known else target)
    return {name for name in names if name in known and name != module}


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the package modules it imports (any import statement anywhere in it)."""
    known = _modules(root, package)
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges |= _targets(module, path.name == "__init__.py", node, known)
        # Importing a submodule runs its parent packages' __init__ first; that is
        # not a dependency of the importer's own making, so parents are skipped.
        graph[module] = {t for t in edges if not module.startswith(t + ".")}
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _describe(graph: Mapping[str, set[str]], component: list[str]) -> str:
    members = set(component)
    return "; ".join(f"{m} -> {', '.join(sorted(graph[m] & members))}" for m in component)


def test_server_has_no_import_cycles() -> None:
    graph = import_graph(SERVER, PACKAGE)
    assert len(graph) > 50, "the walk did not find the server's modules"
    assert sum(map(len, graph.values())) > 100, "the walk found too few imports"
    found = cycles(graph)
    assert not found, "import circles: " + " | ".join(_describe(graph, c) for c in found)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("top", [["pkg.a", "pkg.b"]]),
        ("type_checking", [["pkg.a", "pkg.b"]]),
        ("function", [["pkg.a", "pkg.b"]]),
        ("none", []),
    ],
)
def test_the_check_sees_every_kind_of_import(
    tmp_path: Path, where: str, expected: list[list[str]]
) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .. import c\n")
    (pkg / "c.py").write_text("")
    (pkg / "a.py").write_text("from .b import thing\nfrom .sub import x\n")
    back = {
        "top": "from . import a\n",
        "type_checking": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import y\n"
        ),
        "function": "def f():\n    import pkg.a\n",
        "none": "from .c import z\n",
    }[where]
    (pkg / "b.py").write_text(back)
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.a"] == {"pkg.b", "pkg.sub"}
    assert graph["pkg.sub"] == {"pkg.c"}
    assert cycles(graph) == expected
