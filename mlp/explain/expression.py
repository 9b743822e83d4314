"""Scalar computation graphs (Algorithms 6.1 and 6.2): an arithmetic expression, its nodes' forward
values, then, backwards, each node's local derivatives and its gradient.

The expression is parsed with Python's :mod:`ast` and only a whitelist is accepted: numbers,
variables, ``+ - * / **`` and unary minus, and the functions ``exp``, ``log``, ``sigmoid`` (also
``σ``), ``tanh``, ``max`` (of two). Nothing is evaluated by Python: every node is computed here.
A variable used twice is one node whose gradient sums its paths (the multivariate chain rule).
"""

import ast
import math
from dataclasses import dataclass, field

from ..errors import MlpError, shown
from .render import Renderer, number, plain

MAX_LENGTH, MAX_NODES = 2000, 500
FUNCTIONS = {"exp": 1, "log": 1, "sigmoid": 1, "σ": 1, "tanh": 1, "max": 2}
OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
ALLOWED = "numbers, variables, + - * / ** and exp, log, sigmoid, tanh, max"


@dataclass
class Node:
    """One node: ``op`` (``var``, ``const``, an operator or a function) over ``inputs`` (nodes)."""

    name: str
    op: str
    inputs: list = field(default_factory=list)
    value: float = 0.0
    grad: float = 0.0
    local: list = field(default_factory=list)  # ∂self/∂input, one per input


class Graph:
    """The nodes of an expression in evaluation order (inputs before the nodes that use them)."""

    def __init__(self, text):
        if len(text) > MAX_LENGTH:
            raise MlpError(f"the expression is {len(text)} characters long; at most {MAX_LENGTH}")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise MlpError(f"expression {shown(text)}: not an arithmetic expression ({exc.msg})") from None
        self.text, self.nodes, self.variables = text.strip(), [], {}
        self.output = self._build(tree.body)
        if self.output.op in ("var", "const"):  # f = x: a node of its own, so that x keeps its name
            self.output = self._add(Node("f", "copy", [self.output]))
        intermediate = [node for node in self.nodes if node.op not in ("var", "const") and node is not self.output]
        for position, node in enumerate(intermediate, 1):
            node.name = f"q{position}"
        self.output.name = "f"

    def _add(self, node):
        if len(self.nodes) >= MAX_NODES:
            raise MlpError(f"the expression has more than {MAX_NODES} nodes")
        self.nodes.append(node)
        return node

    def _build(self, item):
        if isinstance(item, ast.Constant) and isinstance(item.value, int | float) and not isinstance(item.value, bool):
            return self._add(Node(repr(item.value), "const", value=float(item.value)))
        if isinstance(item, ast.Name):
            if item.id in FUNCTIONS:
                raise MlpError(f"{item.id} is a function: write {item.id}(...)")
            if item.id not in self.variables:
                self.variables[item.id] = self._add(Node(item.id, "var"))
            return self.variables[item.id]
        if isinstance(item, ast.UnaryOp) and isinstance(item.op, ast.USub | ast.UAdd):
            operand = self._build(item.operand)
            if isinstance(item.op, ast.UAdd):
                return operand
            return self._add(Node(f"q{len(self.nodes)}", "neg", [operand]))
        if isinstance(item, ast.BinOp) and type(item.op) in OPERATORS:
            left, right = self._build(item.left), self._build(item.right)
            return self._add(Node(f"q{len(self.nodes)}", OPERATORS[type(item.op)], [left, right]))
        if isinstance(item, ast.Call) and isinstance(item.func, ast.Name) and not item.keywords:
            name = item.func.id
            if name not in FUNCTIONS:
                raise MlpError(f"unknown function {shown(name)}; the functions are {', '.join(FUNCTIONS)}")
            if len(item.args) != FUNCTIONS[name]:
                raise MlpError(f"{name} takes {FUNCTIONS[name]} argument(s), got {len(item.args)}")
            args = [self._build(arg) for arg in item.args]
            return self._add(Node(f"q{len(self.nodes)}", "sigmoid" if name == "σ" else name, args))
        fragment = ast.get_source_segment(self.text, item) or type(item).__name__
        raise MlpError(f"{shown(fragment)} is not allowed in an expression: use {ALLOWED}")

    def evaluate(self, at):
        """Forward, then backward from ∂f/∂f = 1, at the variable values ``at`` (a dict)."""
        missing = [name for name in self.variables if name not in at]
        if missing:
            raise MlpError(f"--at gives no value for {', '.join(missing)}")
        unused = [name for name in at if name not in self.variables]
        if unused:
            raise MlpError(f"--at names {', '.join(unused)}, which the expression does not use")
        for node in self.nodes:
            if node.op == "var":
                node.value = float(at[node.name])
            elif node.op != "const":
                node.value, node.local = _apply(node)
            node.grad = 0.0
        self.output.grad = 1.0
        for node in reversed(self.nodes):
            for source, derivative in zip(node.inputs, node.local):
                source.grad += node.grad * derivative
        return self.output.value

    def value_at(self, at):
        """f at ``at``, forward only (for finite differences); the graph's own values are kept."""
        values = {}
        for node in self.nodes:
            if node.op == "var":
                values[id(node)] = float(at[node.name])
            elif node.op == "const":
                values[id(node)] = node.value
            else:
                probe = Node(node.name, node.op, [Node("", "const", value=values[id(s)]) for s in node.inputs])
                values[id(node)] = _apply(probe)[0]
        return values[id(self.output)]

    def formula(self, node):
        """The node's operation over its inputs' names, in the LaTeX subset."""
        names = [source.name for source in node.inputs]
        if node.op in ("+", "-", "/"):
            return f"{names[0]} {node.op} {names[1]}"
        if node.op == "*":
            return rf"{names[0]} \cdot {names[1]}"
        if node.op == "**":
            return f"{names[0]}^{{{names[1]}}}"
        if node.op == "neg":
            return f"-{names[0]}"
        if node.op == "copy":
            return names[0]
        symbol = {"sigmoid": r"\sigma", "exp": r"\exp", "log": r"\log", "tanh": r"\tanh", "max": r"\max"}[node.op]
        return f"{symbol}({', '.join(names)})"

    def local_formulas(self, node):
        """∂node/∂input for each input, as formulas over the names."""
        a = node.inputs[0].name
        b = node.inputs[1].name if len(node.inputs) > 1 else None
        return {
            "+": ["1", "1"],
            "-": ["1", "-1"],
            "*": [b, a],
            "/": [f"1 / {b}", f"-{a} / {b}^2"],
            "**": [f"{b} {a}^{{{b} - 1}}", rf"{a}^{{{b}}} \log {a}"],
            "neg": ["-1"],
            "copy": ["1"],
            "exp": [rf"\exp({a})"],
            "log": [f"1 / {a}"],
            "sigmoid": [rf"\sigma({a})(1 - \sigma({a}))"],
            "tanh": [rf"1 - \tanh^2({a})"],
            "max": [f"[{a} \\ge {b}]", f"[{b} > {a}]"],
        }[node.op]


def _apply(node):
    """``(value, local derivatives)`` of an operation node from its inputs' values."""
    values = [source.value for source in node.inputs]
    a = values[0]
    b = values[1] if len(values) > 1 else None
    try:
        if node.op == "+":
            return a + b, [1.0, 1.0]
        if node.op == "-":
            return a - b, [1.0, -1.0]
        if node.op == "*":
            return a * b, [b, a]
        if node.op == "/":
            if b == 0:
                raise MlpError(f"division by zero at {node.inputs[1].name} = 0")
            return a / b, [1 / b, -a / b**2]
        if node.op == "**":
            value = a**b
            if isinstance(value, complex):
                raise MlpError(f"{node.inputs[0].name}^{node.inputs[1].name}: {a:g} ** {b:g} is not a real number")
            d_base = b * a ** (b - 1) if a != 0 or b >= 1 else math.inf
            d_exponent = value * math.log(a) if a > 0 else (0.0 if node.inputs[1].op == "const" else math.nan)
            return value, [d_base, d_exponent]
        if node.op == "neg":
            return -a, [-1.0]
        if node.op == "copy":
            return a, [1.0]
        if node.op == "exp":
            value = math.exp(a)
            return value, [value]
        if node.op == "log":
            if a <= 0:
                raise MlpError(
                    f"log({node.inputs[0].name}) at {node.inputs[0].name} = {a:g}: log needs a positive number"
                )
            return math.log(a), [1 / a]
        if node.op == "sigmoid":
            value = 1 / (1 + math.exp(-a)) if a >= 0 else math.exp(a) / (1 + math.exp(a))
            return value, [value * (1 - value)]
        if node.op == "tanh":
            value = math.tanh(a)
            return value, [1 - value**2]
        if node.op == "max":
            return max(a, b), [1.0 if a >= b else 0.0, 0.0 if a >= b else 1.0]
    except OverflowError:
        raise MlpError(f"{node.op} overflows at the values given") from None
    raise AssertionError(node.op)


def parse_at(text):
    """``x=-2,y=5`` as ``{"x": -2.0, "y": 5.0}``."""
    values = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        name, sep, number = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise MlpError(f"--at expects name=value pairs separated by commas, got {shown(item)}")
        try:
            value = float(number)
        except ValueError:
            raise MlpError(f"--at {name}: {shown(number.strip())} is not a number") from None
        if not math.isfinite(value):
            raise MlpError(f"--at {name}: must be a finite number, got {shown(number.strip())}")
        values[name] = value
    return values


def finite_differences(graph, at, eps=1e-6):
    """Central differences of f in each variable."""
    numeric = {}
    for name in graph.variables:
        plus, minus = dict(at), dict(at)
        plus[name] += eps
        minus[name] -= eps
        numeric[name] = (graph.value_at(plus) - graph.value_at(minus)) / (2 * eps)
    return numeric


def dot(graph):
    """The graph in Graphviz DOT: each node with its value and gradient, each edge with ∂out/∂in."""
    lines = ["digraph f {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    ids = {id(node): f"n{i}" for i, node in enumerate(graph.nodes)}
    for node in graph.nodes:
        label = node.name if node.op in ("var", "const") else f"{node.name} = {plain(graph.formula(node))}"
        label = f"{label}\\nvalue {node.value:.4g}" + ("" if node.op == "const" else f"\\ngradient {node.grad:.4g}")
        lines.append(f'  {ids[id(node)]} [label="{label}"];')
    for node in graph.nodes:
        for source, derivative in zip(node.inputs, node.local):
            lines.append(f'  {ids[id(source)]} -> {ids[id(node)]} [label="{derivative:.4g}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def explain_expression(text, at_text, fmt="text"):
    """Algorithms 6.1 and 6.2 worked through ``text`` at the values ``at_text`` (``x=-2,y=5``)."""
    graph = Graph(text)
    at = parse_at(at_text)
    value = graph.evaluate(at)
    numeric = finite_differences(graph, at)
    out = Renderer(fmt)
    where = ", ".join(f"{name} = {number(v)}" for name, v in at.items())
    title = f"f = {text.strip()} at {where}"
    if fmt == "markdown":
        out.lines += [f"## `{title}`", ""]
    elif fmt == "latex":
        out.lines.append(f"\\subsection*{{\\texttt{{{title}}}}}")
    else:
        out.lines += [title, "=" * len(title)]
    out.heading("Forward (Algorithm 6.1): each node from its inputs")
    for node in graph.nodes:
        if node.op == "var":
            out.paragraph(out.math(node.name) + f" = {number(node.value)}")
        elif node.op != "const":
            out.paragraph(out.math(f"{node.name} = {graph.formula(node)}") + f" = {number(node.value)}")
    out.heading("Backward (Algorithm 6.2): from df/df = 1, each node passes its gradient to its inputs")
    for node in reversed(graph.nodes):
        if not node.inputs:
            continue
        parts = []
        for source, formula, derivative in zip(node.inputs, graph.local_formulas(node), node.local):
            if source.op == "const":
                continue
            local = rf"\partial {node.name}/\partial {source.name} = {formula}"
            equals = "" if formula == number(derivative) else f" = {number(derivative)}"
            parts.append(
                out.math(local)
                + f"{equals}, so "
                + out.math(rf"\partial f/\partial {source.name}")
                + f" += {number(node.grad)} × {number(derivative)} = {number(node.grad * derivative)}"
            )
        if parts:
            gradient = out.math(rf"\partial f/\partial {node.name}") + f" = {number(node.grad)}"
            out.paragraph(out.math(f"{node.name} = {graph.formula(node)}") + f" ({gradient}): " + "; ".join(parts))
    out.heading("Gradients")
    for name, node in graph.variables.items():
        error = abs(node.grad - numeric[name]) / max(abs(node.grad) + abs(numeric[name]), 1e-8)
        out.paragraph(
            out.math(rf"\partial f/\partial {name}")
            + f" = {number(node.grad)}  (central finite difference {number(numeric[name])}, relative error {error:.1e})"
        )
    out.paragraph(f"f = {number(value)}")
    return out.text(), graph
