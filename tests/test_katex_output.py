"""Every formula derive prints renders in real KaTeX, in every language (Markdown and JSON latex)."""

from __future__ import annotations

import json

import pytest

from conftest import LANGS, network_specs
from katex import extract_math, katex_errors


@pytest.mark.parametrize("spec", network_specs(), ids=lambda p: p.stem)
def test_markdown_math_renders_in_katex(cli, spec):
    formulas = []
    for lang in LANGS:
        result = cli(spec, "--lang", lang)
        assert result.exit_code == 0, result.stderr
        found = extract_math(result.stdout)
        assert found, "no math found"
        formulas += found
    assert katex_errors(formulas) == []


@pytest.mark.parametrize("spec", network_specs(), ids=lambda p: p.stem)
def test_json_latex_renders_in_katex(cli, spec):
    data = json.loads(cli(spec, "--format", "json").stdout)
    assert katex_errors([d["latex"] for d in data["derivatives"]]) == []
