"""`derive quiz --format moodle`: Moodle XML with STACK questions (Maxima teacher's answers and a response
tree of derive's diagnoses) and numerical questions.

The teacher's answers and every wrong formula of the trees are run through Debian's real `maxima`: the
question variables are read as STACK would read them, evaluated at random points with the network's
intermediates computed from the contract's JSON program (an independent route to the same numbers), and
compared with it; Maxima's ratsimp must tell every node of a tree apart, so each diagnosis is reachable.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
import sympy as sp

from conftest import IN_CI, ROOT
from derive.core.parse import parse_math

POINTS = 16  # random points per question; a wrong formula must differ at one of them
NETWORKS = ["two-layer-relu", "softmax-ce", "sigmoid-bce", "leaky-relu", "sigmoid-layer", "gelu-mae-decay"]


def _maxima():
    path = shutil.which("maxima")
    if path is None:
        message = "maxima is not installed (apt-get install maxima maxima-share)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    return path


def run_maxima(script: str) -> str:
    proc = subprocess.run([_maxima(), "--very-quiet", "-q"], input="display2d: false$ linel: 10000$\n" + script,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _quiz(cli, tmp_path, stem, lang="en", *extra):
    out = tmp_path / f"{stem}-{lang}.xml"
    result = cli("quiz", ROOT / "specs" / f"{stem}.yaml", "--format", "moodle", "--lang", lang, "-o", out, *extra)
    assert result.exit_code == 0, result.stderr
    return ET.parse(out).getroot()


def _stack(root):
    return root.findall("question[@type='stack']")


def _variables(question) -> dict[str, str]:
    text = question.find("questionvariables/text").text
    return dict(re.match(r"(\w+): (.*);$", line).groups() for line in text.splitlines())


def _program(stem):
    """The contract's JSON of the spec, as SymPy: names, and a function from a point to every value."""
    from derive.pipeline import derive_spec

    result = derive_spec(ROOT / "specs" / f"{stem}.yaml")
    data = result.module.to_json(result.outcome)
    names = [*data["inputs"], *data.get("targets", []), *data.get("constants", []), *data["parameters"],
             *(e["name"] for e in data["forward"]), *(e["name"] for e in data["backward"])]
    symbols = {n: sp.Symbol(n) for n in names}
    steps = [(symbols[e["name"]], parse_math(e["expr"], names=symbols)) for e in data["forward"] + data["backward"]]
    derivatives = {d["wrt"]: parse_math(d["expr"], names=symbols) for d in data["derivatives"]}
    free = [*data["inputs"], *data.get("targets", []), *data.get("constants", []), *data["parameters"]]

    def at(rng):
        env = {symbols[n]: sp.Float(rng.uniform(0.1, 0.9) if n in data.get("targets", []) + data.get("constants", [])
                                     else rng.uniform(-1, 1)) for n in free}
        for symbol, expr in steps:
            env[symbol] = sp.Float(sp.N(expr.subs(env).rewrite(sp.Piecewise)))
        return env, {k: float(sp.N(e.subs(env).rewrite(sp.Piecewise))) for k, e in derivatives.items()}

    return data, at


def test_question_count_and_shape(cli, tmp_path):
    root = _quiz(cli, tmp_path, "two-layer-relu")
    params = json.loads(cli(ROOT / "specs" / "two-layer-relu.yaml", "--format", "json").stdout)["parameters"]
    assert root.tag == "quiz"
    assert [q.get("type") for q in root] == ["category"] + ["stack"] * len(params)
    for q in _stack(root):
        nodes = q.findall("prt/node")
        variables = _variables(q)
        assert len(nodes) == len(variables) == len(q.findall("qtest")) >= 3
        assert [n.find("tans").text for n in nodes] == list(variables)
        assert [n.find("falsenextnode").text for n in nodes] == [str(i) for i in range(1, len(nodes))] + ["-1"]
        assert nodes[0].find("truescore").text.startswith("1") and all(
            n.find("truescore").text.startswith("0") and n.find("truefeedback/text").text for n in nodes[1:])
        assert "[[input:ans1]]" in q.find("questiontext/text").text


def test_a_seed_asks_its_variant(cli, tmp_path):
    root = _quiz(cli, tmp_path, "two-layer-relu", "en", "--seed", "7")
    cli("quiz", ROOT / "specs" / "two-layer-relu.yaml", "--seed", "7", "-o", tmp_path / "md")
    template = (tmp_path / "md" / "two-layer-relu-7.answers.yaml").read_text(encoding="utf-8")
    asked = re.findall(r"(?m)^  (\w+): \"\"$", template)
    assert [q.find("name/text").text.split(": ")[1] for q in _stack(root)] == asked


@pytest.mark.parametrize("stem", NETWORKS)
def test_maxima_teacher_answers_agree_with_the_derivation(cli, tmp_path, stem):
    root = _quiz(cli, tmp_path, stem)
    data, at = _program(stem)
    rng = random.Random(1)
    points = [at(rng) for _ in range(POINTS)]
    substitutions = ", ".join("[" + ", ".join(f"{s} = {float(v)!r}" for s, v in env.items()) + "]"
                              for env, _ in points)
    script, expected, wrong = [f"points: [{substitutions}]$"], {}, {}
    for q in _stack(root):
        key = q.find("name/text").text.split(": ")[1]
        variables = _variables(q)
        script.append("kill(d_ta)$ " + " ".join(f"{n}: {e}$" for n, e in variables.items()))
        for name in variables:
            script.append(f'print("R", "{key}|{name}", float(map(lambda([p], ev({name}, p)), points)))$')
            for point, (_, values) in enumerate(points):
                (expected if name == "d_ta" else wrong)[f"{key}|{name}|{point}"] = values[key]
    got = {}
    for tag, listed in re.findall(r"^R (\S+) \[(.*)\]\s*$", run_maxima("\n".join(script)), re.M):
        for point, value in enumerate(listed.split(",")):
            got[f"{tag}|{point}"] = float(value)
    assert got.keys() == expected.keys() | wrong.keys()
    for tag, value in expected.items():
        assert got[tag] == pytest.approx(value, rel=1e-9, abs=1e-12), tag
    # every wrong formula is wrong at some point: no diagnosis is the right answer in disguise
    keys = {tag.rsplit("|", 1)[0] for tag in wrong}
    for key in keys:
        assert any(abs(got[f"{key}|{p}"] - wrong[f"{key}|{p}"]) > 1e-9 for p in range(POINTS)), key


def test_maxima_tells_every_node_apart(cli, tmp_path):
    root = _quiz(cli, tmp_path, "two-layer-relu")
    script = []
    for q in _stack(root)[:4] + _stack(root)[-3:]:
        variables = _variables(q)
        key = q.find("name/text").text.split(": ")[1]
        script.append("kill(values)$ " + " ".join(f"{n}: {e}$" for n, e in variables.items()))
        names = list(variables)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                script.append(f'print("S", "{key}|{a}|{b}", is(ratsimp({a} - {b}) = 0))$')
    same = re.findall(r"^S (\S+) (true|false)\s*$", run_maxima("\n".join(script)), re.M)
    assert same and all(verdict == "false" for _, verdict in same), [t for t, v in same if v == "true"]


def test_feedback_is_in_the_quiz_language(cli, tmp_path):
    en, ru = _quiz(cli, tmp_path, "two-layer-relu", "en"), _quiz(cli, tmp_path, "two-layer-relu", "ru")
    feedback_en = [n.find("truefeedback/text").text or "" for n in _stack(en)[0].findall("prt/node")]
    feedback_ru = [n.find("truefeedback/text").text or "" for n in _stack(ru)[0].findall("prt/node")]
    assert len(feedback_en) == len(feedback_ru) and all(e != r for e, r in zip(feedback_en[1:], feedback_ru[1:]))
    assert all(re.search("[а-я]", r) for r in feedback_ru[1:])
    assert any("indicator" in e and "\\(I[u_1&gt;0]\\)" in e for e in feedback_en)
    assert re.search("[а-я]", _stack(ru)[0].find("questiontext/text").text)


def test_graph_values_become_numerical_questions(cli, tmp_path):
    root = _quiz(cli, tmp_path, "sigmoid-neuron", "pl")
    data = json.loads(cli(ROOT / "specs" / "sigmoid-neuron.yaml", "--format", "json").stdout)
    questions = root.findall("question[@type='numerical']")
    assert len(questions) == len(data["derivatives"]) == len(root) - 1
    for q, d in zip(questions, data["derivatives"]):
        value, tolerance = float(q.find("answer/text").text), float(q.find("answer/tolerance").text)
        assert value == pytest.approx(d["value"]) and tolerance == pytest.approx(0.005 * abs(d["value"]))
        assert q.find("answer").get("fraction") == "100"
    assert "\\(\\theta = 3\\)" in questions[0].find("questiontext/text").text


def test_a_kind_without_questions_is_refused(cli, tmp_path):
    result = cli("quiz", ROOT / "specs" / "mlp-backprop.yaml", "--format", "moodle", "-o", tmp_path / "q.xml")
    assert result.exit_code == 2 and "mlp" in result.stderr and "Traceback" not in result.stderr


def test_a_wide_network_keeps_its_trees_small(cli, tmp_path):
    spec = tmp_path / "wide.yaml"
    spec.write_text("kind: network\ninput: x\noutput: y\nindex: source-target\nlayers:\n"
                    "  - {units: 6, activation: relu, params: theta, pre: z, post: h}\n"
                    "  - {units: 6, activation: relu, params: psi, pre: u, post: g}\n"
                    "  - {units: 1, activation: identity, params: phi}\n", encoding="utf-8")
    out = tmp_path / "wide.xml"
    assert cli("quiz", spec, "--format", "moodle", "-o", out).exit_code == 0
    questions = _stack(ET.parse(out).getroot())
    assert len(questions) == 6 * 2 + 7 * 6 + 7
    from derive.grading.moodle import MAX_NODES

    for q in questions:
        nodes = q.findall("prt/node")
        assert 3 <= len(nodes) <= MAX_NODES + 1
        feedback = [n.find("truefeedback/text").text or "" for n in nodes]
        assert sum("The sign is wrong" in f for f in feedback) == 1
        family = q.find("name/text").text.split(": ")[1].split("_")[0]
        others = [re.findall(r"\\\(\\?([A-Za-z]+)", f) for f in feedback if "This is the derivative with respect to" in f]
        assert others and all(names == [family, family] for names in others), q.find("name/text").text


def test_a_seed_draws_the_graph_values_of_its_variant(cli, tmp_path):
    plain = _quiz(cli, tmp_path, "graph-add-mul", "en")
    varied = ET.parse(tmp_path / "v.xml").getroot() if cli(
        "quiz", ROOT / "specs" / "graph-add-mul.yaml", "--format", "moodle", "--seed", "3", "-o", tmp_path / "v.xml"
    ).exit_code == 0 else None
    point = re.compile(r"\\\((\w+) = (-?[\d.]+)\\\)")

    def values(root):
        q = root.find("question[@type='numerical']")
        return dict(point.findall(q.find("questiontext/text").text))

    assert varied is not None and values(varied) != values(plain)
    data = json.loads(cli(ROOT / "specs" / "graph-add-mul.yaml", "--format", "json").stdout)
    env = {sp.Symbol(n): sp.Rational(v) for n, v in values(varied).items()}
    names = {n: sp.Symbol(n) for n in [*data["inputs"], *(e["name"] for e in data["forward"])]}
    steps = [(names[e["name"]], parse_math(e["expr"], names=names)) for e in data["forward"]]
    for symbol, expr in steps:
        env[symbol] = expr.subs(env)
    for q, d in zip(varied.findall("question[@type='numerical']"), data["derivatives"]):
        assert float(q.find("answer/text").text) == pytest.approx(float(parse_math(d["expr"], names=names).subs(env)))
