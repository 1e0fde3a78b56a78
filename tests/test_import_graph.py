"""Imports inside the package run one way: no module imports (even lazily, or only for type
checking) a module that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

import astria_async

ROOT = Path(astria_async.__file__).parent
PACKAGE = "astria_async"

# Circles left on purpose, each with its reason:
# - models <-> _convert: `Tune/Prompt/Pack.from_dict` (public) call the converter, which is
#   compiled from exactly these classes; the deferred import in `from_dict` is the seam.
ALLOWED = [frozenset({"astria_async._convert", "astria_async.models"})]


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    files = {_module(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    deps.add(sub if sub in files else target)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
        graph[name] = {d for d in deps if d in files and d != name}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                members = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.add(member)
                    if member == node:
                        break
                if len(members) > 1:
                    found.append(frozenset(members))
    return found


def _allowed(circle: frozenset[str]) -> bool:
    return circle in ALLOWED


def test_the_graph_sees_imports_of_every_kind() -> None:
    graph = _graph()
    assert "astria_async._aiohttp" not in graph
    assert "astria_async.callbacks._parse" in graph["astria_async.callbacks._receiver"]
    assert "astria_async.models" in graph["astria_async._convert"]  # module level
    assert "astria_async._convert" in graph["astria_async.models"]  # inside a method
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        frozenset({"a", "b", "c"})]


def test_imports_run_one_way() -> None:
    circles = [sorted(c) for c in _circles(_graph()) if not _allowed(frozenset(c))]
    assert circles == []


def test_callback_adapters_sit_below_the_receiver() -> None:
    graph = _graph()
    for adapter in ("_asgi", "_aiohttp"):
        deps = graph[f"{PACKAGE}.callbacks.{adapter}"]
        assert f"{PACKAGE}.callbacks._receiver" not in deps
        assert f"{PACKAGE}.callbacks._answer" in deps
