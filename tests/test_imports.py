"""derive's modules import each other without cycles (read from the source with ast, imports inside functions too)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "derive"


def _imports(path: Path, modules: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        module = node.module or ""
        if node.level == 1 or module == "derive" or module.startswith("derive."):
            head = module.removeprefix("derive").lstrip(".").split(".")[0]
            found |= {head} if head else {alias.name for alias in node.names}
    return (found & modules) - {path.stem}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module, path):
        state[module] = 1
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state and (found := visit(dep, path + [dep])):
                return found
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module, [module])):
            return found
    return None


def test_no_import_cycle():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    graph = {p.stem: _imports(p, modules) for p in PACKAGE.glob("*.py")}
    assert graph["mlp"] >= {"mlpcheck", "mlpformulas"}  # the parser sees both kinds of import
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
