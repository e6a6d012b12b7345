"""The house has no circles: no module of app/ imports, directly or through others, a module that imports it.

Imports are read with `ast`, at module level and inside functions alike (a function-level import only hides a
cycle until the function runs). `from a.b import c` is an edge to the module a.b.c when that is a module, else to
a.b; the parent packages a module implicitly initialises are not edges (every module would then sit in a circle
with app/__init__.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"


def module_name(path: Path) -> str:
    """The dotted module name of a file under app/."""
    parts = list(path.relative_to(APP.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the app modules it imports anywhere in its body."""
    modules = {module_name(p): p for p in APP.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    targets.append(candidate if candidate in modules else base)
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected component with more than one module (Tarjan), as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _is_bot(component: list[str]) -> bool:
    return any(m.startswith("app.bot") for m in component)


def test_the_import_graph_sees_function_level_imports():
    graph = import_graph()
    # create_app's steps import app.health and app.cli inside functions; the graph must still have those edges.
    assert {"app.health", "app.cli"} <= graph["app"]
    assert "app.extensions" in graph["app.events"]


def test_the_core_of_app_has_no_import_cycles():
    graph = import_graph()
    without_bot = {m: {t for t in ts if not t.startswith("app.bot")} for m, ts in graph.items()
                   if not m.startswith("app.bot")}
    core = cycles(without_bot)
    assert core == [], "import cycles outside app/bot: " + "; ".join(" <-> ".join(c) for c in core)


def test_the_bot_package_has_no_import_cycles():
    bot = [c for c in cycles(import_graph()) if _is_bot(c)]
    assert bot == [], "import cycles through app/bot: " + "; ".join(" <-> ".join(c) for c in bot)
