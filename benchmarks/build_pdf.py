"""`derive build specs --lang all --format pdf`: a cold build, then the same build again (nothing changed).

    python benchmarks/build_pdf.py                 # specs/, all languages, into a fresh temporary folder
    python benchmarks/build_pdf.py --jobs 1        # one worker: the time per PDF without parallelism
    python benchmarks/build_pdf.py --source DIR    # another folder of specs (the issue's 11: see README.md)
    python benchmarks/build_pdf.py --derive /tmp/oldvenv/bin/derive   # another installed version, to compare

Each build runs as a whole fresh process. Reported: wall seconds, the CPU seconds of
the build and all its children (LuaLaTeX included; on a shared machine this moves less
than the wall time), the number of PDFs, and both per PDF. The second run must find
everything up to date.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build(out: Path, jobs: int | None, extra: list[str], source: Path = ROOT / "specs",
          derive: list[str] | None = None) -> tuple[float, float]:
    command = [*(derive or [sys.executable, "-m", "derive"]), "build", str(source), "--lang", "all", "--format", "pdf",
               "--out", str(out), *(["--jobs", str(jobs)] if jobs else []), *extra]
    cpu, start = _cpu(), time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"build failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, _cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--keep", help="build into this folder instead of a temporary one")
    parser.add_argument("--source", type=Path, default=ROOT / "specs", help="the folder of specs to build")
    parser.add_argument("--derive", help="the derive command to measure (default: this checkout's)")
    args = parser.parse_args()
    derive = [args.derive] if args.derive else None
    with tempfile.TemporaryDirectory(prefix="derive-bench-") as tmp:
        out = Path(args.keep or tmp)
        load = os.getloadavg()[0]
        wall, cpu = build(out, args.jobs, [], args.source, derive)
        pdfs = sorted(out.rglob("*.pdf"))
        again_wall, again_cpu = build(out, args.jobs, [], args.source, derive)
        print(f"load average at start: {load:.1f}, at the end: {os.getloadavg()[0]:.1f}, on {os.cpu_count()} cores")
        print(f"cold build: {len(pdfs)} PDFs, {wall:.1f} s wall ({wall / len(pdfs):.2f} s per PDF), "
              f"{cpu:.1f} s CPU ({cpu / len(pdfs):.2f} s per PDF)")
        print(f"second run, nothing changed: {again_wall:.2f} s wall, {again_cpu:.2f} s CPU")


if __name__ == "__main__":
    main()
