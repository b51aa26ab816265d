"""Start-up: what a command imports and how (benchmarks/README.md measures the seconds; no timing here)."""

from __future__ import annotations

import gc
import json
import subprocess
import sys

import pytest

from derive.core.startup import imports_paused

from conftest import ROOT, work_imports

SPEC = ROOT / "specs" / "two-layer-relu.yaml"


@pytest.fixture
def collector():
    """Leave the collector as the test found it (on, nothing frozen by the test)."""
    was = gc.isenabled()
    yield
    gc.unfreeze()
    if was:
        gc.enable()
    else:
        gc.disable()


def test_imports_run_without_the_collector_and_what_they_made_is_frozen(collector):
    gc.enable()
    gc.unfreeze()
    with imports_paused():
        assert not gc.isenabled()
        made = [[i] for i in range(1000)]  # containers the collector tracks
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(made)


def test_the_collector_is_back_on_after_an_error(collector):
    gc.enable()
    with pytest.raises(ImportError):
        with imports_paused():
            import derive.no_such_module  # noqa: F401
    assert gc.isenabled()


def test_a_caller_who_turned_the_collector_off_keeps_it_off(collector):
    gc.disable()
    gc.unfreeze()
    with imports_paused():
        pass
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0


WATCH = ["jinja2", "babel", "lark", "rich", "matplotlib", "nbformat", "derive.render.tex", "derive.render.document",
         "derive.render.html", "derive.grading", "derive.web", "derive.api", "derive.kinds.mlp",
         "derive.kinds.layers", "derive.kinds.network.vector", "sympy"]

def _work_imports(*args) -> dict:
    """What a fresh `derive ARGS` process, doing the work in itself, had imported and frozen at its end."""
    return work_imports(WATCH, *args)


def test_json_of_a_network_imports_only_what_it_needs(tmp_path):
    target = tmp_path / "out.json"
    report = _work_imports(SPEC, "--format", "json", "-o", target)
    assert json.loads(target.read_text(encoding="utf-8"))["verification"]["verified"] is True
    imported = {name for name, yes in report["modules"].items() if yes}
    assert imported == {"sympy"}, imported  # no templates, no LaTeX, no grading, no web, no other kind
    # SymPy's objects (NumPy is not imported for a small network), frozen at start-up; the collector back on for the work
    assert report["enabled"] and report["frozen"] > 50_000


# The character classes as one class each (how they were written before start-up was measured): the
# patterns of derive split the surrogates into a class of their own, which must match the same characters.
ONE_CLASS = {
    "derive.core.safetext._UNSAFE":
        "[\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069\\ud800-\\udfff]",
    "derive.core.safetext._UNSAFE_IN_MESSAGE":
        "[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069\\ud800-\\udfff]",
    "derive.core.yamlload._FORBIDDEN":
        "[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069\\ud800-\\udfff]",
}
EVERY_CHARACTER = "".join(map(chr, range(0x110000)))


@pytest.mark.parametrize("name", sorted(ONE_CLASS))
def test_split_character_classes_match_the_same_characters(name):
    import importlib
    import re

    module, attribute = name.rsplit(".", 1)
    pattern = getattr(importlib.import_module(module), attribute)
    reference = re.compile(ONE_CLASS[name])
    found = [m.start() for m in pattern.finditer(EVERY_CHARACTER)]
    assert found == [m.start() for m in reference.finditer(EVERY_CHARACTER)]
    assert len(found) > 2048  # the surrogates and the controls


def test_a_network_without_values_is_built_once(monkeypatch):
    """parse builds the model only to check a worked example's names; derive builds it for the work."""
    from derive.kinds.network import kind
    from derive.pipeline import derive_spec

    built = []
    real = kind.build
    monkeypatch.setattr(kind, "build", lambda spec: built.append(spec) or real(spec))
    derive_spec(SPEC)
    assert len(built) == 1
    built.clear()
    derive_spec(ROOT / "specs" / "mazur-2-2-2.yaml")  # a worked example: its names are checked at parse
    assert len(built) == 2


def test_the_graph_engine_does_not_import_the_grammar():
    """A network compiled to a computational graph parses no text: GraphSpec and the graph's backward pass
    come without lark, which only a spec's or an answer's text needs."""
    code = ("import sys, derive.kinds.graph.spec, derive.kinds.graph.backprop; "
            "print('lark' in sys.modules, 'derive.core.parse' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.split() == ["False", "False"]


def test_the_grammar_is_built_once_before_the_graders_fork(tmp_path):
    """derive check grades files in forked children (chunks of 25): the parser's tables are built in the
    parent first, so that the children inherit them instead of each building them again."""
    answers = tmp_path / "a.yaml"
    answers.write_text('answers:\n  theta_11: "phi_1*I(u_1 > 0)*psi_11"\n', encoding="utf-8")
    code = (f"from derive.grading.check import Engine, check_files\n"
            f"from derive.core import parse\n"
            f"engine = Engine({str(SPEC)!r})\n"
            f"before = parse._parser.cache_info().currsize\n"
            f"results = check_files(engine, [{str(answers)!r}], 1)\n"
            f"print(before, parse._parser.cache_info().currsize, results[0].error)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "1", "None"]  # not built by the derivation; built here, not only in the child
