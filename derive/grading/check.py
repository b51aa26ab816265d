"""`derive check SPEC ANSWERS...`: grade students' derivatives against the engine's (CONTRACT 1, 4, 6).

The spec is derived and verified once; each answers file is then graded by the
kind's grader (derive.grading for networks, derive.matrix_grading for their
matrix view, derive.graph_grading for graphs; in parallel worker processes for
a class), and the results are
printed as text (in --lang, ending with the class's most common mistakes when
there are several files), as the contract's JSON, or as a CSV gradebook.
Exit codes: 0 all correct, 1 something is not correct, 2 a bad spec, option
or answers file (the other files are still graded and printed).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field


from derive.core.languages import language
from derive.meta import N_
from derive.core.safetext import csv_cell, terminal

CHUNK = 25  # answers files graded by one child process, one after another (a class repeats its answers)


# Finding code -> message; arguments are formulas in the contract's ASCII syntax, names and numbers.
MESSAGES = {
    "missing": N_("No answer was given."),
    "not_text": N_("The answer must be a formula written as text."),
    "timeout": N_("The answer could not be checked within %(seconds)s s; write it in a simpler form."),
    "unknown_name": N_("Unknown name: %(names)s. Names that exist here are, for example: %(known)s."),
    "unknown_name_close": N_("Unknown name: %(names)s; did you mean %(close)s?"),
    "unknown_names": N_("Unknown names: %(names)s. Names that exist here are, for example: %(known)s."),
    "unknown_names_close": N_("Unknown names: %(names)s; did you mean %(close)s?"),
    "names_asked": N_("%(names)s is the gradient this answer asks for: write it in terms of other quantities "
                      "(the inputs, the parameters, the gradients that come from the output)."),
    "parse_error": N_("The formula cannot be read: %(error)s."),
    "parse.too_deep": N_("Column %(column)s: brackets or powers are nested deeper than %(most)s levels."),
    "parse.unbalanced": N_("Column %(column)s: %(bracket)s closes a bracket that was never opened."),
    "parse.mismatch": N_("Column %(column)s: %(bracket)s does not match %(opening)s at column %(opening_column)s."),
    "parse.never_closed": N_("Column %(column)s: %(bracket)s is never closed."),
    "parse.functions_nested": N_("Column %(column)s: functions are applied to functions more than %(most)s "
                                 "levels deep; name the intermediate quantities (h_1, u_1) instead."),
    "parse.underscore": N_("Column %(column)s: '_' must follow a name (as in x_1) or an indicator (as in 1_{u>0})."),
    "parse.dot": N_("Column %(column)s: '.' is only allowed inside a number."),
    "parse.equation": N_("Column %(column)s: '=' is not allowed: write an expression, not an equation."),
    "parse.scientific_name": N_("Column %(column)s: %(written)s could be a number in scientific notation or a "
                                "product with %(name)s: write the number as %(power)s, or the product with a space "
                                "or “*” before %(name)s."),
    "parse.euler_name": N_("Column %(column)s: e is a name here, so e^… could be the exponential or a power of e: "
                           "write exp(…) for the exponential, or (e)^… for a power of e."),
    "parse.row_times_column": N_("Column %(column)s: “*” between a %(left)s row and a %(right)s column is a number "
                                 "as a matrix product but a matrix in numpy (broadcasting): write “@” (or nothing) "
                                 "for the product, or the outer product as a column times a row (delta @ x.T)."),
    "parse.sum_start": N_("Column %(column)s: this sum over %(index)s starts at %(start)s, not at 1: every element "
                          "of the index's range belongs to it (write sum_%(index)s or Σ_%(index)s)."),
    "parse.ambiguous_division": N_("Column %(column)s: %(ambiguous)s can be read in two ways: write %(bracketed)s "
                                   "if all of it is the denominator, or a space or “*” before %(next_factor)s if "
                                   "only %(denominator)s is."),
    "parse.unexpected_character": N_("Column %(column)s: unexpected character %(character)s (%(codepoint)s)."),
    "parse.confusable": N_("Column %(column)s: the character %(character)s (%(codepoint)s) only looks like the Latin "
                           "%(latin)s; type it with the Latin keyboard layout."),
    "parse.yaml_escape": N_("Column %(column)s: %(command)s has turned into an invisible control character: inside "
                            "double quotes YAML reads a backslash as an escape (\\t is a tab, \\f a form feed). "
                            "Write LaTeX answers in single quotes: '%(command)s …'."),
    "parse.shapes_add": N_("Column %(column)s: matrices of shapes %(left)s and %(right)s cannot be added."),
    "parse.shapes_had": N_("Column %(column)s: an element-wise product needs equal shapes, not %(left)s and %(right)s."),
    "parse.shapes_product": N_("Column %(column)s: a %(left)s matrix cannot be multiplied by a %(right)s one: the "
                               "inner sizes differ (a transpose missing?)."),
    "parse.matrix_power": N_("Column %(column)s: a power of a matrix or vector is not defined here; for an "
                             "element-wise square write y ⊙ y."),
    "parse.matrix_division": N_("Column %(column)s: division by a matrix or vector is not defined."),
    "parse.matmul_scalar": N_("Column %(column)s: '@' multiplies matrices, but neither side here is a matrix."),
    "parse.partial": N_("Column %(column)s: expected a derivative written as ∂y/∂h_1."),
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
    "differs": N_("Differs from the expected derivative at %(bad)s of %(points)s test points."),
    "rounded": N_("Equal to the derivative only up to rounding (%(numbers)s): write the numbers exactly, as "
                  "fractions."),
    "rounded_plain": N_("Equal to the derivative only up to rounding: write the numbers exactly, as fractions."),
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
    "missing_mean": N_("The factor 1/%(n)s of the mean is missing: the loss averages over %(n)s outputs."),
    # matrix answers (view: vector)
    "correct_matrix": N_("Correct: all %(entries)s entries agree with the expected ones at %(points)s test points."),
    "transposed_result": N_("The result is transposed: the answer is %(shape)s, the expected matrix is its "
                            "transpose (%(expected)s); check the order of the product (δ xᵀ, not x δᵀ)."),
    "row_for_column": N_("The answer is a row (%(shape)s), but a column (%(expected)s) is expected: leave out the "
                         "transpose."),
    "wrong_shape": N_("The answer is a %(shape)s matrix, but %(key)s is %(expected)s."),
    "transposed_shape": N_("The answer is a %(shape)s matrix, but %(key)s is %(expected)s, the shape of the "
                           "answer transposed: is a transpose missing (Wᵀ in place of W)?"),
    "entries_differ": N_("%(bad)s of %(entries)s entries differ from the expected ones: %(which)s."),
    "missing_derivative_delta": N_("The derivative of the activation, %(factor)s, is missing from δ: the gradient "
                                   "that reaches the layer's output must be multiplied element-wise (⊙) by it."),
    "activation_in_delta": N_("The activation is written where its derivative %(factor)s belongs in δ."),
    # graphs in index notation (shapes:)
    "correct_index": N_("Correct: equal to the expected element for every value of its indices (%(entries)s) at "
                        "%(points)s test points."),
    "index_free": N_("The index %(index)s is free in the answer, but %(key)s depends only on %(indices)s: a sum "
                     "over %(index)s is missing (Σ_%(index)s), or an index is misnamed."),
    "index_range": N_("The index %(index)s does not fit the shapes: it runs beyond the size of a quantity, or over "
                      "quantities of different sizes."),
    "parse.sum_index": N_("Column %(column)s: a sum over an index (Σ_k) is only allowed in answers in index "
                          "notation, as in \\sum_k W_{k,i} x_k."),
    # graphs: formulas and numbers
    "correct_formula": N_("Correct: equal to the expected derivative for all values (checked at %(points)s test "
                          "points over a wide range)."),
    "correct_value": N_("Correct: within %(tolerance_fraction)s of the exact value."),
    "correct_formula_value": N_("Correct: the formula is right and so is its value (within %(tolerance_fraction)s)."),
    "wrong_value": N_("The number is not within %(tolerance_fraction)s of the exact value."),
    "sign_slip": N_("The number has the wrong sign."),
    "too_large": N_("The number is %(factor)s times too large: check the arithmetic (a misplaced decimal point?)."),
    "too_small": N_("The number is %(factor)s times too small: check the arithmetic (a misplaced decimal point?)."),
    "arithmetic_slip": N_("The formula is right, but its value is not: an arithmetic slip (the value is %(value)s)."),
    "wrong_formula_computed": N_("The number is the value of this wrong formula: the arithmetic is right, the formula "
                                 "is not."),
    "wrong_formula_and_value": N_("The number is not the value of this formula either."),
    "number_expected": N_("After '=' a number is expected: the value of the formula at the given values."),
    "value_not_real": N_("The answer is not a real number."),
    "no_values": N_("This spec has no values, so a number cannot be the answer: write a formula."),
    "other_input": N_("This is the derivative with respect to %(other)s, not %(wrt)s."),
    "missing_upstream": N_("The upstream gradient is missing: the local derivative through %(node)s must be "
                           "multiplied by the gradient that reaches %(node)s from the output."),
    "missing_local": N_("The local derivative is missing: the gradient that reaches %(node)s must be multiplied "
                        "by ∂%(node)s/∂%(wrt)s."),
    "missing_path": N_("A path is missing: the variable is also used by %(node)s, and the gradients of all its "
                       "uses add up."),
    "wrong_upstream": N_("The wrong upstream gradient: through %(node)s the local derivative is multiplied by the "
                         "gradient of %(other)s instead of that of %(node)s."),
    "value_close": N_("Correct: the number is within %(allowed_fraction)s of the value at the given point."),
    "value_off": N_("Incorrect: the number is %(off_fraction)s off the value at the given point (at most "
                    "%(allowed_fraction)s is allowed)."),
    "value_sign": N_("Incorrect: the number has the wrong sign."),
    "value_wrong": N_("Incorrect: the number is not the value at the given point."),
}
# Keys of an answers file that name no question (answers.Refused); the other keys are still graded.
REFUSED = {
    # the report labels each of these "not graded" (the JSON: "refused"), so the messages do not say it again
    "key_ambiguous": N_("The key %(key)s could mean %(names)s; write it as in the list of questions, with "
                        "underscores."),
    "key_unknown_close": N_("The key %(key)s is not a question here; did you mean %(close)s?"),
    "key_unknown": N_("The key %(key)s is not a question here; the questions are: %(names)s."),
    "key_unknown_more": N_("The key %(key)s is not a question here; the questions are: %(names)s and %(more)s more."),
    "key_twice": N_("The key %(key)s answers %(name)s a second time; only the first answer was graded."),
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
    "unreadable": N_("The formula could not be read or checked."),
    "undiagnosed": N_("Wrong; no more specific diagnosis."),
    "class": N_("Class: %(score)s of %(total)s answers correct."),
    "refused": N_("not graded"),
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
# Findings grouped under one heading in the class summary (their details differ from student to student).
SUMMARY_GROUPS = {
    **{code: "unreadable" for code in MESSAGES if code.startswith("parse")},
    "unknown_name": "unreadable", "unknown_name_close": "unreadable",
    "unknown_names": "unreadable", "unknown_names_close": "unreadable", "names_asked": "unreadable", "timeout": "unreadable", "unsupported": "unreadable", "not_text": "unreadable",
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
    refused: list = field(default_factory=list)  # answers.Refused: keys that name no question
    asked: int | None = None  # the first `asked` verdicts are the questions; the rest are extra steps answered

    @property
    def questions(self) -> list:
        return self.verdicts if self.asked is None else self.verdicts[: self.asked]

    @property
    def score(self) -> int:
        """Correct answers to the questions (extra steps such as dy_dh_1 are graded but not counted)."""
        return sum(v.verdict == "correct" for v in self.questions)

    @property
    def total(self) -> int:
        return len(self.questions)


class Engine:
    """The spec, and one grader per quiz variant (seed), built on first use."""

    def __init__(self, spec_path: str):
        import importlib

        from derive.pipeline import KINDS
        from derive.core.yamlload import load_file, shown

        self.path = spec_path
        doc = load_file(spec_path)
        kind = doc.data.get("kind", "network") if isinstance(doc.data, dict) else "network"
        if not isinstance(kind, str) or kind not in GRADED:
            known = "" if isinstance(kind, str) and kind in KINDS else f"unknown kind {shown(kind)}; "
            lecture = (" The mlp and composition lectures are general (symbolic L, K and sizes): their quantities "
                       "are graded on a concrete instance, such as specs/mlp-check.yaml (kind: network, view: "
                       "vector) or specs/composition-check.yaml (kind: graph); see docs/check.md."
                       if kind in ("mlp", "composition") else "")
            raise doc.error(("kind",), f"{known}derive check and derive quiz grade {' and '.join(GRADED)} specs."
                                       f"{lecture}")
        self.kind = kind
        self.spec = KINDS[kind].module.parse(doc)
        self.variants: dict = {}
        self.grader(None)  # the spec itself: a spec that cannot be derived fails before any file is read

    def _variant(self, seed: int | None) -> tuple:
        """(verified outcome, grader, asked keys) of the spec's variant seed, built once."""
        if seed not in self.variants:
            self.variants[seed] = GRADED[self.kind](self.spec, seed)
        return self.variants[seed]

    def grader(self, seed: int | None):
        """(Grader, asked parameter names) of the spec's variant seed."""
        return self._variant(seed)[1:]

    def outcome(self, seed: int | None):
        """The verified derivation (network.Outcome) of the spec's variant seed."""
        return self._variant(seed)[0]

    def check_answers(self, answers: dict, student: str | None = None, name: str = "<answers>",
                      seed: int | None = None) -> FileResult:
        """One answer set given as data (the web checker): {key: text}; keys as in an answers file."""
        from derive.grading.answers import resolve
        from derive.errors import DeriveError

        grader, asked = self.grader(seed)
        try:
            resolved, refused = resolve(answers, asked, grader.keys())
        except DeriveError as exc:
            return FileResult(name, student, error=exc.show())
        return FileResult(name, student, seed, grade_answers(grader, asked, resolved), refused=refused,
                          asked=len(asked))

    def check_file(self, path: str) -> FileResult:
        from derive.grading.answers import read_sheet
        from derive.errors import DeriveError

        try:
            sheet = read_sheet(path)
            sheet.check_spec(self.path)
            grader, asked = self.grader(sheet.seed)
            answers, refused = sheet.resolve(asked, grader.keys())
        except DeriveError as exc:
            return FileResult(path, error=exc.show())
        return FileResult(path, sheet.student, sheet.seed, grade_answers(grader, asked, answers), refused=refused,
                          asked=len(asked))


def _network_variant(spec, seed: int | None) -> tuple:
    from derive.grading.grader import Grader
    from derive.kinds.network.kind import derive
    from derive.grading.variant import asked, variant

    outcome = derive(variant(spec, seed))
    net = outcome.derivation.network
    worked = outcome.spec.worked  # values: numeric answers are graded against the verified derivation's numbers
    grader = Grader(outcome.derivation, numbers=outcome.numbers,
                    tolerance=worked.tolerance if worked is not None else 0.005)
    if outcome.vector is not None:  # view: vector: the matrix quantities are asked (the scalar ones accepted too)
        from derive.grading.matrix import VectorViewGrader

        grader = VectorViewGrader(outcome, grader)
        return outcome, grader, grader.asked
    layers = [[str(p) for p in layer.params] for layer in net.layers]
    return outcome, grader, asked([str(p) for p in net.params], layers, seed)


def _graph_variant(spec, seed: int | None) -> tuple:
    from derive.kinds.graph.kind import derive
    from derive.grading.graph import GraphGrader
    from derive.grading.variant import graph_variant

    outcome = derive(graph_variant(spec, seed))
    if outcome.indexed:  # shapes: element-wise answers in index notation, and matrix answers
        from derive.grading.index import IndexGraphGrader

        grader = IndexGraphGrader(outcome)
        return outcome, grader, grader.asked
    grader = GraphGrader(outcome)
    return outcome, grader, grader.asked


_LAYER_GRADERS: dict[int, tuple] = {}  # id(spec) -> (spec, outcome, grader): the spec is kept, so its id stays its own


def _layer_variant(spec, seed: int | None) -> tuple:
    """rnn, attention, conv, layernorm: the spec's own instance (no variants), graded at its concrete sizes."""
    from derive.grading.layers import LayerGrader
    from derive.pipeline import KINDS

    from derive.grading.variant import asked

    if id(spec) not in _LAYER_GRADERS:  # every variant grades the same layer: derived once
        kind = next(name for name in ("rnn", "attention", "conv", "layernorm")
                    if KINDS[name].module.__name__ == type(spec).__module__)
        outcome = KINDS[kind].module.derive(spec)
        _LAYER_GRADERS[id(spec)] = (spec, outcome, LayerGrader(outcome))
    _spec, outcome, grader = _LAYER_GRADERS[id(spec)]
    if seed is None:
        return outcome, grader, grader.asked
    # a quiz variant: the same layer (its title promises its sizes), about 6 elements asked, some of every parameter
    groups = [[k for k in grader.asked if k in grader.of_quantity[q]] for q in grader.of_quantity]
    return outcome, grader, asked(grader.asked, [g for g in groups if g], seed)


# kind -> (spec, seed) -> (verified outcome, grader, asked keys)
GRADED = {"network": _network_variant, "graph": _graph_variant, "rnn": _layer_variant, "attention": _layer_variant,
          "conv": _layer_variant, "layernorm": _layer_variant}


def grade_answers(grader, asked: list[str], answers: dict) -> list:
    """The verdicts on one student's answers: every asked key in order, then the other keys answered
    (intermediate steps such as dy_dh_1) in the order written (graded, not counted in the score)."""
    extra = [key for key in answers if key not in asked]
    return [grader.check(key, answers.get(key)) for key in [*asked, *extra]]


def check_answer_set(engine: Engine, answers: dict, lang: str = "en", *, student: str | None = None,
                     seed: int | None = None, show_expected: bool = True) -> dict:
    """One student's answers ({key: text}) graded against engine's spec: the object of one file of
    `derive check --format json` (CONTRACT section 4), feedback in lang. For callers such as the web
    checker, which keep one Engine per assignment."""
    return to_json(engine.check_answers(answers, student, seed=seed), Words(lang), show_expected)


_ENGINE: Engine | None = None  # set before the workers fork, so they inherit the derived spec


def _check_in_worker(item: tuple[int, str]) -> FileResult:
    return _ENGINE.check_file(item[1])


def check_files(engine: Engine, files: list[str], jobs: int) -> list[FileResult]:
    """Grade files (results in the order of files), each in a child process with its own CPU-time and
    memory budget (derive.bounded): a file that exceeds it, or that breaks its process, is that file's
    error; the other files are still graded. Files go to the children in chunks (one fork per chunk)."""
    global _ENGINE
    from derive.core.bounded import map_bounded
    from derive.core.parse import parse_math

    _ENGINE = engine
    parse_math("x")  # the grammar's tables (lark, ~0.03 s) are built here once, and every child inherits them
    jobs = max(1, min(jobs, len(files)))
    chunk = max(1, min(CHUNK, len(files) // (jobs * 2) or 1))
    outcomes = map_bounded(_check_in_worker, list(enumerate(files)), jobs, groups=lambda item: item[0] // chunk)
    return [o.value if o.error is None else FileResult(f, error=f"{f}: {o.error}") for f, o in zip(files, outcomes)]


# --------------------------------------------------------------------------- presenting results


QUOTED_ARGS = frozenset({"bracket", "opening", "character", "token", "name", "latin",
                         "ambiguous", "bracketed", "denominator", "next_factor", "written", "power"})  # the student's characters
NUMBER_ARGS = frozenset({"tolerance", "numbers", "factor"})  # finding arguments that are plain numbers
VALUE_DIGITS = 6  # significant digits of a value in feedback (graph.number_text keeps as many)


class Words:
    """The catalog of one language, for findings, verdicts and the text report."""

    def __init__(self, lang: str):
        from derive.render.i18n import translations

        self.gettext = translations(lang).gettext
        from derive.render.numbers import decimal_sign

        self.decimal = decimal_sign(lang)  # the language entry's, as every number derive prints
        self.lang = lang
        self.quote = language(lang).quote  # «ж» in ru, „ж” in pl, “ж” in en (locale/<lang>/language.toml)

    def __call__(self, msgid: str, **args) -> str:
        text = self.gettext(msgid)
        for name in ("close", "names"):  # "did you mean a or b?", "could mean a or b": one per line in the finding
            if "\n" in str(args.get(name, "")):
                args[name] = self.one_of(args[name].split("\n"))
        return text % args if args else text

    def finding(self, finding) -> str:
        args = dict(finding.args)
        for key in NUMBER_ARGS & args.keys():
            args[key] = self.number(args[key])
        if "value" in args:
            args["value"] = self.value(args["value"])
        for key in QUOTED_ARGS & args.keys():
            args[key] = self.quote(args[key])
        if "expected" in args:
            quote = self.quote if finding.code.startswith("parse.") else str  # the parser's characters, not shapes
            args["expected"] = self.one_of([self(EXPECTED[w]) if w in EXPECTED else quote(w)
                                            for w in args["expected"].split("\n")])
        for name in [n for n in args if n.endswith("_fraction")]:  # 0,5 % in ru, 0,5% in pl
            from derive.render.numbers import format_percent

            args[name] = format_percent(float(args[name]), self.lang)
        return self(MESSAGES[finding.code], **args)

    def value(self, text: str) -> str:
        """A language-neutral value (graph.number_text: -3/4, -2.43089e-08) as the language writes it in a
        sentence, through the one number formatter: −3/4, −2,43089·10⁻⁸."""
        from decimal import Decimal

        from derive.render.numbers import MINUS, format_text

        if "/" in text:
            return text.replace("-", MINUS)
        return format_text(Decimal(text), self.lang, VALUE_DIGITS)

    def expected(self, verdict) -> str:
        """The expected answer as the text report shows it: the formula, and its value where there is one."""
        if verdict.expected_value is None:
            return verdict.expected
        return f"{verdict.expected} = {self.value(verdict.expected_value)}"

    def number(self, text: str) -> str:
        """Decimal points as the language writes them: 0,5 % in ru and pl."""
        return re.sub(r"(?<=[0-9])\.(?=[0-9])", self.decimal, text)

    def one_of(self, items: list[str]) -> str:
        """a, b or c as the language writes it (the one list join, derive.render.i18n.join_list)."""
        from derive.render.i18n import join_list

        return join_list(items, "or", self.lang)

    def feedback(self, verdict) -> str:
        return " ".join(self.finding(f) for f in verdict.findings)


def to_json(result: FileResult, words: Words, show_expected: bool = True) -> dict:
    """CONTRACT section 4: student, score, total, answers[key, verdict, feedback, expected_latex]
    (expected_latex null with --hide-expected); "refused" lists the keys that name no question, if any."""
    out = {
        "student": result.student,
        "score": result.score,
        "total": result.total,
        "answers": [
            {"key": v.key, "verdict": v.verdict, "feedback": words.feedback(v),
             "expected_latex": v.expected_latex if show_expected else None}
            for v in result.verdicts
        ],
    }
    if result.refused:
        out["refused"] = [{"key": r.key, "feedback": words(REFUSED[r.code], **r.args)} for r in result.refused]
    return out


def render_json(results: list[FileResult], words: Words, show_expected: bool = True) -> str:
    """One file: the contract's object. Several: a list of them, each with its "file" (or "file" and "error")."""
    import json

    if len(results) == 1:
        return json.dumps(to_json(results[0], words, show_expected), ensure_ascii=False, indent=2) + "\n"
    items = [
        {"file": terminal(r.file), "error": terminal(r.error)} if r.error
        else {"file": terminal(r.file), **to_json(r, words, show_expected)}
        for r in results
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
        row = [terminal(r.file), r.student or "", *(cells.get(k, "") for k in keys), r.score, r.total]
        writer.writerow([csv_cell(cell) for cell in row])
    return out.getvalue()


def _questions(results: list[FileResult]) -> list[str]:
    """Every parameter asked of anybody, in the order of first appearance (quiz variants differ)."""
    return list(dict.fromkeys(v.key for r in results for v in r.verdicts))


def render_text(results: list[FileResult], words: Words, show_expected: bool = True) -> str:
    lines: list[str] = []
    for r in results:
        if r.error:
            continue
        lines += _text_block(r, words, show_expected) + [""]
    graded = [r for r in results if not r.error]
    if len(graded) > 1:
        lines += _summary(graded, words)
    return "\n".join(terminal(line) for line in lines).rstrip("\n") + "\n"


def _text_block(r: FileResult, words: Words, show_expected: bool = True) -> list[str]:
    student = r.student or os.path.splitext(os.path.basename(r.file))[0]
    lines = [words(TEXT["header"], student=student, file=r.file, score=r.score, total=r.total)]
    refused = [(_shortened(x.key, 40), x) for x in r.refused]
    width = max([len(v.key) for v in r.verdicts] + [len(key) for key, _ in refused], default=0)
    indent = " " * (width + 4)
    for v in r.verdicts:
        word = words(VERDICT_WORDS[v.verdict])
        if v.verdict == "correct":
            lines.append(f"  {v.key:<{width}}  {word}")
            continue
        lines.append(f"  {v.key:<{width}}  {word}: {words.feedback(v)}")
        if v.answer is not None:
            lines.append(indent + words(TEXT["answer"], formula=_shortened(v.answer)))
        if show_expected:
            lines.append(indent + words(TEXT["expected"], formula=words.expected(v)))
    for key, x in refused:  # in the same column as the graded keys
        lines.append(f"  {key:<{width}}  {words(TEXT['refused'])}: {words(REFUSED[x.code], **x.args)}")
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
    total = sum(r.total for r in results)
    lines.append(words(TEXT["class"], score=sum(r.score for r in results), total=total))
    return lines


def _mistake(verdict, words: Words) -> str:
    group = SUMMARY_GROUPS.get(verdict.findings[0].code) if verdict.findings else "undiagnosed"
    return words(TEXT[group]) if group else words.feedback(verdict)


# --------------------------------------------------------------------------- the command


# -- for the web checker: one answer set, within the bounds of derive.bounded ------------------------


def check_answers(spec: str, answers: dict, lang: str = "en", student: str | None = None, engine=None) -> dict:
    """One answer set for spec graded within bounds: the object of `derive check --format json` for one file.

    A server passes the `check.Engine` it built once for the spec (`engine`):
    the child inherits it, so a request costs a fork, not a derivation. A spec
    that cannot be derived, or a key that is not asked, raises a DeriveError
    (exit_code 2); an answer never does: a hostile one is graded `invalid`
    with a reason.
    """
    from derive.core.bounded import Limits, run_bounded

    return run_bounded(_check_one, (spec, dict(answers), lang, student, engine), Limits.default(item=True),
                       what="checking the answers")


def _check_one(args) -> dict:
    from derive.errors import DeriveError

    spec, answers, lang, student, engine = args
    engine = engine or Engine(spec)
    result = engine.check_answers(answers, student)
    if result.error:  # a key that is not asked: the request's fault (a web server's 422)
        raise DeriveError(result.error)
    return to_json(result, Words(lang))
