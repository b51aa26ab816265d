"""Apply the English reviewer's wording fixes, which are msgid renames (see README.md beside this file).

English is the msgid (tests/test_i18n.py keeps every en msgstr empty), so a fix of the English
wording renames a msgid: in the template or module that says it, in the .pot, and in the en, ru and
pl catalogs. The ru and pl msgstrs are kept: none of these fixes changes what a message means.

Each fix is (old, new): a fragment as it is written inside a string literal (escaped the way both
Jinja/Python literals and .po files escape it, \\" and \\\\), replaced wherever it occurs in a
template or module and in the msgids of every catalog. A fix whose fragment is no longer in the
sources (someone reworded it meanwhile) is reported and skipped, never half applied.

    python docs/review-en/rename_msgids.py          # apply, then run tests/test_i18n.py
    python docs/review-en/rename_msgids.py --dry    # only say what would change
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FIXES = [
    # Russian calques and non-native constructions
    ("We write tanh through the sigmoid", "We write tanh in terms of the sigmoid"),
    ("move in the direction of the anti-gradient.", "move in the direction of the negative gradient."),
    ("with differences of $h_T$ in $h_k$", "with finite differences of $h_T$ with respect to $h_k$"),
    ("so $%(input)s$ reaches $%(post)s$ also directly", "so $%(input)s$ also reaches $%(post)s$ directly"),
    ("In matrix form (the softmax is taken of each row):", "In matrix form (the softmax is applied to each row):"),
    ("works the same way in training and in use,", "works the same way in training and at inference,"),
    ("Through the activation's derivative of layer %(layer)s", "Through the derivative of the activation of layer %(layer)s"),
    ("So the most important parts are:", "The key results:"),
    ("one $m$-th of prediction minus truth;", "the prediction minus the truth, divided by $m$;"),
    ("Solving the identity for the sigmoid and substituting it:", "Solving this identity for the sigmoid and substituting back:"),
    ("equals the small coefficient", "equals the small slope"),
    ("Backpropagation needs the derivatives of the activations:", "Backpropagation needs the derivatives of the activation functions:"),
    ("The prediction $%(yhat)s = %(aL)s$ of the network for one input example $%(x)s$.",
     "The network computes its prediction $%(yhat)s = %(aL)s$ for one input example $%(x)s$ layer by layer."),
    ("is the distribution function of the standard normal distribution.",
     "is the cumulative distribution function of the standard normal distribution."),
    ("the whole stretch can be differentiated in one step", "the whole chain can be differentiated in one step"),
    ("The point of the check: change these numbers", "The point at which the formulas are checked: change these numbers"),
    # punctuation, quotes, one term per concept (docs/glossary.md: element-wise)
    ("In a multilayer neural network layer $i$ is the function", "In a multilayer neural network, layer $i$ is the function"),
    ("A deep composition of functions, where the chain rule does all the work.",
     "In a deep composition of functions the chain rule does all the work."),
    (") are drawn $", ") are shown $"),
    ("layers with activation %(act)s (", "layers with %(act)s activations ("),
    ("(the cause of \\\"dying ReLU\\\")", "(the cause of “dying ReLU”)"),
    ("still on the page, try again.", "still on the page; try again."),
    ("There is no assignment %(name)s here.", "There is no assignment “%(name)s” here."),
    ("'@' multiplies matrices; here there is none.", "'@' multiplies matrices, but neither side here is a matrix."),
    ("an elementwise product needs", "an element-wise product needs"),
    ("elementwise square write y", "element-wise square write y"),
    ("multiplied elementwise (⊙)", "multiplied element-wise (⊙)"),
    ("is the elementwise (Hadamard) product", "is the element-wise (Hadamard) product"),
    ("activation, taken elementwise:", "activation, taken element-wise:"),
    ("is the elementwise product of the two", "is the element-wise product of the two"),
    # the verification note: one opening everywhere ("Checked:"), and no "before printing"
    ("Verified: before printing, every formula above", "Checked: every formula above"),
]

SOURCES = sorted([*ROOT.glob("templates/md/*.j2"), *ROOT.glob("templates/tex/*.j2"), *ROOT.glob("derive/**/*.py")])
CATALOGS = sorted([*ROOT.glob("templates/locale/*.pot"), *ROOT.glob("templates/locale/*/LC_MESSAGES/*.po")])
MSGID = re.compile(r'^msgid "(.*)"$')
CONTINUATION = re.compile(r'^"(.*)"$')


def _msgid_blocks(lines: list[str]):
    """(start, end, joined escaped text) of every msgid block: `msgid "…"` and its continuation lines."""
    i = 0
    while i < len(lines):
        m = MSGID.match(lines[i])
        if not m:
            i += 1
            continue
        parts, j = [m.group(1)], i + 1
        while j < len(lines) and CONTINUATION.match(lines[j]):
            parts.append(CONTINUATION.match(lines[j]).group(1))
            j += 1
        yield i, j, "".join(parts)
        i = j


def _emit(text: str, multiline: bool, width: int = 100) -> list[str]:
    if not multiline:
        return [f'msgid "{text}"']
    out, line = ['msgid ""'], ""
    for word in re.findall(r"\S*\s*", text):
        if line and len(line) + len(word) > width:
            out.append(f'"{line}"')
            line = ""
        line += word
    if line:
        out.append(f'"{line}"')
    return out


def rename_in_catalog(path: Path, fixes, dry: bool) -> int:
    lines = path.read_text(encoding="utf-8").split("\n")
    changed, result, last = 0, [], 0
    for start, end, text in _msgid_blocks(lines):
        new = text
        for old, repl in fixes:
            new = new.replace(old, repl)
        if new != text:
            changed += 1
            result += lines[last:start] + _emit(new, end - start > 1)
            last = end
    result += lines[last:]
    if changed and not dry:
        path.write_text("\n".join(result), encoding="utf-8")
    return changed


def main(argv: list[str]) -> int:
    dry = "--dry" in argv
    texts = {p: p.read_text(encoding="utf-8") for p in SOURCES}
    applicable = []
    for old, new in FIXES:
        where = [p for p, t in texts.items() if old in t]
        if not where:
            print(f"skipped (not in the sources any more): {old!r}")
            continue
        applicable.append((old, new))
        print(f"{len(where)} source(s): {old!r} -> {new!r}  [{', '.join(str(p.relative_to(ROOT)) for p in where)}]")
        for p in where:
            texts[p] = texts[p].replace(old, new)
    if not dry:
        for p in SOURCES:
            if texts[p] != p.read_text(encoding="utf-8"):
                p.write_text(texts[p], encoding="utf-8")
    for path in CATALOGS:
        n = rename_in_catalog(path, applicable, dry)
        if n:
            print(f"{path.relative_to(ROOT)}: {n} msgid(s) renamed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
