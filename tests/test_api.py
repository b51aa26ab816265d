"""The Python API (CONTRACT section 9): derive.derive and derive.check give what the command line gives,
and docs/example.ipynb runs in a real Jupyter kernel (nbclient, the current interpreter)."""

from __future__ import annotations

import json
import sys

import pytest

import derive
from conftest import ROOT
from derive.errors import DeriveError

SPEC = ROOT / "specs" / "two-layer-relu.yaml"


@pytest.fixture(scope="module")
def derivation():
    return derive.derive(SPEC, lang="ru")


def test_markdown_is_what_the_command_prints(derivation, cli):
    assert derivation.markdown() == cli(SPEC, "--lang", "ru").stdout
    assert derivation._repr_markdown_() == derivation.markdown()


def test_json_is_the_contract_object(derivation, cli):
    assert derivation.json() == json.loads(cli(SPEC, "--format", "json").stdout)


def test_latex_is_the_document(derivation, cli):
    assert derivation.latex() == cli(SPEC, "--lang", "ru", "--format", "tex").stdout


def test_options_reach_the_pipeline(cli):
    layer = ROOT / "specs" / "sigmoid-layer.yaml"
    vector = derive.derive(layer, view="vector", figures=False)
    assert vector.markdown() == cli(layer, "--view", "vector", "--no-figures").stdout
    assert vector.markdown() != derive.derive(layer, view="scalar").markdown()
    with pytest.raises(TypeError, match="unknown option"):
        derive.derive(SPEC, colour="red")


def test_check_is_one_file_of_check_json(tmp_path, cli):
    answers = {"phi_1": "g_1", "psi_01": "-phi_1*I[u_1>0]", "theta_11": "x", "psi_11": "phi_1 h_1"}
    got = derive.check(SPEC, answers, lang="pl", student="Kowalska")
    sheet = tmp_path / "a.yaml"
    sheet.write_text(json.dumps({"student": "Kowalska", "answers": answers}), encoding="utf-8")
    result = cli("check", SPEC, sheet, "--lang", "pl", "--format", "json")
    assert result.exit_code == 1
    assert got == json.loads(result.stdout)
    verdicts = {a["key"]: a["verdict"] for a in got["answers"]}
    assert verdicts["phi_1"] == "correct" and verdicts["psi_01"] == "incorrect" and verdicts["theta_01"] == "missing"


def test_check_survives_importing_the_check_module():
    import derive.grading.check  # noqa: F401  (binds the submodule to the package attribute)

    assert callable(derive.check) and derive.check.__module__ == "derive.api"


def test_bad_input_is_a_derive_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: network\ninput: x\nlayers:\n  - {units: 1, activation: relu6}\n", encoding="utf-8")
    with pytest.raises(DeriveError) as info:
        derive.derive(bad)
    assert info.value.exit_code == 2 and "bad.yaml:4" in info.value.show()
    refused = derive.check(SPEC, {"nonsense_9": "1", "phi_1": "g_1"})
    assert [r["key"] for r in refused["refused"]] == ["nonsense_9"] and refused["score"] == 1
    with pytest.raises(TypeError, match="dict"):
        derive.check(SPEC, ["phi_1"])
    with pytest.raises(DeriveError, match="unknown language"):
        derive.derive(SPEC, lang="de")


def test_the_api_is_not_imported_by_the_command_line():
    import subprocess

    code = "import sys, derive.cli; print('derive.api' in sys.modules, 'sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_example_notebook_runs():
    import nbclient
    import nbformat

    path = ROOT / "docs" / "example.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = [o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    assert shown and shown[0].startswith("# ") and "$$" in shown[0]
    assert any("incorrect" in str(o.get("data", "")) for o in outputs)


def test_html_and_notebook_from_the_api(derivation):
    import nbformat

    assert derivation.html().startswith("<!DOCTYPE html>") and 'lang="ru"' in derivation.html()
    nbformat.validate(nbformat.reads(derivation.notebook(), as_version=4))


def test_pdf_from_the_api(tmp_path):
    import shutil
    import subprocess

    from conftest import IN_CI

    if shutil.which("lualatex") is None or shutil.which("pdftotext") is None:
        message = "no LuaLaTeX or pdftotext (the TeX Live packages of .ci/run)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    path = derive.derive(SPEC, lang="pl").pdf(tmp_path / "notes.pdf")
    assert path == tmp_path / "notes.pdf"
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "Pochodne" in text
