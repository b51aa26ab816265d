"""Time the layered figures' layout (issue 15): each spec's figure drawn as SVG and TikZ, fitted once.

    python benchmarks/figures.py

Prints a Markdown table: the drawing, its labelled edges, the gaps between its layers and its row
height (cm) after fitting, and the wall milliseconds of its first SVG + TikZ (the fitting included;
the derivation is not). The figures of specs/ whose kind draws a layered network, plus a 3-4-2
network and a 6-6-6-2 one (more than FIT_MOST_LABELS labelled edges: placed without fitting).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from derive.pipeline import derive_spec  # noqa: E402
from derive.render import diagram  # noqa: E402

EXTRA = {
    "3-4-2": "kind: network\nindex: target-source\ninput: {name: x, size: 3}\nlayers:\n"
             "  - {units: 4, activation: sigmoid, params: W, bias: b}\n"
             "  - {units: 2, activation: sigmoid, params: V, bias: c}\nloss: half_sse\n",
    "6-6-6-2": "kind: network\nindex: target-source\ninput: {name: x, size: 6}\nlayers:\n"
               "  - {units: 6, activation: sigmoid, params: W, bias: b}\n"
               "  - {units: 6, activation: sigmoid, params: V, bias: c}\n"
               "  - {units: 2, activation: sigmoid, params: U, bias: f}\nloss: half_sse\n",
}


def specs(folder: Path) -> list[Path]:
    extra = []
    for name, text in EXTRA.items():
        path = folder / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        extra.append(path)
    return sorted((ROOT / "specs").glob("*.yaml")) + extra


def row(path: Path) -> str | None:
    try:
        result = derive_spec(path)
        figure = result.entry.figure_of(result.outcome, "en")
    except Exception:  # a course or a spec without a figure
        return None
    if not isinstance(figure, diagram.Figure):
        return None
    drawing = figure.drawing
    start = time.perf_counter()
    figure.svg()
    figure.tikz()
    ms = (time.perf_counter() - start) * 1000
    lay = diagram._Layout(drawing.layers, drawing.edges, drawing.spread)
    labelled = sum(bool(e.above or e.below) for e in drawing.edges)
    gaps = ", ".join(f"{g:.2f}" for g in lay.gaps)
    return f"| {path.stem} | {labelled} | {gaps} | {lay.dy_cm:.2f} | {ms:.0f} |"


def main() -> None:
    print("| drawing | labelled edges | gaps (cm) | row (cm) | first SVG + TikZ (ms) |")
    print("|---|---:|---|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for path in specs(Path(folder)):
            line = row(path)
            if line:
                print(line, flush=True)


if __name__ == "__main__":
    main()
