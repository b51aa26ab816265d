"""What a worked example (values:) costs: derive's Markdown of sigmoid networks with and without values.

    python benchmarks/worked.py [--widths 2,4,8,16] [--repeat 3]

Each network is input (size 2) → W sigmoid units → W sigmoid units → 2 outputs,
half the squared error; "with values" adds values for every name and one
gradient-descent step. The time is the median of --repeat in-process runs of
the whole pipeline (parse, derive, verify, substitute, render Markdown), after
one unmeasured run that imports everything. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def spec_text(width: int, values: bool) -> str:
    text = f"""kind: network
input: {{name: x, size: 2}}
index: target-source
layers:
  - {{units: {width}, activation: sigmoid, params: W, pre: z, post: h}}
  - {{units: {width}, activation: sigmoid, params: W, pre: u, post: g}}
  - {{units: 2, activation: sigmoid, params: W, pre: v}}
loss: half_sse
"""
    if not values:
        return text
    from derive.kinds.network.model import build
    from derive.kinds.network.spec import load_spec_text

    net = build(load_spec_text(text))
    rng = random.Random(width)
    names = [*net.inputs, *net.targets, *net.params]
    pairs = ", ".join(f"{n}: {rng.randint(-90, 90) / 100}" for n in names)
    return text + f"values: {{{pairs}}}\nlearning_rate: 0.5\n"


def seconds(path: Path, repeat: int) -> float:
    from derive.render.document import markdown
    from derive.pipeline import derive_spec

    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        markdown(derive_spec(path), "ru")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--widths", default="2,4,8,16")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="derive-bench-worked-"))
    widths = [int(w) for w in args.widths.split(",")]
    warm = folder / "warm.yaml"
    warm.write_text(spec_text(2, True), encoding="utf-8")
    seconds(warm, 1)
    print("| width | parameters | without values (s) | with values and a step (s) | ratio |")
    print("|---:|---:|---:|---:|---:|")
    for width in widths:
        paths = []
        for values in (False, True):
            path = folder / f"w{width}-{values}.yaml"
            path.write_text(spec_text(width, values), encoding="utf-8")
            paths.append(path)
        plain, worked = (seconds(p, args.repeat) for p in paths)
        params = 3 * width + width * (width + 1) + 2 * (width + 1)
        print(f"| {width} | {params} | {plain:.2f} | {worked:.2f} | {worked / plain:.1f} |")


if __name__ == "__main__":
    main()
