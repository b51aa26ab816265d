"""What the figures beside the Markdown say, read as text: every spec's SVG in every language.

An SVG shows its text as it is written, so a label must be plain text: no TeX markup (x^2, /√d_k,
\\sqrt), indices and exponents as raised or lowered tspans or Unicode scripts, and a negative number
with a minus sign (U+2212), as the lectures print it, never a hyphen. A computational graph's gate says
what its node computes, by the spec's own definition of the node: a "+" gate is a sum of its inputs
(every local derivative 1, as graph-add-mul teaches), a "×" gate their product, and a gate names no
letter that is not one of its own inputs (x² for a square would reuse the graph's input x).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
import sympy as sp

from conftest import ROOT
from derive.pipeline import derive_spec

SVG = "{http://www.w3.org/2000/svg}"
SPECS = sorted(p.stem for p in (ROOT / "specs").glob("*.yaml"))
TEX_MARKUP = re.compile(r"[\\^_{}]")
HYPHEN_NUMBER = re.compile(r"(?<![\w.,])-\s*\d")  # -0.02260, not x-1 inside a word


def _figures(spec: str, lang: str) -> list[str]:
    """The SVG documents of a spec in lang: its figure, or a course's chapters' figures."""
    result = derive_spec(ROOT / "specs" / f"{spec}.yaml")
    if result.kind == "course":
        figures: dict = {}
        result.module.markdown_document(result.outcome, lang, None, figures=figures)
        return [fig.svg() for fig in figures.values()]
    figure = result.entry.figure_of(result.outcome, lang)
    return [] if figure is None else [figure.svg()]


def _texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")] + [t.text or "" for t in root.iter(f"{SVG}title")]


@pytest.fixture(scope="module")
def all_svgs() -> dict[tuple[str, str], list[str]]:
    return {(spec, lang): _figures(spec, lang) for spec in SPECS for lang in ("en", "ru", "pl")}


def test_no_svg_label_is_raw_tex_or_a_hyphen_for_a_minus(all_svgs):
    drawn = {spec for (spec, _lang), svgs in all_svgs.items() if svgs}
    assert {"mazur-2-2-2", "attention-3-tokens", "graph-sin-cos-exp", "composition-check", "course"} <= drawn
    bad = [(spec, lang, text) for (spec, lang), svgs in all_svgs.items() for svg in svgs for text in _texts(svg)
           if TEX_MARKUP.search(text) or HYPHEN_NUMBER.search(text)]
    assert bad == []


def test_negative_numbers_in_the_worked_figure_carry_a_minus_sign(all_svgs):
    for lang in ("en", "ru", "pl"):
        texts = " ".join(_texts(all_svgs[("mazur-2-2-2", lang)][0]))
        decimal = "," if lang != "en" else "."
        assert f"−0{decimal}02260" in texts and f"−0{decimal}02274" in texts  # ∂E/∂W₂₁, ∂E/∂W₂₂ (Mazur: −0.0226…)


def test_an_index_in_an_svg_label_is_a_lowered_tspan(all_svgs):
    svg = all_svgs[("attention-3-tokens", "en")][0]
    root = ET.fromstring(svg)
    scaled = [t for t in root.iter(f"{SVG}text") if "".join(t.itertext()) == "/√dk"]
    assert len(scaled) == 1
    spans = list(scaled[0].iter(f"{SVG}tspan"))
    assert [s.text for s in spans] == ["k"] and float(spans[0].get("dy")) > 0  # d with the index k below


# scalar graphs: an index-form graph (`shapes:`) draws its nodes by name, not as gates
GRAPH_SPECS = [s for s in SPECS if "kind: graph" in (text := (ROOT / "specs" / f"{s}.yaml").read_text(encoding="utf-8"))
               and "shapes:" not in text]
FUNCTION_WORDS = re.compile(r"tanh|sin|cos|exp|log|max|min|ReLU|σ")


def _letter(name: str) -> str:
    from derive.render.diagram import name_label

    return name_label(name).text


@pytest.mark.parametrize("spec", GRAPH_SPECS)
def test_a_gate_says_what_its_node_computes(spec):
    result = derive_spec(ROOT / "specs" / f"{spec}.yaml")
    assert not result.outcome.indexed
    figure = result.entry.figure_of(result.outcome, "en")
    nodes = {n.symbol.name: n.expr for n in result.outcome.result.nodes}
    assert nodes
    for name, expr in nodes.items():
        gate = figure.boxes[name].label.text
        args = sorted(expr.free_symbols, key=str)
        if gate == "+":
            assert all(sp.diff(expr, a) == 1 for a in args), (spec, name, expr)  # every local derivative 1
        if gate == "×":
            assert sp.expand(expr - sp.Mul(*args)) == 0, (spec, name, expr)
        letters = set(re.findall(r"[A-Za-zΑ-Ωα-ω]", FUNCTION_WORDS.sub("", gate)))
        assert letters <= {_letter(str(a)) for a in args}, (spec, name, gate)


def test_the_toy_models_affine_nodes_and_the_sigmoid_gates():
    """graph-sin-cos-exp's f₀ = β₀ + ω₀x is not an add gate (∂f₀/∂ω₀ = x); sigmoid-neuron's d = 1 + u adds 1
    and f = 1/d takes a reciprocal, and neither reuses the input x as a placeholder."""
    toy = derive_spec(ROOT / "specs" / "graph-sin-cos-exp.yaml")
    figure = toy.entry.figure_of(toy.outcome, "en")
    assert figure.boxes["f_0"].label.text != "+" and figure.boxes["l"].label.text != "x²"
    neuron = derive_spec(ROOT / "specs" / "sigmoid-neuron.yaml")
    gates = {k: b.label.text for k, b in neuron.entry.figure_of(neuron.outcome, "en").boxes.items() if b.circle}
    assert "x" not in gates["f"] and gates["d"] == "+1" and gates["a"] == "×" and gates["s"] == "+"


def test_course_markdown_has_each_chapters_figure(cli, tmp_path):
    """course.md, like course.pdf, draws each chapter's figure under its title: one SVG beside the Markdown
    per chapter whose spec draws one, referenced as an image, with its legend when it has colours."""
    import yaml

    from derive.kinds.base import KINDS

    course = yaml.safe_load((ROOT / "specs" / "course.yaml").read_text(encoding="utf-8"))
    chapters = [ch if isinstance(ch, str) else ch.get("spec") for ch in course["chapters"]]
    drawing = [ch for ch in chapters
               if KINDS[yaml.safe_load((ROOT / "specs" / ch).read_text(encoding="utf-8")).get("kind", "network")].figure]
    assert drawing
    out = tmp_path / "course.md"
    run = cli(ROOT / "specs" / "course.yaml", "--lang", "pl", "-o", out)
    assert run.exit_code == 0, run.output
    text = out.read_text(encoding="utf-8")
    images = re.findall(r"!\[Schemat\]\(([^)]+)\)", text)
    assert len(images) == len(drawing)
    for name in images:
        svg = (tmp_path / name).read_text(encoding="utf-8")
        assert ET.fromstring(svg).tag == f"{SVG}svg"
    sections = re.split(r"^## ", text, flags=re.M)[1:]
    assert sum(bool(re.search(r"!\[Schemat\]", s)) for s in sections) == len(drawing)  # one under each chapter


def test_a_shared_bias_and_its_derivative_stand_over_its_node_and_the_colours_are_explained(cli, tmp_path):
    """Mazur's b^{[1]} feeds both h₁ and h₂ (one parameter, one derivative): written over the unit 1 it leaves
    from, and neither of its edges carries a label as if the derivative were that edge's. The lecture says
    what the green and red numbers are, in each language."""
    result = derive_spec(ROOT / "specs" / "mazur-2-2-2.yaml")
    tikz = result.entry.figure_of(result.outcome, "en").tikz()
    bias_boxes = re.findall(r"\\node\[constant(.*?)\] \((n\d+-0)\)", tikz)
    assert len(bias_boxes) == 2
    for options, name in bias_boxes:
        assert re.search(r"above:\{\\textcolor\{black\}\{\$b\^\{\[\d\]\} = 0\.\d+\$\}\\\\\\textcolor\{red!75!black\}", options)
        assert not re.search(rf"\\draw\[->\] \({name}\) -- node", tikz)  # its edges bare
    svg = result.entry.figure_of(result.outcome, "en").svg()
    texts = _texts(svg)
    assert "b[1] = 0.35" in texts and "0.01873" in texts and "b[2] = 0.6" in texts and "0.1004" in texts
    words = {"en": ("green", "red"), "ru": ("зелёным", "красным"), "pl": ("na zielono", "na czerwono")}
    for lang, (green, red) in words.items():
        out = tmp_path / f"{lang}.md"
        assert cli(ROOT / "specs" / "mazur-2-2-2.yaml", "--lang", lang, "-o", out).exit_code == 0
        head = out.read_text(encoding="utf-8").split("$$")[0]  # the legend is under the figure, before the numbers
        assert green in head and red in head, lang
