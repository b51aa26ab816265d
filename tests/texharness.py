"""LaTeX test harness: is a TeX installation there, one shared `derive build` of every spec, PDF text.

Used from tests as::

    from texharness import require_latex, built, pdf_text, headings

`require_latex()` skips a test locally when latexmk/LuaLaTeX/pdftotext are
missing (the reason is shown) and fails it with CI=true. `built()` runs
`derive build` once per test session over specs/ plus a hostile spec, in
every language, as PDF and LaTeX, and returns its folder and the process.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
INSTALL = "bash .ci/run (or: apt-get install latexmk texlive-luatex texlive-lang-cyrillic texlive-lang-polish fonts-cmu poppler-utils)"
TOOLS = ("latexmk", "lualatex", "pdftotext", "pdftohtml")
MARKER = "derive-hostile-marker"

HOSTILE = r"""kind: network
title: 'Evil \input{/etc/passwd} \write18{touch MARKER} % $ & _ # { } ~ ^ \ and $\input{/etc/hostname}$ done'
input: x
output: y
layers:
  - {units: 1, activation: relu, params: theta, pre: z, post: h}
  - {units: 1, activation: identity, params: phi}
loss: none
"""


def require_latex() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed; install with: {INSTALL}"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def run_derive(*args, cwd=ROOT, env=None, timeout=900):
    return subprocess.run([sys.executable, "-m", "derive", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)


@functools.lru_cache(maxsize=None)
def built():
    """(folder, hostile spec path, marker path, process) of one `derive build` of everything."""
    require_latex()
    folder = Path(tempfile.mkdtemp(prefix="derive-test-build-"))
    specs = folder / "specs"
    specs.mkdir()
    marker = folder / MARKER
    hostile = specs / "hostile.yaml"
    hostile.write_text(HOSTILE.replace("MARKER", str(marker)), encoding="utf-8")
    out = folder / "out"
    proc = run_derive("build", ROOT / "specs", hostile, "--lang", "all", "--format", "pdf,tex", "--out", out)
    return out, hostile, marker, proc


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def pdf_outline(path: Path) -> list[str]:
    """The PDF's bookmarks (its outline), in order, as poppler's pdftohtml reads them."""
    import html

    xml = subprocess.run(["pdftohtml", "-xml", "-i", "-stdout", str(path)], capture_output=True, text=True,
                         check=True).stdout
    outline = re.search(r"<outline>(.*?)</outline>", xml, re.S)
    return [html.unescape(item) for item in re.findall(r"<item[^>]*>(.*?)</item>", outline[1])] if outline else []


def squeeze(text: str) -> str:
    """Text without whitespace or hyphens: line breaks and hyphenation don't matter in comparisons."""
    return re.sub(r"[\s\-‐]+", "", text)


def headings(markdown: str) -> list[str]:
    """The text pieces of every Markdown heading (unescaped; between its math; without a '1)' enumerator)."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    tokens = MarkdownIt("commonmark").use(dollarmath_plugin).parse(markdown)
    out = []
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            parts = [c.content for c in tokens[i + 1].children if c.type == "text"]
            parts[:1] = [re.sub(r"^\s*\d+[.)]\s+", "", p) for p in parts[:1]]
            out += [p.strip() for p in parts if re.search(r"\w{3}", p)]
    return out


@functools.lru_cache(maxsize=None)
def result_of(spec: Path):
    """The derivation of spec, in this process (derived once per test session)."""
    from derive.pipeline import derive_spec

    return derive_spec(spec)


def markdown_of(spec: Path, lang: str) -> str:
    from derive.render import document

    return document.markdown(result_of(spec), lang)


def latex_of(spec: Path, lang: str = "en", kind: str = "notes", figures: bool = True) -> str:
    from derive.render import document
    from derive.pipeline import Options

    return document.latex(result_of(spec), lang, Options(document=kind, figures=figures))


WORD_BOX = re.compile(r'<word xMin="([-\d.]+)" yMin="([-\d.]+)" xMax="([-\d.]+)" yMax="([-\d.]+)">([^<]*)</word>')


def document_size() -> str:
    """The lectures' class size ("11pt"), as templates/tex/document.tex.j2 sets it: a figure is measured
    at the size it is printed at (\\scriptsize is 8 pt in an 11 pt document, 7 pt in standalone's 10 pt)."""
    template = (Path(__file__).resolve().parents[1] / "templates" / "tex" / "document.tex.j2").read_text(encoding="utf-8")
    sizes = set(re.findall(r"\\documentclass\[(\d+pt)", template))
    assert len(sizes) == 1, sizes
    return sizes.pop()


def _typeset(tikz: str, folder: Path, name: str, options: str = "") -> None:
    """name.pdf in folder: the TikZ picture alone, typeset by real LuaLaTeX in the documents' font and size."""
    options = f"[{document_size()}" + (f",{options.strip('[]')}]" if options else "]")
    source = (f"\\documentclass{options}{{standalone}}\n\\usepackage{{fontspec,amsmath,amssymb,tikz}}\n"
              "\\setmainfont{CMU Serif}\n\\begin{document}\n" + tikz + "\n\\end{document}\n")
    (folder / f"{name}.tex").write_text(source, encoding="utf-8")
    run = subprocess.run(["lualatex", "--interaction=nonstopmode", "--halt-on-error", f"{name}.tex"], cwd=folder,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:]


def figure_words(tikz: str, folder: Path) -> list[tuple[float, float, float, float, str]]:
    """Typeset a TikZ figure with real LuaLaTeX in the documents' font (Cyrillic and Greek included)
    and read back every word with its box (pdftotext -bbox): (xMin, yMin, xMax, yMax, word)."""
    _typeset(tikz, folder, "f")
    assert "Missing character" not in (folder / "f.log").read_text(encoding="utf-8", errors="replace")
    html = subprocess.run(["pdftotext", "-bbox", "f.pdf", "-"], cwd=folder, capture_output=True, text=True,
                          check=True).stdout
    return [(float(a), float(b), float(c), float(d), w) for a, b, c, d, w in WORD_BOX.findall(html)]


def collisions(words) -> list[tuple[str, str]]:
    """Pairs of words whose boxes overlap by more than a fifth of the smaller one."""
    found = []
    for n, p in enumerate(words):
        for q in words[n + 1:]:
            w = min(p[2], q[2]) - max(p[0], q[0])
            h = min(p[3], q[3]) - max(p[1], q[1])
            if w > 0 and h > 0:
                smaller = min((p[2] - p[0]) * (p[3] - p[1]), (q[2] - q[0]) * (q[3] - q[1]))
                if w * h > 0.2 * smaller:
                    found.append((p[4], q[4]))
    return found


EDGE_NODE = re.compile(r"node\[([^\]]*)\]")


def label_clearance(tikz: str, folder: Path, dpi: int = 300, limit_pt: float = 6.0) -> float:
    """How close (in pt) the ink of an edge's labels comes to any other ink that is not a label (every
    edge, including the label's own, every arrow head, node, node name and value): the figure is typeset
    by real LuaLaTeX with its edge labels in pure red and without their white backing, rasterised by
    poppler (pdftoppm) at `dpi`, and the smallest distance from a red pixel to a dark one is measured
    (up to limit_pt)."""

    def red(line: str) -> str:
        if not line.startswith(r"\draw"):
            return line
        return EDGE_NODE.sub(lambda m: f"node[{m[1]}, text=red, fill=none, fill opacity=0, text opacity=1]", line)

    tikz = "\n".join(red(line) for line in tikz.splitlines())
    _typeset(tikz, folder, "c", options="[border=4pt]")
    subprocess.run(["pdftoppm", "-r", str(dpi), "-singlefile", "c.pdf", "c"], cwd=folder, check=True)
    return _red_distance(_ppm(folder / "c.ppm"), limit_pt, dpi)


def _red_distance(pixels, limit_pt: float, dpi: int) -> float:
    """How close (pt) the pure-red pixels of an RGB raster come to its dark ones (up to limit_pt)."""
    import numpy as np

    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    labels = (r > 140) & (g < 110) & (b < 110) & (r - g > 80)
    ink = (r < 110) & (g < 110) & (b < 110)
    assert labels.any() and ink.any()
    grown, steps = ink, 0  # grow the ink a pixel at a time (alternately square and cross: an octagon)
    while not (grown & labels).any() and steps < limit_pt * dpi / 72.27:
        steps += 1
        shifted = [(1, 0), (-1, 0), (0, 1), (0, -1)] + ([(1, 1), (1, -1), (-1, 1), (-1, -1)] if steps % 2 else [])
        out = grown.copy()
        for dy, dx in shifted:
            out |= np.roll(np.roll(grown, dy, axis=0), dx, axis=1)
        grown = out
    return steps * 72.27 / dpi


def _ppm(path: Path):
    import numpy as np

    data = path.read_bytes()
    fields = data.split(maxsplit=4)  # P6, width, height, maxval, pixels
    assert fields[0] == b"P6", fields[0]
    width, height = int(fields[1]), int(fields[2])
    return np.frombuffer(fields[4][: width * height * 3], dtype=np.uint8).reshape(height, width, 3).astype(int)


CELL = re.compile(r"\\draw\[fill=[^\]]*\] \(([-\d.]+), ([-\d.]+)\) rectangle \(([-\d.]+), ([-\d.]+)\);")
CELL_LABEL = re.compile(r"\\node\[font=\\scriptsize[^\]]*\] at \(([-\d.]+), ([-\d.]+)\) \{(.*)\};$")


def cell_room(tikz: str, folder: Path) -> list[tuple[str, float, float]]:
    """(label, its width, its cell's side) in cm of every cell of a grid drawing (TikZ from
    derive.render.grid), the width of each label as LuaLaTeX sets it at the figure's \\scriptsize."""
    cells = [tuple(map(float, m.groups())) for m in CELL.finditer(tikz)]
    labels = []
    for line in tikz.splitlines():
        m = CELL_LABEL.match(line.strip())
        if m:
            x, y = float(m[1]), float(m[2])
            box = next((c for c in cells if c[0] < x < c[2] and c[1] < y < c[3]), None)
            if box is not None:
                labels.append((m[3], box[2] - box[0]))
    assert labels, "no cell labels in the drawing"
    measure = "".join(rf"\setbox0\hbox{{\scriptsize {label}}}\typeout{{WIDTH:\the\wd0}}" + "\n" for label, _ in labels)
    source = ("\\documentclass{article}\n\\usepackage{fontspec,amsmath,amssymb}\n\\setmainfont{CMU Serif}\n"
              "\\begin{document}\n" + measure + "\\end{document}\n")
    (folder / "w.tex").write_text(source, encoding="utf-8")
    run = subprocess.run(["lualatex", "--interaction=nonstopmode", "--halt-on-error", "w.tex"], cwd=folder,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:]
    widths = [float(w) / 72.27 * 2.54 for w in re.findall(r"WIDTH:([\d.]+)pt", run.stdout)]
    assert len(widths) == len(labels)
    return [(label, width, side) for (label, side), width in zip(labels, widths)]
