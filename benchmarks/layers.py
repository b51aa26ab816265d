"""Time the layer kinds (issue 17): each spec derived, verified and written as JSON by a fresh process.

    python benchmarks/layers.py            # the example specs, then growing sizes of each kind

Prints a Markdown table: spec, sizes, formulas compared by the verification,
wall seconds of `derive SPEC --format json -o out.json` (start-up included),
and whether every derivative says "verified": true.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ["residual-mlp", "rnn-3-steps", "attention-3-tokens", "conv1d", "conv2d", "layernorm"]
GROWING = [
    ("rnn T=6, n_h=3", "kind: rnn\nsteps: 6\ninput: 2\nhidden: 3\noutput: 2\n"),
    ("rnn T=8, n_h=4", "kind: rnn\nsteps: 8\ninput: 3\nhidden: 4\noutput: 2\n"),
    ("attention n=6, d=d_k=3", "kind: attention\ntokens: 6\nfeatures: 3\nhead: 3\n"),
    ("conv2d 6×6, C=2, K=2, F=3", "kind: conv\ndims: 2\nchannels: 2\nsize: 6\nfilters: 2\nkernel: 3\npadding: 1\n"),
    ("layernorm n=8", "kind: layernorm\nfeatures: 8\n"),
]


def run(spec: Path, out: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "derive", str(spec), "--format", "json", "-o", str(out)],
                          cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{spec}: {proc.stderr}")
    return elapsed, json.loads(out.read_text(encoding="utf-8"))


def row(name: str, seconds: float, doc: dict) -> str:
    sizes = ", ".join(f"{k}={v}" for k, v in doc.get("sizes", {}).items()) or "—"
    compared = doc.get("verification", {}).get("formulas", "—")
    verified = all(d["verified"] is True for d in doc["derivatives"])
    return f"| {name} | {sizes} | {len(doc['parameters'])} | {compared} | {seconds:.2f} | {'yes' if verified else 'NO'} |"


def main() -> None:
    print("| spec | sizes | parameters | values compared | derive s | all verified |")
    print("|---|---|---:|---:|---:|:---:|")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        for name in EXAMPLES:
            print(row(name, *run(ROOT / "specs" / f"{name}.yaml", out)), flush=True)
        for name, text in GROWING:
            spec = Path(tmp) / "spec.yaml"
            spec.write_text(text, encoding="utf-8")
            print(row(name, *run(spec, out)), flush=True)


if __name__ == "__main__":
    main()
