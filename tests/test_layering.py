"""The dependency rule of STYLE.md, read from the source with `ast`:

    cli -> pipeline, build, grading, web, api -> kinds -> render -> numeric -> core -> errors, meta

A module may import its own layer and the layers below it, never one above
(render may use numeric, e.g. a notebook's numpy cells; numeric never prints);
no import cycle between modules. A new top-level module or folder must be given a layer
here, so nothing escapes the rule by being new.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "derive"

# (layer, rank): a lower rank may never import a higher one; equal ranks are siblings.
LAYERS = {
    "__init__": 8,  # the package: the public facade (derive.derive, derive.check), imported by no module
    "cli": 7, "__main__": 7,
    "pipeline": 6, "build": 6, "grading": 6, "web": 6, "api": 6,
    "kinds": 5,
    "render": 4,
    "numeric": 3,
    "core": 2,
    "errors": 1, "meta": 1,
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(module: str, path: Path) -> set[str]:
    """Every derive module that module imports, at any depth of the file (lazy imports too)."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "derive" or target.startswith("derive."):
                found.add(target)
                found.update(f"{target}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("derive"))
    modules = _modules()
    return {name for name in found if name in modules and name != module}


GRAPH = {module: _imports(module, path) for module, path in _modules().items()}


def test_every_module_has_a_layer():
    assert {_layer(m) for m in GRAPH} <= set(LAYERS), sorted({_layer(m) for m in GRAPH} - set(LAYERS))


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_go_down(module):
    mine = _layer(module)
    wrong = []
    for target in sorted(GRAPH[module]):
        theirs = _layer(target)
        if LAYERS[theirs] > LAYERS[mine]:
            wrong.append(f"{target} ({theirs})")
    assert not wrong, f"{module} ({mine}) imports upward or sideways: {', '.join(wrong)}"


def test_no_import_cycle():
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in GRAPH[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_the_rule_catches_a_violation(tmp_path, monkeypatch):
    """The checker itself: an upward import in a made-up module is reported."""
    fake = tmp_path / "derive" / "core"
    fake.mkdir(parents=True)
    (tmp_path / "derive" / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "bad.py").write_text("def f():\n    from derive.cli import main\n")
    (tmp_path / "derive" / "cli.py").write_text("")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", tmp_path / "derive")
    graph = {m: _imports(m, p) for m, p in _modules().items()}
    assert graph["derive.core.bad"] == {"derive.cli"}
    assert LAYERS[_layer("derive.cli")] > LAYERS[_layer("derive.core.bad")]
