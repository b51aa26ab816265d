"""`derive quiz SPEC --format moodle`: a Moodle XML quiz (CONTRACT section 9).

Symbolic derivatives of a network become STACK questions (qtype "stack"): the
teacher's answer is the engine's derivative (intermediates kept) printed in
Maxima syntax by derive.codeprint, and the potential-response tree has a first
node for the correct answer and then one node per diagnosis derive knows
(derive.grading.mistakes: a missing indicator, a transposed index, the wrong
sign, …), each with its feedback from the check catalog in the quiz's
language; the question's own tests (qtest) replay each of them. Numbers (the
derivatives of a spec with `values:`, a graph or a worked example) become
Moodle numerical questions, with the tolerance of `derive check` (0.5 %
relative, or the spec's `tolerance:`). Question text is HTML with MathJax
delimiters \\( \\) and \\[ \\], made from a Markdown template and the one
LaTeX printer.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html import escape
from pathlib import Path

from derive.meta import N_

GIVEN = "Given:"  # the graph derivation's own word (graph catalog)
TOLERANCE = 0.005  # relative, as derive check grades numbers (CONTRACT section 6)
STACK_VERSION = "2024072400"
MAX_NODES = 40  # wrong formulas tested per question
TA, WRONG = "d_ta", "d_m"  # question variables: the teacher's answer and the wrong formulas d_m1, d_m2, …
PENALTY = "0.1"

PROSE = {
    "how": N_("Type the derivative in Maxima syntax: `*` for a product, `^` for a power, the names as written "
              "here (%(names)s), and the indicator $I[z > 0]$ as `unit_step(z)`, $I[z \\le 0]$ as "
              "`1 - unit_step(z)`."),
    "find": N_("Find the derivative $%(task)s$."),
    "compute": N_("Compute $%(task)s$ at the point %(point)s."),
    "expected": N_("The derivative: %(formula)s"),
    # the exercise sheet's words (derive quiz, check catalog)
    "network": N_("The network (forward pass):"),
    "activation": N_("The activation:"),
    "loss": N_("The loss:"),
}


def quiz_xml(spec_path: str, lang: str, seed: int | None = None) -> str:
    """The Moodle XML of the spec's quiz (its variant seed, as `derive quiz --seed` draws it) in lang:
    STACK questions for a network's derivatives, numerical questions for the derivatives that have values."""
    from derive.pipeline import entry_of
    from derive.core.yamlload import load_file

    doc = load_file(spec_path)
    entry = entry_of(doc)
    questions = []
    if entry.name == "network":
        outcome, grader, asked = scalar_variant(spec_path, seed)
        questions += stack_questions(spec_path, outcome, grader, asked, lang)
        questions += numerical_questions(entry.module, outcome, lang)
    elif entry.name == "graph":
        from derive.grading.variant import graph_variant

        outcome = entry.module.derive(graph_variant(entry.module.parse(doc), seed))
        questions += numerical_questions(entry.module, outcome, lang)
    if not questions:
        from derive.errors import Location, SpecError

        raise SpecError(f"no questions: a Moodle quiz is made from a network's derivatives or from derivatives "
                        f"with values (kind {entry.name!r} has neither)", Location(spec_path))
    quiz = ET.Element("quiz")
    quiz.append(_category(Path(spec_path).stem, seed))
    quiz.extend(questions)
    ET.indent(quiz)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(quiz, encoding="unicode") + "\n"


# -- STACK ---------------------------------------------------------------------------------


def stack_questions(spec_path: str, outcome, grader, asked: list[str], lang: str) -> list[ET.Element]:
    from derive.grading.check import Words
    from derive.grading.grader import mistakes

    layer_of = {str(p): i for i, layer in enumerate(outcome.derivation.network.layers) for p in layer.params}
    words = Words(lang)
    stem = _network_stem(outcome, grader, lang)
    out = []
    for key in asked:
        expected = grader.expected[key]
        wrong = [(words.finding(_with_math(f, grader)), formula) for f, e in tree(mistakes(grader, key), layer_of)
                 for formula in [_maxima_or_none(e)] if formula is not None]
        answer = _maxima_or_none(expected.unfolded)
        if answer is None:
            from derive.errors import DeriveError

            raise DeriveError(f"{spec_path}: the derivative for {key} uses a function with no Maxima form")
        out.append(stack_question(f"{Path(spec_path).stem}: {key}", stem(key), answer,
                                  wrong, words(PROSE["expected"], formula=f"\\({expected.latex}\\)")))
    return out


def tree(found: list, layer_of: dict[str, int]) -> list:
    """The diagnoses a response tree tests, in derive check's order: all of them, except that "the derivative
    with respect to another parameter" is kept for the parameters of the same layer only (a wide network
    would otherwise get a node per parameter), and at most MAX_NODES in all, the sign always among them."""
    def kept(finding) -> bool:
        if finding.code != "other_parameter":
            return True
        args = dict(finding.args)
        return layer_of.get(args["other"]) == layer_of.get(args["param"])

    chosen = [(f, e) for f, e in found if kept(f)]
    sign = {i for i, (f, _) in enumerate(chosen) if f.code == "sign"}
    room = MAX_NODES - len(sign)
    others = [i for i in range(len(chosen)) if i not in sign][:room]
    return [chosen[i] for i in sorted(sign | set(others))]


def scalar_variant(spec_path: str, seed: int | None):
    """(verified outcome, scalar Grader, asked parameters) of the spec's variant seed, as `derive quiz` picks
    them (derive.variant); a `view: vector` spec is asked its scalar derivatives here (STACK answers are
    scalar formulas)."""
    from derive.grading.grader import Grader
    from derive.kinds.network.kind import derive, parse
    from derive.grading.variant import asked, variant
    from derive.core.yamlload import load_file

    outcome = derive(variant(parse(load_file(spec_path)), seed))
    net = outcome.derivation.network
    layers = [[str(p) for p in layer.params] for layer in net.layers]
    return outcome, Grader(outcome.derivation), asked([str(p) for p in net.params], layers, seed)


def _maxima_or_none(expr):
    from derive.render.codeprint import maxima

    try:
        return maxima(expr)
    except ValueError:  # a function with no elementary form: that diagnosis is left out of the tree
        return None


def _with_math(finding, grader):
    """The finding with its formulas and names (ASCII, as derive check writes them) as MathJax math."""
    import dataclasses

    return dataclasses.replace(finding, args=tuple((k, _math(v, grader)) for k, v in finding.args))


def _math(text: str, grader) -> str:
    from derive.core.parse import ParseError, parse_math
    from derive.render.printing import latex

    parts = text.split(" / ")  # transposed pairs: "theta_12 / theta_21, …"
    if len(parts) > 1 or ", " in text:
        return ", ".join(" / ".join(_math(p, grader) for p in pair.split(" / ")) for pair in text.split(", "))
    try:
        return f"\\({latex(parse_math(text, names=grader.names))}\\)"
    except (ParseError, ValueError):
        return text


def _network_stem(outcome, grader, lang: str):
    """key -> the question text (HTML): the forward pass, what to find, how to type it."""
    import dataclasses

    from derive.grading.check import Words
    from derive.kinds.network.kind import context
    from derive.render.jinja import d, environment

    derivation = outcome.derivation
    net = derivation.network
    # the scalar context without numbers (a worked example's): the formulas are what is asked
    symbolic = {f.name: None for f in dataclasses.fields(outcome) if f.name in ("vector", "numbers")}
    full = context(dataclasses.replace(outcome, **symbolic), lang)
    env = environment("md", lang, partials=derivation.partials)
    words = Words(lang)

    params = {str(p): p for p in net.params}
    from derive.render.codeprint import maxima_name

    names = ", ".join(f"`{maxima_name(n)}`" for n, s in grader.names.items() if s not in grader.backward)
    base = {
        "forward": full["forward"],
        "activations": [a for a in full["activations"] if a["definition"] is not None],
        "loss": full["loss"]["definition"] if full["loss"] else None,
        "words": {k: words(PROSE[k]) for k in ("network", "activation", "loss")},
    }
    template = env.get_template("moodle.md.j2")

    def stem(key: str) -> str:
        task = env.filters["tex"](d(net.of, params[key]))
        ctx = {**base, "find": words(PROSE["find"], task=task), "how": words(PROSE["how"], names=names)}
        return to_moodle_html(template.render(ctx)) + "<p>[[input:ans1]] [[validation:ans1]]</p>"

    return stem


def _question(kind: str, name: str, text: str, general: str) -> ET.Element:
    """The head every graded question of the quiz shares: name, text, general feedback, one point, the penalty."""
    q = ET.Element("question", type=kind)
    _text(q, "name", name, fmt=None)
    _text(q, "questiontext", text)
    _text(q, "generalfeedback", f"<p>{general}</p>")
    _leaf(q, "defaultgrade", "1")
    _leaf(q, "penalty", PENALTY)
    _leaf(q, "hidden", "0")
    return q


def stack_question(name: str, text: str, answer: str, wrong: list[tuple[str, str]], general: str) -> ET.Element:
    """A STACK question: input ans1 (algebraic), teacher's answer ta, and prt1: node 0 tests ta, node i
    tests the i-th wrong formula (its feedback), each by algebraic equivalence."""
    q = _question("stack", name, text, general)
    _text(q, "stackversion", STACK_VERSION, fmt=None)
    variables = [f"{TA}: {answer};"] + [f"{wrong_name(i)}: {formula};" for i, (_, formula) in enumerate(wrong, 1)]
    _text(q, "questionvariables", "\n".join(variables), fmt=None)
    _text(q, "specificfeedback", "[[feedback:prt1]]")
    _text(q, "questionnote", "")
    for tag, value in (("questionsimplify", "1"), ("assumepositive", "0"), ("assumereal", "1")):
        _leaf(q, tag, value)
    for tag in ("prtcorrect", "prtpartiallycorrect", "prtincorrect"):
        _text(q, tag, "")
    for tag, value in (("decimals", "."), ("multiplicationsign", "dot"), ("sqrtsign", "1"), ("complexno", "i"),
                       ("inversetrig", "cos-1"), ("logicsymbol", "lang"), ("matrixparens", "[")):
        _leaf(q, tag, value)
    _leaf(q, "variantsselectionseed", "")
    q.append(_input())
    q.append(_prt(len(wrong), [feedback for feedback, _ in wrong]))
    q.append(_qtest(1, TA, 1, "prt1-1-T"))
    for i in range(1, len(wrong) + 1):
        q.append(_qtest(i + 1, wrong_name(i), 0, f"prt1-{i + 1}-T"))
    return q


def wrong_name(i: int) -> str:
    """The question variable of the i-th wrong formula (codeprint.maxima_name keeps network names apart)."""
    return f"{WRONG}{i}"


def _input() -> ET.Element:
    node = ET.Element("input")
    for tag, value in (("name", "ans1"), ("type", "algebraic"), ("tans", TA), ("boxsize", "40"),
                       ("strictsyntax", "1"), ("insertstars", "0"), ("syntaxhint", ""), ("syntaxattribute", "0"),
                       ("forbidwords", ""), ("allowwords", "unit_step"), ("forbidfloat", "0"),
                       ("requirelowestterms", "0"), ("checkanswertype", "0"), ("mustverify", "1"),
                       ("showvalidation", "1"), ("options", "")):
        _leaf(node, tag, value)
    return node


def _prt(mistakes: int, feedback: list[str]) -> ET.Element:
    prt = ET.Element("prt")
    for tag, value in (("name", "prt1"), ("value", "1.0000000"), ("autosimplify", "1"), ("feedbackstyle", "1")):
        _leaf(prt, tag, value)
    _text(prt, "feedbackvariables", "", fmt=None)
    for i in range(mistakes + 1):
        last = i == mistakes
        prt.append(_node(i, TA if i == 0 else wrong_name(i), 1 if i == 0 else 0,
                         "" if i == 0 else f"<p>{escape(feedback[i - 1])}</p>", -1 if last else i + 1))
    return prt


def _node(i: int, tans: str, score: int, feedback: str, false_next: int) -> ET.Element:
    node = ET.Element("node")
    for tag, value in (("name", str(i)), ("description", ""), ("answertest", "AlgEquiv"), ("sans", "ans1"),
                       ("tans", tans), ("testoptions", ""), ("quiet", "0"),
                       ("truescoremode", "="), ("truescore", f"{score:.7f}"), ("truepenalty", ""),
                       ("truenextnode", "-1"), ("trueanswernote", f"prt1-{i + 1}-T")):
        _leaf(node, tag, value)
    _text(node, "truefeedback", feedback)
    for tag, value in (("falsescoremode", "="), ("falsescore", "0.0000000"), ("falsepenalty", ""),
                       ("falsenextnode", str(false_next)), ("falseanswernote", f"prt1-{i + 1}-F")):
        _leaf(node, tag, value)
    _text(node, "falsefeedback", "")
    return node


def _qtest(number: int, value: str, score: int, note: str) -> ET.Element:
    test = ET.Element("qtest")
    _leaf(test, "testcase", str(number))
    _leaf(test, "description", "")
    given = ET.SubElement(test, "testinput")
    _leaf(given, "name", "ans1")
    _leaf(given, "value", value)
    expected = ET.SubElement(test, "expected")
    for tag, text in (("name", "prt1"), ("expectedscore", f"{score:.7f}"),
                      ("expectedpenalty", "0.0000000" if score else PENALTY + "000000"),
                      ("expectedanswernote", note)):
        _leaf(expected, tag, text)
    return test


# -- numerical -----------------------------------------------------------------------------


def numerical_questions(module, outcome, lang: str) -> list[ET.Element]:
    """One numerical question per derivative that has a value (graphs and specs with `values:`)."""
    from derive.grading.check import Words

    data = module.to_json(outcome)
    if not isinstance(data, dict) or not any("value" in d for d in data.get("derivatives", [])):
        return []
    spec = outcome.spec
    from derive.render.notebook import given_tolerance, given_values

    values = given_values(spec)
    relative = given_tolerance(spec, TOLERANCE)
    words = Words(lang)
    stem = _numeric_stem(data, values, words, lang)
    out = []
    for item in data["derivatives"]:
        if "value" not in item:
            continue
        value = float(item["value"])
        tolerance = relative * abs(value) if value else 1e-9
        text = stem(item["wrt"])
        out.append(numerical_question(f"{Path(spec.file).stem}: {item['wrt']}", text, value, tolerance,
                                      words(PROSE["expected"], formula=f"\\({item['latex']}\\)")))
    return out


def _numeric_stem(data: dict, values: dict, words, lang: str):
    import sympy as sp

    from derive.core.parse import parse_math
    from derive.render.printing import latex, latex_name
    from derive.render.jinja import d

    names = [*data["inputs"], *data.get("targets", []), *data.get("constants", []), *data.get("parameters", []),
             *(e["name"] for e in data["forward"]), *(e["name"] for e in data.get("backward", []))]
    symbols = {n: sp.Symbol(n) for n in names}
    rows = [f"$$\n{latex_name(e['name'])} = {latex(parse_math(e['expr'], names=symbols))}\n$$"
            for e in data["forward"]]
    point = ", ".join(f"${latex_name(n)} = {_number(v, lang)}$" for n, v in values.items())

    def stem(wrt: str) -> str:
        task = latex(d(symbols[data["of"]], symbols[wrt]))
        text = "\n\n".join([words(GIVEN), *rows, words(PROSE["compute"], task=task, point=point)])
        return to_moodle_html(text)

    return stem


def numerical_question(name: str, text: str, value: float, tolerance: float, general: str) -> ET.Element:
    q = _question("numerical", name, text, general)
    answer = ET.SubElement(q, "answer", fraction="100", format="moodle_auto_format")
    _leaf(answer, "text", repr(value))
    _leaf(answer, "tolerance", repr(tolerance))
    _text(answer, "feedback", "")
    _leaf(q, "showunits", "3")
    _leaf(q, "unitsleft", "0")
    return q


def _number(value, lang: str) -> str:
    """A given value as the derivation prints numbers (derive.numbers: 0{,}35 in ru and pl)."""
    from derive.render.numbers import format_number

    return format_number(value, lang, tex=True)


# -- XML and HTML helpers ------------------------------------------------------------------


def to_moodle_html(markdown: str) -> str:
    """Markdown -> HTML for Moodle: math as \\( \\) and \\[ \\] for its MathJax filter, raw HTML escaped."""
    from derive.render.html import to_html

    return to_html(markdown, {}, math=_mathjax).strip()


def _mathjax(content: str, options: dict) -> str:
    tex = content.strip()
    return escape(f"\\[{tex}\\]" if options.get("display_mode") else f"\\({tex}\\)", quote=False)


def _category(stem: str, seed) -> ET.Element:
    q = ET.Element("question", type="category")
    category = ET.SubElement(q, "category")
    ET.SubElement(category, "text").text = f"$course$/top/derive/{stem}" + (f"-{seed}" if seed is not None else "")
    return q


def _leaf(parent: ET.Element, tag: str, text: str) -> ET.Element:
    node = ET.SubElement(parent, tag)
    node.text = text
    return node


def _text(parent: ET.Element, tag: str, text: str, fmt: str | None = "html") -> ET.Element:
    """<tag format="html"><text>…</text></tag>, Moodle's shape of every text field."""
    node = ET.SubElement(parent, tag, **({"format": fmt} if fmt else {}))
    ET.SubElement(node, "text").text = text
    return node
