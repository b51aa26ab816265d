"""Validated `kind: graph` specs: nodes as SymPy expressions, inputs found, values exact.

`parse_doc(doc)` reads the mapping documented in docs/graph.md and returns a
frozen `GraphSpec`. Node expressions are read with `derive.mathparse` (never
evaluated as code): the names an expression may use are the inputs and the
nodes defined before it; a name that is not a node is an input. Every problem
is a `SpecError` with file, line and column (inside the expression where the
parser can tell).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import sympy as sp

from derive.errors import Location, SpecError
from derive.core.yamlload import Doc, one_of, shown

GRAPH_KEYS = ("kind", "title", "output", "nodes", "values", "wrt", "shapes", "notation", "tolerance", "digits", "exact")
NOTATIONS = ("indicator", "kronecker")
MAX_NODES = 40
MAX_SIZE = 6  # concrete sizes of vectors and matrices (the derivation is in index form anyway)
NODE_NAME = re.compile(r"[A-Za-z]+[0-9]*(?:_[A-Za-z0-9]+)?\Z")
SIZE_NAME = re.compile(r"[a-zA-Z]\Z")


@dataclass(frozen=True)
class NodeSpec:
    """One node: `name = expr`, with where its expression is in the file."""

    name: str
    text: str
    expr: sp.Expr
    location: Location


@dataclass(frozen=True)
class GraphSpec:
    file: str
    title: dict[str, str]
    nodes: tuple[NodeSpec, ...]
    inputs: tuple[str, ...]
    output: str
    values: dict[str, sp.Expr] | None
    wrt: tuple[str, ...]
    shapes: dict[str, tuple] = field(default_factory=dict)
    notation: str = "indicator"
    tolerance: float | None = None  # derive check: relative tolerance of numeric answers (None: 0.5 %)
    digits: int = 4  # significant digits of the numbers shown (CONTRACT section 7)
    exact: bool = False  # exact fractions and closed forms beside the decimals

    @property
    def indexed(self) -> bool:
        """Whether vectors or matrices appear: then the derivation is in index notation."""
        return bool(self.shapes)

    @cached_property
    def symbols(self) -> dict[str, sp.Symbol]:
        return symbols_for([*self.inputs, *(n.name for n in self.nodes)], self.shapes)


def symbols_for(names, shapes: dict) -> dict[str, sp.Symbol]:
    """Real scalars; with shapes, non-commutative symbols, so that W x keeps its order."""
    if shapes:
        return {name: sp.Symbol(name, commutative=False) for name in names}
    return {name: sp.Symbol(name, real=True) for name in names}


def _split(name: str, shapes: dict) -> list[str] | None:
    """'Wx' -> ['W', 'x'] when both are declared in shapes (a product written without a space)."""
    for head in shapes:
        if name.startswith(head) and len(name) > len(head):
            rest = name[len(head):]
            tail = [rest] if rest in shapes else _split(rest, shapes)
            if tail:
                return [head, *tail]
    return None


def parse_doc(doc: Doc) -> GraphSpec:
    if not isinstance(doc.data, dict):
        raise doc.error((), "a graph spec is a YAML mapping with keys such as kind, nodes, output")
    return _Graph(doc).parse()


class _Graph:
    """Validation of one `kind: graph` mapping, key by key."""

    def __init__(self, doc: Doc):
        self.doc, self.data = doc, doc.data
        self._lines: list[str] | None = None

    def parse(self) -> GraphSpec:
        self.doc.known_keys(self.data, GRAPH_KEYS)
        shapes = self._shapes()
        nodes, inputs = self._nodes(shapes)
        names = [n.name for n in nodes]
        output = self._output(names)
        self._check_used(nodes, output)
        self._check_shapes(shapes, inputs)
        values = self._values(inputs, shapes)
        return GraphSpec(
            file=self.doc.file,
            title=self.doc.title(),
            nodes=tuple(nodes),
            inputs=tuple(inputs),
            output=output,
            values=values,
            wrt=self._wrt(inputs, names, output),
            shapes=shapes,
            notation=self._notation(),
            tolerance=self._tolerance(),
            **self._number_format(values),
        )

    def _tolerance(self) -> float | None:
        """`tolerance: 0.01` (relative, for numeric answers in derive check): a number in (0, 1)."""
        value = self.data.get("tolerance")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise self.doc.error(("tolerance",), f"expected a relative tolerance between 0 and 1, e.g. 0.005 "
                                                 f"for 0.5 %; got {value!r}")
        return float(value)

    # -- nodes --------------------------------------------------------------------
    def _nodes(self, shapes: dict) -> tuple[list[NodeSpec], list[str]]:
        raw = self.data.get("nodes")
        if raw is None:
            raise self.doc.error((), "missing key 'nodes': a mapping of node names to expressions, e.g. q: x + y")
        if not isinstance(raw, dict) or not raw:
            raise self.doc.error(("nodes",), "expected a mapping of node names to expressions, e.g. {q: x + y, f: q * z}")
        if len(raw) > MAX_NODES:
            raise self.doc.error(("nodes",), f"{len(raw)} nodes; at most {MAX_NODES} are supported")
        nodes: list[NodeSpec] = []
        inputs: list[str] = []
        later = list(raw)
        for name, text in raw.items():
            path = ("nodes", name)
            self._node_name(name, path)
            if not isinstance(text, (str, int, float)) or isinstance(text, bool):
                raise self.doc.error(path, "expected an expression, e.g. x + y")
            later.remove(name)
            expr = self._expression(str(text), path, [n.name for n in nodes], inputs, later, name, shapes)
            nodes.append(NodeSpec(name, str(text), expr, self._text_location(path, str(text))))
        return nodes, inputs

    def _node_name(self, name: str, path: tuple) -> None:
        if not NODE_NAME.match(name):
            raise self.doc.error(path, f"{name!r} is not a valid node name; expected letters with an optional index, e.g. q, h_1, theta")
        # The grammar (lark) is imported by the methods that parse, not with this module: a network compiled to a
        # graph uses GraphSpec without parsing any text, and importing lark is 0.03 s of every such run's start-up.
        from derive.core.parse import ParseError, parse_math

        try:
            parsed = parse_math(name)
        except ParseError:
            parsed = None
        if not (isinstance(parsed, sp.Symbol) and parsed.name == name):
            raise self.doc.error(path, f"{name!r} cannot be a node name (it is a function or a constant); choose another name")

    def _expression(self, text, path, earlier, inputs, later, name, shapes) -> sp.Expr:
        """Parse with the known names; names that are not nodes become inputs (in order of appearance)."""
        from derive.core.parse import ParseError, UnknownName, parse_math

        location = self._text_location(path, text)
        known = symbols_for([*inputs, *earlier], shapes)
        try:
            return parse_math(text, known, location=location)
        except UnknownName as exc:
            new = exc.names
        except ParseError as exc:
            raise SpecError(exc.message, exc.location, ".".join(map(str, path))) from None
        for unknown in new:
            if unknown == name:
                raise self.doc.error(path, f"the node {name!r} uses itself; a computational graph has no cycles")
            if unknown in later:
                raise self.doc.error(path, f"{unknown!r} is a node defined further down; list the nodes in the order they are computed")
            if unknown in ("e",):
                raise self.doc.error(path, "write Euler's number as exp(…) or e^…; the name e alone is ambiguous")
            parts = _split(unknown, shapes)
            if unknown not in shapes and parts:
                raise self.doc.error(path, f"{unknown!r} is not declared in shapes; for a product write {' '.join(parts)} "
                                           "(with a space or *)")
        inputs.extend(new)
        return parse_math(text, symbols_for([*inputs, *earlier], shapes), location=location)

    def _text_location(self, path: tuple, text: str) -> Location:
        """Where the expression's first character is: the YAML value's position, past an opening quote."""
        where = self.doc.where(path)
        line = self._line(where.line)
        if line is None or where.column is None:
            return where
        rest = line[where.column - 1 :]
        if rest[:1] in ("'", '"') and rest[1:].startswith(text[:8]):
            return Location(where.file, where.line, where.column + 1)
        if rest.startswith(text[:8]):
            return where
        return Location(where.file, where.line, None)

    def _line(self, number: int | None) -> str | None:
        if number is None:
            return None
        if self._lines is None:
            try:
                self._lines = Path(self.doc.file).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                self._lines = []
        return self._lines[number - 1] if 0 < number <= len(self._lines) else None

    def _check_used(self, nodes: list[NodeSpec], output: str) -> None:
        needed = {output}
        for node in reversed(nodes):
            if node.name in needed:
                needed |= {s.name for s in node.expr.free_symbols}
        for node in nodes:
            if node.name not in needed:
                mentioned = any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(node.name)}(?![A-Za-z0-9_])", n.text) for n in nodes)
                why = " (its uses cancel out)" if mentioned else ""
                raise self.doc.error(("nodes", node.name), f"the node {node.name!r} does not affect the output {output!r}{why}; remove it")

    # -- other keys ------------------------------------------------------------------
    def _output(self, names: list[str]) -> str:
        output = self.data.get("output", names[-1])
        if output not in names:
            raise self.doc.error(("output",), f"the output must be one of the nodes: {', '.join(names)}")
        return output

    def _number_format(self, values) -> dict:
        """digits: and exact: (how the numbers are shown), which need values:."""
        from derive.kinds.network.worked import digits_of, flag

        given = [k for k in ("digits", "exact") if k in self.data]
        if given and values is None:
            raise self.doc.error((given[0],), f"{given[0]} says how the numbers are shown: it needs values:")
        return {"digits": digits_of(self.doc), "exact": flag(self.doc, "exact")}

    def _values(self, inputs: list[str], shapes: dict) -> dict[str, sp.Expr] | None:
        raw = self.data.get("values")
        if raw is None:
            return None
        if shapes:
            raise self.doc.error(("values",), "values are supported for scalar graphs only (this graph has shapes)")
        if not isinstance(raw, dict):
            raise self.doc.error(("values",), "expected a mapping of inputs to numbers, e.g. {x: -2, y: 5}")
        values = {}
        for name, value in raw.items():
            if name not in inputs:
                raise self.doc.key_error(("values", name), f"{name!r} is not an input of the graph; {one_of(name, inputs)}")
            values[name] = self._number(("values", name), value)
        missing = [x for x in inputs if x not in values]
        if missing:
            raise self.doc.error(("values",), f"no value for {', '.join(missing)}; give every input a value, or leave out values")
        return {x: values[x] for x in inputs}

    def _number(self, path: tuple, value) -> sp.Expr:
        """An exact number: ints stay ints, 0.1 is 1/10; text such as '1/2' is read as math."""
        if isinstance(value, bool):
            raise self.doc.error(path, f"expected a number, got {shown(value)}")
        if isinstance(value, int):
            return sp.Integer(value)
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                raise self.doc.error(path, "expected a finite number")
            return sp.Rational(repr(value))
        if isinstance(value, str):
            from derive.core.parse import ParseError, parse_math

            try:
                number = parse_math(value, {}, location=self._text_location(path, value))
            except ParseError:  # a name (x: abc) or broken math: what is wanted is a number, whatever the slip
                number = None
            if number is not None and number.is_number and number.is_extended_real and number.is_finite:
                return number
        raise self.doc.error(path, f"expected a number, e.g. -2, 0.5 or 1/3 (or math with numbers only, such as "
                                   f"pi/4); got {shown(value)}")

    def _wrt(self, inputs: list[str], names: list[str], output: str) -> tuple[str, ...]:
        raw = self.data.get("wrt")
        if raw is None:
            return tuple(inputs)
        raw = [raw] if isinstance(raw, str) else raw
        if not isinstance(raw, list) or not raw:
            raise self.doc.error(("wrt",), "expected a list of inputs, e.g. [x, y]")
        allowed = [*inputs, *(n for n in names if n != output)]
        for i, name in enumerate(raw):
            if name not in allowed:
                raise self.doc.error(("wrt", i), f"{name!r} is neither an input nor a node; {one_of(name, allowed)}")
        return tuple(dict.fromkeys(raw))

    def _notation(self) -> str:
        value = self.data.get("notation", "indicator")
        if value not in NOTATIONS:
            raise self.doc.error(("notation",), f"unknown notation {value!r}; {one_of(value, NOTATIONS)}")
        return value

    # -- shapes -------------------------------------------------------------------------
    def _shapes(self) -> dict[str, tuple]:
        raw = self.data.get("shapes")
        if raw is None:
            return {}
        if not isinstance(raw, dict) or not raw:
            raise self.doc.error(("shapes",), "expected a mapping of inputs to sizes, e.g. {W: [n, n], x: [n]}")
        return {name: self._shape(("shapes", name), value) for name, value in raw.items()}

    def _shape(self, path: tuple, value) -> tuple:
        if not isinstance(value, list) or len(value) not in (1, 2):
            raise self.doc.error(path, "expected [size] for a vector or [rows, columns] for a matrix, e.g. [n] or [n, n]")
        return tuple(self._size(path + (i,), v) for i, v in enumerate(value))

    def _size(self, path: tuple, value):
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_SIZE:
            return sp.Integer(value)
        if isinstance(value, str) and SIZE_NAME.match(value):
            return sp.Symbol(value, integer=True, positive=True)
        raise self.doc.error(path, f"expected a size: a whole number from 1 to {MAX_SIZE}, or one letter such as n; got {shown(value)}")

    def _check_shapes(self, shapes: dict, inputs: list[str]) -> None:
        for name in shapes:
            if name not in inputs:
                raise self.doc.key_error(("shapes", name), f"{name!r} is not an input of the graph; {one_of(name, inputs)}")
