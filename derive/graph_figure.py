"""The picture of a computational graph, CS231n style: values above the edges, gradients below.

Inputs are boxes, operations are circles showing their gate (+, ×, max, exp, …),
and a last box receives the output. A node sits one column right of its latest
argument; an input one column left of its first user, so edges stay short.
Drawn by derive.diagram (SVG beside Markdown, TikZ in LaTeX); `GraphFigure`
has the `svg()` and `tikz()` the pipeline asks of a figure.
"""

from __future__ import annotations

import sympy as sp

from .calculus import leaky_relu, relu, sigmoid
from .diagram import Edge, Label, Node, layered_svg, layered_tikz, name_label

# expression class -> (TeX, text) of the gate drawn in the node's circle
GATE_LABELS = {
    sp.Add: (r"+", "+"),
    sp.Mul: (r"\times", "×"),
    sp.Max: (r"\max", "max"),
    sp.Min: (r"\min", "min"),
    sp.exp: (r"\exp", "exp"),
    sp.log: (r"\log", "log"),
    sp.tanh: (r"\tanh", "tanh"),
    sp.Abs: (r"|\cdot|", "|·|"),
    sigmoid: (r"\sigma", "σ"),
    relu: (r"\mathrm{ReLU}", "ReLU"),
    leaky_relu: (r"\mathrm{LReLU}", "LReLU"),
}


def gate_label(expr: sp.Expr, name: str) -> Label:
    """The gate of a node: by the class of its expression; −s is '×(−1)', 1/d is '1/x'; else its name."""
    if expr.is_Mul and len(expr.args) == 2 and expr.args[0] == -1:
        return Label(r"\times(-1)", "×(−1)")
    if expr.is_Pow and expr.exp == -1:
        return Label(r"1/x", "1/x")
    if expr.is_Pow:
        return Label(rf"x^{{{sp.latex(expr.exp)}}}", f"^{expr.exp}")
    if type(expr) in GATE_LABELS:
        return Label(*GATE_LABELS[type(expr)])
    return name_label(name)


def number_text(value: sp.Expr) -> tuple[str, str]:
    """(TeX, text) of a value: integers exactly, other numbers to 4 significant digits."""
    text = str(int(value)) if value.is_Integer else f"{float(value):.4g}"
    return text, text.replace("-", "−")


def edge_label(name: str, value: sp.Expr | None) -> Label:
    label = name_label(name)
    if value is None:
        return label
    tex, text = number_text(value)
    if label.sub or label.sup:  # an indexed name: the subscript would swallow '= value'
        return Label(f"{label.tex} = {tex}", f"{name} = {text}")
    return Label(f"{label.tex} = {tex}", f"{label.text} = {text}")


def value_label(value: sp.Expr | None) -> Label | None:
    if value is None:
        return None
    return Label(*number_text(value))


class GraphFigure:
    """Layers and edges of one graph (scalar or index form), drawable as SVG or TikZ."""

    def __init__(self, outcome):
        self.title = outcome.spec.output
        if outcome.indexed:
            self._build_index(outcome.result)
        else:
            self._build_scalar(outcome.result)

    # -- layout ---------------------------------------------------------------------
    def _place(self, inputs: list[str], nodes: list[tuple[str, list[str], Label]], output: str,
               input_label=name_label):
        column = {x: 0 for x in inputs}
        for name, args, _ in nodes:
            column[name] = 1 + max((column[a] for a in args), default=0)
        for x in inputs:
            users = [column[n] for n, args, _ in nodes if x in args]
            column[x] = min(users) - 1 if users else 0
        width = max(column.values()) + 2
        self.layers: list[list[Node]] = [[] for _ in range(width)]
        self.where: dict[str, tuple[int, int]] = {}
        for name in _ordered(inputs, nodes, column, width):
            label = input_label(name) if name in inputs else next(lab for n, _, lab in nodes if n == name)
            shape = "box" if name in inputs else "circle"
            self.where[name] = (column[name], len(self.layers[column[name]]))
            self.layers[column[name]].append(Node(label, shape))
        self.where["<out>"] = (width - 1, 0)
        self.layers[width - 1].append(Node(name_label(output), "box"))
        self.edges: list[Edge] = []

    def _edge(self, source: str, target: str, above: Label | None, below: Label | None) -> None:
        self.edges.append(Edge(self.where[source], self.where[target], above, below))

    # -- scalar graphs --------------------------------------------------------------
    def _build_scalar(self, bp) -> None:
        values = bp.values or {}
        nodes = [(n.symbol.name, [a.name for a in n.args], gate_label(n.expr, n.symbol.name)) for n in bp.nodes]
        self._place([x.name for x in bp.inputs], nodes, bp.of.name)
        for node in bp.nodes:
            for loc in node.locals:
                flow = _flow(bp, loc) if bp.values is not None else None
                self._edge(loc.arg.name, node.symbol.name, edge_label(loc.arg.name, values.get(loc.arg)), value_label(flow))
        self._edge(bp.of.name, "<out>", edge_label(bp.of.name, values.get(bp.of)), value_label(sp.S.One) if values else None)

    # -- index graphs ---------------------------------------------------------------
    def _build_index(self, d) -> None:
        nodes = [(n.quantity.name, n.args, gate_label(d.spec.nodes[i].expr, n.quantity.name))
                 for i, n in enumerate(d.nodes)]
        self._place(list(d.inputs), nodes, d.spec.output)
        for node in d.nodes:
            for arg in node.args:
                self._edge(arg, node.quantity.name, name_label(arg), None)
        self._edge(d.spec.output, "<out>", name_label(d.spec.output), None)

    # -- output ---------------------------------------------------------------------
    def svg(self) -> str:
        return layered_svg(self.layers, self.edges, title=self.title)

    def tikz(self) -> str:
        return layered_tikz(self.layers, self.edges)


def _ordered(inputs: list[str], nodes: list, column: dict, width: int) -> list[str]:
    """Names column by column, each column ordered by where its users sit (fewer crossing edges)."""
    users = {name: [n for n, args, _ in nodes if name in args] for name in column}
    slot: dict[str, float] = {}
    order: list[str] = []
    for c in reversed(range(width - 1)):
        members = [n for n in [*inputs, *(n for n, _, _ in nodes)] if column[n] == c]
        members.sort(key=lambda n: sum(slot[u] for u in users[n]) / len(users[n]) if users[n] else 0.0)
        for k, n in enumerate(members):
            slot[n] = k - (len(members) - 1) / 2
        order = members + order
    return order


def _flow(bp, loc) -> sp.Expr:
    """The gradient flowing along the edge arg → node: upstream value × local value."""
    upstream = bp.grads[loc.node].value
    return sp.sympify(upstream * loc.expr.xreplace(bp.values))
