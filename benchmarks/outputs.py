"""Benchmark of the outputs for other tools: each format of one spec as a whole fresh process.

Prints a Markdown table: wall seconds (median of --repeat runs) and the size of what was written,
for `derive SPEC --format md|html|ipynb` and `derive quiz SPEC --format moodle`.

    python benchmarks/outputs.py [--spec specs/two-layer-relu.yaml] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "derive", *args], check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="specs/two-layer-relu.yaml")
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        jobs = {f"--format {fmt}": ([options.spec, "--format", fmt, "-o", f"{folder}/out.{fmt}"], f"{folder}/out.{fmt}")
                for fmt in ("md", "html", "ipynb")}
        jobs["quiz --format moodle"] = (["quiz", options.spec, "--format", "moodle", "-o", f"{folder}/quiz.xml"],
                                        f"{folder}/quiz.xml")
        print(f"`{options.spec}`, median of {options.repeat} fresh processes\n")
        print("| output | seconds | kB written |\n|---|---:|---:|")
        for name, (args, path) in jobs.items():
            seconds = statistics.median(timed(args) for _ in range(options.repeat))
            print(f"| {name} | {seconds:.2f} | {Path(path).stat().st_size / 1000:.0f} |")


if __name__ == "__main__":
    main()
