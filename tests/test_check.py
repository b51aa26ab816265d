"""`derive check`: equivalent forms are correct, each typical mistake gets its diagnosis, hostile
answers are invalid, and the command's exit codes and JSON/CSV shapes follow CONTRACT section 4.

Correct answers are the engine's own derivatives rewritten in other forms by
SymPy (reordered, expanded, LaTeX, intermediates expanded, Heaviside), or the
formulas of seed 000 typed from tests/seeds/000.txt. Mistakes are made here, by
perturbing the engine's answers with SymPy (never through the grader's own
perturbation list), so the diagnosis is checked against an independent
construction.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
import sympy as sp

from conftest import ROOT, run_process
from derive.core.calculus import Indicator, relu
from derive.grading.check import (
    EXPECTED,
    MESSAGES,
    REFUSED,
    TEXT,
    VERDICT_WORDS,
    Engine,
    check_files,
)
from derive.render.i18n import LIST_END
from derive.grading.grader import TIME_LIMIT, _Timeout, time_limit, transposed_name
from derive.render.printing import answer_text, ascii, latex
from derive.grading.quiz import PROSE

SPEC = ROOT / "specs" / "two-layer-relu.yaml"
S = sp.Symbol


@pytest.fixture(scope="module")
def engine():
    return Engine(str(SPEC))


@pytest.fixture(scope="module")
def grader(engine):
    return engine.grader(None)[0]


def expected(grader, key) -> sp.Expr:
    """The engine's derivative with respect to key, with intermediates (z, h, u, g) kept."""
    return grader.expected[key].unfolded


def verdict(grader, key, text):
    return grader.check(key, text)


def codes(v) -> list[str]:
    return [f.code for f in v.findings]


# -- equivalent forms are correct ------------------------------------------------------------------


def _reordered(e):
    return sp.Mul(*reversed(e.args), evaluate=False) if e.is_Mul else e


def _expanded_intermediates(grader, e):
    """h_1 -> max(0, z_1), z_1 -> θ_01 + θ_11 x, …: only parameters and inputs left."""
    net = grader.derivation.network
    definitions = {s: (sp.Max(0, d.args[0]) if isinstance(d, relu) else d) for s, d in net.forward}
    for _ in range(len(definitions)):
        e = e.xreplace(definitions)
    return e


FORMS = {
    "engine": lambda g, e: ascii(e),
    "reordered": lambda g, e: ascii(_reordered(e)),
    "expanded": lambda g, e: ascii(sp.expand(e)),
    "latex": lambda g, e: latex(e),
    "latex 1[]": lambda g, e: latex(e, indicator="1"),
    "heaviside": lambda g, e: ascii(e).replace("I(", "Heaviside(").replace(" > 0)", ")"),
    "square brackets": lambda g, e: ascii(e).replace("I(", "I[").replace(" > 0)", " > 0]"),
    "no intermediates": lambda g, e: ascii(_expanded_intermediates(g, e)),
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("key", ["theta_11", "theta_02", "psi_21", "psi_12", "phi_0", "phi_2"])
def test_equivalent_forms_are_correct(grader, key, form):
    text = FORMS[form](grader, expected(grader, key))
    v = verdict(grader, key, text)
    assert v.verdict == "correct", (text, v.findings)


SEED_000 = {  # typed from tests/seeds/000.txt (lines 39-125)
    "phi_1": r"g_1",
    "phi_2": r"a[u_2]",
    "psi_01": r"\phi_1\,I[u_1>0]",
    "psi_21": r"\phi_1\,I[u_1>0]\;h_2",
    "psi_12": r"\phi_2\,I[u_2>0]\;h_1",
    "theta_01": r"\Big(\phi_1 I[u_1>0]\psi_{11}+\phi_2 I[u_2>0]\psi_{12}\Big)\;I[z_1>0]",
    "theta_12": r"\Big(\phi_1 I[u_1>0]\psi_{21}+\phi_2 I[u_2>0]\psi_{22}\Big)\;I[z_2>0]\;x",
}


@pytest.mark.parametrize("key", SEED_000)
def test_seed_formulas_are_correct(grader, key):
    assert verdict(grader, key, SEED_000[key]).verdict == "correct"


def test_contract_examples(grader):
    # CONTRACT section 4's example answers
    assert verdict(grader, "phi_1", "g_1").verdict == "correct"
    assert verdict(grader, "theta_11", "(phi_1*I[u_1>0]*psi_11 + phi_2*I[u_2>0]*psi_12)*I[z_1>0]*x").verdict == "correct"
    assert verdict(grader, "psi_21", r"\phi_1 \mathbb{I}[u_1>0]\, h_2").verdict == "correct"


def test_intermediate_forms(grader):
    for text in ("max(0, u_1)", "relu(u_1)", "a[u_1]", "max(0, psi_01 + psi_11 h_1 + psi_21 h_2)"):
        assert verdict(grader, "phi_1", text).verdict == "correct", text
    assert verdict(grader, "theta_11", "dy_dh_1 I[z_1 > 0] x").verdict == "correct"
    assert verdict(grader, "theta_11", r"\frac{\partial y}{\partial h_1} I[z_1 > 0]\, x").verdict == "correct"
    assert verdict(grader, "psi_21", "phi_1 I[g_1 > 0] h_2").verdict == "correct"  # g_1 > 0 exactly when u_1 > 0
    assert verdict(grader, "psi_21", "phi_1 relu'(u_1) h_2").verdict == "correct"


def test_symbolic_and_numeric_routes(grader):
    assert codes(verdict(grader, "psi_21", "phi_1 H(u_1) max(0, z_2)")) == ["correct_symbolic"]
    # the definitions substituted: z_2 written out inside the ReLU
    assert codes(verdict(grader, "psi_21", "phi_1 H(u_1) relu(theta_02 + theta_12 x)")) == ["correct_symbolic"]
    # ReLU written as z I[z > 0]: equal, but only the numeric test can tell
    v = verdict(grader, "psi_21", "phi_1 H(u_1) (theta_02 + theta_12 x) I[z_2 > 0]")
    assert codes(v) == ["correct_numeric"]
    assert dict(v.findings[0].args)["patterns"] == "16"  # every sign pattern of z_1, z_2, u_1, u_2


# -- mistakes and their diagnoses ------------------------------------------------------------------


def _find(e, cls):
    return next(a for a in sp.preorder_traversal(e) if isinstance(a, cls))


def _mistakes(g):
    I = Indicator  # noqa: E741
    t11, p21 = expected(g, "theta_11"), expected(g, "psi_21")
    total = _find(t11, sp.Add)
    first, second = total.args
    return {
        "missing indicator": ("theta_11", t11.xreplace({I(S("u_1") > 0): 1}), "missing_indicator", {"factor": "I[u_1 > 0]"}),
        "missing indicator (psi)": ("psi_21", p21.xreplace({I(S("u_1") > 0): 1}), "missing_indicator", {"factor": "I[u_1 > 0]"}),
        "extra indicator": ("psi_21", p21 * I(S("z_1") > 0), "extra_indicator", {"factor": "I[z_1 > 0]"}),
        "transposed indices": ("theta_11", t11.xreplace({S("psi_12"): S("psi_21")}), "transposed_indices",
                               {"wrong": "psi_21", "right": "psi_12"}),
        "transposed parameter": ("psi_21", expected(g, "psi_12"), "transposed_parameter", {"other": "psi_12"}),
        "missing input": ("theta_11", t11.xreplace({S("x"): 1}), "missing_input", {"factor": "x"}),
        "missing input (psi)": ("psi_21", p21.xreplace({S("h_2"): 1}), "missing_input", {"factor": "h_2"}),
        "sign": ("theta_11", -t11, "sign", {}),
        "missing term": ("theta_11", t11.xreplace({total: first}), "missing_term", {"term": answer_text(second)}),
        "pre-activation": ("phi_1", S("u_1"), "pre_for_post", {"pre": "u_1", "post": "g_1"}),
        "pre-activation (psi)": ("psi_21", p21.xreplace({S("h_2"): S("z_2")}), "pre_for_post", {"pre": "z_2", "post": "h_2"}),
        "constant factor": ("theta_11", 2 * t11, "constant_factor", {"factor": "2"}),
        "constant factor 1/2": ("psi_21", p21 / 2, "constant_factor", {"factor": "1/2"}),
    }


def _mistake_names():
    return ["missing indicator", "missing indicator (psi)", "extra indicator", "transposed indices",
            "transposed parameter", "missing input", "missing input (psi)", "sign", "missing term",
            "pre-activation", "pre-activation (psi)", "constant factor", "constant factor 1/2"]


@pytest.mark.parametrize("name", _mistake_names())
def test_mistake_is_diagnosed(grader, name):
    key, answer, code, args = _mistakes(grader)[name]
    v = verdict(grader, key, ascii(answer))
    assert v.verdict == "incorrect"
    assert v.findings[0].code == code, v.findings
    found = dict(v.findings[0].args)
    assert {k: found[k] for k in args} == args


def test_mistake_with_a_wrong_sign_as_well(grader):
    t11 = expected(grader, "theta_11")
    v = verdict(grader, "theta_11", ascii(-t11.xreplace({Indicator(S("u_2") > 0): 1})))
    assert codes(v) == ["missing_indicator", "also_sign"]


def test_undiagnosed_mistake_says_where_it_differs(grader):
    v = verdict(grader, "theta_11", "x + 1")
    assert v.verdict == "incorrect" and codes(v) == ["differs"]
    assert int(dict(v.findings[0].args)["bad"]) > 0


def test_transposed_name():
    assert transposed_name("psi_12") == "psi_21"
    assert transposed_name("theta_10_3") == "theta_3_10"
    assert transposed_name("psi_11") is None
    assert transposed_name("phi_1") is None


# -- invalid, missing, bounded -------------------------------------------------------------------

HOSTILE = [
    "__import__('os').system('touch /tmp/derive-check-pwned')",
    "lambda: 0",
    "x.__class__.__bases__[0].__subclasses__()",
    "eval('1')",
    r"\input{/etc/passwd}",
    "9**9**9**9",
    "(" * 10_000 + "x" + ")" * 10_000,
    "x" * 100_000,
    "sinh(x)",
    "(phi_1",
]


@pytest.mark.parametrize("text", HOSTILE, ids=[h[:25] for h in HOSTILE])
def test_hostile_answers_are_invalid(grader, text):
    v = verdict(grader, "theta_11", text)
    assert v.verdict == "invalid"
    (finding,) = v.findings
    assert finding.code.startswith("parse.") and finding.code in MESSAGES
    assert int(dict(finding.args).get("column", 5001)) >= 1
    assert not Path("/tmp/derive-check-pwned").exists()


@pytest.mark.parametrize("text,code,english,russian", [
    ("sinh(x)", "parse.unknown_function", "Column 1: unknown function “sinh”", "Столбец 1: неизвестная функция «sinh»"),
    ("g_1 * * x", "parse.unexpected", "Column 7: unexpected “*”; expected a number, a name, “(” or a function",
     "Столбец 7: здесь не может стоять «*»; ожидалось: число, имя, «(» или функция"),
    ("(g_1", "parse.never_closed", "Column 1: “(” is never closed", "Столбец 1: «(» нигде не закрывается"),
    ("9**9**9**9", "parse.exponent", "Column 5: the exponent 387420489 is too large",
     "Столбец 5: показатель степени 387420489 слишком велик"),
    ("x.__class__", "parse.dot", "Column 2: '.' is only allowed inside a number", "Столбец 2: точка допустима"),
])
def test_parse_errors_are_worded_in_the_language(grader, text, code, english, russian):
    from derive.grading.check import Words

    v = verdict(grader, "phi_1", text)
    assert codes(v) == [code]
    assert Words("en").feedback(v).startswith(english)
    assert Words("ru").feedback(v).startswith(russian)


@pytest.mark.parametrize("text", ["*".join(f"(x+{i})" for i in range(600)), "(2/3)^999 * 7^999", "exp(exp(exp(x)))*g_1"])
def test_overflowing_answers_are_incorrect(grader, text):
    assert verdict(grader, "phi_1", text).verdict == "incorrect"


def test_unknown_names_list_a_few_names_that_exist(grader):
    v = verdict(grader, "psi_21", "phi_1 I[u_1 > 0] foo + bar")
    assert v.verdict == "invalid" and codes(v) == ["unknown_names"]
    args = dict(v.findings[0].args)
    assert args["names"] == "foo, bar"
    known = args["known"].split(", ")
    assert 1 <= len(known) <= 6 and set(known) <= set(grader.names)  # a few, not all 30


def test_unknown_names_suggest_the_closest_known_ones(grader):
    v = verdict(grader, "psi_22", "phi_2 I[u_2 > 0] hh_2")
    assert codes(v) == ["unknown_name_close"]  # one name: "Unknown name: hh_2"
    args = dict(v.findings[0].args)
    assert args["names"] == "hh_2" and "h_2" in args["close"].split("\n")
    assert codes(verdict(grader, "psi_22", "theta11 x")) == ["unknown_name_close"]
    assert codes(verdict(grader, "psi_22", "theta11 hh_2")) == ["unknown_names_close"]


@pytest.mark.parametrize("raw,kind", [(None, "missing"), ("", "missing"), ("   ", "missing"), ([1], "invalid"),
                                      (True, "invalid"), ({"a": 1}, "invalid")])
def test_missing_and_non_text(grader, raw, kind):
    assert verdict(grader, "phi_1", raw).verdict == kind


def test_number_answers_are_read(grader):
    assert verdict(grader, "phi_0", 1).verdict == "correct"


def test_time_limit_interrupts():
    with pytest.raises(_Timeout):
        with time_limit(0.05):
            while True:
                pass


def test_an_answer_that_takes_too_long_is_invalid_and_the_next_is_checked(grader, monkeypatch):
    def slow(*args):
        while True:
            pass

    monkeypatch.setattr(grader, "_grade", slow)
    monkeypatch.setattr("derive.grading.grader.TIME_LIMIT", 0.05)
    v = grader.check("phi_1", "g_1 + 0")
    assert v.verdict == "invalid" and codes(v) == ["timeout"]
    monkeypatch.undo()
    assert grader.check("phi_1", "g_1 + 0*x").verdict == "correct"
    assert TIME_LIMIT <= 2


# -- other networks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["sigmoid-bce.yaml", "leaky-relu.yaml", "softmax-ce.yaml"])
def test_engine_answers_are_correct_on_every_spec(spec):
    g, asked = Engine(str(ROOT / "specs" / spec)).grader(None)
    for key in asked:
        assert g.check(key, ascii(g.expected[key].unfolded)).verdict == "correct", key
        assert g.check(key, ascii(-g.expected[key].unfolded)).verdict == "incorrect", key


def test_softmax_delta_of_the_seed():
    # seed 004: with softmax and cross-entropy, dJ/dz_j = y_j - t_j for a target distribution
    g, _ = Engine(str(ROOT / "specs" / "softmax-ce.yaml")).grader(None)
    assert g.check("b_1", "y_1 - t_1").verdict == "correct"
    assert g.check("W_12", "(y_1 - t_1) x_2").verdict == "correct"
    assert g.check("W_12", "(y_1 - t_1) x_1").verdict == "incorrect"


# -- files, the command, formats ----------------------------------------------------------------------


def _write(path: Path, answers: dict, student: str | None = "Ivanova A.") -> Path:
    lines = ([f"student: {json.dumps(student)}"] if student else []) + ["answers:"]
    lines += [f"  {k}: {json.dumps(v)}" for k, v in answers.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory, grader):
    folder = tmp_path_factory.mktemp("answers")
    right = {k: ascii(e.unfolded) for k, e in grader.expected.items()}
    wrong = dict(right, theta_11=ascii(-grader.expected["theta_11"].unfolded), psi_22="foo")
    del wrong["phi_2"]
    return {
        "right": _write(folder / "right.yaml", right),
        "wrong": _write(folder / "wrong.yaml", wrong, student=None),
        "latex keys": _write(folder / "latex.yaml", {r"\theta_{11}": right["theta_11"], r"\phi_1": "g_1"}),
        "broken": _write(folder / "broken.yaml", {}).parent / "broken.yaml",
    }


@pytest.fixture(scope="module")
def broken(files):
    path = files["broken"]
    path.write_text("student: x\nanswers:\n  phi_1: 'g_1'\n  phi_1: 'u_1'\n", encoding="utf-8")
    return path


def test_all_correct_exits_0(cli, files):
    result = cli("check", SPEC, files["right"])
    assert result.exit_code == 0, result.output
    assert "13 of 13 correct" in result.output


def test_not_correct_exits_1(cli, files):
    result = cli("check", SPEC, files["wrong"])
    assert result.exit_code == 1
    assert "The sign is wrong" in result.output
    assert "expected:" in result.output


def test_latex_keys(cli, files):
    result = cli("check", SPEC, files["latex keys"], "--format", "json")
    data = json.loads(result.output)
    verdicts = {a["key"]: a["verdict"] for a in data["answers"]}
    assert verdicts["theta_11"] == verdicts["phi_1"] == "correct"
    assert verdicts["psi_11"] == "missing"


def test_broken_answers_file_exits_2_with_line_and_column(broken):
    proc = run_process("check", SPEC, broken)
    assert proc.returncode == 2
    assert f"{broken}:4:3: answers: the key 'phi_1' appears twice" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("text,where", [
    ("answer:\n  phi_1: 'g_1'\n", "answer: unknown key 'answer'; expected one of: student, answers"),
    ("- 1\n", "an answers file is a YAML mapping"),
    ("seed: -3\nanswers: {}\n", ":1:7: seed: expected the quiz's seed"),
])
def test_bad_answers_files(tmp_path, cli, text, where):
    path = tmp_path / "a.yaml"
    path.write_text(text, encoding="utf-8")
    proc = run_process("check", SPEC, path)
    assert proc.returncode == 2
    assert where in proc.stderr, proc.stderr


def test_bad_spec_exits_2(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("kind: network\nlayers:\n  - {units: 2, activation: relu6}\n", encoding="utf-8")
    answers = _write(tmp_path / "a.yaml", {"w_1": "1"})
    proc = run_process("check", spec, answers)
    assert proc.returncode == 2 and "relu6" in proc.stderr and "Traceback" not in proc.stderr


def test_json_is_the_contract_object(cli, files):
    data = json.loads(cli("check", SPEC, files["wrong"], "--format", "json").output)
    assert set(data) == {"student", "score", "total", "answers"}
    assert data["student"] is None and data["total"] == 13 and data["score"] == 10
    for answer in data["answers"]:
        assert set(answer) == {"key", "verdict", "feedback", "expected_latex"}
        assert answer["verdict"] in ("correct", "incorrect", "invalid", "missing")
    by_key = {a["key"]: a for a in data["answers"]}
    assert by_key["phi_2"]["verdict"] == "missing"
    assert by_key["psi_22"]["verdict"] == "invalid"
    assert by_key["psi_21"]["expected_latex"] == r"\phi_1 \, I[u_1>0] \, h_2"  # thin spaces around I[·] (seed 000)


def test_json_for_several_files_is_a_list(cli, files, broken):
    result = cli("check", SPEC, files["right"], files["wrong"], broken, "--format", "json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert [Path(d["file"]).name for d in data] == ["right.yaml", "wrong.yaml", "broken.yaml"]
    assert data[0]["score"] == 13 and "error" in data[2]


def test_csv_gradebook(cli, files):
    result = cli("check", SPEC, files["right"], files["wrong"], "--format", "csv")
    rows = list(csv.reader(io.StringIO(result.output)))
    params = list(Engine(str(SPEC)).grader(None)[0].expected)
    assert rows[0] == ["file", "student", *params, "score", "total"]
    assert len(rows) == 3
    assert rows[1][-2:] == ["13", "13"]
    wrong = dict(zip(rows[0], rows[2]))
    assert wrong["theta_11"] == "incorrect" and wrong["phi_2"] == "missing" and wrong["psi_22"] == "invalid"
    assert wrong["score"] == "10"


def test_feedback_in_russian_and_polish(cli, files):
    ru = cli("check", SPEC, files["wrong"], "--lang", "ru").output
    pl = cli("check", SPEC, files["wrong"], "--lang", "pl").output
    assert "Неверный знак" in ru and "неверно" in ru and "ожидалось:" in ru
    assert "Zły znak" in pl and "oczekiwano:" in pl
    assert "The sign is wrong" not in ru + pl


def test_class_in_parallel_with_a_summary(engine, grader, tmp_path):
    t11 = expected(grader, "theta_11")
    answers = [
        {"theta_11": ascii(t11)},
        {"theta_11": ascii(t11.xreplace({Indicator(S("u_1") > 0): 1}))},
        {"theta_11": ascii(t11.xreplace({Indicator(S("u_1") > 0): 1}))},
        {"theta_11": ascii(-t11)},
        {"theta_11": "sinh(x)"},
        {"phi_1": "g_1"},
    ]
    paths = [str(_write(tmp_path / f"s{i}.yaml", a, student=f"S{i}")) for i, a in enumerate(answers)]
    parallel = check_files(engine, paths, jobs=2)
    serial = check_files(engine, paths, jobs=1)
    assert [[v.verdict for v in r.verdicts] for r in parallel] == [[v.verdict for v in r.verdicts] for r in serial]
    from click.testing import CliRunner

    from derive.cli import main

    out = CliRunner().invoke(main, ["check", str(SPEC), *paths]).output
    summary = out[out.index("Most common mistakes"):]
    block = summary[summary.index("theta_11:"):summary.index("theta_02:")]
    assert "theta_11: 5 of 6 not correct" in block
    lines = block.splitlines()
    assert "2 × The indicator factor I[u_1 > 0] is missing." in lines[1]


# -- catalogs ----------------------------------------------------------------------------------------


def _catalog(lang):
    from babel.messages.pofile import read_po

    with (ROOT / "templates" / "locale" / lang / "LC_MESSAGES" / "check.po").open("rb") as f:
        return read_po(f, locale=lang)


MSGIDS = [*MESSAGES.values(), *EXPECTED.values(), LIST_END["or"], *VERDICT_WORDS.values(), *TEXT.values(),
          *PROSE.values(), *REFUSED.values()]


@pytest.mark.parametrize("lang", ["ru", "pl"])
def test_check_catalog_is_complete(lang):
    import re

    catalog = _catalog(lang)
    placeholder = re.compile(r"%\((\w+)\)s")
    assert sorted(m.id for m in catalog if m.id) == sorted(MSGIDS)
    for mid in MSGIDS:
        text = catalog.get(mid).string
        assert text and not catalog.get(mid).fuzzy, mid
        assert set(placeholder.findall(text)) == set(placeholder.findall(mid)), (mid, text)
        if placeholder.search(mid):
            assert "python-format" in catalog.get(mid).flags


def test_english_catalog_is_the_msgids():
    catalog = _catalog("en")
    assert sorted(m.id for m in catalog if m.id) == sorted(MSGIDS)
    assert all(not m.string for m in catalog if m.id)


# -- smooth and leaky activations: the activation's derivative -------------------------------------


@pytest.fixture(scope="module")
def sigmoid_grader():
    return Engine(str(ROOT / "specs" / "sigmoid-bce.yaml")).grader(None)[0]


def _drop(e, factors):
    """The product e without the given factors (each once)."""
    args = list(e.args)
    for f in factors:
        args.remove(f)
    return sp.Mul(*args)


def test_seed_004_delta_of_sigmoid_with_bce(sigmoid_grader):
    # seed 004: for a sigmoid output with binary cross-entropy, dJ/dz = y - t
    v = sigmoid_grader.check("b2", "y - t")
    assert v.verdict == "correct" and codes(v) == ["correct_points"]
    assert sigmoid_grader.check("W2_1", "(y - t) a_1").verdict == "correct"


def test_missing_sigmoid_derivative(sigmoid_grader):
    a_1 = S("a_1")
    e = expected(sigmoid_grader, "b1_1")
    v = sigmoid_grader.check("b1_1", ascii(_drop(e, [a_1, 1 - a_1])))
    assert codes(v) == ["missing_derivative"] and dict(v.findings[0].args)["factor"] == "a_1*(1 - a_1)"


def test_activation_instead_of_its_derivative(sigmoid_grader):
    a_1 = S("a_1")
    e = expected(sigmoid_grader, "W1_12")
    v = sigmoid_grader.check("W1_12", ascii(_drop(e, [1 - a_1])))
    assert codes(v) == ["activation_for_derivative"] and dict(v.findings[0].args)["post"] == "a_1"


def test_extra_derivative_factor(sigmoid_grader):
    y = S("y")
    v = sigmoid_grader.check("b2", ascii(expected(sigmoid_grader, "b2") * y * (1 - y)))
    assert codes(v) == ["extra_derivative"] and dict(v.findings[0].args)["factor"] == "y*(1 - y)"


def test_missing_leaky_relu_derivative():
    g = Engine(str(ROOT / "specs" / "leaky-relu.yaml")).grader(None)[0]
    e = expected(g, "theta_11")
    derivative = next(f for f in e.args if f.is_Add and f.has(Indicator))
    v = g.check("theta_11", ascii(_drop(e, [derivative])))
    assert codes(v) == ["missing_derivative"]
    v = g.check("theta_11", ascii(2 * _drop(e, [derivative]) * derivative))
    assert codes(v) == ["constant_factor"] and dict(v.findings[0].args)["factor"] == "2"


def test_test_points_cover_both_sides_of_every_kink(grader):
    import numpy as np

    from derive.grading.grader import KINK_MARGIN

    for z in grader.kinked:
        values = grader.env[z]
        assert (values > KINK_MARGIN).sum() >= 30 and (values < -KINK_MARGIN).sum() >= 30, z
        assert np.all(np.abs(values) > KINK_MARGIN)
    signs = {tuple(grader.env[z][i] > 0 for z in grader.kinked) for i in range(grader.points)}
    assert len(signs) == 2 ** len(grader.kinked) == 16


@pytest.mark.parametrize("spec", ["two-layer-relu.yaml", "sigmoid-bce.yaml", "leaky-relu.yaml", "softmax-ce.yaml"])
def test_expected_latex_renders_in_katex(spec):
    from katex import katex_errors

    g, asked = Engine(str(ROOT / "specs" / spec)).grader(None)
    assert katex_errors([g.expected[k].latex for k in asked]) == []


ANSWER_TOKENS = ["g_1", "h_2", "u_1", "z_1", "x", "phi_1", "psi_12", "theta_01", " ", "*", "+", "-", "/", "^", "(",
                 ")", "[", "]", ">", "0", "2", "I", "H", "max", "relu", "sigma", ",", r"\frac", "{", "}", "1", "y"]


def test_any_answer_gets_a_verdict(grader):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from derive.grading.grader import VERDICTS

    @settings(max_examples=300, deadline=None)
    @given(st.one_of(st.text(max_size=40), st.lists(st.sampled_from(ANSWER_TOKENS), max_size=25).map("".join)))
    def check(text):
        v = grader.check("psi_21", text)
        assert v.verdict in VERDICTS and v.findings

    check()


def test_text_report_shows_the_answer_on_one_shortened_line(cli, tmp_path):
    path = _write(tmp_path / "a.yaml", {"phi_1": "u_1", "phi_2": "x" * 100_000})
    out = cli("check", SPEC, path).output
    lines = out.splitlines()
    assert any(line.strip() == "answer:   u_1" for line in lines)
    long = next(line for line in lines if line.strip().startswith("answer:   xxx"))
    assert len(long.strip()) == len("answer:   ") + 100 and long.endswith("…")


def test_no_grading_without_test_points(monkeypatch):
    from derive.errors import DeriveError

    monkeypatch.setattr("derive.grading.grader.KINK_MARGIN", 1e9)  # no point is that far from every kink
    with pytest.raises(DeriveError, match="only 0 random test points"):
        Engine(str(SPEC))


def test_a_refused_key_stands_in_the_column_of_the_graded_ones(tmp_path, cli):
    answers = tmp_path / "a.yaml"
    answers.write_text('student: A\nanswers:\n  qq: "1"\n  phi_0: "1"\n', encoding="utf-8")
    out = cli("check", ROOT / "specs" / "two-layer-relu.yaml", answers, "--hide-expected").stdout
    rows = [line for line in out.splitlines() if re.match(r"  \S", line)]  # one row a key

    def verdict_column(line: str) -> int:
        key, rest = line[2:].split(" ", 1)
        return len(line) - len(rest.lstrip(" "))

    assert any("not graded" in row for row in rows) and len(rows) > 2, out
    assert len({verdict_column(row) for row in rows}) == 1, out
