"""`derive quiz`: the exercise sheet and answers template, seeded variants, and checking them back."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
import yaml

from conftest import ROOT, run_process
from derive.grading.check import Engine
from derive.render.i18n import translations
from derive.render.printing import ascii
from derive.grading.quiz import PROSE
from derive.kinds.network.spec import load_spec
from derive.grading.variant import variant
from katex import extract_math, katex_errors

SPEC = ROOT / "specs" / "two-layer-relu.yaml"
BLOCK = re.compile(r"^\$\$\n(.*?)\n\$\$$", re.S | re.M)


def _quiz(cli, tmp_path, *args):
    result = cli("quiz", SPEC, "-o", tmp_path, *args)
    assert result.exit_code == 0, result.output
    sheet, template = result.output.split()
    with open(sheet, encoding="utf-8") as f, open(template, encoding="utf-8") as g:
        return f.read(), g.read(), template


def test_sheet_gives_the_forward_pass_of_the_derivation(cli, tmp_path):
    sheet, template, _ = _quiz(cli, tmp_path)
    derivation = cli(SPEC).output
    notation = derivation[derivation.index("Notation (forward pass):"):]
    forward = BLOCK.findall(sheet[: sheet.index("Find the derivatives:")])
    assert forward and forward[:5] == BLOCK.findall(notation)[:5]
    keys = list(yaml.safe_load(template)["answers"])
    assert len(keys) == 13
    assert sheet.count(r"$\frac{\partial y}{\partial ") == 13
    assert r"\frac{\partial y}{\partial \theta_{11}}" in sheet


@pytest.mark.parametrize("lang", ["en", "ru", "pl"])
def test_sheet_math_renders_in_katex(cli, tmp_path, lang):
    formulas = []
    for seed in ("1", "2", "3"):
        sheet, _, _ = _quiz(cli, tmp_path, "--lang", lang, "--seed", seed)
        formulas += extract_math(sheet)
    assert formulas and katex_errors(formulas) == []


@pytest.mark.parametrize("lang", ["ru", "pl"])
def test_sheet_is_translated(cli, tmp_path, lang):
    sheet, template, _ = _quiz(cli, tmp_path, "--lang", lang, "--seed", "4")
    gettext = translations(lang).gettext
    for msgid in PROSE.values():
        english = re.split(r"%\(\w+\)s", msgid)[0].strip()
        assert english not in sheet + template, english
    assert gettext(PROSE["task"]) in sheet


def test_seeds_are_deterministic_and_vary(cli, tmp_path):
    first = _quiz(cli, tmp_path / "a", "--seed", "5")[:2]
    again = _quiz(cli, tmp_path / "b", "--seed", "5")[:2]
    assert first == again
    sheets = {_quiz(cli, tmp_path / f"s{n}", "--seed", str(n))[0] for n in range(1, 7)}
    assert len(sheets) >= 4


@pytest.mark.parametrize("spec,family", [("two-layer-relu.yaml", {"relu", "leaky_relu"}),
                                         ("sigmoid-bce.yaml", {"sigmoid", "tanh"})])
def test_variants_keep_the_spirit_of_the_spec(spec, family):
    base = load_spec(ROOT / "specs" / spec)
    for seed in range(20):
        v = variant(base, seed)
        assert v.layers[-1] == base.layers[-1] and v.loss == base.loss and v.input_size == base.input_size
        for layer in v.layers[:-1]:
            assert layer.activation in family and layer.units in (2, 3)


def _filled(template: str, answers: dict[str, str]) -> str:
    for key, text in answers.items():
        template = template.replace(f'  {key}: ""', f"  {key}: {json.dumps(text)}")
    return template


@pytest.mark.parametrize("seed", [3, 8])
def test_a_seeded_template_is_checked_against_its_own_variant(cli, tmp_path, seed):
    _, template, path = _quiz(cli, tmp_path, "--seed", str(seed))
    data = yaml.safe_load(template)
    assert data["seed"] == seed
    grader, asked = Engine(str(SPEC)).grader(seed)
    assert list(data["answers"]) == asked and len(asked) < 13
    own = {k: ascii(grader.expected[k].unfolded) for k in asked}
    with open(path, "w", encoding="utf-8") as f:
        f.write(_filled(template, own))
    result = cli("check", SPEC, path, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["score"] == len(asked)


def _untitled(tmp_path):
    """The two-layer ReLU spec without its title: variants may then change the activations."""
    text = SPEC.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    data.pop("title", None)
    path = tmp_path / "untitled-relu.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_variant_differs_from_the_spec(cli, tmp_path):
    # seed 3 makes the second hidden layer leaky (see the sheet): the spec's own answers are then wrong
    spec = _untitled(tmp_path)
    result = cli("quiz", spec, "-o", tmp_path, "--seed", "3")
    sheet_path, path = result.output.split()
    sheet, template = (open(p, encoding="utf-8").read() for p in (sheet_path, path))
    assert "LReLU" in sheet
    plain, _ = Engine(str(spec)).grader(None)
    asked = list(yaml.safe_load(template)["answers"])
    answers = {k: ascii(plain.expected[k].unfolded) for k in asked if k in plain.expected}
    with open(path, "w", encoding="utf-8") as f:
        f.write(_filled(template, answers))
    result = cli("check", spec, path, "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.output)["score"] < len(asked)


@pytest.mark.parametrize("seed", range(1, 9))
def test_a_titled_sheet_keeps_its_activations(seed):
    # the title says "ReLU network": no variant of it may become leaky (issue 13)
    spec = load_spec(str(SPEC))
    assert spec.title
    assert [layer.activation for layer in variant(spec, seed).layers] == [layer.activation for layer in spec.layers]


def test_an_empty_template_is_all_missing(cli, tmp_path):
    _, _, path = _quiz(cli, tmp_path, "--seed", "2")
    result = cli("check", SPEC, path, "--format", "json")
    assert result.exit_code == 1
    assert {a["verdict"] for a in json.loads(result.output)["answers"]} == {"missing"}


def test_bad_spec_is_exit_2(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("kind: graph\n", encoding="utf-8")
    proc = run_process("quiz", spec, "-o", tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_a_class_of_variants_in_one_gradebook(cli, tmp_path):
    engine = Engine(str(SPEC))
    paths, asked_by_seed = [], {}
    for seed in (3, 8):
        _, template, path = _quiz(cli, tmp_path, "--seed", str(seed))
        grader, asked = engine.grader(seed)
        asked_by_seed[seed] = asked
        with open(path, "w", encoding="utf-8") as f:
            f.write(_filled(template, {k: ascii(grader.expected[k].unfolded) for k in asked}))
        paths.append(path)
    result = cli("check", SPEC, *paths, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    union = list(dict.fromkeys(asked_by_seed[3] + asked_by_seed[8]))
    assert list(rows[0])[2:-2] == union
    for row, seed in zip(rows, (3, 8)):
        assert row["score"] == row["total"] == str(len(asked_by_seed[seed]))
        assert all((row[k] == "correct") == (k in asked_by_seed[seed]) for k in union)
        assert all(row[k] == "" for k in union if k not in asked_by_seed[seed])


def test_a_template_for_another_spec_is_refused(cli, tmp_path):
    _, _, path = _quiz(cli, tmp_path, "--seed", "1")
    proc = run_process("check", ROOT / "specs" / "sigmoid-bce.yaml", path)
    assert proc.returncode == 2
    assert "spec: this answers file is for 'two-layer-relu.yaml'" in proc.stderr


@pytest.mark.parametrize("lang", ["en", "ru", "pl"])
def test_the_printed_check_command_answers_in_the_sheets_language(cli, tmp_path, lang):
    # the command on the sheet and in the template, run as printed, gives feedback in the sheet's language
    import shlex

    sheet, template, path = _quiz(cli, tmp_path, "--lang", lang, "--seed", "2")
    command = next(line for line in sheet.splitlines() if line.startswith("derive check "))
    assert command in template
    words = shlex.split(command)[2:]
    words[1] = path  # the answers file sits where the quiz wrote it
    result = cli("check", *words, "--format", "json")
    assert result.exit_code == 1
    verdicts = {a["verdict"]: a["feedback"] for a in json.loads(result.output)["answers"]}
    assert verdicts["missing"] == translations(lang).gettext(_missing_msgid())


def _missing_msgid() -> str:
    from derive.grading.check import MESSAGES

    return MESSAGES["missing"]


def test_the_ending_of_o_chooses_a_moodle_quiz_and_a_contradiction_is_refused(tmp_path, cli):
    """`derive quiz SPEC -o quiz.xml` made a folder named quiz.xml holding a Markdown sheet; `--format moodle
    -o quiz.md` wrote XML into quiz.md."""
    import xml.etree.ElementTree as ET

    out = tmp_path / "quiz.xml"
    assert cli("quiz", SPEC, "-o", out).exit_code == 0
    assert out.is_file() and ET.parse(out).getroot().tag == "quiz"
    for args, words in [(["--format", "md", "-o", tmp_path / "q.xml"], "into a folder"),
                        (["-o", tmp_path / "notes.md"], "into a folder"),
                        (["--format", "moodle", "-o", tmp_path / "q.md"], "end the name in .xml")]:
        result = cli("quiz", SPEC, *args)
        assert result.exit_code == 2 and words in result.stderr and "Traceback" not in result.stderr, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["quiz.xml"]  # nothing else was written


def test_a_moodle_quiz_into_a_folder_that_does_not_exist_yet(tmp_path, cli):
    """docs/outputs.md's `--format moodle --seed 7 -o quiz/` wrote a file named quiz when the folder was missing."""
    result = cli("quiz", SPEC, "--format", "moodle", "--seed", "7", "-o", f"{tmp_path / 'quiz'}/")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "quiz" / "two-layer-relu-7.xml").is_file()
