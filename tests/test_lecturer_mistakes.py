"""The mistakes a lecturer makes writing a first spec by hand, and what derive answers.

Each case is a slip made on purpose in a correct spec: the expected answer is the word that was
meant (not whatever derive prints), the line and column where the slip was made, exit code 2 and
no traceback. `derive build` must still build the other specs of the folder.
"""

from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT, run_process

GOOD = """kind: network
input: x
layers:
  - {units: 2, activation: relu, params: theta, pre: z, post: h}
  - {units: 1, activation: identity, params: phi}
"""


def _spec(tmp_path, text: str | bytes, name: str = "spec.yaml"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def _refused(cli, path, *options):
    result = cli(path, *options)
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "Traceback" not in result.stderr
    return result.stderr


# (the spec with a slip, where the slip is, the word that was meant)
SLIPS = {
    "key-singular": (GOOD.replace("layers:", "layer:"), "3:1", "'layers'"),
    "layer-key-typo": (GOOD.replace("activation: relu", "activaton: relu"), "4:", "'activation'"),
    "activation-case": (GOOD.replace("activation: relu", "activation: ReLU"), "4:", "'relu'"),
    "activation-other-name": (GOOD.replace("activation: relu", "activation: swish"), "4:", "'silu'"),
    "activation-hyphen": (GOOD.replace("activation: relu", "activation: leaky-relu"), "4:", "'leaky_relu'"),
    "activation-typo": (GOOD.replace("activation: relu", "activation: sigmiod"), "4:", "'sigmoid'"),
    "loss-case": (GOOD + "loss: MSE\n", "6:7", "'mse'"),
    "loss-hyphen": (GOOD + "loss: half-sse\n", "6:7", "'half_sse'"),
    "kind-typo": (GOOD.replace("kind: network", "kind: netwrok"), "1:7", "'network'"),
    "index-typo": (GOOD + "index: target_source\n", "6:8", "'target-source'"),
    "mlp-section": ("kind: mlp\nsections: [forward, backprop]\n", "2:21", "'backward'"),
    "graph-wrt": ("kind: graph\nnodes: {q: x + y, f: q * z}\nwrt: [x, Z]\n", "3:10", "'z'"),
    # what other tools call the keys, and a word added to a key
    "key-lr": (GOOD + "lr: 0.1\n", "6:1", "'learning_rate'"),
    "key-neurons": (GOOD.replace("{units: 2", "{neurons: 2"), "4:6", "'units'"),
    "input-units": (GOOD.replace("input: x", "input: {name: x, units: 3}"), "2:18", "'size'"),
    "key-loss-fn": (GOOD + "loss_fn: mse\n", "6:1", "'loss'"),
}


@pytest.mark.parametrize("case", SLIPS)
def test_a_slip_is_pointed_at_with_the_word_that_was_meant(tmp_path, cli, case):
    text, where, meant = SLIPS[case]
    err = _refused(cli, _spec(tmp_path, text))
    assert f"spec.yaml:{where}" in err, err
    assert err.rstrip().endswith(f"did you mean {meant}?"), err


def test_a_worked_example_value_named_with_the_dropped_index_is_pointed_at(tmp_path, cli):
    """A one-unit layer drops the target index (CONTRACT 2): W2_11 was meant as W2_1."""
    text = """kind: network
input: {name: x, size: 2}
index: target-source
layers:
  - {units: 2, activation: relu, params: W, bias: b}
  - {units: 1, activation: sigmoid, params: W, bias: b}
loss: bce
values: {x_1: 1, x_2: -2, t: 1, W1_11: 0.5, W1_12: -0.3, W1_21: 0.8, W1_22: 0.2, b1_1: 0.1, b1_2: -0.1,
         W2_11: 1.2, W2_2: -0.7, b2: 0.05}
"""
    err = _refused(cli, _spec(tmp_path, text))
    assert "spec.yaml:9:10: values.W2_11:" in err and err.rstrip().endswith("did you mean 'W2_1'?"), err


def test_nothing_close_suggests_nothing(tmp_path, cli):
    """`hinge` is no loss derive knows and is close to none: listing them is all that helps."""
    err = _refused(cli, _spec(tmp_path, GOOD + "loss: hinge\n"))
    assert "expected one of: none, half_sse" in err and "did you mean" not in err, err


def test_closest_never_shows_the_value_itself():
    from derive.core.yamlload import closest

    assert closest("Relu", ["identity", "relu"]) == "relu"
    assert closest("LeakyReLU", ["relu", "leaky_relu"]) == "leaky_relu"
    assert closest("swish", ["relu", "silu"], {"swish": "silu"}) == "silu"
    assert closest("swish", ["relu", "tanh"], {"swish": "silu"}) is None  # an alias of an option not offered
    assert closest("/etc/passwd", ["network", "graph"]) is None
    assert closest(3, ["network"]) is None


@pytest.mark.parametrize("name,reason", [
    ("e", "Euler's number"), ("d", "dy/dx"), ("pi", "π"), ("exp", "the function exp"), ("Swish", "the function silu"),
    ("lambda", "Python keyword"),
])
def test_a_reserved_name_says_what_it_already_means(tmp_path, cli, name, reason):
    """`bias: e` was refused as "a function or keyword", which e is not to a lecturer: say what it is."""
    err = _refused(cli, _spec(tmp_path, GOOD.replace("params: theta", f"params: {name}")))
    assert f"spec.yaml:4:" in err and f"'{name}' is reserved (" in err and reason in err, err


def test_a_greek_letter_typed_as_such_is_spelt_for_the_lecturer(tmp_path, cli):
    """Names are Latin letters that print as Greek: `params: θ` gets the spelling that prints as θ."""
    err = _refused(cli, _spec(tmp_path, GOOD.replace("params: phi", "params: φ")))
    assert "spec.yaml:5:" in err and err.rstrip().endswith("did you mean 'phi'? (it prints as φ)"), err
    err = _refused(cli, _spec(tmp_path, GOOD.replace("params: phi", "params: σ")))  # sigma is the sigmoid
    assert "did you mean" not in err, err
    assert cli(_spec(tmp_path, GOOD.replace("params: phi", "params: Psi")), "--format", "json").exit_code == 0


def test_windows_line_ends_are_line_ends(tmp_path, cli):
    """A spec saved by Notepad (CR LF) was refused: "the control character U+000D is not allowed"."""
    result = cli(_spec(tmp_path, GOOD.replace("\n", "\r\n").encode("utf-8")), "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["parameters"][0] == "theta_01"
    slip = _refused(cli, _spec(tmp_path, GOOD.replace("\n", "\r\n").replace("layers:", "layer:").encode()))
    assert "spec.yaml:3:1: layer: unknown key" in slip, slip  # lines still counted right


def test_a_name_used_twice_is_pointed_at_where_it_is_used_the_second_time(tmp_path, cli):
    err = _refused(cli, _spec(tmp_path, GOOD + "loss: mse\ntarget: y\n"))
    assert "spec.yaml:7:9: target: the name 'y' is used for both output and target" in err, err


# (the spec with a key that would do nothing, where the key is, words the message must have)
UNUSED = {
    "target-without-loss": (GOOD + "target: t\n", "6:1", ["target belongs to a loss", "loss: half_sse"]),
    "loss-name-without-loss": (GOOD + "loss: none\nloss_name: E\n", "7:1", ["loss_name belongs to a loss"]),
    "bias-with-source-target": (GOOD.replace("params: theta,", "params: theta, bias: c,"), "4:",
                                ["index: target-source", "theta_01"]),
    "output-with-a-size": (GOOD + "output: {name: y, size: 2}\n", "6:9", ["output's name", "last layer"]),
}


@pytest.mark.parametrize("case", UNUSED)
def test_a_key_that_would_do_nothing_is_refused(tmp_path, cli, case):
    """A `target:` without `loss:` used to be dropped silently, and the lecture then differentiated y, not
    the loss the lecturer meant; `bias:` with the default index was dropped the same way."""
    text, where, words = UNUSED[case]
    err = _refused(cli, _spec(tmp_path, text))
    assert f"spec.yaml:{where}" in err and all(w in err for w in words), err


def test_the_same_keys_with_a_loss_and_the_matrix_index_are_fine(tmp_path, cli):
    text = GOOD.replace("params: theta,", "params: W, bias: c,").replace("params: phi", "params: V, bias: d0")
    text = text.replace("input: x", "input: x\nindex: target-source") + "loss: half_sse\ntarget: r\nloss_name: E\n"
    text = text.replace("bias: d0", "bias: beta")
    result = cli(_spec(tmp_path, text), "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["of"] == "E" and data["targets"] == ["r"] and {"c_1", "c_2", "beta"} <= set(data["parameters"])


# (the text, line:column of the mistake, words the message must have)
YAML_MISTAKES = {
    "tab": ("kind: network\nlayers:\n\t- {units: 2, activation: relu}\n", "3:1", ["tab", "spaces"]),
    "list-item-indented-differently": (
        "kind: network\nlayers:\n  - units: 2\n    activation: relu\n   - units: 1\n", "5:4",
        ["indented", "same column"]),
    "key-indented-too-far": ("kind: network\n  loss: mse\n", "2:7", ["indented further"]),
    "no-space-after-colon": ("kind:network\nloss: mse\n", "2:5", ["space after its colon"]),
    "colon-in-a-title": ("kind: network\ntitle: Lecture 3: backprop\n", "2:17", ["quote"]),
    "no-colon": ("kind: network\nloss mse\nlayers: []\n", "2:1", ["key: value"]),
    "unclosed-brace": (GOOD.replace("params: phi}", "params: phi") + "loss: mse\n", "6:5", ["closing }"]),
    "unclosed-quote": ('kind: network\ntitle: "Lecture\nloss: mse\n', "2:8", ["never closed"]),
}


@pytest.mark.parametrize("case", YAML_MISTAKES)
def test_yaml_mistakes_are_said_in_plain_words_where_they_are(tmp_path, cli, case):
    text, where, words = YAML_MISTAKES[case]
    err = _refused(cli, _spec(tmp_path, text))
    assert f"spec.yaml:{where}: not valid YAML: " in err, err
    assert all(w in err for w in words), err
    assert "<block" not in err and "token" not in err, err  # no parser jargon


@pytest.mark.parametrize("codec,name,title", [
    ("cp1251", "Windows-1251", "Двухслойная сеть с ReLU"),
    ("cp1250", "Windows-1250", "Sieć dwuwarstwowa, żółta"),
])
def test_a_file_saved_in_an_old_windows_encoding_is_named_with_the_fix(tmp_path, cli, codec, name, title):
    text = GOOD.replace("input: x", f'title: "{title}"\ninput: x')
    err = _refused(cli, _spec(tmp_path, text.encode(codec)))
    column = len('title: "') + next(i for i, c in enumerate(title) if ord(c) > 127) + 1
    assert f"spec.yaml:2:{column}: the file is not UTF-8 text" in err, err
    assert name in err and f"iconv -f {codec} -t utf-8" in err, err
    # and the fix it names works
    _spec(tmp_path, text.encode(codec).decode(codec).encode("utf-8"), "fixed.yaml")
    assert cli(tmp_path / "fixed.yaml").exit_code == 0


def test_an_encoding_that_cannot_be_told_is_not_guessed(tmp_path, cli):
    err = _refused(cli, _spec(tmp_path, GOOD.replace("input: x", 'title: "café"\ninput: x').encode("latin-1")))
    assert "not UTF-8 text" in err and "looks like" not in err, err


def test_a_byte_order_mark_is_fine(tmp_path, cli):
    assert cli(_spec(tmp_path, "\ufeff" + GOOD)).exit_code == 0


# -- the command line --------------------------------------------------------------------------------

def test_a_folder_given_as_spec_says_derive_build(tmp_path, cli):
    _spec(tmp_path, GOOD, "a.yaml")
    _spec(tmp_path, GOOD, "b.yaml")
    err = _refused(cli, tmp_path)
    assert "is a folder" in err and "a.yaml, b.yaml" in err and f"derive build {tmp_path}" in err, err
    assert "derive render" not in err


@pytest.mark.parametrize("name,check", [
    ("notes.json", lambda text: json.loads(text)["kind"] == "network"),
    ("notes.html", lambda text: text.lstrip().lower().startswith("<!doctype html")),
    ("notes.ipynb", lambda text: json.loads(text)["nbformat"] == 4),
    ("notes.tex", lambda text: "\\documentclass" in text),
    ("notes.md", lambda text: text.startswith("# ")),
    ("notes.txt", lambda text: text.startswith("# ")),  # an ending derive does not know: Markdown
])
def test_the_ending_of_o_chooses_the_format(tmp_path, cli, name, check):
    spec = _spec(tmp_path, GOOD)
    out = tmp_path / name
    result = cli(spec, "-o", out)
    assert result.exit_code == 0, result.output
    assert check(out.read_text(encoding="utf-8"))


def test_an_ending_that_contradicts_format_is_refused_before_any_work(tmp_path, cli):
    spec = _spec(tmp_path, GOOD)
    err = _refused(cli, spec, "--format", "pdf", "-o", tmp_path / "notes.md")
    assert "--format pdf" in err and ".md" in err and not (tmp_path / "notes.md").exists(), err
    assert cli(spec, "--format", "json", "-o", tmp_path / "notes.JSON").exit_code == 0  # the same, in capitals


def test_build_still_builds_the_good_specs_beside_the_mistakes(tmp_path):
    folder = tmp_path / "course"
    folder.mkdir()
    _spec(folder, GOOD, "good.yaml")
    _spec(folder, GOOD.replace("activation: relu", "activation: Relu"), "slip.yaml")
    _spec(folder, "kind: network\nlayers:\n\t- {units: 2}\n", "tab.yaml")
    _spec(folder, GOOD.replace("input: x", 'title: "Сеть"\ninput: x').encode("cp1251"), "cp1251.yaml")
    proc = run_process("build", folder, "--format", "md,json", "--lang", "ru", "--out", tmp_path / "out", cwd=ROOT)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert re.search(r"slip\.yaml:4:\d+: .*did you mean 'relu'\?", proc.stderr), proc.stderr
    assert "tab.yaml:3:1: not valid YAML: a tab" in proc.stderr and "Windows-1251" in proc.stderr
    assert (tmp_path / "out" / "ru" / "good.md").is_file() and (tmp_path / "out" / "ru" / "good.json").is_file()
    assert not (tmp_path / "out" / "ru" / "slip.md").exists()


# -- the help teaches with examples that run -----------------------------------------------------------

def _examples(help_text: str) -> list[list[str]]:
    """The commands under "Examples:" in a help text: each line's words up to its description (two spaces)."""
    lines = help_text.split("Examples:", 1)[1].split("\n\n", 1)[0].splitlines()
    return [line.strip().split("  ", 1)[0].split() for line in lines if line.strip().startswith("derive ")]


def test_every_example_in_the_main_and_render_help_runs(tmp_path):
    """A newcomer copies the examples of `derive --help` and `derive render --help` into a shell in the
    project folder: each must work as written (PDF ones too: LuaLaTeX is installed where tests run).
    The folder holds only the specs the examples name, so `derive build specs` stays short."""
    import shutil

    commands = []
    for args in ([], ["render"]):
        proc = run_process(*args, "--help", cwd=tmp_path)
        assert proc.returncode == 0
        commands += _examples(proc.stdout)
    assert len(commands) >= 10, commands
    (tmp_path / "specs").mkdir()
    for name in {word for words in commands for word in words if word.startswith("specs/")}:
        shutil.copy(ROOT / name, tmp_path / name)
    for words in commands:
        if words[1] == "check":  # its answers file is the one the quiz example writes
            assert ["derive", "quiz", words[2], "-o", "quiz/"] in commands
        proc = run_process(*words[1:], cwd=tmp_path, timeout=600)
        assert proc.returncode in (0, 1) if words[1] == "check" else proc.returncode == 0, (words, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert (tmp_path / "notes.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "mazur.pdf").read_bytes().startswith(b"%PDF") and (tmp_path / "mazur.svg").is_file()
