"""Algorithms 6.3 and 6.4 worked through one minibatch, in the book's notation, with every number
captured from the layers as they compute it and checked against central finite differences.

Layers k = 1 … l: layer k is a ``Linear`` (W⁽ᵏ⁾, b⁽ᵏ⁾) and the activation and dropout after it.
Rows are examples: h⁽⁰⁾ = x is (N, d), a⁽ᵏ⁾ = h⁽ᵏ⁻¹⁾W⁽ᵏ⁾ᵀ + b⁽ᵏ⁾, h⁽ᵏ⁾ = f(a⁽ᵏ⁾), ŷ = a⁽ˡ⁾ (the
loss applies the softmax or sigmoid), J = L + λΩ. Backward, from g ← ∇_ŷ J: per layer,
g ← g ⊙ f'(a⁽ᵏ⁾), ∇_{W⁽ᵏ⁾} J = gᵀh⁽ᵏ⁻¹⁾ + λ∇Ω, ∇_{b⁽ᵏ⁾} J = Σ_n g, g ← gW⁽ᵏ⁾.

Symbols and equations are written in a small LaTeX subset; :mod:`mlp.explain.render` turns them
into plain text, Markdown or LaTeX.
"""

from dataclasses import dataclass, field

import numpy as np

from ..nn import gradcheck
from ..nn.layers import Dropout, Identity, LeakyReLU, Linear, ReLU, Sigmoid, Tanh

WHOLE_ROWS, WHOLE_WIDTH, SHOWN_ENTRIES = 4, 8, 3

ACTIVATION = {  # class -> (f, f'), "@" standing for the argument
    ReLU: (r"\max(0, @)", r"[@ > 0]"),
    LeakyReLU: (r"\max(\alpha @, @)", r"[@ > 0] + \alpha [@ \le 0]"),
    Sigmoid: (r"\sigma(@)", r"\sigma(@)(1 - \sigma(@))"),
    Tanh: (r"\tanh(@)", r"1 - \tanh^2(@)"),
    Identity: ("@", "1"),
}


@dataclass
class Quantity:
    """One line of the trace: ``symbol = equation`` and its value; with ``numeric`` (the finite
    differences at the flat entries ``entries``) and their largest relative ``error``."""

    symbol: str
    equation: str | None
    value: np.ndarray
    numeric: np.ndarray | None = None
    entries: np.ndarray | None = None
    error: float | None = None
    note: str = ""

    @property
    def whole(self):
        """Printed whole (small), or as shape, norm and a few entries."""
        shape = np.shape(self.value)
        return (
            len(shape) < 2
            and np.size(self.value) <= WHOLE_WIDTH
            or (len(shape) == 2 and shape[0] <= max(WHOLE_ROWS, WHOLE_WIDTH) and shape[1] <= WHOLE_WIDTH)
        )


@dataclass
class Trace:
    """The worked example: where the rows come from, then the steps of each pass."""

    source: str
    rows: list
    x: np.ndarray
    y: np.ndarray
    loss: str
    forward: list = field(default_factory=list)  # (k or None, Quantity)
    objective: dict = field(default_factory=dict)  # L, lam, omega, J
    backward: list = field(default_factory=list)


def sup(k, transposed=False):
    """The book's layer superscript ⁽ᵏ⁾ (with ᵀ: of a transpose)."""
    return f"^{{({k})" + (r"\top" if transposed else "") + "}"


def trace(network, loss, regularizer, x, y, source="", rows=()):
    """Run ``network`` (float64) forward and backward on ``x`` (N, d) with targets ``y``, layer by
    layer, capturing each quantity; check every captured gradient by finite differences."""
    x = np.array(x, dtype=np.float64)
    states = gradcheck.random_states(network)
    result = Trace(source, list(rows), x, np.asarray(y), type(loss).__name__)
    layers = network.layers
    book = _book_layers(layers)
    for rng, state in states:  # the dropout masks the finite differences will hold fixed
        rng.bit_generator.state = state
    inputs, h = [], x
    result.forward.append((0, Quantity(r"h" + sup(0) + " = x", None, x.copy())))
    for index, layer in enumerate(layers):
        inputs.append(h.copy())
        h = layer.forward(h, training=True)
        k = book[index]
        result.forward += _forward_steps(layer, k, index, h, layers)
    data_loss = float(loss.forward(h, y))
    penalty = float(regularizer.penalty(network)) if regularizer is not None else 0.0
    lam = float(getattr(regularizer, "lam", 0.0)) if regularizer is not None else 0.0
    result.objective = {"L": data_loss, "lam": lam, "penalty": penalty, "J": data_loss + penalty}

    def full():
        return gradcheck.objective(network, loss, x, y, regularizer, states)

    def from_layer(index):
        return lambda: gradcheck.objective_from(network, index, x, inputs[index], loss, y, regularizer, states)

    floor = gradcheck.FLOOR * max(1.0, abs(result.objective["J"]))
    output = h.copy()
    g = loss.backward()
    result.backward.append(
        (
            None,
            _checked(
                r"g \leftarrow \nabla_{\hat{y}} J", None, g, output, lambda: _loss_at(loss, y, output, penalty), floor
            ),
        )
    )
    captured = []
    for index in range(len(layers) - 1, -1, -1):
        layer = layers[index]
        g = layer.backward(g, input_grad=True)
        captured.append((index, np.array(g, dtype=np.float64)))
    if regularizer is not None:
        regularizer.add_gradient(network)
    for index, g_in in captured:  # the gradients λ∇Ω included
        layer, k = layers[index], book[index]
        result.backward += _backward_steps(layer, k, g_in, inputs[index], full, from_layer(index), floor, lam)
    return result


def _book_layers(layers):
    """k for each layer: a Linear starts layer k; what follows belongs to it (k = 0 before the first)."""
    k, ks = 0, []
    for layer in layers:
        if isinstance(layer, Linear):
            k += 1
        ks.append(k)
    return ks


def _last_linear(index, layers):
    return not any(isinstance(layer, Linear) for layer in layers[index + 1 :])


def _forward_steps(layer, k, index, out, layers):
    if isinstance(layer, Linear):
        steps = [
            (k, Quantity("W" + sup(k), None, layer.params["W"].copy())),
            (k, Quantity("b" + sup(k), None, layer.params["b"].copy())),
        ]
        symbol = "a" + sup(k) + (r" = \hat{y}" if _last_linear(index, layers) else "")
        equation = "h" + sup(k - 1) + " W" + sup(k, transposed=True) + " + b" + sup(k)
        return steps + [(k, Quantity(symbol, equation, out.copy()))]
    if isinstance(layer, Dropout):
        equation = "h" + sup(k) + r" \odot m" + sup(k) + f" / (1 - {layer.p:g})"
        return [(k, Quantity("h" + sup(k), equation, out.copy(), note="m: this minibatch's dropout mask"))]
    f = ACTIVATION.get(type(layer), (type(layer).__name__ + "(@)", None))[0]
    return [(k, Quantity("h" + sup(k), f.replace("@", "a" + sup(k)), out.copy()))]


def _backward_steps(layer, k, g_in, h_in, full, from_layer, floor, lam):
    if isinstance(layer, Linear):
        penalty = r" + \lambda \nabla_{W" + sup(k) + r"} \Omega" if lam > 0 else ""
        steps = [
            (
                k,
                _checked(
                    r"\nabla_{W" + sup(k) + "} J",
                    r"g^\top h" + sup(k - 1) + penalty,
                    layer.grads["W"].copy(),
                    layer.params["W"],
                    full,
                    floor,
                ),
            ),
            (
                k,
                _checked(
                    r"\nabla_{b" + sup(k) + "} J",
                    r"\sum_n g_n",
                    layer.grads["b"].copy(),
                    layer.params["b"],
                    full,
                    floor,
                ),
            ),
        ]
        target = "x" if k == 1 else "h" + sup(k - 1)
        steps.append(
            (k, _checked(r"g \leftarrow \nabla_{" + target + "} J", "g W" + sup(k), g_in, h_in, from_layer, floor))
        )
        return steps
    if isinstance(layer, Dropout):
        symbol = r"g \leftarrow \nabla_{h" + sup(k) + "} J"
        return [(k, _checked(symbol, r"g \odot m" + sup(k) + f" / (1 - {layer.p:g})", g_in, h_in, from_layer, floor))]
    derivative = ACTIVATION.get(type(layer), (None, "f'(@)"))[1].replace("@", "a" + sup(k))
    symbol = r"g \leftarrow \nabla_{a" + sup(k) + "} J"
    note = "f'(a" + sup(k) + ") = " + derivative
    return [(k, _checked(symbol, r"g \odot f'(a" + sup(k) + ")", g_in, h_in, from_layer, floor, note=note))]


def _loss_at(loss, y, output, penalty):
    """J as a function of the network's output (the penalty does not depend on it)."""
    return float(loss.forward(output, y)) + penalty


def _checked(symbol, equation, value, variable, objective, floor, note=""):
    """A gradient quantity, with finite differences of ``objective`` in ``variable``'s entries (all
    of them for a small array, else the largest few of the gradient)."""
    value = np.asarray(value, dtype=np.float64)
    quantity = Quantity(symbol, equation, value, note=note)
    flat = value.reshape(-1)
    entries = np.arange(flat.size) if quantity.whole else np.sort(np.argsort(-np.abs(flat))[:SHOWN_ENTRIES])
    numeric, smooth = gradcheck.numeric_gradient(objective, variable, entries, floor=floor)
    quantity.numeric, quantity.entries = numeric, entries
    mine = flat[entries][smooth]
    quantity.error = gradcheck.relative_error(mine, numeric[smooth], floor) if mine.size else 0.0
    if not smooth.all():
        quantity.note = (
            quantity.note + "; " if quantity.note else ""
        ) + f"{int((~smooth).sum())} entries at a kink left out"
    return quantity
