"""`derive check SPEC ANSWERS...`: grade students' derivatives against the engine's (CONTRACT 1, 4).

The spec is derived and verified once; each answers file is then graded by
derive.grading (in parallel worker processes for a class), and the results are
printed as text (in --lang, ending with the class's most common mistakes when
there are several files), as the contract's JSON, or as a CSV gradebook.
Exit codes: 0 all correct, 1 something is not correct, 2 a bad spec, option
or answers file (the other files are still graded and printed).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

import click

from . import N_
from .cli import LANGS, run

PARALLEL_FROM = 4  # fewer files are graded in this process: a pool costs more than it saves


# Finding code -> message; arguments are formulas in the contract's ASCII syntax, names and numbers.
MESSAGES = {
    "missing": N_("No answer was given."),
    "not_text": N_("The answer must be a formula written as text."),
    "timeout": N_("The answer could not be checked within %(seconds)s s; write it in a simpler form."),
    "unknown_names": N_("Unknown name(s): %(names)s. The names that exist here are: %(known)s."),
    "unknown_names_close": N_("Unknown name(s): %(names)s; did you mean %(close)s? The names that exist here "
                              "are: %(known)s."),
    "parse_error": N_("The formula cannot be read: %(error)s."),
    "parse.too_deep": N_("Column %(column)s: brackets or powers are nested deeper than %(most)s levels."),
    "parse.unbalanced": N_("Column %(column)s: %(bracket)s closes a bracket that was never opened."),
    "parse.mismatch": N_("Column %(column)s: %(bracket)s does not match %(opening)s at column %(opening_column)s."),
    "parse.never_closed": N_("Column %(column)s: %(bracket)s is never closed."),
    "parse.underscore": N_("Column %(column)s: '_' must follow a name (as in x_1) or an indicator (as in 1_{u>0})."),
    "parse.dot": N_("Column %(column)s: '.' is only allowed inside a number."),
    "parse.equation": N_("Column %(column)s: '=' is not allowed: write an expression, not an equation."),
    "parse.unexpected_character": N_("Column %(column)s: unexpected character %(character)s."),
    "parse.digits": N_("Column %(column)s: a number with %(digits)s digits; at most %(most)s are allowed."),
    "parse.unknown_function": N_("Column %(column)s: unknown function %(name)s; allowed functions: %(allowed)s."),
    "parse.unknown_command": N_("Column %(column)s: unknown LaTeX command %(command)s."),
    "parse.comparison": N_("Column %(column)s: a comparison is only allowed inside an indicator, as in I[u > 0]."),
    "parse.division_by_zero": N_("Column %(column)s: division by zero."),
    "parse.exponent": N_("Column %(column)s: the exponent %(exponent)s is too large: at most %(most)s in "
                         "absolute value."),
    "parse.huge_number": N_("Column %(column)s: the number would have more than %(most)s digits."),
    "parse.no_comparison": N_("Column %(column)s: an indicator needs a comparison inside, as in I[u > 0]."),
    "parse.too_long": N_("The formula is %(length)s characters long; at most %(most)s are allowed."),
    "parse.unexpected": N_("Column %(column)s: unexpected %(token)s; expected %(expected)s."),
    "parse.unexpected_end": N_("Column %(column)s: the formula ends too early; expected %(expected)s."),
    "unsupported": N_("The formula uses something that cannot be evaluated: %(what)s."),
    "correct_symbolic": N_("Correct: equal to the expected derivative once the network's definitions are substituted."),
    "correct_numeric": N_("Correct: agrees with the expected derivative at all %(points)s test points "
                          "(%(patterns)s sign patterns of the pre-activations)."),
    "correct_points": N_("Correct: agrees with the expected derivative at all %(points)s test points."),
    "differs": N_("Incorrect: differs from the expected derivative at %(bad)s of %(points)s test points."),
    "missing_indicator": N_("The indicator factor %(factor)s is missing."),
    "extra_indicator": N_("The factor %(factor)s does not belong here: the path from this parameter to the "
                          "output does not pass through that unit."),
    "missing_derivative": N_("The derivative of the activation, %(factor)s, is missing."),
    "activation_for_derivative": N_("The activation %(post)s is written where its derivative %(factor)s belongs."),
    "extra_derivative": N_("The factor %(factor)s, the derivative of the activation, is extra: it is "
                           "already part of the rest."),
    "missing_input": N_("The factor %(factor)s is missing: %(param)s multiplies %(factor)s, so the derivative "
                        "with respect to %(param)s contains it."),
    "pre_for_post": N_("The pre-activation %(pre)s is used where the activation %(post)s belongs."),
    "missing_term": N_("A term is missing from the sum: %(term)s."),
    "transposed_parameter": N_("This is the derivative with respect to %(other)s, not %(param)s: the indices "
                               "are transposed."),
    "other_parameter": N_("This is the derivative with respect to %(other)s, not %(param)s."),
    "transposed_indices": N_("Transposed indices: %(wrong)s is written instead of %(right)s."),
    "transposed_all": N_("Transposed indices: the parameters %(pairs)s are swapped."),
    "sign": N_("The sign is wrong: the answer is minus the derivative."),
    "also_sign": N_("The sign is wrong as well."),
    "constant_factor": N_("A constant factor is off: the answer is %(factor)s times the derivative."),
    "value_close": N_("Correct: the number is within %(allowed_fraction)s of the value at the given point."),
    "value_off": N_("Incorrect: the number is %(off_fraction)s off the value at the given point (at most "
                    "%(allowed_fraction)s is allowed)."),
    "value_sign": N_("Incorrect: the number has the wrong sign."),
    "value_wrong": N_("Incorrect: the number is not the value at the given point."),
    "value_not_real": N_("The answer is not a real number."),
}
VERDICT_WORDS = {
    "correct": N_("correct"),
    "incorrect": N_("incorrect"),
    "invalid": N_("invalid"),
    "missing": N_("missing"),
}
TEXT = {
    "header": N_("%(student)s (%(file)s): %(score)s of %(total)s correct"),
    "expected": N_("expected: %(formula)s"),
    "answer": N_("answer:   %(formula)s"),
    "summary": N_("Most common mistakes per question (%(students)s students):"),
    "question": N_("%(key)s: %(wrong)s of %(students)s not correct"),
    "all_correct": N_("%(key)s: all correct"),
    "count": N_("%(count)s ×"),
    "unreadable": N_("the formula could not be read or checked"),
    "undiagnosed": N_("wrong, without a more specific diagnosis"),
    "class": N_("Class: %(score)s of %(total)s answers correct."),
}
# What the parser expected (derive.mathparse.EXPECTED_WORDS), and how a list of them ends.
EXPECTED = {
    "an operator": N_("an operator"),
    "a number": N_("a number"),
    "a name": N_("a name"),
    "a function": N_("a function"),
    "the end of the expression": N_("the end of the formula"),
    "something else": N_("something else"),
}
LIST_END = N_("%(items)s or %(last)s")
# Findings grouped under one heading in the class summary (their details differ from student to student).
SUMMARY_GROUPS = {
    **{code: "unreadable" for code in MESSAGES if code.startswith("parse")},
    "unknown_names": "unreadable", "unknown_names_close": "unreadable", "timeout": "unreadable", "unsupported": "unreadable", "not_text": "unreadable",
    "differs": "undiagnosed",
}


# --------------------------------------------------------------------------- grading files


@dataclass
class FileResult:
    """One answers file: its verdicts in the order of the asked parameters, or the error that stopped it."""

    file: str
    student: str | None = None
    seed: int | None = None
    verdicts: list = field(default_factory=list)
    error: str | None = None

    @property
    def score(self) -> int:
        return sum(v.verdict == "correct" for v in self.verdicts)


class Engine:
    """The spec, and one grader per quiz variant (seed), built on first use."""

    def __init__(self, spec_path: str):
        from .network import parse
        from .pipeline import KINDS
        from .yamlload import load_file

        self.path = spec_path
        doc = load_file(spec_path)
        kind = doc.data.get("kind", "network") if isinstance(doc.data, dict) else "network"
        if kind != "network":
            known = "" if kind in KINDS else f"unknown kind {kind!r}; "
            raise doc.error(("kind",), f"{known}derive check and derive quiz grade `kind: network` specs")
        self.spec = parse(doc)
        self.variants: dict = {}
        self.grader(None)  # the spec itself: a spec that cannot be derived fails before any file is read

    def _variant(self, seed: int | None) -> tuple:
        """(verified outcome, Grader, asked parameter names) of the spec's variant seed, built once."""
        if seed not in self.variants:
            from .grading import Grader
            from .network import derive
            from .variant import asked, variant

            outcome = derive(variant(self.spec, seed))
            net = outcome.derivation.network
            layers = [[str(p) for p in layer.params] for layer in net.layers]
            worked = outcome.spec.worked
            grader = Grader(outcome.derivation, numbers=outcome.numbers,
                            tolerance=worked.tolerance if worked is not None else 0.005)
            self.variants[seed] = (outcome, grader, asked([str(p) for p in net.params], layers, seed))
        return self.variants[seed]

    def grader(self, seed: int | None):
        """(Grader, asked parameter names) of the spec's variant seed."""
        return self._variant(seed)[1:]

    def outcome(self, seed: int | None):
        """The verified derivation (network.Outcome) of the spec's variant seed."""
        return self._variant(seed)[0]

    def check_file(self, path: str) -> FileResult:
        from .answers import read_sheet
        from .errors import DeriveError

        try:
            sheet = read_sheet(path)
            sheet.check_spec(self.path)
            grader, asked = self.grader(sheet.seed)
            answers = sheet.resolve(asked)
        except DeriveError as exc:
            return FileResult(path, error=exc.show())
        verdicts = [grader.check(key, answers.get(key)) for key in asked]
        return FileResult(path, sheet.student, sheet.seed, verdicts)


_ENGINE: Engine | None = None  # set before the pool forks, so workers inherit the derived spec


def _check_in_worker(path: str) -> FileResult:
    return _ENGINE.check_file(path)


def check_files(engine: Engine, files: list[str], jobs: int) -> list[FileResult]:
    """Grade files, in parallel processes when there are several (results in the order of files)."""
    global _ENGINE
    import multiprocessing

    jobs = max(1, min(jobs, len(files)))
    # workers are forked so that they inherit the derived spec; where fork is missing, grade here
    if jobs == 1 or len(files) < PARALLEL_FROM or "fork" not in multiprocessing.get_all_start_methods():
        return [engine.check_file(f) for f in files]
    from concurrent.futures import ProcessPoolExecutor

    _ENGINE = engine
    context = multiprocessing.get_context("fork")
    chunk = max(1, len(files) // (jobs * 4))
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        return list(pool.map(_check_in_worker, files, chunksize=chunk))


# --------------------------------------------------------------------------- presenting results


class Words:
    """The catalog of one language, for findings, verdicts and the text report."""

    def __init__(self, lang: str):
        from .i18n import translations

        self.gettext = translations(lang).gettext
        self.lang = lang

    def __call__(self, msgid: str, **args) -> str:
        text = self.gettext(msgid)
        return text % args if args else text

    def finding(self, finding) -> str:
        args = dict(finding.args)
        if "expected" in args:
            args["expected"] = self.one_of([self(EXPECTED[w]) if w in EXPECTED else w
                                            for w in args["expected"].split("\n")])
        for name in [n for n in args if n.endswith("_fraction")]:  # 0,5 % in ru, 0,5% in pl
            from .numbers import format_percent

            args[name] = format_percent(float(args[name]), self.lang)
        return self(MESSAGES[finding.code], **args)

    def one_of(self, items: list[str]) -> str:
        return items[0] if len(items) == 1 else self(LIST_END, items=", ".join(items[:-1]), last=items[-1])

    def feedback(self, verdict) -> str:
        return " ".join(self.finding(f) for f in verdict.findings)


def to_json(result: FileResult, words: Words) -> dict:
    """CONTRACT section 4: student, score, total, answers[key, verdict, feedback, expected_latex]."""
    return {
        "student": result.student,
        "score": result.score,
        "total": len(result.verdicts),
        "answers": [
            {"key": v.key, "verdict": v.verdict, "feedback": words.feedback(v), "expected_latex": v.expected_latex}
            for v in result.verdicts
        ],
    }


def render_json(results: list[FileResult], words: Words) -> str:
    """One file: the contract's object. Several: a list of them, each with its "file" (or "file" and "error")."""
    import json

    if len(results) == 1:
        return json.dumps(to_json(results[0], words), ensure_ascii=False, indent=2) + "\n"
    items = [
        {"file": r.file, "error": r.error} if r.error else {"file": r.file, **to_json(r, words)} for r in results
    ]
    return json.dumps(items, ensure_ascii=False, indent=2) + "\n"


def render_csv(results: list[FileResult]) -> str:
    """A gradebook: one row per student, one column per parameter (its verdict), score and total."""
    import csv
    import io

    keys = _questions(results)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", "student", *keys, "score", "total"])
    for r in results:
        if r.error:
            continue
        cells = {v.key: v.verdict for v in r.verdicts}
        writer.writerow([r.file, r.student or "", *(cells.get(k, "") for k in keys), r.score, len(r.verdicts)])
    return out.getvalue()


def _questions(results: list[FileResult]) -> list[str]:
    """Every parameter asked of anybody, in the order of first appearance (quiz variants differ)."""
    return list(dict.fromkeys(v.key for r in results for v in r.verdicts))


def render_text(results: list[FileResult], words: Words) -> str:
    lines: list[str] = []
    for r in results:
        if r.error:
            continue
        lines += _text_block(r, words) + [""]
    graded = [r for r in results if not r.error]
    if len(graded) > 1:
        lines += _summary(graded, words)
    return "\n".join(lines).rstrip("\n") + "\n"


def _text_block(r: FileResult, words: Words) -> list[str]:
    student = r.student or os.path.splitext(os.path.basename(r.file))[0]
    lines = [words(TEXT["header"], student=student, file=r.file, score=r.score, total=len(r.verdicts))]
    width = max((len(v.key) for v in r.verdicts), default=0)
    indent = " " * (width + 4)
    for v in r.verdicts:
        word = words(VERDICT_WORDS[v.verdict])
        if v.verdict == "correct":
            lines.append(f"  {v.key:<{width}}  {word}")
            continue
        lines.append(f"  {v.key:<{width}}  {word}: {words.feedback(v)}")
        if v.answer is not None:
            lines.append(indent + words(TEXT["answer"], formula=_shortened(v.answer)))
        lines.append(indent + words(TEXT["expected"], formula=v.expected))
    return lines


def _shortened(text: str, most: int = 100) -> str:
    """The student's text on one line, cut to most characters (a hostile answer can be 100 kB)."""
    line = " ".join(text.split())
    return line if len(line) <= most else line[: most - 1] + "…"


def _summary(results: list[FileResult], words: Words) -> list[str]:
    """Per question: how many students got it wrong, and the three most common mistakes."""
    from collections import Counter

    lines = [words(TEXT["summary"], students=len(results))]
    for key in _questions(results):
        verdicts = [v for r in results for v in r.verdicts if v.key == key]
        wrong = [v for v in verdicts if v.verdict != "correct"]
        if not wrong:
            lines.append("  " + words(TEXT["all_correct"], key=key))
            continue
        lines.append("  " + words(TEXT["question"], key=key, wrong=len(wrong), students=len(verdicts)))
        mistakes = Counter(_mistake(v, words) for v in wrong)
        for label, count in mistakes.most_common(3):
            lines.append(f"    {words(TEXT['count'], count=count)} {label}")
    total = sum(len(r.verdicts) for r in results)
    lines.append(words(TEXT["class"], score=sum(r.score for r in results), total=total))
    return lines


def _mistake(verdict, words: Words) -> str:
    group = SUMMARY_GROUPS.get(verdict.findings[0].code) if verdict.findings else "undiagnosed"
    return words(TEXT[group]) if group else words.feedback(verdict)


# --------------------------------------------------------------------------- the command


@click.command("check")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.argument("answers", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--lang", type=click.Choice(LANGS), default="en", show_default=True, help="Language of the feedback.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True,
              help="text: a report per student and a class summary; json: CONTRACT section 4 (a list for "
                   "several files); csv: a gradebook, one row per student.")
@click.option("--jobs", type=click.IntRange(1, 256), default=None,
              help="Worker processes for a class (default: the number of CPUs).")
def command(spec: str, answers: tuple[str, ...], lang: str, fmt: str, jobs: int | None) -> None:
    """Grade students' derivatives: ANSWERS are YAML files (`answers: {theta_11: "…"}`) for SPEC.

    Every answer is correct, incorrect (with a diagnosis), invalid (with the
    reason) or missing. Exit code 1 when any answer is not correct.

    \b
    Examples:
      derive check specs/two-layer-relu.yaml answers.yaml --lang ru
      derive check specs/two-layer-relu.yaml class/*.yaml --format csv > grades.csv
    """
    run(lambda: _check(spec, list(answers), lang, fmt, jobs or os.cpu_count() or 1))


def _check(spec: str, files: list[str], lang: str, fmt: str, jobs: int) -> None:
    from .errors import DeriveError

    engine = Engine(spec)
    results = check_files(engine, files, jobs)
    broken = [r for r in results if r.error]
    if len(files) == 1 and broken:
        raise _shown(broken[0].error)
    words = Words(lang)
    renderers = {"json": lambda: render_json(results, words), "csv": lambda: render_csv(results),
                 "text": lambda: render_text(results, words)}
    click.echo(renderers[fmt](), nl=False)
    for r in broken:
        click.echo(f"derive: {r.error}", err=True)
    if broken:
        sys.exit(DeriveError.exit_code)
    if any(v.verdict != "correct" for r in results for v in r.verdicts):
        sys.exit(1)


def _shown(message: str):
    """A DeriveError (exit 2) whose message was already formatted (file:line:column: …)."""
    from .errors import DeriveError

    return DeriveError(message)
