"""Bad specs: exit 2 with file:line:column, the key path and what was expected; no traceback, nothing run."""

from __future__ import annotations

import re

import pytest

from conftest import run_process

GOOD = """kind: network
input: x
layers:
  - {units: 2, activation: relu, params: theta, pre: z, post: h}
  - {units: 1, activation: identity, params: phi}
"""

CASES = {
    "unknown-activation": (
        GOOD.replace("activation: relu", "activation: relu6"),
        r"spec\.yaml:4:\d+: layers\[0\]\.activation: unknown activation 'relu6'; expected one of: identity, relu",
    ),
    "negative-units": (
        GOOD.replace("units: 2", "units: -3"),
        r"spec\.yaml:4:\d+: layers\[0\]\.units: expected a whole number from 1 to 256, got -3",
    ),
    "missing-layers": ("kind: network\ninput: x\n", r"spec\.yaml:1:1: missing key 'layers'"),
    "broken-yaml": ("kind: network\nlayers: [ {units: 2\n", r"spec\.yaml:3:1: not valid YAML"),
    "unknown-key": (GOOD + "lyaers: []\n", r"spec\.yaml:6:1: lyaers: unknown key 'lyaers'; expected one of: kind"),
    "unknown-loss": (GOOD + "loss: hinge\n", r"loss: unknown loss 'hinge'; expected one of: none, half_sse"),
    "softmax-hidden": (
        GOOD.replace("activation: relu", "activation: softmax"),
        r"layers\[0\]\.activation: softmax is allowed only on the output layer",
    ),
    "bce-needs-sigmoid": (GOOD + "loss: bce\n", r"loss bce takes logarithms of the outputs"),
    "duplicate-names": (GOOD.replace("post: h", "post: z"), r"the name 'z' is used for both"),
    "reserved-name": (GOOD.replace("params: theta", "params: exp"), r"'exp' is reserved"),
    "python-name": (GOOD.replace("params: theta", "params: __import__"), r"not a valid name"),
    "not-a-mapping": ("- 1\n- 2\n", r"a spec is a YAML mapping"),
    "empty": ("", r"spec\.yaml: the file is empty"),
    "alias-bomb": (
        'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
        'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n' + GOOD,
        r"spec\.yaml:2:\d+: YAML aliases \(\*a\) are not allowed",
    ),
    "duplicate-key": (GOOD + "input: z\n", r"spec\.yaml:6:1: the key 'input' appears twice"),
    "wrong-type-units": (GOOD.replace("units: 2", "units: two"), r"units: expected a whole number"),
    "title-unknown-language": (
        GOOD + "title: {ru: Сеть, de: Netz}\n",
        r"spec\.yaml:6:\d+: title\.de: unknown language 'de'; expected one of: en, pl, ru",
    ),
    "title-not-text": (GOOD + "title: [a, b]\n", r"spec\.yaml:6:\d+: title: expected a text or a mapping"),
    # every kind reads its title the same way (yamlload.Doc.title)
    "mlp-title-not-text": ("kind: mlp\ntitle: 5\n", r"spec\.yaml:2:\d+: title: expected a text or a mapping"),
    "graph-title-unknown-language": (
        "kind: graph\ntitle: {xx: t}\nnodes: {f: x * y}\n", r"spec\.yaml:2:\d+: title\.xx: unknown language 'xx'",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_spec_exits_2_with_location_and_no_traceback(tmp_path, cli, case):
    text, pattern = CASES[case]
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    result = cli(path)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert re.search(pattern, result.stderr), result.stderr
    assert "Traceback" not in result.stderr


def test_python_object_tag_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "spec.yaml"
    path.write_text(f'!!python/object/apply:os.system ["touch {marker}"]\n', encoding="utf-8")
    result = run_process(path)
    assert result.returncode == 2
    assert "tag:yaml.org,2002:python/object/apply:os.system is not allowed" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_bytes(bytes(range(256)) * 4)
    result = run_process(path)
    assert result.returncode == 2 and "binary file" in result.stderr and "Traceback" not in result.stderr


def test_huge_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("title: " + "x" * 2_000_000 + "\n", encoding="utf-8")
    result = run_process(path)
    assert result.returncode == 2 and "specs are limited to 1,000,000" in result.stderr


def test_missing_file(tmp_path):
    result = run_process(tmp_path / "nope.yaml")
    assert result.returncode == 2 and "cannot read the file" in result.stderr and "Traceback" not in result.stderr


def test_bad_option_exits_2(cli, tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(GOOD, encoding="utf-8")
    result = cli(path, "--lang", "de")
    assert result.exit_code == 2 and "'de' is not one of" in result.stderr
