"""Benchmarks of whole processes: `derive --format json` on ReLU networks, beside the naive route.

Prints a Markdown table of wall seconds, CPU seconds and peak memory (each command
in a fresh process), the naive/derive ratios (wall and CPU), the scaling ratio against the goals of
issue 7, and `derive check` on a class of answer files when that command exists.

    python benchmarks/run.py [--widths 8,16,32,64] [--naive-timeout 60] [--repeat 3]

Before measuring, derive's bytecode is written (as `pip install` of a wheel does) and
one unmeasured process imports SymPy and NumPy, so both routes start with the same
warm file cache; derive's figures are the median of
--repeat fresh processes (the naive route, 15 s or more, runs once).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MEASURE = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
try:
    code = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=float(sys.argv[1])).returncode
except subprocess.TimeoutExpired:
    code = "timeout"
seconds = time.perf_counter() - t
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": seconds, "code": code, "peak_mb": usage.ru_maxrss / 1024,
                  "cpu": usage.ru_utime + usage.ru_stime}))
"""


# derive's bytecode, written once before measuring, as installing a wheel does. Without it, where
# PYTHONDONTWRITEBYTECODE is set (as on the build machine) or the source folder is read-only, every
# process compiles derive's own modules again: about 0.05 s of CPU per run (and the naive script's too).
COMPILE = "import compileall, os, derive; compileall.compile_dir(os.path.dirname(derive.__file__), quiet=1)"


def measure(command: list[str], timeout: float = 600) -> dict:
    """Wall seconds, CPU seconds (user + system, the process and the children it waited for) and peak
    resident memory of command, run in a fresh process. On a shared machine the CPU seconds vary far
    less than the wall seconds: other work delays a process but does not add to its CPU time."""
    out = subprocess.run([sys.executable, "-c", MEASURE, str(timeout), *command], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def relu_spec(width: int, folder: Path) -> Path:
    layers = "\n".join(f"  - {{units: {width}, activation: relu}}" for _ in range(3))
    path = folder / f"relu-1-{width}-{width}-{width}-1.yaml"
    path.write_text(f"kind: network\ninput: x\nlayers:\n{layers}\n  - {{units: 1}}\nloss: half_sse\n", encoding="utf-8")
    return path


def parameters(width: int) -> int:
    return 2 * width + 2 * (width * width + width) + width + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="8,16,32,64")
    parser.add_argument("--naive-timeout", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=3, help="fresh derive processes per network (median)")
    args = parser.parse_args()
    derive = [sys.executable, "-m", "derive"]
    rows, times = [], {}
    subprocess.run([sys.executable, "-c", COMPILE], check=True)
    subprocess.run([sys.executable, "-c", "import sympy, numpy, derive.cli"], check=True)  # warm the file cache
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for width in map(int, args.widths.split(",")):
            spec = relu_spec(width, folder)
            runs = [measure([*derive, str(spec), "--format", "json", "-o", str(folder / "out.json")]) for _ in range(args.repeat)]
            assert all(r["code"] == 0 for r in runs), f"derive failed on width {width}"
            ours = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
            ours_cpu = sorted(r["cpu"] for r in runs)[len(runs) // 2]
            verified = all(d["verified"] for d in json.loads((folder / "out.json").read_text())["derivatives"])
            naive = measure([sys.executable, str(HERE / "naive.py"), str(spec)], timeout=args.naive_timeout)
            times[width] = ours["seconds"]
            naive_s = f"{naive['seconds']:.1f}" if naive["code"] == 0 else f"> {args.naive_timeout:.0f} (stopped)"
            ratio = f"{naive['seconds'] / ours['seconds']:.1f}×" if naive["code"] == 0 else f"> {args.naive_timeout / ours['seconds']:.0f}×"
            cpu_ratio = f"{naive['cpu'] / ours_cpu:.1f}×" if naive["code"] == 0 else "—"
            rows.append((f"1-{width}-{width}-{width}-1", parameters(width), f"{ours['seconds']:.2f}", f"{ours_cpu:.2f}",
                         f"{ours['peak_mb']:.0f}", "yes" if verified else "NO", naive_s,
                         f"{naive['cpu']:.1f}" if naive["code"] == 0 else "—", ratio, cpu_ratio))
        print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
              f"load average {os.getloadavg()[0]:.1f} at the end\n")
        print("| network | parameters | derive s | derive CPU s | derive peak MB | all verified | naive s | naive CPU s "
              "| naive/derive | naive/derive, CPU |")
        print("|---|---:|---:|---:|---:|:---:|---:|---:|---:|---:|")
        for row in rows:
            print("| " + " | ".join(map(str, row)) + " |")
        if 8 in times and 32 in times:
            print(f"\ntime(1-32-32-32-1) / time(1-8-8-8-1) = {times[32] / times[8]:.2f} (goal ≤ 12; parameters grow {parameters(32) / parameters(8):.1f}×)")
        check_class(folder)


def check_class(folder: Path, count: int = 300) -> None:
    """`derive check` on a class of answer files of the seed-000 network (make_answers.py)."""
    sys.path.insert(0, str(HERE))
    from make_answers import write_class

    spec = HERE.parent / "specs" / "two-layer-relu.yaml"
    answers = folder / "answers"
    answers.mkdir()
    files = [str(p) for p in write_class(str(spec), count, answers)]
    result = measure([sys.executable, "-m", "derive", "check", str(spec), *files, "--format", "csv"])
    # exit 1 is expected: the generated class has mistakes in it
    print(f"\nderive check, {len(files)} answer files ({13 * len(files)} answers): "
          f"{result['seconds']:.2f} s, peak {result['peak_mb']:.0f} MB, exit {result['code']} (goal < 30 s)")


if __name__ == "__main__":
    main()
