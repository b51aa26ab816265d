"""The residual network's figure draws its skip connections (specs/residual-mlp.yaml).

Which arcs must be there is read from the spec's YAML here (a layer with
`residual: true` adds its input j to its unit j), not from the figure's code;
the arcs are read back from the SVG (`<path class="skip" data-source data-target>`)
and from the TikZ (`\\draw[->, skip] (node) .. (node)`, the nodes' labels looked
up in the same picture). Typeset by real LuaLaTeX in three languages, no word
of the figure sits on another; in a real browser no label sits on an arc.
"""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import ROOT
from derive.pipeline import derive_spec
from derive.render.i18n import translations
from texharness import collisions, figure_words, require_latex

SPEC = ROOT / "specs" / "residual-mlp.yaml"


def _expected_skips(path) -> set[tuple[str, str]]:
    """(input, unit) of every skip connection, from the spec: names written as letter + number (x1, h1)."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    source, width = spec["input"]["name"], spec["input"]["size"]
    pairs = set()
    for layer in spec["layers"]:
        post = layer.get("post")
        if layer.get("residual"):
            assert layer["units"] == width
            pairs |= {(f"{source}{j}", f"{post}{j}") for j in range(1, width + 1)}
        source, width = post, layer["units"]
    return pairs


def _figure(lang: str = "en"):
    result = derive_spec(SPEC)
    return result.entry.figure_of(result.outcome, lang)


def _plain(tex: str) -> str:
    return re.sub(r"[{}_\\ ]", "", tex)


def test_the_spec_has_skip_connections_to_draw():
    assert _expected_skips(SPEC) == {("x1", "h1"), ("x2", "h2"), ("h1", "g1"), ("h2", "g2")}


def test_svg_draws_an_arc_from_each_residual_input_to_its_sum():
    svg = _figure().svg()
    drawn = re.findall(r'<path class="skip" data-source="([^"]+)" data-target="([^"]+)" d="M ', svg)
    assert sorted(drawn) == sorted(_expected_skips(SPEC))
    assert 'stroke-dasharray' in svg and 'marker-end="url(#arrow)"' in svg


def test_tikz_draws_an_arc_from_each_residual_input_to_its_sum():
    tikz = _figure().tikz()
    names = {m[0]: _plain(m[1]) for m in re.findall(r"\\node\[[^\]]*\] \((n\d+-\d+)\) at \([^)]*\) \{\$(.+?)\$\};", tikz)}
    arcs = re.findall(r"\\draw\[->, skip\] \((n\d+-\d+)\.-?\d+\) \.\. controls .*? \.\. \((n\d+-\d+)\.-?\d+\);", tikz)
    assert sorted((names[a], names[b]) for a, b in arcs) == sorted(_expected_skips(SPEC))


def test_a_network_without_residual_layers_has_no_arcs_and_no_legend():
    result = derive_spec(ROOT / "specs" / "two-layer-relu.yaml")
    figure = result.entry.figure_of(result.outcome, "en")
    assert 'class="skip"' not in figure.svg() and r"\draw[->, skip]" not in figure.tikz() and figure.legend is None


@pytest.mark.parametrize("lang", ["ru", "en", "pl"])
def test_residual_figure_typesets_without_collisions_and_says_what_the_arcs_are(lang, tmp_path):
    require_latex()
    figure = _figure(lang)
    words = figure_words(figure.tikz(), tmp_path)
    assert len(words) >= 8
    assert collisions(words) == []
    legend = translations(lang).gettext(figure.legend)
    assert legend != figure.legend or lang == "en"
    assert ("штрих" in legend.lower()) if lang == "ru" else ("przerywan" in legend) if lang == "pl" else ("dashed" in legend)


def test_the_lecture_says_what_the_dashed_arrows_are(cli, tmp_path):
    out = tmp_path / "res.md"
    assert cli(SPEC, "--lang", "pl", "--format", "md", "-o", out).exit_code == 0
    text = out.read_text(encoding="utf-8")
    assert translations("pl").gettext(_figure("pl").legend) in text
    assert 'class="skip"' in (tmp_path / "res.svg").read_text(encoding="utf-8")


def test_docs_no_longer_say_the_skip_edge_is_missing():
    docs = (ROOT / "docs" / "layers.md").read_text(encoding="utf-8")
    assert "not drawn as an edge" not in docs
    assert "dense network's figure." not in docs
    assert "dashed arc" in docs
