"""`--format ipynb`: a valid nbformat 4 notebook whose numpy cells, run in a real kernel (nbclient),
agree with finite differences, and fail when a formula is wrong."""

from __future__ import annotations

import json
import re

import nbformat
import pytest

from conftest import ROOT, SPECS

PROGRAMS = ["two-layer-relu", "sigmoid-neuron", "softmax-ce", "leaky-relu", "sigmoid-bce", "sigmoid-layer",
            "graph-add-mul", "course"]


def _notebook(cli, stem, lang="en", *extra):
    result = cli(ROOT / "specs" / f"{stem}.yaml", "--format", "ipynb", "--lang", lang, *extra)
    assert result.exit_code == 0, result.stderr
    return nbformat.reads(result.stdout, as_version=4)


def _draws_figures(spec) -> bool:
    """Whether spec's kind draws a diagram (the kind registry says so), i.e. accepts --no-figures."""
    import yaml

    from derive.kinds.base import KINDS

    entry = KINDS[yaml.safe_load(spec.read_text(encoding="utf-8")).get("kind", "network")]
    return entry.figure or entry.documents


def _run(nb):
    import nbclient

    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    return nb


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_every_spec_gives_a_valid_notebook(cli, spec):
    nb = _notebook(cli, spec.stem, "pl")
    nbformat.validate(nb)
    assert nb.nbformat == 4 and nb.metadata.kernelspec.language == "python"
    # the Markdown beside a notebook without figures (a kind that draws none refuses --no-figures)
    bare = ("--no-figures",) if _draws_figures(spec) else ()
    markdown = cli(spec, "--lang", "pl", *bare).stdout
    cells = [c.source for c in _notebook(cli, spec.stem, "pl", *bare).cells if c.cell_type == "markdown"]
    derivation = cells[: len(cells) - (sum("assert worst" in c.source for c in _code(nb)))]
    without_rules = re.sub(r"(?m)^-{3,}\s*$", "", markdown)
    assert "".join("".join(c.split()) for c in derivation) == "".join(without_rules.split())  # nothing lost
    assert all(not c.lstrip().startswith("$$") for c in derivation)  # each step opens with its heading or prose
    assert len(derivation) > len(re.findall(r"(?m)^#{1,6} ", markdown))  # finer than the sections
    if spec.stem in PROGRAMS:
        assert len(_code(nb)) >= 4


@pytest.mark.parametrize("stem,lang", [("two-layer-relu", "ru"), ("sigmoid-neuron", "en"), ("softmax-ce", "pl"),
                                       ("leaky-relu", "en"), ("course", "ru")])
def test_numpy_cells_agree_with_finite_differences(cli, stem, lang):
    nb = _run(_notebook(cli, stem, lang))
    outputs = [o for c in _code(nb) for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    checks = [c for c in _code(nb) if "assert worst <" in c.source]
    assert len(checks) == (4 if stem == "course" else 1)  # the course has four chapters that are programs
    lasts = [c.outputs[-1]["text"].strip().splitlines()[-1] for c in checks]
    errors = [float(re.search(r"(\d\.\de[+-]\d+)", line).group(1)) for line in lasts]
    assert max(errors) < 1e-6


def test_a_wrong_formula_fails_the_check(cli):
    nb = _notebook(cli, "two-layer-relu")
    derivatives = next(c for c in _code(nb) if "derivatives = {" in c.source)
    assert "'phi_1': g_1," in derivatives.source
    derivatives.source = derivatives.source.replace("'phi_1': g_1,", "'phi_1': g_2,")
    import nbclient

    with pytest.raises(nbclient.exceptions.CellExecutionError, match="AssertionError"):
        _run(nb)


def test_indicator_and_relu_are_numpy(cli):
    source = "\n".join(c.source for c in _code(_notebook(cli, "two-layer-relu")))
    assert "numpy.maximum(0, z_1)" in source and "numpy.where(u_1 > 0, 1, 0)" in source
    assert "I(" not in source and "relu(" not in source


def test_the_figure_is_an_attachment(cli):
    nb = _notebook(cli, "two-layer-relu")
    first = nb.cells[0]
    assert "attachment:diagram.svg" in first.source
    assert first.attachments["diagram.svg"]["image/svg+xml"].lstrip().startswith(("<svg", "<?xml"))


def test_the_spec_values_are_the_point(cli):
    source = _code(_notebook(cli, "sigmoid-neuron"))[0].source
    assert re.search(r"(?m)^x = -1\.0$", source) and re.search(r"(?m)^theta = 3\.0$", source)


def test_build_makes_notebooks(cli, tmp_path):
    result = cli("build", ROOT / "specs" / "graph-add-mul.yaml", "--format", "ipynb", "--lang", "ru",
                 "--out", tmp_path, "-j", "1")
    assert result.exit_code == 0
    nbformat.validate(nbformat.read(tmp_path / "ru" / "graph-add-mul.ipynb", as_version=4))
    assert json.loads((tmp_path / "ru" / "graph-add-mul.ipynb").read_text(encoding="utf-8"))["nbformat"] == 4


def test_names_that_python_or_the_code_uses_are_renamed(cli, tmp_path):
    spec = tmp_path / "names.yaml"
    spec.write_text("kind: graph\nnodes:\n  q: lambda * x + point\n  numpy: q * q\noutput: numpy\n", encoding="utf-8")
    result = cli(spec, "--format", "ipynb")
    assert result.exit_code == 0, result.stderr
    nb = _run(nbformat.reads(result.stdout, as_version=4))
    source = "\n".join(c.source for c in _code(nb))
    assert "point_ = " in source and "numpy_ = " in source  # (λ is spelt lamda in JSON: no keyword clash)
    assert not [o for c in _code(nb) for o in c.outputs if o.output_type == "error"]


def test_the_figure_and_its_legend_are_in_the_notebook_s_language(cli):
    """layer norm in Polish: the attached SVG has the Polish captions, the colour legend is under it."""
    from derive.kinds.layers import layernorm
    from derive.render.i18n import translations

    nb = _notebook(cli, "layernorm", "pl")
    text = "".join(c.source for c in nb.cells if c.cell_type == "markdown")
    svg = next(c.attachments["diagram.svg"]["image/svg+xml"] for c in nb.cells if getattr(c, "attachments", None))
    assert translations("pl").gettext(layernorm.FIGURE_LEGEND) in text
    assert "Normalizacja warstwy" in svg and "Layer normalisation" not in svg


@pytest.mark.parametrize("lang,words", [("ru", ("по формуле", "по конечной разности")), ("pl", ("ze wzoru", "iloraz różnicowy"))])
def test_the_check_cell_prints_its_columns_in_the_notebook_s_language(cli, lang, words):
    """Every other line of a Russian or Polish notebook is in its language: so are the check's two columns."""
    nb = _run(_notebook(cli, "two-layer-relu", lang))
    check = next(c for c in _code(nb) if "assert worst <" in c.source)
    printed = "".join(o["text"] for o in check.outputs if o.output_type == "stream")
    rows = [line for line in printed.splitlines() if re.match(r"\s*theta_01 ", line)]
    assert len(rows) == 1 and all(word in rows[0] for word in words), printed
    assert "formula" not in printed and "finite difference" not in printed


def test_a_graph_of_one_node_gives_a_notebook_that_runs(cli, tmp_path):
    """f = x y is one node: its forward pass returned a bare number, which the next line unpacked as a tuple."""
    spec = tmp_path / "one.yaml"
    spec.write_text("kind: graph\nnodes: {f: x * y}\nvalues: {x: 3, y: -2}\n", encoding="utf-8")
    result = cli(spec, "--format", "ipynb")
    assert result.exit_code == 0, result.stderr
    nb = _run(nbformat.reads(result.stdout, as_version=4))
    assert not [o for c in _code(nb) for o in c.outputs if o.output_type == "error"]
    printed = "".join(o.get("text", "") for c in _code(nb) for o in c.outputs)
    assert "f = -6" in printed, printed
