"""Write N students' answer files for a network spec, with a realistic mix of answers.

    python benchmarks/make_answers.py specs/two-layer-relu.yaml 300 build/class/

Per answer: about 60 % correct (in one of several equivalent forms: chain-rule
order, expanded, reordered, LaTeX, with max(0, z) or Heaviside), 25 % one typical
mistake (a perturbation of the engine's own formula: a missing indicator, a
sign, transposed indices, …), 8 % invalid (unknown names, broken syntax,
hostile text) and 7 % missing. Everything is derived by the engine; the seed
makes the class reproducible. Used by the class benchmark of `derive check`.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sympy as sp  # noqa: E402

from derive.check import Engine  # noqa: E402
from derive.grading import _Perturbations  # noqa: E402
from derive.printing import ascii, latex  # noqa: E402

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


def yaml_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write_class(spec: str, count: int, out: Path, seed: int = 0) -> list[Path]:
    engine = Engine(spec)
    grader, asked = engine.grader(None)
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        lines = [f"student: {yaml_string(f'{rng.choice(NAMES)} #{i + 1}')}", "answers:"]
        for key in asked:
            text = answer(rng, grader, grader.expected[key])
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
