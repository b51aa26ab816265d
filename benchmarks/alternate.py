"""Two installations of derive on the same network, alternated: which one starts and verifies faster.

    python benchmarks/alternate.py PYTHON_A PYTHON_B [--width 8] [--repeat 9]

PYTHON_A and PYTHON_B are the interpreters of two virtual environments (say, one
with the main branch installed, one with a change). Each runs
`python -m derive relu-1-W-W-W-1.yaml --format json -o out.json` in a fresh
process, from a folder outside the source tree (so that the installed package is
the one imported), A and B taking turns so that both see the same load; printed
are the medians of wall and CPU seconds (user + system) and the JSON outputs'
agreement. On a shared machine compare the CPU seconds: other work delays a
process but does not add to its CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import measure, relu_spec  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pythons", nargs=2)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.chdir(folder)
        spec = relu_spec(args.width, folder)
        results: dict[str, list[dict]] = {p: [] for p in args.pythons}
        for python in args.pythons:  # warm the file cache, unmeasured
            subprocess.run([python, "-m", "derive", str(spec), "--format", "json", "-o", str(folder / "warm.json")], check=True)
        for _ in range(args.repeat):
            for k, python in enumerate(args.pythons):
                out = folder / f"out{k}.json"
                results[python].append(measure([python, "-m", "derive", str(spec), "--format", "json", "-o", str(out)]))
        same = json.loads((folder / "out0.json").read_text()) == json.loads((folder / "out1.json").read_text())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"relu-1-{args.width}-{args.width}-{args.width}-1, {args.repeat} runs each, alternated; load average {load:.1f} at the end")
    print("| python | median wall s | median CPU s | peak MB |\n|---|---:|---:|---:|")
    for python, runs in results.items():
        wall = statistics.median(r["seconds"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        peak = statistics.median(r["peak_mb"] for r in runs)
        print(f"| {python} | {wall:.3f} | {cpu:.3f} | {peak:.0f} |")
    print(f"JSON outputs identical: {'yes' if same else 'no'}")


if __name__ == "__main__":
    main()
