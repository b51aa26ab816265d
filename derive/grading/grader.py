"""Grading one answer: is a student's formula the derivative the engine derived, and if not, why?

A `Grader` is built once per (verified) network derivation. It knows every
name of the network (parameters, inputs, targets, constants, intermediates
z/h/u/g, named backward quantities), and a fixed set of test points chosen so
that every sign pattern of the kinked pre-activations is represented (both
sides of every kink, so I[·] factors are exercised). `Grader.check(key, text)`
parses the text with the safe parser, then decides:

1. symbolically first: the answer, with max(0, z)/relu(z) written as the
   activation it defines and backward names substituted, minus the expected
   formula expands to 0 (indicators as Iverson brackets, I² = I);
2. numerically: the answer and the expected formula agree at all test points
   (evaluated with numpy by derive.numeric, never by eval). A disagreement
   away from the kinks is decisive; an agreement is then proved symbolically
   with the network's definitions substituted for the intermediates when the
   expansion stays small (else it stands on the numeric evidence);
3. if they disagree, a diagnosis: the answer is compared with perturbations of
   the expected formula (a missing or extra indicator, transposed indices, a
   sign, a missing term, …) and the first one that matches is reported.

Every answer runs under a time limit (SIGALRM where available) and the parser's
size limits, so an absurd answer costs at most a second or so. Results are
language-neutral `Finding`s (a message code and its arguments); derive.check
turns them into prose of the chosen language.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import re
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterator

import numpy as np
import sympy as sp

from derive.core.calculus import Indicator, relu
from derive.core.functions import kink_arguments
from derive.errors import DeriveError
from derive.core.parse import ParseError, UnknownName, parse_math
from derive.numeric.evaluate import Unsupported, evaluate
from derive.render.printing import answer_text, latex

POINTS = 240  # test points per network
MIN_POINTS = 40  # fewer usable points than this, and the network is not graded at all
POOL = 6000  # candidates they are chosen from
KINK_MARGIN = 1e-3  # test points keep every kinked pre-activation this far from its kink
TOLERANCE = 1e-7
ZERO = 1e-12  # a numeric answer to a value that is exactly 0 must be 0 (to rounding)
ROUNDING = 1e-3  # an answer this close everywhere, but not within TOLERANCE, has rounded decimals in it
INPUT_RANGE, INPUT_FAR = 2.0, 50.0  # inputs: (−2, 2), and a third of the points out to ±50
PARAMETER_RANGE, PARAMETER_FAR = 1.0, 10.0  # parameters: (−1, 1), and a third out to ±10
TIME_LIMIT = 1.0  # seconds per answer (parse, symbolic, numeric, diagnosis)
SYMBOLIC_OPS = 150  # larger answers skip the symbolic fast path
SYMBOLIC_MAX_POWER = 8
SYMBOLIC_TERMS = 400
MAX_LENGTH = 5000  # characters of one answer
EXPECTED_LATEX_LEAVES = 40
MAX_CANDIDATES = 120  # typical mistakes tried per question
STEP_LEAVES = 2000  # an intermediate quantity is unfolded only this far (wide networks: paths multiply)
MEMO_SIZE = 20_000  # verdicts remembered per grader
MEMO_TEXT = 1000  # for answers up to this many characters

VERDICTS = ("correct", "incorrect", "invalid", "missing")


@dataclass(frozen=True)
class Finding:
    """One piece of feedback: a message code of derive.check's catalog and its arguments."""

    code: str
    args: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, code: str, **args) -> "Finding":
        return cls(code, tuple((k, str(v)) for k, v in args.items()))


@dataclass
class Verdict:
    """The grade of one answer; `expected` in the answer syntax a student types (printing.answer_text), and
    `expected_value` the value of a graph's gradient at the spec's values, language-neutral (Words.value shows it)."""

    key: str
    verdict: str
    findings: list[Finding]
    expected: str
    expected_latex: str
    answer: str | None = None
    expected_value: str | None = None


class _Timeout(BaseException):
    """Raised by the alarm; a BaseException so that no `except Exception` on the way swallows it."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block after seconds of this process's CPU time (main thread on Unix; elsewhere only
    the size limits apply). CPU time, not wall-clock time: a verdict must not depend on the machine's load."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def alarm(signum, frame):
        raise _Timeout()

    previous = signal.signal(signal.SIGPROF, alarm)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


# --------------------------------------------------------------------------- names


_TWO_INDICES = re.compile(r"(?P<family>[A-Za-z]+\d*)_(?P<index>[0-9]{2}|[0-9]+_[0-9]+)\Z")


def transposed_name(name: str) -> str | None:
    """psi_12 -> psi_21, theta_10_3 -> theta_3_10; None for names without two indices."""
    m = _TWO_INDICES.match(name)
    if not m:
        return None
    index = m["index"]
    first, second = index.split("_") if "_" in index else (index[0], index[1])
    if first == second:
        return None
    joiner = "_" if "_" in index else ""
    return f"{m['family']}_{second}{joiner}{first}"


# --------------------------------------------------------------------------- test points


def spread(rng: np.random.Generator, n: int, near: float, far: float) -> np.ndarray:
    """Two thirds of the points uniform in (−near, near), a third with |v| log-uniform in (near, far):
    an answer with a spurious I[x > −2] or one that only holds for small values is caught."""
    values = rng.uniform(-near, near, n)
    wide = rng.random(n) < 1 / 3
    magnitude = np.exp(rng.uniform(np.log(near), np.log(far), n))
    return np.where(wide, np.where(rng.random(n) < 0.5, -magnitude, magnitude), values)


def _sample(net, rng: np.random.Generator, n: int) -> dict[sp.Symbol, np.ndarray]:
    """Random parameters, inputs, constants and targets (a distribution for ce, in (0, 1) for bce)."""
    env = {p: spread(rng, n, PARAMETER_RANGE, PARAMETER_FAR) for p in net.params}
    env |= {x: spread(rng, n, INPUT_RANGE, INPUT_FAR) for x in net.inputs}
    env |= {c: rng.uniform(0.05, 0.3, n) for c in net.constants}
    ts = net.targets
    if ts:
        loss = net.spec.loss
        t = rng.uniform(0.05, 0.95, (len(ts), n)) if loss in ("bce", "ce") else rng.uniform(-1.0, 1.0, (len(ts), n))
        if loss == "ce":  # a target distribution: the one-hot simplification δ = y − t then holds
            t = t / t.sum(axis=0)
        env |= dict(zip(ts, t))
    return env


def _run(statements, env: dict, n: int) -> dict:
    """Evaluate (name, expr) statements in order at n points, adding each name's values to env."""
    for symbol, expr in statements:
        env[symbol] = np.broadcast_to(evaluate(expr, env), (n,)).astype(float)
    return env


def _stratified(codes: np.ndarray, usable: np.ndarray, wanted: int) -> np.ndarray:
    """Indices of up to `wanted` usable points, taken round-robin over the sign patterns `codes`.

    The first point of every pattern comes before the second of any, so as many
    patterns as possible are represented, each about equally often.
    """
    index = np.flatnonzero(usable)
    if len(index) == 0:
        return index
    order = np.argsort(codes[index], kind="stable")
    grouped = codes[index][order]
    starts = np.r_[0, np.flatnonzero(np.diff(grouped)) + 1]
    sizes = np.diff(np.r_[starts, len(grouped)])
    rank = np.empty(len(index), dtype=np.int64)
    rank[order] = np.arange(len(index)) - np.repeat(starts, sizes)
    return np.sort(index[np.lexsort((index, rank))][:wanted])


def node_gradients(derivation) -> list[tuple[sp.Symbol, sp.Expr]]:
    """∂of/∂v for every intermediate v that the derivation does not name (dy_dg_2, dy_du_1, dJ_dy_1, …).

    Reverse accumulation over the forward definitions: ∂of/∂v = Σ over the quantities c that use v of
    ∂of/∂c · ∂c/∂v (SymPy's derivative of c's definition), written with the consumers' gradient names,
    so each is a short statement; in evaluation order, after the derivation's own backward quantities.
    """
    net = derivation.network
    of = net.of
    named = {g.node: g.symbol for g in derivation.backward}
    symbol = gradient_symbols(derivation)
    statements = []
    for v in [*(v for v, _ in reversed(net.forward)), *net.inputs]:
        if v == of or v in named:
            continue
        terms = [(sp.S.One if c == of else symbol[c]) * sp.diff(definition, v)
                 for c, definition in net.forward if v in definition.free_symbols]
        statements.append((symbol[v], sp.Add(*terms)))
    return statements


def gradient_symbols(derivation) -> dict[sp.Symbol, sp.Symbol]:
    """Every intermediate and input v -> the symbol of ∂of/∂v (the derivation's own name where it has one)."""
    net = derivation.network
    named = {g.node: g.symbol for g in derivation.backward}
    nodes = [*(v for v, _ in net.forward if v != net.of), *net.inputs]
    return {v: named.get(v, sp.Symbol(f"d{net.of}_d{v}")) for v in nodes}


def sample_points(derivation, seed: int = 0, points: int = POINTS) -> tuple[dict, list[sp.Symbol], int]:
    """Values of every name at the test points, the kinked pre-activations, and the sign patterns covered."""
    net = derivation.network
    rng = np.random.default_rng(seed)
    env = _run(net.forward, _sample(net, rng, POOL), POOL)
    kinked = [u.pre for layer in net.layers if layer.activation.kinks for u in layer.units]
    usable = np.ones(POOL, dtype=bool)
    codes = np.zeros(POOL, dtype=np.int64)
    for k, z in enumerate(kinked):
        usable &= np.abs(env[z]) > KINK_MARGIN
        codes = codes * 2 + (env[z] > 0) if k < 62 else codes
    for k in {k for _, e in net.forward for k in kink_arguments(e)} - set(kinked):  # |y − t| of mae, …
        usable &= np.abs(np.broadcast_to(evaluate(k, env), (POOL,))) > KINK_MARGIN
    for y in net.outputs if net.spec.loss in ("bce", "ce") else ():
        usable &= (env[y] > 1e-6) & (env[y] < 1 - 1e-6)  # keep log y and log(1 − y) finite
    keep = _stratified(codes, usable, points)
    if len(keep) < MIN_POINTS:  # never grade on (almost) no evidence: every answer would agree
        raise DeriveError(f"{net.spec.file}: only {len(keep)} random test points away from the kinks were found; "
                          f"at least {MIN_POINTS} are needed to grade answers")
    statements = [(g.symbol, g.expr) for g in derivation.backward] + node_gradients(derivation)
    chosen = _run(statements, {s: v[keep] for s, v in env.items()}, len(keep))
    return chosen, kinked, len(np.unique(codes[keep]))


# --------------------------------------------------------------------------- comparison


def agreement(values: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Per test point: whether values equals expected (points where expected is not finite count as agreeing)."""
    values = np.broadcast_to(np.asarray(values, dtype=float), expected.shape)
    with np.errstate(all="ignore"):
        close = np.abs(values - expected) <= TOLERANCE * np.maximum(1.0, np.maximum(np.abs(values), np.abs(expected)))
    # an overflow is never close to a finite value (inf <= tolerance * inf would say it is)
    return (close & np.isfinite(values)) | ~np.isfinite(expected)


def _agrees(values: np.ndarray, expected: np.ndarray) -> bool:
    return bool(np.all(agreement(values, expected)))


def _idempotent(expr: sp.Expr) -> sp.Expr:
    """I[c]^k = I[c] for k ≥ 1: an Iverson bracket is 0 or 1."""
    return expr.replace(
        lambda e: e.is_Pow and isinstance(e.base, Indicator) and e.exp.is_Integer and e.exp > 0,
        lambda e: e.base,
    )


def _expanded_terms(expr: sp.Expr) -> int:
    """An upper estimate of the number of terms expand() makes of expr (inside functions too)."""
    if expr.is_Add:
        return sum(_expanded_terms(a) for a in expr.args)
    if expr.is_Mul:
        return math.prod(_expanded_terms(a) for a in expr.args)
    if expr.is_Pow and expr.exp.is_Integer and expr.exp > 0:
        return _expanded_terms(expr.base) ** int(min(expr.exp, 64))
    return max((_expanded_terms(a) for a in expr.args), default=1)


def _vanishes(difference: sp.Expr) -> bool:
    """Whether difference expands to 0, with I[c]^k = I[c]."""
    return sp.expand(_idempotent(sp.expand(difference))) == 0


def _max_power(expr: sp.Expr) -> float:
    exps = [abs(p.exp) for p in expr.atoms(sp.Pow) if p.exp.is_Number]
    return float(max(exps, default=0))


# --------------------------------------------------------------------------- the grader


class _Reading:
    """How every grader reads an answer's text, for its verdict and for the web page's live preview alike.

    A grader has `names` and `_without` (a dict), says in `withheld` which names key's answer may not use,
    and may `read` differently (a graph's `formula = number`)."""

    def names_for(self, key: str) -> dict:
        """The names an answer for key may use: all but the withheld ones."""
        withheld = self.withheld(key)
        if not withheld & self.names.keys():
            return self.names
        if key not in self._without:
            self._without[key] = {n: v for n, v in self.names.items() if n not in withheld}
        return self._without[key]

    def withheld(self, key: str) -> set[str]:
        return set()

    def reading(self, key: str, text: str) -> tuple:
        """The answer for key as the check reads it: (what was read, None), or (None, the finding that says why
        it cannot be read). The live preview is this reading."""
        names = self.names_for(key)
        try:
            return self.read(text, names), None
        except UnknownName as exc:
            withheld = self.withheld(key)
            if exc.names and all(n in withheld for n in exc.names):  # the answer names what it is asked for
                return None, Finding.of("names_asked", names=", ".join(exc.names))
            return None, unknown_finding(exc.names, [n for n in names if n not in withheld])
        except ParseError as exc:
            return None, parse_finding(exc)

    def read(self, text: str, names: dict):
        return parse_math(text, names=names, max_length=MAX_LENGTH)


@dataclass
class _Expected:
    """What the engine derived for one parameter, in the forms grading needs."""

    param: sp.Symbol
    value: sp.Expr  # with named backward quantities (as the derivation prints it)
    unfolded: sp.Expr  # with them substituted: intermediates and parameters only
    values: np.ndarray
    source: sp.Expr  # what the parameter multiplies (1 for a bias)
    ascii: str
    latex: str
    candidates: list[tuple[Finding, np.ndarray]] | None = None
    substituted: sp.Expr | None = None  # unfolded with the network's definitions substituted
    small: bool | None = None  # whether unfolded is small enough to expand and perturb (wide networks: not)

    def is_small(self) -> bool:
        if self.small is None:
            self.small = _leaves(self.unfolded) <= STEP_LEAVES and _expanded_terms(self.unfolded) <= SYMBOLIC_TERMS
        return self.small


@dataclass
class Grader(_Reading):
    derivation: object
    seed: int = 0
    numbers: object | None = None  # worked.Numbers: a spec with values: also takes numeric answers
    tolerance: float = 0.005  # relative, for numeric answers (CONTRACT section 6)
    names: dict[str, sp.Symbol] = field(init=False)
    env: dict = field(init=False)

    def __post_init__(self):
        d = self.derivation
        net = d.network
        self.env, self.kinked, self.patterns = sample_points(d, self.seed)
        self.points = len(next(iter(self.env.values())))
        steps = node_gradients(d)
        self.backward = {g.symbol: g.expr for g in d.backward} | dict(steps)
        # dJ_dz1_1 is ∂J/∂z1_1: the node's name follows "d" + of + "_d"
        self.partials = d.partials | {s: (net.of, sp.Symbol(str(s)[len(str(net.of)) + 3:])) for s, _ in steps}
        symbols = [*net.params, *net.inputs, *net.targets, *net.constants, *(s for s, _ in net.forward), *self.backward]
        self.names = {str(s): s for s in symbols}
        self.params = {str(p): p for p in net.params}
        self.units = [(u.pre, u.post) for layer in net.layers for u in layer.units if u.pre is not None]
        self.folded = self._folding(net)
        self.definitions = dict(net.forward)
        sources = {p: src for layer in net.layers for u in layer.units for p, src in u.incoming}
        self.expected = {str(p.param): self._expected(p, sources[p.param]) for p in d.derivatives}
        self.steps: dict[str, _Expected] = {}  # intermediate quantities, built when first asked
        self.memo: dict[tuple[str, str], Verdict] = {}
        self._without: dict[str, dict] = {}  # the names for an intermediate key: all but the key itself

    # -- set-up

    def _folding(self, net) -> dict[sp.Expr, sp.Symbol]:
        """relu(z_1) -> h_1, sigmoid(z) -> a: a definition written out is the name it defines."""
        folded = {}
        for symbol, definition in net.forward:
            if definition.is_Function and not isinstance(definition, sp.Add):
                folded[definition] = symbol
        return folded

    def unfold(self, expr: sp.Expr, most: int | None = None) -> sp.Expr:
        """Substitute named backward quantities (dy_dh_1 -> its sum) until none is left (or, with most, until
        the next step would pass that many leaves: then the last form that did not, names and all)."""
        for _ in range(len(self.backward) + 1):
            if not (expr.free_symbols & self.backward.keys()):
                return expr
            step = expr.xreplace(self.backward)
            if most is not None and _leaves(step) > most:
                return expr
            expr = step
        return expr

    def as_lecturers_write(self, expr: sp.Expr) -> sp.Expr:
        """With cross-entropy the targets are a distribution: t_1 + t_2 + t_3 = 1, so y − t, not y(t_1 + t_2 + t_3) − t."""
        net = self.derivation.network
        if net.spec.loss != "ce" or len(net.targets) < 2:
            return expr
        return expr.xreplace({sp.Add(*net.targets): sp.S.One})

    def keys(self) -> list[str]:
        """Everything that may be asked: the parameters, then the intermediate quantities ∂of/∂v."""
        return [*self.expected, *(str(s) for s in self.backward)]

    def step(self, key: str) -> _Expected:
        """The expected value of an intermediate quantity (dy_dh_1, dy_dg_2), built once."""
        if key not in self.steps:
            symbol = self.names[key]
            value = self.backward[symbol]
            unfolded = self.unfold(value, most=STEP_LEAVES)
            one_hot = {g.symbol: g.one_hot for g in self.derivation.backward if g.one_hot is not None}
            shown = one_hot.get(symbol, unfolded if _leaves(unfolded) <= EXPECTED_LATEX_LEAVES else value)
            shown = self.as_lecturers_write(shown)
            values = np.broadcast_to(self.env[symbol], (self.points,)).astype(float)
            self.steps[key] = _Expected(symbol, value, unfolded, values, sp.S.One, answer_text(shown),
                                        latex(shown, partials=self.partials))
        return self.steps[key]

    def _expected(self, p, source) -> _Expected:
        unfolded = self.unfold(p.value)
        # shown in chain-rule order (the derivation's own expanded form) when it is small enough
        shown = p.expanded if p.expanded is not None else p.value
        if shown.free_symbols & self.backward.keys() and _leaves(unfolded) <= EXPECTED_LATEX_LEAVES:
            shown = unfolded
        shown = self.as_lecturers_write(shown)
        values = np.broadcast_to(evaluate(p.value, self.env), (self.points,)).astype(float)
        if np.isfinite(values).sum() < MIN_POINTS:  # non-finite points are skipped: too few left to judge by
            raise DeriveError(f"{self.derivation.network.spec.file}: the derivative for {p.param} is not finite at "
                              f"enough test points to grade answers")
        return _Expected(p.param, p.value, unfolded, values, source, answer_text(shown), latex(shown, partials=self.partials))

    # -- checking

    def check(self, key: str, raw) -> Verdict:
        """The verdict on raw (the YAML value) as the derivative with respect to the parameter key."""
        expected = self.expected.get(key) or self.step(key)
        return graded(self.memo, key, raw, (expected.ascii, expected.latex),
                      lambda verdict, text: self._grade(verdict, expected, text))

    def withheld(self, key: str) -> set[str]:
        """The intermediate quantity key asks for (dy_dh_1 is not an answer for dy_dh_1: it would agree with itself
        at every point); a parameter's name is usable in any answer."""
        return set() if key in self.expected else {key}

    def _grade(self, verdict: Verdict, expected: _Expected, text: str) -> Verdict:
        answer, finding = self.reading(verdict.key, text)
        if finding is not None:
            return _set(verdict, "invalid", finding)
        value = self._value(expected.param)
        if value is not None and not answer.free_symbols:
            return graded_number(verdict, answer, value, self.tolerance)
        folded = self._folded(answer)
        if folded is not None and expected.is_small() and _vanishes(folded - expected.unfolded):
            return _set(verdict, "correct", Finding.of("correct_symbolic"))
        try:
            values = np.broadcast_to(evaluate(answer, self.env), (self.points,)).astype(float)
        except Unsupported as exc:
            return _set(verdict, "invalid", Finding.of("unsupported", what=str(exc)))
        good = agreement(values, expected.values)
        # a disagreement is decisive; an agreement is proved symbolically where the definitions allow
        if good.all() and folded is not None and self._equal_substituted(folded, expected):
            return _set(verdict, "correct", Finding.of("correct_symbolic"))
        if good.all() and self.kinked:
            return _set(verdict, "correct", Finding.of("correct_numeric", points=self.points, patterns=self.patterns))
        if good.all():
            return _set(verdict, "correct", Finding.of("correct_points", points=self.points))
        findings = self.diagnose(expected, values, answer) or [
            Finding.of("differs", bad=int((~good).sum()), points=self.points)
        ]
        return _set(verdict, "incorrect", *findings)

    def _value(self, key: sp.Symbol):
        """The number a numeric answer for key is graded against (a spec with values:), or None."""
        if self.numbers is None:
            return None
        return self.numbers.grads.get(key, self.numbers.at.get(key))  # a parameter's derivative, or a quantity

    def _folded(self, answer: sp.Expr) -> sp.Expr | None:
        """The answer ready for symbolic comparison (max(0, z) -> h, backward names substituted),
        or None when it is too large to expand (the numeric test alone decides then)."""
        if sp.count_ops(answer) > SYMBOLIC_OPS or _max_power(answer) > SYMBOLIC_MAX_POWER:
            return None
        if _expanded_terms(answer) > SYMBOLIC_TERMS:  # (a+b)(c+d)… would expand to millions of terms
            return None
        unfolded = self.unfold(_fold_max(answer).xreplace(self.folded), most=STEP_LEAVES)
        return None if unfolded.free_symbols & self.backward.keys() else unfolded  # too large: numbers decide

    def _equal_substituted(self, folded: sp.Expr, expected: _Expected) -> bool:
        """Whether the difference expands to 0 once the network's definitions replace the intermediates."""
        if not expected.is_small():
            return False
        if expected.substituted is None:
            expected.substituted = self.substituted(expected.unfolded)
        mine, theirs = self.substituted(folded), expected.substituted
        if max(_expanded_terms(mine), _expanded_terms(theirs)) > SYMBOLIC_TERMS:
            return False
        return _vanishes(mine - theirs)

    def substituted(self, expr: sp.Expr) -> sp.Expr:
        """expr with every intermediate replaced by its definition: parameters, inputs and targets only."""
        for _ in range(len(self.definitions) + 1):
            if not expr.free_symbols & self.definitions.keys():
                break
            expr = expr.xreplace(self.definitions)
        return _fold_max(expr)

    # -- diagnosis

    def diagnose(self, expected: _Expected, values: np.ndarray, answer: sp.Expr | None = None) -> list[Finding]:
        """The first perturbation of the expected formula that the answer matches, as findings."""
        for finding, candidate in self.candidates(expected):
            if _agrees(values, candidate):
                return [finding]
        for finding, candidate in self.candidates(expected):
            if finding.code != "sign" and _agrees(values, -candidate):
                return [finding, Finding.of("also_sign")]
        if answer is not None and _nearly(values, expected.values):  # 0.666667 written for 2/3
            return [rounded_finding(answer)]
        factor = _constant_ratio(values, expected.values)
        net = self.derivation.network
        if factor is not None and net.spec.loss == "mse" and factor == str(len(net.outputs)) != "1":
            return [Finding.of("missing_mean", n=factor)]  # the 1/n of the mean squared error left out
        if factor is not None:
            return [Finding.of("constant_factor", factor=factor)]
        return []

    def candidates(self, expected: _Expected) -> list[tuple[Finding, np.ndarray]]:
        """Mistakes as (finding, values at the test points), in the order they are tried; cached per parameter."""
        if expected.candidates is None:
            found = []
            # at most MAX_CANDIDATES mistakes: a wide network's sums would give thousands, and the list is
            # built under the answer's time limit
            for finding, expr in itertools.islice(_Perturbations(self, expected).all(), MAX_CANDIDATES):
                try:
                    values = np.broadcast_to(evaluate(expr, self.env), (self.points,)).astype(float)
                except Unsupported:
                    continue
                if not _agrees(values, expected.values):
                    found.append((finding, values))
            expected.candidates = found
        return expected.candidates


class _Perturbations:
    """Typical mistakes, each one a perturbation of the expected formula X (intermediates kept)."""

    def __init__(self, grader: Grader, expected: _Expected):
        # in a wide network the unfolded sum has thousands of terms: the mistakes are built on the named form
        self.g, self.e, self.x = grader, expected, expected.unfolded if expected.is_small() else expected.value

    def all(self) -> Iterator[tuple[Finding, sp.Expr]]:
        # the sign first: with two softmax classes −(y_1 − t_1) is also another parameter's derivative
        yield Finding.of("sign"), -self.x
        yield from self.missing_indicator()
        yield from self.extra_indicator()
        yield from self.activation_derivative()
        yield from self.missing_input()
        yield from self.pre_for_post()
        yield from self.missing_term()
        yield from self.other_parameter()
        yield from self.transposed_indices()

    def other_parameter(self):
        mine = str(self.e.param)
        for name, other in self.g.expected.items():
            if name != mine:
                code = "transposed_parameter" if transposed_name(mine) == name else "other_parameter"
                yield Finding.of(code, param=mine, other=name), other.unfolded

    def missing_indicator(self):
        for ind in sorted(self.x.atoms(Indicator), key=str):
            yield Finding.of("missing_indicator", factor=answer_text(ind)), self.x.xreplace({ind: sp.S.One})

    def extra_indicator(self):
        present = self.x.atoms(Indicator)
        for z in self.g.kinked:
            ind = Indicator(sp.Gt(z, 0))
            if ind not in present:
                yield Finding.of("extra_indicator", factor=answer_text(ind)), self.x * ind

    def activation_derivative(self):
        """f'(z) left out (σ: a(1 − a)), or the activation f(z) written in its place."""
        for layer in self.g.derivation.network.layers:
            act = layer.activation
            if act.name in ("identity", "softmax") or layer.units[0].pre is None:
                continue
            for unit in layer.units:
                derivative = act.derivative(unit.pre, unit.post, layer.alpha)
                for node, rest in _without_factors(self.x, derivative):
                    if act.name != "relu":  # relu's I[z>0] is already a missing indicator
                        yield (Finding.of("missing_derivative", factor=answer_text(derivative)),
                               self.x.xreplace({node: sp.Mul(*rest)}))
                    yield (Finding.of("activation_for_derivative", post=str(unit.post), factor=answer_text(derivative)),
                           self.x.xreplace({node: sp.Mul(*rest, unit.post)}))
                if act.name != "relu" and unit.post in self.x.free_symbols | {self.g.derivation.network.outputs[0]}:
                    yield Finding.of("extra_derivative", factor=answer_text(derivative)), self.x * derivative

    def missing_input(self):
        source = self.e.source
        if source != 1 and source.is_Symbol and source in self.x.free_symbols:
            yield Finding.of("missing_input", factor=answer_text(source), param=str(self.e.param)), self.x.xreplace({source: sp.S.One})

    def pre_for_post(self):
        free = self.x.free_symbols
        for pre, post in self.g.units:
            if post in free:
                yield Finding.of("pre_for_post", pre=str(pre), post=str(post)), self.x.xreplace({post: pre})

    def missing_term(self):
        for node in sp.preorder_traversal(self.x):
            if node.is_Add:
                for term in node.args:
                    yield Finding.of("missing_term", term=answer_text(term)), self.x.xreplace({node: node - term})

    def transposed_indices(self):
        params = self.g.params
        swaps = {}
        for s in sorted(self.x.free_symbols, key=str):
            t = transposed_name(str(s))
            if t in params and params[t] != s:
                swaps[s] = params[t]
                yield (Finding.of("transposed_indices", wrong=t, right=str(s)),
                       self.x.xreplace({s: params[t], params[t]: s}))
        if len(swaps) > 1:
            both = {**swaps, **{v: k for k, v in swaps.items()}}
            pairs = ", ".join(f"{v} / {k}" for k, v in swaps.items())
            yield Finding.of("transposed_all", pairs=pairs), self.x.xreplace(both)


def _without_factors(expr: sp.Expr, product: sp.Expr) -> Iterator[tuple[sp.Expr, list[sp.Expr]]]:
    """Each product node of expr that has all factors of product, with the factors that remain."""
    wanted = list(sp.Mul.make_args(product))
    for node in sp.preorder_traversal(expr):
        args = list(sp.Mul.make_args(node)) if (node.is_Mul or node == product) else []
        if args and all(args.count(f) >= wanted.count(f) for f in wanted):
            rest = list(args)
            for f in wanted:
                rest.remove(f)
            yield node, rest


PARSE_KEYS = frozenset({
    "confusable", "yaml_escape", "partial", "shapes_add", "shapes_had", "shapes_product", "matrix_power",
    "matmul_scalar", "matrix_division",
    "too_deep", "unbalanced", "mismatch", "never_closed", "underscore", "dot", "equation", "unexpected_character",
    "digits", "unknown_function", "unknown_command", "comparison", "division_by_zero", "exponent", "huge_number",
    "ambiguous_division", "scientific_name", "euler_name", "row_times_column", "sum_start",
    "no_comparison", "too_long", "unexpected", "unexpected_end", "functions_nested", "sum_index",
})


def parse_finding(exc: ParseError) -> Finding:
    """parse.<key> with the column and details (derive.check words them), or the parser's English message."""
    if exc.key not in PARSE_KEYS:
        return Finding.of("parse_error", error=exc.message)
    details = dict(exc.details)  # the characters bare: derive.check quotes them as the language does
    if "expected" in details:
        details["expected"] = "\n".join(details["expected"])
    return Finding.of(f"parse.{exc.key}", column=exc.column, **details)


SHOWN_NAMES, SHOWN_NAME_LENGTH = 6, 24  # an absurd answer's unknown names are quoted this far, then "…"


def unknown_finding(unknown: list[str], names: list[str]) -> Finding:
    """Unknown names as written (the first few, each cut short if long), with the known names most like
    them (at most 3 each, 6 in all)."""
    close = [m for name in unknown for m in difflib.get_close_matches(name, names, n=3, cutoff=0.6)]
    code = "unknown_name" if len(unknown) == 1 else "unknown_names"  # "Unknown name: a2", "Unknown names: a2, b3"
    shown = ", ".join(_shortened(unknown))
    if close:
        return Finding.of(f"{code}_close", names=shown, close="\n".join(list(dict.fromkeys(close))[:6]))  # "a or b": derive.check joins them
    some = [m for name in unknown for m in difflib.get_close_matches(name, names, n=4, cutoff=0.0)]
    return Finding.of(code, names=shown, known=", ".join(list(dict.fromkeys(some))[:6]))


def _shortened(unknown: list[str]) -> list[str]:
    """The names a message quotes: a 3000-letter name or a hundred names would bury the message."""
    names = [n if len(n) <= SHOWN_NAME_LENGTH else n[:SHOWN_NAME_LENGTH] + "…" for n in unknown[:SHOWN_NAMES]]
    return names + ["…"] if len(unknown) > SHOWN_NAMES else names


def graded(memo: dict, key: str, raw, shown: tuple, grade) -> Verdict:
    """The verdict on raw (a YAML value) for key: missing, not text, remembered, or grade(verdict, text) under
    the time limit. shown is the expected answer (answer syntax, LaTeX[, value]); every kind's grader checks
    through here."""
    verdict = Verdict(key, "missing", [Finding.of("missing")], shown[0], shown[1],
                      expected_value=shown[2] if len(shown) > 2 else None)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return verdict
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        return _set(verdict, "invalid", Finding.of("not_text"))
    verdict.answer = text = str(raw)
    known = memo.get((key, text))
    if known is not None:  # a class repeats itself: the same answer gets the same verdict
        return dataclasses.replace(known, findings=list(known.findings))
    try:
        with time_limit(TIME_LIMIT):
            verdict = grade(verdict, text)
    except _Timeout:
        verdict = _set(verdict, "invalid", Finding.of("timeout", seconds=TIME_LIMIT))
    if len(memo) < MEMO_SIZE and len(text) <= MEMO_TEXT:
        memo[(key, text)] = verdict
    return dataclasses.replace(verdict, findings=list(verdict.findings))


class FormulaGrader(_Reading):
    """What every kind's grader shares: its keys (the targets), `check` through `graded` (missing, not text,
    remembered, time limit), and the preamble that reads the text or makes the verdict `invalid`.

    A subclass sets `targets` (key -> an object with `ascii` and `latex`, the expected answer shown) and
    `names`, and grades a parsed answer in `grade_formula`; `read` may parse differently (a graph's
    `formula = number`), `names_for` give other names to some keys (matrix keys)."""

    def __init__(self):
        self.memo: dict[tuple[str, str], Verdict] = {}
        self._without: dict[str, dict] = {}

    def keys(self) -> list[str]:
        return list(self.targets)

    def target(self, key: str):
        return self.targets[key]

    def withheld(self, key: str) -> set[str]:
        """Names that exist in the problem but not for key's answer: the gradient it asks for. A key that is a
        name itself and not one of the asked parameters or inputs (df_dq, delta_21) is that gradient: the answer
        `df_dq` for df_dq would agree with itself at every point."""
        return {key} if key not in self.asked else set()

    def check(self, key: str, raw) -> Verdict:
        """The verdict on raw (the YAML value) as the answer for key."""
        target = self.target(key)
        shown = (target.ascii, target.latex, getattr(target, "value_text", None))  # a graph's value at its values
        return graded(self.memo, key, raw, shown, lambda verdict, text: self.grade_text(verdict, target, text))

    def grade_text(self, verdict: Verdict, target, text: str) -> Verdict:
        answer, finding = self.reading(target.key, text)
        if finding is not None:
            return _set(verdict, "invalid", finding)
        return self.grade_formula(verdict, target, answer)

    def grade_formula(self, verdict: Verdict, target, answer) -> Verdict:
        raise NotImplementedError


def within(value, exact, tolerance: float) -> bool:
    """Whether a number is within tolerance (relative) of the exact value; of 0, within ZERO: the one test of a
    numeric answer (worked networks and graphs with values)."""
    if exact == 0:  # exactly 0 (a unit that is off): no relative tolerance around it
        return bool(abs(value) <= ZERO)
    return bool(abs(value - exact) <= tolerance * abs(exact))


def value_findings(answer: sp.Expr | None, values: np.ndarray, expected: np.ndarray, points: int) -> list[Finding]:
    """For graders that compare values only, after their typical mistakes: rounded decimals (when the answer
    is given), a constant factor, or at how many test points the answer differs."""
    if answer is not None and _nearly(values, expected):
        return [rounded_finding(answer)]
    factor = _constant_ratio(np.ravel(values), np.ravel(expected))
    if factor is not None:
        return [Finding.of("constant_factor", factor=factor)]
    bad = ~agreement(values, expected)
    bad = bad.any(axis=tuple(range(bad.ndim - 1))) if bad.ndim > 1 else bad
    return [Finding.of("differs", bad=int(bad.sum()), points=points)]


def graded_number(verdict: Verdict, answer: sp.Expr, value: sp.Expr, tolerance: float) -> Verdict:
    """A number as the answer: correct within `tolerance` relative of the value (a formula is still checked
    as a formula); feedback says how far off it is, never the value itself."""
    got = sp.N(answer, 30)
    if not (got.is_real and got.is_finite):
        return _set(verdict, "invalid", Finding.of("value_not_real"))
    allowed = f"{tolerance:.6g}"
    if within(got, value, tolerance):
        return _set(verdict, "correct", Finding.of("value_close", allowed_fraction=allowed))
    if value == 0:
        return _set(verdict, "incorrect", Finding.of("value_wrong"))
    if within(-got, value, tolerance):
        return _set(verdict, "incorrect", Finding.of("value_sign"))
    off = abs(got - value) / abs(value)
    return _set(verdict, "incorrect", Finding.of("value_off", off_fraction=f"{float(off):.3g}",
                                                 allowed_fraction=allowed))


def _set(verdict: Verdict, kind: str, *findings: Finding) -> Verdict:
    verdict.verdict, verdict.findings = kind, list(findings)
    return verdict


def _fold_max(expr: sp.Expr) -> sp.Expr:
    """max(0, z) -> relu(z), so that it folds into the activation it defines."""
    def is_relu(e):
        return isinstance(e, sp.Max) and len(e.args) == 2 and sp.S.Zero in e.args

    return expr.replace(is_relu, lambda e: relu(next(a for a in e.args if a != 0)))


def rounded_finding(answer: sp.Expr) -> Finding:
    """'0.666667 is 2/3 rounded': the decimals of the answer with the simple fractions they round."""
    pairs = []
    for number in sorted(answer.atoms(sp.Rational, sp.Float), key=str):
        exact = Fraction(str(number)).limit_denominator(100)
        if exact.denominator > 1 and Fraction(str(number)) != exact:
            pairs.append(f"{sp.Float(number, 6)} ≈ {exact}")
    return Finding.of("rounded", numbers=", ".join(pairs)) if pairs else Finding.of("rounded_plain")


def _leaves(expr: sp.Expr) -> int:
    return sum(1 for node in sp.preorder_traversal(expr) if not node.args)


def _nearly(values: np.ndarray, expected: np.ndarray, relative: float = ROUNDING) -> bool:
    """Whether values equals expected up to the rounding of decimals (but not exactly: that was tested first)."""
    with np.errstate(all="ignore"):
        close = np.abs(values - expected) <= relative * np.maximum(1.0, np.abs(expected))
    return bool(np.all(close | ~np.isfinite(expected)))


def _constant_ratio(values: np.ndarray, expected: np.ndarray) -> str | None:
    """'2', '1/2', '-3' when values = c · expected with a constant c ∉ {0, 1} at every usable point."""
    with np.errstate(all="ignore"):
        usable = np.isfinite(expected) & (np.abs(expected) > 1e-6)
        if usable.sum() < 5:
            return None
        ratio = values[usable] / expected[usable]
    c = float(np.median(ratio))
    if not np.isfinite(c) or abs(c) < 1e-9 or abs(c - 1) < 1e-9:
        return None
    if not np.all(np.abs(ratio - c) <= 1e-6 * max(1.0, abs(c))):
        return None
    fraction = Fraction(c).limit_denominator(1000)
    return str(fraction) if abs(float(fraction) - c) <= 1e-9 * max(1.0, abs(c)) else f"{c:.6g}"


def mistakes(grader: Grader, key: str) -> list[tuple[Finding, sp.Expr]]:
    """derive's diagnoses for key as wrong formulas, in the order they are tried: each typical mistake
    (with intermediates kept) that differs, at the test points, from the expected derivative and from
    every earlier mistake, so that each can be told apart (STACK's response trees are built from these)."""
    expected = grader.expected[key]
    seen, found = [expected.values], []
    for finding, expr in _Perturbations(grader, expected).all():
        try:
            values = np.broadcast_to(evaluate(expr, grader.env), (grader.points,)).astype(float)
        except Unsupported:
            continue
        if not any(_agrees(values, other) for other in seen):
            seen.append(values)
            found.append((finding, expr))
    return found
