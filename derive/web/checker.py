"""The one door from the web app to the checker (derive.check, derive.grading): nothing else in
derive/web imports them, so the checker can change behind these few functions.

`load(folder)` builds one Engine per spec the checker grades; `grade` grades a dict of answers
(CONTRACT section 4) and returns the stored form of the verdicts; `report` turns stored verdicts
into the contract's JSON in a language; `summary` is `derive check`'s class summary; `validate`
reads one answer without grading it (the live preview).
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import asdict
from pathlib import Path

SPEC_SUFFIXES = (".yaml", ".yml")
MAX_SEED = 2**31


def load(folder: str) -> tuple[dict, list[str]]:
    """{assignment: Engine} for every spec in folder the checker grades, and why the others are not served."""
    from derive.grading.check import Engine
    from derive.errors import DeriveError

    engines, skipped = {}, []
    for path in sorted(Path(folder).iterdir()):
        if path.suffix not in SPEC_SUFFIXES or path.name.endswith((".answers.yaml", ".answers.yml")):
            continue
        try:
            engines[path.stem] = Engine(str(path))
        except DeriveError as exc:
            skipped.append(exc.show())
    return engines, skipped


def asked(engine, seed: int | None) -> list[str]:
    """The names asked of a student with this variant seed, in the network's order."""
    return engine.grader(seed)[1]


def title(engine, lang: str) -> str | None:
    """The spec's title in lang, if it has one."""
    title = getattr(getattr(engine.outcome(None), "spec", None), "title", None)
    return title.get(lang) if title is not None else None


def variant_seed(assignment: str, student: str) -> int:
    """A student's own variant of an assignment: a stable function of both names, nothing stored."""
    digest = hashlib.sha256(f"{assignment}\0{student}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % MAX_SEED


def grade(engine, answers: dict[str, str], seed: int | None) -> list[dict]:
    """Every asked name graded (missing when not answered), in the stored form (see `stored`)."""
    grader, names = engine.grader(seed)
    return [stored(grader.check(key, answers.get(key))) for key in names]


def stored(verdict) -> dict:
    """A grading.Verdict as JSON-able data: the findings as (code, args), language-neutral."""
    data = asdict(verdict)
    data["findings"] = [[f.code, dict(f.args)] for f in verdict.findings]
    return data


def _verdict(data: dict):
    from derive.grading.grader import Finding, Verdict

    findings = [Finding(code, tuple(args.items())) for code, args in data["findings"]]
    return Verdict(**{**data, "findings": findings})


def _result(student: str | None, verdicts: list[dict], file: str = "", seed: int | None = None):
    from derive.grading.check import FileResult

    return FileResult(file, student, seed, [_verdict(v) for v in verdicts])


def report(student: str | None, verdicts: list[dict], lang: str, show_expected: bool) -> dict:
    """The object of one file of `derive check --format json`; expected formulas only when shown."""
    from derive.grading.check import Words, to_json

    data = to_json(_result(student, verdicts), Words(lang))
    if not show_expected:
        for answer in data["answers"]:
            answer.pop("expected_latex", None)
    return data


def summary(rows: list[tuple[str, list[dict]]], lang: str) -> list[str]:
    """`derive check`'s class summary (most common mistakes per question) of (student, verdicts) rows."""
    from derive.grading.check import Words, _summary

    results = [_result(student, verdicts) for student, verdicts in rows]
    return _summary(results, Words(lang)) if results else []


def verdict_words(lang: str) -> dict[str, str]:
    from derive.grading.check import VERDICT_WORDS, Words

    words = Words(lang)
    return {key: words(msgid) for key, msgid in VERDICT_WORDS.items()}


def validate(engine, seed: int | None, key: str, text: str, lang: str) -> dict:
    """{"ok": True, "latex"} when the checker reads text as an answer for key, else {"ok": False, "message"}
    in lang: the grader's own reading (`reading`: its names for key, a graph's `formula = number`) and its own
    messages (unknown names, unbalanced brackets, …), so the preview never disagrees with the verdict."""
    from derive.grading.check import Words
    from derive.grading.grader import TIME_LIMIT, Finding, _Timeout, time_limit

    grader, _ = engine.grader(seed)
    try:
        with time_limit(TIME_LIMIT):
            answer, finding = grader.reading(key, text)
            if finding is None:
                return {"ok": True, "latex": _shown(answer, _printer(engine, seed, lang), lang)}
    except _Timeout:
        finding = Finding.of("timeout", seconds=TIME_LIMIT)
    return {"ok": False, "message": Words(lang).finding(finding)}


def _shown(answer, printer, lang: str) -> str:
    """What was read, as LaTeX: a number as the decimal typed, a graph's (formula, number) as formula = number."""
    if isinstance(answer, tuple):
        formula, number = answer
        shown = _shown(formula, printer, lang)
        return shown if number is None else f"{shown} = {_shown(number, printer, lang)}"
    return _number_latex(answer, lang) or printer(answer)


# engine -> {(seed, lang): the exercise's printer}, made once per worker process and gone with its engine
_PRINTERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _printer(engine, seed: int | None, lang: str):
    """The printer of the page's exercise, so the preview writes the names as the question does (δ^{[2]}
    and ∂J/∂z^{[2]} in a matrix-form network, not dJ_dz2); the plain printer for an engine the quiz cannot set."""
    printers = _PRINTERS.setdefault(engine, {})
    key = (seed, lang)
    if key not in printers:
        from derive.grading.quiz import exercise
        from derive.render.printing import latex

        try:
            printers[key] = exercise(engine, seed, lang)[0].filters["tex"]
        except (AttributeError, KeyError, TypeError):
            printers[key] = latex
    return printers[key]


def _number_latex(expr, lang: str) -> str | None:
    """A number answer (2,28) read back as the decimal it was written as, in lang's format, not as the exact
    fraction the checker keeps (57/25); None for anything else (a formula, a number with no end: 1/3)."""
    from derive.render.numbers import format_number, is_exact

    if not (expr.is_Rational and not expr.is_Integer):
        return None
    digits = next((n for n in range(1, 31) if is_exact(expr, n)), None)
    return format_number(expr, lang, digits, tex=True) if digits else None


def question(engine, seed: int | None, lang: str) -> dict:
    """What the page shows: the exercise `derive quiz` sets (the same context, the same printer) as
    LaTeX: the forward pass, the given values, activations, loss, and one labelled task per asked
    name. For an engine the quiz cannot set (the checker grows), the asked names alone, so the page
    still works."""
    try:
        return _question(engine, seed, lang)
    except (AttributeError, KeyError, TypeError):
        from derive.render.printing import latex_name

        grader, names = engine.grader(seed)
        return {"title": title(engine, lang), "forward": [], "values": [], "given": [], "activations": [],
                "loss": None, "tasks": [{"key": name, "latex": latex_name(name)} for name in names],
                "names": sorted(getattr(grader, "names", {}))}


def _question(engine, seed: int | None, lang: str) -> dict:
    from derive.grading.quiz import exercise

    grader, names = engine.grader(seed)
    env, ctx = exercise(engine, seed, lang)
    eq, tex = env.filters["eq"], env.filters["tex"]
    _PRINTERS.setdefault(engine, {})[(seed, lang)] = tex  # the preview's printer: the exercise is not made again
    if len(ctx["tasks"]) != len(names):  # one label per input, or the labels would name the wrong inputs
        raise KeyError("tasks")
    return {
        "title": title(engine, lang),
        "heading": "graph" if engine.kind == "graph" else "network",
        "forward": [[eq(equation) for equation in row] for row in ctx["forward"]],
        "values": [eq(equation) for equation in ctx["values"]],
        "given": [[eq(equation) for equation in row] for row in ctx["given"]],
        "activations": [eq(act["definition"]) for act in ctx["activations"]],
        "loss": eq(ctx["loss"]) if ctx["loss"] is not None else None,
        "tasks": [{"key": key, "latex": tex(task)} for key, task in zip(names, ctx["tasks"])],
        "names": list(ctx["allowed"]),
        "task": ctx["words"]["task"] if ctx["given"] else None,  # "… each as a number or as a formula"
        "matrix": getattr(grader, "matrix", None) is not None,  # answers in matrix notation: say how to write them
    }
