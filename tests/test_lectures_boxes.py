"""`boxes:` in a spec: which displayed equations the lecture frames (none | key), in every output.

References: the seeds themselves. Seed 000 (the two-layer ReLU network) and seed 002
(the numpy-notation matrix lecture) frame no equation; seed 004 (Ng's lecture) frames
its key results. The defaults must reproduce them, and `boxes:` must be honoured the
same way in Markdown, LaTeX notes, slides and HTML, since all of them are made from
the one Markdown.
"""

from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT, SEEDS

BOXED = re.compile(r"\\boxed\b")


def _seed(number: str) -> str:
    return next(SEEDS.glob(f"{number}*")).read_text(encoding="utf-8")


def _with(tmp_path, spec: str, extra: str) -> str:
    """specs/<spec> with a line added at the top level (a copy in tmp_path)."""
    text = (ROOT / "specs" / spec).read_text(encoding="utf-8").rstrip("\n") + "\n" + extra + "\n"
    path = tmp_path / spec
    path.write_text(text, encoding="utf-8")
    return str(path)


def _body(tex: str) -> str:
    """A LaTeX document without its preamble (which defines the boxed display macro)."""
    return tex[tex.index(r"\begin{document}"):]


def _page(html: str) -> str:
    """An HTML page's body without its scripts (KaTeX's own source names \\boxed)."""
    body = html[html.index("<body"):]
    return body[: body.index("<script")]


# (spec, extra option, whether the default output frames its key results, as its seed does)
SPECS = [
    ("two-layer-relu.yaml", (), False),  # seed 000
    ("mlp-check.yaml", (), True),  # seed 004's notation (view: vector, notation: math)
    ("mlp-check.yaml", (), True),
    ("mlp-backprop.yaml", (), True),  # seed 004
    ("rnn-3-steps.yaml", (), True),
    ("layernorm.yaml", (), True),
    ("conv1d.yaml", (), True),
    ("attention-3-tokens.yaml", (), True),
]


def test_the_seeds_agree_with_the_defaults(cli):
    """Independent reference: seed 000 has no \\boxed, seed 004 has some; so do the default outputs."""
    assert not BOXED.search(_seed("000")) and not BOXED.search(_seed("002"))
    assert len(BOXED.findall(_seed("004"))) >= 5
    assert not BOXED.search(cli(ROOT / "specs" / "two-layer-relu.yaml", "--lang", "ru").stdout)
    sigmoid = cli(ROOT / "specs" / "sigmoid-bce.yaml", "--view", "vector", "--lang", "ru").stdout
    assert BOXED.search(sigmoid)  # the vector view in math notation is seed 004's
    assert len(BOXED.findall(cli(ROOT / "specs" / "mlp-backprop.yaml", "--lang", "ru").stdout)) >= 10


@pytest.mark.parametrize("spec", sorted({s for s, _, _ in SPECS}))
def test_none_frames_nothing_key_frames_the_key_results(cli, tmp_path, spec):
    counts = {}
    for value in ("none", "key"):
        path = _with(tmp_path, spec, f"boxes: {value}")
        md = cli(path, "--lang", "en")
        tex = cli(path, "--lang", "en", "--format", "tex")
        assert md.exit_code == 0 and tex.exit_code == 0, md.stdout + md.stderr
        counts[value] = (len(BOXED.findall(md.stdout)), len(BOXED.findall(_body(tex.stdout))))
    assert counts["none"] == (0, 0), spec
    md_key, tex_key = counts["key"]
    assert md_key > 0 and tex_key > 0, spec
    default = cli(ROOT / "specs" / spec, "--lang", "en").stdout
    framed_by_default = dict((s, want) for s, _, want in SPECS)[spec]
    assert len(BOXED.findall(default)) == (md_key if framed_by_default else 0), spec


def test_key_frames_the_scalar_view_too(cli, tmp_path):
    """A lecturer who wants seed 004's frames on a seed-000-like network says so."""
    path = _with(tmp_path, "two-layer-relu.yaml", "boxes: key")
    md = cli(path, "--lang", "pl").stdout
    assert len(BOXED.findall(md)) >= 13  # the derivative of each of the 13 parameters is a key result
    slides = cli(path, "--lang", "pl", "--format", "tex", "--document", "slides").stdout
    assert BOXED.search(_body(slides))
    html = cli(path, "--lang", "pl", "--format", "html").stdout
    assert BOXED.search(_page(html))
    none = _with(tmp_path, "mlp-check.yaml", "boxes: none")
    for fmt, args in (("html", ()), ("tex", ("--document", "slides"))):
        out = cli(none, "--format", fmt, *args).stdout
        assert not BOXED.search(_body(out) if fmt == "tex" else _page(out)), fmt


def test_json_says_what_is_boxed(cli, tmp_path):
    key = json.loads(cli(ROOT / "specs" / "mlp-backprop.yaml", "--format", "json").stdout)
    none = json.loads(cli(_with(tmp_path, "mlp-backprop.yaml", "boxes: none"), "--format", "json").stdout)
    assert any(f["boxed"] for f in key["formulas"])
    assert not any(f["boxed"] for f in none["formulas"])
    assert [f["latex"] for f in key["formulas"]] == [f["latex"] for f in none["formulas"]]


@pytest.mark.parametrize("value", ["all", "yes", "[key]", "true", "Key"])
def test_a_bad_value_is_located(cli, tmp_path, value):
    path = _with(tmp_path, "two-layer-relu.yaml", f"boxes: {value}")
    line = (tmp_path / "two-layer-relu.yaml").read_text(encoding="utf-8").rstrip("\n").count("\n") + 1
    result = cli(path)
    assert result.exit_code == 2
    assert f"two-layer-relu.yaml:{line}:" in result.stderr
    assert "expected one of: none, key" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("spec", ["graph-add-mul.yaml", "deep-composition.yaml"])
def test_kinds_without_key_results_refuse_the_key(cli, tmp_path, spec):
    """A graph frames nothing (seed 001) and a composition's frames are its seed's marks of the new factors:
    `boxes:` would do nothing there, so it is an unknown key."""
    result = cli(_with(tmp_path, spec, "boxes: none"))
    assert result.exit_code == 2
    assert "unknown key 'boxes'" in result.stderr
