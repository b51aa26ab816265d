"""`kind: graph`: seed 001's numbers, random graphs against finite differences, index form, rendering, errors.

References are independent of the code under test: the seed's numbers and
formulas (typed from seed 001), finite differences computed here with plain
Python floats from this file's own definition of each operation, real KaTeX
and LuaLaTeX runs.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
import sympy as sp
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import IN_CI, LANGS, ROOT, run_process
from katex import extract_math, katex_errors

from derive.core.yamlload import load_text

GRAPH_SPECS = [ROOT / "specs" / f"{name}.yaml" for name in ("graph-add-mul", "sigmoid-neuron", "linear-layer")]


def graph_json(cli, spec) -> dict:
    result = cli(spec, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def outcome_of(text: str):
    from derive.kinds.graph import kind as graph

    return graph.derive(graph.parse(load_text(text, "<test>")))


def by_wrt(data: dict) -> dict:
    return {entry["wrt"]: entry for entry in data["derivatives"]}


# -- seed 001: f(x, y, z) = (x + y) z at (−2, 5, −4) --------------------------------------------


def test_seed_numbers_by_the_cli(cli):
    data = graph_json(cli, ROOT / "specs" / "graph-add-mul.yaml")
    assert data["kind"] == "graph" and data["of"] == "f" and data["inputs"] == ["x", "y", "z"]
    assert [(e["name"], e["value"]) for e in data["forward"]] == [("q", 3), ("f", -12)]
    grads = by_wrt(data)
    # seed 001 / CS231n: df/dx = df/dy = z = -4, df/dz = x + y = 3
    assert {w: grads[w]["value"] for w in "xyz"} == {"x": -4, "y": -4, "z": 3}
    assert grads["x"]["expr"] == "z" and grads["z"]["expr"] == "x + y"


def test_json_keys_are_the_issue_s(cli):
    data = graph_json(cli, ROOT / "specs" / "graph-add-mul.yaml")
    assert list(data) == ["kind", "of", "inputs", "forward", "derivatives", "verification"]
    assert all(set(e) == {"name", "expr", "value"} for e in data["forward"])
    assert all(set(e) == {"wrt", "expr", "latex", "value", "verified"} for e in data["derivatives"])
    assert all(e["verified"] is True for e in data["derivatives"])  # the network's shape: every kind says it


def test_without_values_there_are_no_values():
    from derive.kinds.graph.kind import to_json

    data = to_json(outcome_of("kind: graph\nnodes: {q: x + y, f: q * z}\n"))
    assert all("value" not in e for e in data["forward"] + data["derivatives"])
    assert by_wrt(data)["z"]["expr"] == "x + y"


def test_sigmoid_neuron_against_finite_differences(cli):
    data = graph_json(cli, ROOT / "specs" / "sigmoid-neuron.yaml")
    point = {"x": -1.0, "w": 2.0, "theta": 3.0}

    def f(p):
        return 1 / (1 + math.exp(-(p["x"] * p["w"] + p["theta"])))

    assert data["forward"][-1]["value"] == pytest.approx(f(point), rel=1e-12)
    for name, entry in by_wrt(data).items():
        h = 1e-6
        up, down = dict(point), dict(point)
        up[name] += h
        down[name] -= h
        assert entry["value"] == pytest.approx((f(up) - f(down)) / (2 * h), rel=1e-7), name


def test_decimal_values_stay_exact(cli, tmp_path):
    spec = tmp_path / "g.yaml"
    spec.write_text("kind: graph\nnodes: {q: x + y, f: q * z}\nvalues: {x: 0.1, y: 0.2, z: '1/3'}\n")
    data = graph_json(cli, spec)
    assert data["forward"][0]["value"] == 0.3  # not 0.30000000000000004
    md = cli(spec).stdout
    assert "q = x + y = 0.3" in md and r"z = \frac{1}{3}" in md  # a given 1/3 is shown as given
    assert r"f = q z = 0.1" in md  # 0.3 · 1/3, exactly
    assert r"\frac{\partial f}{\partial q} = z \approx 0.3333" in md  # decimals unless exact: true
    spec.write_text(spec.read_text() + "exact: true\n")
    exact = cli(spec).stdout
    assert r"\frac{\partial f}{\partial q} = z = \frac{1}{3} \approx 0.3333" in exact


# -- a value used on two paths --------------------------------------------------------------------


def test_a_value_used_twice_gets_the_sum_of_both_paths(cli, tmp_path):
    spec = tmp_path / "two-paths.yaml"
    spec.write_text("kind: graph\nnodes:\n  a: x * y\n  b: x + z\n  f: a * b\nvalues: {x: 3, y: -2, z: 5}\n")
    data = graph_json(cli, spec)
    x, y, z = 3, -2, 5
    a, b = x * y, x + z
    # path through a: df/da * da/dx = b * y; path through b: df/db * db/dx = a * 1
    assert by_wrt(data)["x"]["value"] == b * y + a
    md = cli(spec).stdout
    assert "is used by several nodes ($a$ and $b$)" in md
    derivation = outcome_of(spec.read_text()).result
    grad = derivation.grads[sp.Symbol("x", real=True)]
    assert [u.node.name for u in grad.uses] == ["a", "b"] and len(grad.chain.args) == 2


def test_a_node_using_a_value_twice():
    from derive.kinds.graph.kind import to_json

    data = to_json(outcome_of("kind: graph\nnodes: {q: x * x + x, f: q * q}\nvalues: {x: 2}\n"))
    # f = (x^2 + x)^2, df/dx = 2 (x^2 + x)(2x + 1) = 2 * 6 * 5
    assert by_wrt(data)["x"]["value"] == 60


def test_gate_patterns_are_explained(cli, tmp_path):
    spec = tmp_path / "gates.yaml"
    spec.write_text("kind: graph\nnodes:\n  a: x * y\n  b: max(a, z)\n  f: b + w\nvalues: {x: 3, y: -4, z: 2, w: -1}\n")
    md = cli(spec).stdout
    assert "node $a$ is a multiplication gate" in md and "node $b$ is a max gate" in md and "node $f$ is an addition gate" in md
    grads = by_wrt(graph_json(cli, spec))
    # max(-12, 2) routes the gradient to z only
    assert (grads["z"]["value"], grads["x"]["value"], grads["w"]["value"]) == (1, 0, 1)


# -- random graphs from the grammar: every derivative equals finite differences ---------------------

# operation: (text in the spec's grammar, the same in Python floats, kink argument or None)
UNARY = [
    ("exp({a}/4)", lambda a: math.exp(a / 4), None),
    ("tanh({a})", math.tanh, None),
    ("sigmoid({a})", lambda a: 1 / (1 + math.exp(-a)), None),
    ("relu({a})", lambda a: max(a, 0.0), lambda a: a),
    ("{a}^2", lambda a: a * a, None),
    ("log(1 + {a}^2)", lambda a: math.log(1 + a * a), None),
    ("abs({a})", abs, lambda a: a),
    ("-{a}", lambda a: -a, None),
]
BINARY = [
    ("{a} + {b}", lambda a, b: a + b, None),
    ("{a} - {b}", lambda a, b: a - b, None),
    ("{a} * {b}", lambda a, b: a * b, None),
    ("{a} / (1 + {b}^2)", lambda a, b: a / (1 + b * b), None),
    ("max({a}, {b})", max, lambda a, b: a - b),
    ("min({a}, {b})", min, lambda a, b: a - b),
    ("2*{a} + 3*{b}", lambda a, b: 2 * a + 3 * b, None),
]
INPUTS = ["x", "y", "theta"]


@st.composite
def graphs(draw):
    """A random graph: each node one operation on inputs or earlier nodes; the output sums the loose ends."""
    names, nodes = list(INPUTS), []
    for k in range(draw(st.integers(1, 5))):
        unary = draw(st.booleans())
        op = draw(st.sampled_from(UNARY if unary else BINARY))
        first = draw(st.sampled_from(names))
        # two distinct arguments: x - x would cancel, leaving a node that does not affect the output
        args = [first] if unary else [first, draw(st.sampled_from([n for n in names if n != first]))]
        nodes.append((f"n_{k + 1}", op, args))
        names.append(f"n_{k + 1}")
    used = {a for _, _, args in nodes for a in args}
    loose = [n for n, _, _ in nodes if n not in used]
    nodes.append(("f", BINARY[0] if len(loose) > 1 else UNARY[-1], loose[:2] if len(loose) > 1 else loose))
    for k, extra in enumerate(loose[2:]):
        nodes.append((f"g_{k + 1}", BINARY[0], [nodes[-1][0], extra]))
    values = {x: draw(st.integers(-150, 150)) / 100 for x in INPUTS}
    return nodes, values


def _spec_text(nodes, values) -> str:
    lines = ["kind: graph", "nodes:"]
    for name, (text, _, _), args in nodes:
        lines.append(f"  {name}: \"{text.format(**dict(zip('ab', args)))}\"")
    lines.append(f"output: {nodes[-1][0]}")
    used = {a for _, _, args in nodes for a in args}
    lines.append("values: {" + ", ".join(f"{x}: {v}" for x, v in values.items() if x in used) + "}")
    return "\n".join(lines) + "\n"


def _forward(nodes, point: dict) -> tuple[float, list[float]]:
    env, kinks = dict(point), []
    for name, (_, fn, kink), args in nodes:
        vals = [env[a] for a in args]
        if kink is not None:
            kinks.append(kink(*vals))
        env[name] = fn(*vals)
    return env[nodes[-1][0]], kinks


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_random_graphs_agree_with_finite_differences(graph):
    from derive.kinds.graph.kind import to_json

    nodes, values = graph
    value, kinks = _forward(nodes, values)
    assume(all(abs(k) > 1e-3 for k in kinks) and abs(value) < 1e6)
    data = to_json(outcome_of(_spec_text(nodes, values)))
    assert data["forward"][-1]["value"] == pytest.approx(value, rel=1e-9, abs=1e-12)
    for name, entry in by_wrt(data).items():
        h = 1e-6
        up, down = dict(values), dict(values)
        up[name] += h
        down[name] -= h
        fd = (_forward(nodes, up)[0] - _forward(nodes, down)[0]) / (2 * h)
        assert entry["value"] == pytest.approx(fd, rel=1e-5, abs=1e-6), (name, _spec_text(nodes, values))


def test_squares_of_activations_print(cli, tmp_path):
    spec = tmp_path / "sq.yaml"
    spec.write_text("kind: graph\nnodes: {f: relu(x)^2 + sigmoid(y)^2}\nvalues: {x: 1, y: 0}\n")
    result = cli(spec)
    assert result.exit_code == 0, result.stderr
    assert r"\left(a[x]\right)^{2}" in result.stdout and r"\left(\sigma(y)\right)^{2}" in result.stdout
    assert by_wrt(graph_json(cli, spec))["x"]["value"] == 2


def test_the_verifier_catches_a_wrong_gradient():
    from derive.kinds.graph.verify import verify

    derivation = outcome_of("kind: graph\nnodes: {q: x + y, f: q * z}\n").result
    grad = derivation.grads[sp.Symbol("z", real=True)]
    grad.closed = grad.closed + sp.Rational(1, 1000)  # a slightly wrong formula
    check = verify(derivation)
    assert not check.ok and check.failures[0][0] == "df/dz (closed form)"


# -- seed 001's linear layer, in index notation ------------------------------------------------------


def test_linear_layer_matches_the_seed():
    from derive.kinds.graph.index import Upstream

    d = outcome_of((ROOT / "specs" / "linear-layer.yaml").read_text()).result
    i, j, k = (sp.Symbol(s, integer=True) for s in "ijk")
    n = sp.Symbol("n", integer=True, positive=True)
    W, x = sp.IndexedBase("W"), sp.IndexedBase("x")
    f = sp.Symbol("f", real=True)
    df_dq = lambda idx: Upstream(f, sp.Symbol("q"), idx)  # noqa: E731  the seed's ∂f/∂q_idx
    # seed 001: dq_k/dw_ij = 1_{k=i} x_j;  dq_k/dx_i = W_{k,i}
    node_q = d.nodes[0]
    assert node_q.locals["W"][1] == sp.KroneckerDelta(k, i) * x[j]
    assert node_q.locals["x"][1] == W[k, i]
    # seed 001: df/dw_ij = df/dq_i x_j;  df/dx_i = sum_k df/dq_k W_{k,i}
    assert d.grads["W"].done == df_dq(i) * x[j]
    assert d.grads["x"].done == sp.Sum(df_dq(k) * W[k, i], (k, 1, n))


def test_linear_layer_json_and_markdown(cli):
    spec = ROOT / "specs" / "linear-layer.yaml"
    grads = by_wrt(graph_json(cli, spec))
    assert grads["W_ij"]["expr"] == "df_dq_i*x_j"
    assert grads["x_i"]["expr"] == "Sum(df_dq_k*W_ki, (k, 1, n))"
    md = cli(spec).stdout
    assert r"1_{k=i} x_{j}" in md  # seed: ∂q_k/∂w_ij = 1_{k=i} x_j
    assert r"\frac{\partial f}{\partial W_{i,j}} = \frac{\partial f}{\partial q_{i}} x_{j}" in md
    assert r"\frac{\partial f}{\partial x_{i}} = \sum_{k=1}^{n} \frac{\partial f}{\partial q_{k}} W_{k,i}" in md


def test_kronecker_notation(cli, tmp_path):
    spec = tmp_path / "k.yaml"
    spec.write_text((ROOT / "specs" / "linear-layer.yaml").read_text().replace("notation: indicator", "notation: kronecker"))
    md = cli(spec).stdout
    assert r"\delta_{ki} x_{j}" in md and "1_{" not in md and "Kronecker delta" in md


def test_index_graph_with_an_activation_and_concrete_sizes(cli, tmp_path):
    spec = tmp_path / "layer.yaml"
    spec.write_text("kind: graph\nshapes: {W: [3, 2], x: [2], b: [3]}\nnodes:\n  z: W x + b\n  h: relu(z)\n")
    result = cli(spec)
    assert result.exit_code == 0, result.stderr
    md = result.stdout
    assert r"\frac{\partial h_{m}}{\partial z_{i}} = 1_{m=i} \, I[z_{m}>0]" in md  # relu'(z) on the diagonal
    assert r"\frac{\partial h}{\partial W_{i,j}} = \frac{\partial h}{\partial z_{i}} x_{j}" in md
    assert r"\frac{\partial h}{\partial x_{i}} = \sum_{k=1}^{3} \frac{\partial h}{\partial z_{k}} W_{k,i}" in md
    assert "sizes n" not in md and "3 random" not in md


def test_index_graph_with_a_vector_used_on_two_paths(cli, tmp_path):
    """x feeds q = W x and the output directly: both contributions, verified at a concrete size."""
    spec = tmp_path / "skip.yaml"
    spec.write_text("kind: graph\nshapes: {W: [n, n], x: [n]}\nnodes:\n  q: W x\n  f: q + x\n")
    result = cli(spec)
    assert result.exit_code == 0, result.stderr
    # component form: ∂f_m/∂x_i = W_{m,i} + 1_{m=i}
    d = outcome_of(spec.read_text()).result
    i, m = sp.Symbol("i", integer=True), sp.Symbol("m", integer=True)
    assert d.grads["x"].component == sp.IndexedBase("W")[m, i] + sp.KroneckerDelta(m, i)


def test_index_graph_product_of_two_matrices(cli, tmp_path):
    spec = tmp_path / "abx.yaml"
    spec.write_text("kind: graph\nshapes: {A: [n, n], B: [n, n], x: [n]}\nnodes:\n  y: A B x\n")
    d = outcome_of(spec.read_text()).result
    i, j, m, l = (sp.Symbol(s, integer=True) for s in "ijml")
    n = sp.Symbol("n", integer=True, positive=True)
    A, B, x = (sp.IndexedBase(s) for s in "ABx")
    # y = A B x: ∂y_m/∂x_i = Σ_l A_ml B_li, ∂y_m/∂B_ij = A_mi x_j
    assert d.grads["x"].component == sp.Sum(A[m, l] * B[l, i], (l, 1, n))
    assert d.grads["B"].component == A[m, i] * x[j]


# -- rendering: every language, real KaTeX, figures -------------------------------------------------


@pytest.mark.parametrize("spec", GRAPH_SPECS, ids=lambda p: p.stem)
def test_specs_render_in_every_language_and_katex(cli, spec):
    formulas, outputs = [], {}
    for lang in LANGS:
        result = cli(spec, "--lang", lang)
        assert result.exit_code == 0, result.stderr
        outputs[lang] = result.stdout
        found = extract_math(result.stdout)
        assert len(found) > 5
        formulas += found
    assert outputs["ru"].startswith("# " + yaml.safe_load(spec.read_text())["title"]["ru"])
    assert "Checked" in outputs["en"] and "Проверка" in outputs["ru"] and "Sprawdzenie" in outputs["pl"]
    # the same formulas in every language, up to the decimal sign (0.3679, 0{,}3679)
    blocks = {lang: re.findall(r"^\$\$\n(.*?)\n\$\$$", md.replace("{,}", "."), re.S | re.M)
              for lang, md in outputs.items()}
    assert blocks["ru"] == blocks["en"] == blocks["pl"]
    data = graph_json(cli, spec)
    formulas += [d["latex"] for d in data["derivatives"]]
    assert katex_errors(formulas) == []


def _figure(spec):
    from derive.kinds.graph.kind import figure
    from derive.pipeline import derive_spec

    return figure(derive_spec(spec).outcome)


def test_figure_svg_has_values_above_and_gradients_below():
    from derive.kinds.graph.figure import BACKWARD_COLOUR, FORWARD_COLOUR

    svg = _figure(ROOT / "specs" / "graph-add-mul.yaml").svg()
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f".//{ns}circle")) == 2  # the + and × gates
    texts = [("".join(t.itertext()), t.get("fill")) for t in root.iter(f"{ns}text")]
    plain = [t for t, _ in texts]
    assert "+" in plain and "×" in plain and "q" in plain  # gates, and the node's name over its gate
    forward = sorted(t for t, colour in texts if colour == FORWARD_COLOUR)
    backward = sorted(t for t, colour in texts if colour == BACKWARD_COLOUR)
    # values x = −2, y = 5, q = 3, z = −4, f = −12; gradients −4 to x, y and q, 3 to z, 1 at the output
    assert forward == sorted(["−2", "5", "3", "−4", "−12"])
    assert backward == sorted(["−4", "−4", "−4", "3", "1"])


@pytest.mark.skipif(shutil.which("lualatex") is None and not IN_CI, reason="no LuaLaTeX")
def test_figure_tikz_compiles(tmp_path):
    tex = tmp_path / "fig.tex"
    body = _figure(ROOT / "specs" / "sigmoid-neuron.yaml").tikz()
    tex.write_text(r"\documentclass{standalone}\usepackage{tikz}\begin{document}" + body + r"\end{document}")
    run = subprocess.run(["lualatex", "-interaction=nonstopmode", "-halt-on-error", tex.name],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]


def test_markdown_written_to_a_file_references_its_figure(cli, tmp_path):
    """The figure reaches Markdown one way: written beside -o PATH and referenced after the title."""
    out = tmp_path / "g.md"
    assert cli(ROOT / "specs" / "graph-add-mul.yaml", "-o", out).exit_code == 0
    assert "](g.svg)" in out.read_text(encoding="utf-8") and (tmp_path / "g.svg").is_file()
    assert "![" not in cli(ROOT / "specs" / "graph-add-mul.yaml").output  # stdout has no file to point to


# -- bad specs: exit 2, file:line:column, no traceback ----------------------------------------------

BAD = [
    ("nodes:\n  q: x + y\n  f: foo(q)\n", "3:6", "unknown function “foo”"),
    ("nodes:\n  q: x + y\n  f: \"q * foo(z)\"\n", "3:11", "unknown function “foo”"),
    ("nodes:\n  q: x + (y\n  f: q\n", "2:10", "never closed"),
    ("nodes:\n  q: __import__('os')\n", "2:6", ""),
    ("nodes:\n  q: \"lambda x: x\"\n", "2:15", "unexpected character “:”"),
    ("nodes:\n  q: x.real\n", "2:7", "'.'"),
    ("nodes:\n  q: f + x\n  f: q * 2\n", "2:6", "defined further down"),
    ("nodes:\n  q: q + x\n", "2:6", "uses itself"),
    ("nodes:\n  q: x + y\n  r: x * 2\n  f: q * z\n", "3:6", "does not affect the output"),
    ("nodes: {q: x + y}\noutput: z\n", "2:9", "must be one of the nodes"),
    ("nodes: {q: x + y}\nvalues: {x: 1}\n", "2:9", "no value for y"),
    ("nodes: {q: x + y}\nvalues: {x: 1, y: 2, w: 3}\n", "2:22", "not an input"),
    ("nodes: {q: x + y}\nvalues: {x: 1, y: true}\n", "2:19", "expected a number"),
    ("nodes: {q: x + y}\nwrt: [x, t]\n", "2:10", "neither an input nor a node"),
    ("nodes: {q: x + y}\ncolour: red\n", "2:1", "unknown key 'colour'"),
    ("nodes: []\n", "1:8", "expected a mapping"),
    ("nodes: {exp: x + y}\n", "1:14", "cannot be a node name"),
    ("shapes: {W: [n, n], x: [n]}\nnodes: {q: x W}\n", "2:12", "cannot multiply"),
    ("shapes: {W: [n, n], x: [m]}\nnodes: {q: W x}\n", "2:12", "inner sizes must agree"),
    ("shapes: {W: [n, n, n]}\nnodes: {q: W}\n", "1:13", "expected [size]"),
    ("shapes: {W: [n, n], x: [n]}\nnodes: {q: Wx + 1}\n", "2:12", "write W x"),
    ("nodes: {f: log(x)}\nvalues: {x: -1}\n", "1:12", "not a real number"),
    ("nodes: {f: 1/(x - 1)}\nvalues: {x: 1.0}\n", "1:12", "division by zero"),
    ("nodes:\n  a: exp(x)\n  b: exp(a)\n  c: exp(b)\n  d: exp(c)\nvalues: {x: 1}\n", "5:6", "too large"),
]


@pytest.mark.parametrize("body, where, message", BAD, ids=[b[2] or b[0][:20] for b in BAD])
def test_bad_specs_exit_2_with_location(cli, tmp_path, body, where, message):
    spec = tmp_path / "bad.yaml"
    spec.write_text("kind: graph\n" + body)
    line, column = where.split(":")
    result = cli(spec)
    assert result.exit_code == 2
    assert f"{spec}:{int(line) + 1}:{column}:" in result.stderr, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_bad_spec_in_a_real_process(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("kind: graph\nnodes:\n  f: x + sinh(y)\n")
    run = run_process(spec)
    assert run.returncode == 2 and run.stdout == ""
    assert f"{spec}:3:10:" in run.stderr and "unknown function “sinh”" in run.stderr
    assert "Traceback" not in run.stderr


def test_ten_thousand_parentheses_are_refused_quickly(cli, tmp_path):
    spec = tmp_path / "deep.yaml"
    spec.write_text("kind: graph\nnodes:\n  f: \"" + "(" * 10_000 + "x" + ")" * 10_000 + "\"\n")
    result = cli(spec)
    assert result.exit_code == 2 and "Traceback" not in result.stderr


def test_the_same_spec_prints_the_same_text(cli):
    """Verification draws its points from a fixed seed: the output is reproducible."""
    spec = ROOT / "specs" / "sigmoid-neuron.yaml"
    assert cli(spec).stdout == cli(spec).stdout
