"""Write N students' answer files for a network or graph spec, with a realistic mix of answers.

    python benchmarks/make_answers.py specs/two-layer-relu.yaml 300 build/class/
    python benchmarks/make_answers.py specs/graph-add-mul.yaml 300 build/graph-class/     # numbers and formulas
    python benchmarks/make_answers.py specs/mlp-check.yaml 300 build/matrix-class/        # matrix answers
    python benchmarks/make_answers.py specs/linear-layer.yaml 300 build/index-class/      # index and matrix forms

Per answer: about 60 % correct (in one of several equivalent forms: chain-rule
order, expanded, reordered, LaTeX, with max(0, z) or Heaviside), 25 % one typical
mistake (a perturbation of the engine's own formula: a missing indicator, a
sign, transposed indices, …), 8 % invalid (unknown names, broken syntax,
hostile text) and 7 % missing. Everything is derived by the engine; the seed
makes the class reproducible. Used by the class benchmark of `derive check`.
Graphs: the formula (closed or over the nodes), its value (exact, rounded to 4
digits), or both as `formula = value`; mistakes are the grader's typical wrong
formulas and sign/×10 slips of the value. Matrix answers (view: vector): the
lecture's formula in math notation, in numpy notation or with Unicode; mistakes
are the transposed result, the sign and δ without the activation's derivative.
Graphs with shapes: each asked element in index form (as the report shows it,
or the derivation's LaTeX) and each asked matrix (df_dW) in math, numpy or
Unicode notation; mistakes are the grader's typical wrong index forms, the
sign, a transpose and a factor 2.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sympy as sp  # noqa: E402

from derive.grading.check import Engine  # noqa: E402
from derive.grading.grader import _Perturbations  # noqa: E402
from derive.render.printing import ascii, latex  # noqa: E402

INVALID = [
    "phi_1 * I[u_1 > 0] * foo",
    "(phi_1 * I[u_1 > 0]",
    "__import__('os').system('true')",
    "lambda: 0",
    "x.__class__.__bases__",
    "eval('1')",
    r"\input{/etc/passwd}",
    "9**9**9**9",
    "sin(x)",
    "(" * 10_000 + "x" + ")" * 10_000,
]
NAMES = ["Ivanova A.", "Kowalski J.", "Smith B.", "Petrov D.", "Nowak M.", "Brown C.", "Sidorova E.", "Wiśniewska K."]


def correct_forms(expected) -> list[str]:
    """Equivalent ways to write the expected derivative."""
    shown = expected.value
    forms = [ascii(expected.unfolded), ascii(shown), latex(expected.unfolded)]
    factors = list(expected.unfolded.args) if expected.unfolded.is_Mul else []
    if factors:
        forms.append(ascii(sp.Mul(*reversed(factors), evaluate=False)))
    plain = ascii(expected.unfolded)
    forms.append(plain.replace("I(", "Heaviside(").replace(" > 0)", ")"))
    return forms


def answer(rng: random.Random, grader, expected) -> str | None:
    roll = rng.random()
    if roll < 0.60:
        return rng.choice(correct_forms(expected))
    if roll < 0.85:
        mistakes = [expr for _, expr in _Perturbations(grader, expected).all()]
        return ascii(rng.choice(mistakes))
    if roll < 0.93:
        return rng.choice(INVALID)
    return None


def graph_answer(rng: random.Random, grader, target) -> str | None:
    roll = rng.random()
    value = float(target.exact) if target.exact is not None else None
    if roll < 0.60:
        forms = [ascii(target.closed), ascii(target.grad.named)]
        if value is not None:
            forms += [f"{value:.4g}", f"{ascii(target.grad.named)} = {value:.4g}", str(target.exact)]
        return rng.choice(forms)
    if roll < 0.85:
        mistakes = [ascii(expr) for _, expr in grader.mistakes(target)]
        if value is not None:
            mistakes += [f"{-value:.4g}", f"{10 * value:.4g}", f"{ascii(target.grad.named)} = {value + 1:.4g}"]
        return rng.choice(mistakes)
    if roll < 0.93:
        return rng.choice(INVALID)
    return None


def matrix_answer(rng: random.Random, target) -> str | None:
    from derive.grading.matrix import plain

    roll = rng.random()
    math = plain(target.step.rhs[0])
    if roll < 0.60:
        numpy = math.replace(" ⊙ ", " * ").replace("^T", ".T")
        unicode = math.replace("^T", "ᵀ").replace("delta", "δ")
        return rng.choice([math, numpy, unicode, f"({math})"])
    if roll < 0.85:
        first = math.split(" ⊙ ")[0]
        return rng.choice([f"-({math})", f"({math})^T", first if first != math else f"2 ({math})"])
    if roll < 0.93:
        return rng.choice(INVALID)
    return None


def index_answer(rng: random.Random, grader, target) -> str | None:
    """A graph with shapes: an element in index form (as shown, or the derivation's LaTeX), or a matrix key."""
    roll = rng.random()
    if target.matrix:
        math = target.ascii
        forms = [math, math.replace(" ", " @ ").replace("^T", ".T"), math.replace("^T", "ᵀ")]
        wrong = [f"-({math})", f"({math})^T", f"2 ({math})"]
    else:
        forms = [target.ascii, target.latex, f"({target.ascii})"]
        wrong = [grader._shown(expr)[0] for _, expr in grader._wrong_forms(target)] + [f"-({target.ascii})"]
    if roll < 0.60:
        return rng.choice(forms)
    if roll < 0.85:
        return rng.choice(wrong)
    if roll < 0.93:
        return rng.choice(INVALID)
    return None


def answer_for(rng: random.Random, grader, key: str) -> str | None:
    """One answer to key, in the way the grader's kind is answered."""
    if hasattr(grader, "matrix_names"):  # a graph with shapes (index notation)
        return index_answer(rng, grader, grader.targets[key])
    matrix = getattr(grader, "matrix", None)
    if matrix is not None and key in matrix.targets:
        return matrix_answer(rng, matrix.targets[key])
    if hasattr(grader, "targets"):  # a graph
        return graph_answer(rng, grader, grader.targets[key])
    return answer(rng, grader, grader.expected[key])


def yaml_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write_class(spec: str, count: int, out: Path, seed: int = 0) -> list[Path]:
    engine = Engine(spec)
    grader, asked = engine.grader(None)
    if hasattr(grader, "matrix_names"):  # index graphs: the asked elements and their matrices (df_dW)
        asked = [*asked, *(k for k in grader.keys() if grader.targets[k].matrix and grader.targets[k].quantity in
                           engine.spec.wrt)]
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        lines = [f"student: {yaml_string(f'{rng.choice(NAMES)} #{i + 1}')}", "answers:"]
        for key in asked:
            text = answer_for(rng, grader, key)
            if text is not None:
                lines.append(f"  {key}: {yaml_string(text)}")
        path = out / f"student-{i + 1:03d}.yaml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec")
    parser.add_argument("count", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    paths = write_class(args.spec, args.count, args.out, args.seed)
    print(f"wrote {len(paths)} answer files to {args.out}")


if __name__ == "__main__":
    main()
