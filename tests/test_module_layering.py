"""The engine's modules import each other in layers: no import cycle, and the layout stays a leaf.

The graph is read from the source (ast), so it also sees imports made inside functions; importing
``a.b.c`` counts as importing the packages ``a`` and ``a.b`` too, since Python runs their __init__.
Imports under ``if TYPE_CHECKING:`` are left out: they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _modules() -> dict[str, Path]:
    found = {}
    for path in (SCRIPTS / "cloudpypi").rglob("*.py"):
        parts = list(path.relative_to(SCRIPTS).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Each cloudpypi module -> the cloudpypi modules it imports (run time only)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()

        def visit(node: ast.AST, name: str = name, edges: set[str] = edges) -> None:
            for child in ast.iter_child_nodes(node):
                if _is_type_checking(child):
                    for other in child.orelse:  # type: ignore[attr-defined]
                        visit(other)
                    continue
                if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                    targets = [child.module] + [f"{child.module}.{alias.name}" for alias in child.names]
                elif isinstance(child, ast.Import):
                    targets = [alias.name for alias in child.names]
                else:
                    visit(child)
                    continue
                for target in targets:
                    pieces = target.split(".")
                    for end in range(2, len(pieces) + 1):
                        module = ".".join(pieces[:end])
                        # a module inside a package is imported while that package is: not an edge back
                        if module in modules and module != name and not name.startswith(module + "."):
                            edges.add(module)

        visit(ast.parse(path.read_text(encoding="utf-8")))
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                strong(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            strong(node)
    return found


def test_the_graph_sees_the_engine_and_its_imports() -> None:
    graph = import_graph()
    assert "cloudpypi.sync" in graph and "cloudpypi.storage.s3" in graph, sorted(graph)
    assert "cloudpypi.pages" in graph["cloudpypi.sync"], "expected the sync to import the page store"
    assert "cloudpypi.layout" in graph["cloudpypi.storage.content"], "expected from-imports to be edges"
    assert "cloudpypi.closure" in graph["cloudpypi.decide"], "expected imports inside functions to be edges"


def test_the_cycle_finder_reports_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_the_engine_modules() -> None:
    graph = import_graph()
    found = cycles(graph)
    detail = "; ".join(
        " <-> ".join(component) + " (" + ", ".join(
            f"{a} -> {b}" for a in component for b in sorted(graph[a]) if b in component) + ")"
        for component in found)
    assert not found, f"expected no import cycle, found: {detail}"


def test_the_key_layout_imports_nothing_from_the_engine() -> None:
    assert import_graph()["cloudpypi.layout"] == set(), "the layout must stay a leaf every layer can use"


def test_no_arrow_runs_back_up_between_these_layers() -> None:
    graph = import_graph()
    back = [(low, high) for low, high in [
        ("cloudpypi.config", "cloudpypi.closure"),
        ("cloudpypi.invalidation", "cloudpypi.costs"),
        ("cloudpypi.costs.usage", "cloudpypi.invalidation"),
        ("cloudpypi.storage", "cloudpypi.state"),
        ("cloudpypi.render", "cloudpypi.storage"),
        ("cloudpypi.decide", "cloudpypi.sync"),
        ("cloudpypi.pages", "cloudpypi.sync"),
        ("cloudpypi.state", "cloudpypi.sync"),
    ] if any(edge == high or edge.startswith(high + ".") for edge in graph[low])]
    assert not back, f"expected these lower modules not to import the higher ones: {back}"


def test_only_the_state_module_runs_sql_on_the_state_database() -> None:
    # Every statement on the mirror's state goes through cloudpypi.state; other modules call its methods.
    # (orphans.py keeps a scratch in-memory database of its own, which is not the state.)
    offenders = []
    for name, path in _modules().items():
        if name == "cloudpypi.state":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr in {"execute", "executemany", "executescript"}
                    and isinstance(node.value, ast.Attribute) and node.value.attr == "db"
                    and not (isinstance(node.value.value, ast.Name) and node.value.value.id == "self")):
                offenders.append(f"{name}:{node.lineno}")
    assert not offenders, f"expected SQL on the state only inside cloudpypi.state, found it in {offenders}"
