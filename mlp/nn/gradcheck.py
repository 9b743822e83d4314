"""Gradient checking: analytic backpropagation against central finite differences in float64.

For every parameter θ_j and every input element x_j, the fourth-order central difference

    numeric_j = (J(θ_j − 2ε) − 8 J(θ_j − ε) + 8 J(θ_j + ε) − J(θ_j + 2ε)) / 12ε,
    J = loss(model(x), y) + λΩ(θ),

and the reported error of an array is

    max_j |analytic_j − numeric_j| / max(|analytic_j| + |numeric_j|, 1e-5·max(1, |J|)),

a relative error that stays meaningful where both gradients are tiny. An entry whose central
differences over ±ε and ±2ε disagree (relative 1e-3) has a kink of J within 2ε — a ReLU input near
0, a hinge margin — where no finite difference is the derivative: it is left out, and counted. Dropout masks are held fixed by
restoring every layer's random state before each evaluation. The module is callable:
``mlp.gradcheck(model, loss, x, y)`` is ``mlp.gradcheck.check_gradients(model, loss, x, y)``.
"""

import sys
import types
from dataclasses import dataclass

import numpy as np

# With ε = 1e-4 the truncation error is O(ε⁴) and the rounding in J (relative 1e-16) divided by ε
# leaves an absolute noise of about 2e-12·max(1, |J|); gradients smaller than FLOOR·max(1, |J|) are
# compared against that instead of their own size. Kinks (ReLU at 0, hinge margins) must lie more
# than 2ε away from the point.
FLOOR = 1e-5
KINK = 1e-3  # relative disagreement of the ±ε and ±2ε differences that marks a kink in between


def random_states(model):
    return [(layer.rng, layer.rng.bit_generator.state) for layer in model.layers if hasattr(layer, "rng")]


def objective(model, loss, x, y, regularizer, states):
    for rng, state in states:
        rng.bit_generator.state = state
    value = loss.forward(model.forward(x, training=True), y)
    return value + (regularizer.penalty(model) if regularizer is not None else 0.0)


def relative_error(analytic, numeric, floor=FLOOR):
    """max |a − n| / max(|a| + |n|, floor) over the elements (0 for empty arrays)."""
    if analytic.size == 0:
        return 0.0
    scale = np.maximum(np.abs(analytic) + np.abs(numeric), floor)
    return float(np.max(np.abs(analytic - numeric) / scale))


@dataclass
class Comparison:
    """One array's check: its layer, its key, the largest relative error and the entry where it is,
    with the analytic and numeric values there."""

    layer: int
    name: str  # the layer's class
    key: str  # "W", "b", … or "input" (dJ/d of the layer's input)
    error: float
    index: tuple
    analytic: float
    numeric: float
    kinks: int = 0  # entries left out: J has a kink within 2ε of them


def check_gradients(model, loss, x, y, regularizer=None, eps=1e-4, entries=None, rng=None):
    """Max relative error per parameter key (``"0.W"``, …) and for ``"input"`` (the network's).

    Parameters
    ----------
    model : Sequential in float64 (``ValueError`` otherwise: float32 cannot resolve ε-differences).
    loss : a loss object; ``y`` its target.
    x : array of shape (N, d_in).
    regularizer : optional; its λΩ is part of J and its λ∇Ω part of the analytic gradient.
    entries : optional; check at most this many entries of each array, drawn with ``rng``
        (for large networks, where 2 forward passes per entry add up).
    """
    rows = compare_layers(model, loss, x, y, regularizer, eps, entries, rng, every_input=False)
    errors = {f"{row.layer}.{row.key}": row.error for row in rows if row.key != "input"}
    errors["input"] = next(row.error for row in rows if row.layer == 0 and row.key == "input")
    return errors


def compare_layers(model, loss, x, y, regularizer=None, eps=1e-4, entries=None, rng=None, every_input=True):
    """A :class:`Comparison` per array of every layer, in order: its parameters, then the gradient
    on its input (so parameter-free layers are checked too: dJ/dh⁽ᵏ⁻¹⁾ by perturbing their input and
    running the network from there on); ``every_input=False``: the network's input only."""
    if model.dtype != np.float64:
        raise ValueError(f"gradcheck needs a float64 model, got {model.dtype} (build it with dtype=np.float64)")
    x = np.array(x, dtype=np.float64)
    states = random_states(model)
    floor = FLOOR * max(1.0, abs(objective(model, loss, x, y, regularizer, states)))
    inputs = layer_inputs(model, x, states)
    g = loss.backward()
    input_grads = [None] * len(model.layers)
    for index in range(len(model.layers) - 1, -1, -1):
        g = model.layers[index].backward(g)
        input_grads[index] = np.asarray(g, dtype=np.float64)
    if regularizer is not None:
        regularizer.add_gradient(model)
    rows = []
    pick = rng or np.random.default_rng(0)
    for index, layer in enumerate(model.layers):
        arrays = [(key, layer.params[key], layer.grads[key].copy()) for key in layer.params]
        if every_input or index == 0:
            arrays.append(("input", inputs[index], input_grads[index]))
        for key, array, analytic in arrays:

            def measured(index=index, key=key):
                if key == "input":
                    return objective_from(model, index, x, inputs[index], loss, y, regularizer, states)
                return objective(model, loss, x, y, regularizer, states)

            rows.append(
                _compare(index, type(layer).__name__, key, array, analytic, measured, eps, entries, pick, floor)
            )
    return rows


def layer_inputs(model, x, states):
    """h⁽ᵏ⁻¹⁾ for every layer k (copies), from one training forward with the held dropout masks."""
    for rng, state in states:
        rng.bit_generator.state = state
    inputs, h = [], x
    for layer in model.layers:
        inputs.append(np.array(h, dtype=np.float64))
        h = layer.forward(h, training=True)
    return inputs


def objective_from(model, start, x, h, loss, y, regularizer, states):
    """J with layer ``start``'s input replaced by ``h``; the layers below still run on ``x`` so that
    a shared dropout generator draws the same masks as in a full forward."""
    for rng, state in states:
        rng.bit_generator.state = state
    below = x
    for layer in model.layers[:start]:
        below = layer.forward(below, training=True)
    for layer in model.layers[start:]:
        h = layer.forward(h, training=True)
    value = loss.forward(h, y)
    return value + (regularizer.penalty(model) if regularizer is not None else 0.0)


def numeric_gradient(objective, array, picked, eps=1e-4, floor=FLOOR):
    """``(numeric, smooth)`` at the flat entries ``picked`` of ``array`` (changed in place and
    restored): the fourth-order central difference of ``objective()``, and whether J is smooth there
    (its differences over ±ε and ±2ε agree; across a kink — ReLU at 0, a hinge's margin — they do
    not, and no finite difference is the derivative)."""
    flat = array.reshape(-1)
    numeric = np.zeros(len(picked))
    smooth = np.ones(len(picked), dtype=bool)
    for slot, j in enumerate(picked):
        saved = flat[j]
        values = []
        for step in (-2, -1, 1, 2):
            flat[j] = saved + step * eps
            values.append(objective())
        flat[j] = saved
        numeric[slot] = (values[0] - 8 * values[1] + 8 * values[2] - values[3]) / (12 * eps)
        narrow, wide = (values[2] - values[1]) / (2 * eps), (values[3] - values[0]) / (4 * eps)
        smooth[slot] = abs(narrow - wide) <= KINK * max(abs(narrow) + abs(wide), floor)
    return numeric, smooth


def _compare(index, name, key, array, analytic, objective, eps, entries, rng, floor):
    picked = np.arange(array.size)
    if entries is not None and array.size > entries:
        picked = np.sort(rng.choice(array.size, entries, replace=False))
    numeric, smooth = numeric_gradient(objective, array, picked, eps, floor)
    kinks = int(np.sum(~smooth))
    mine, numeric, picked = analytic.reshape(-1)[picked][smooth], numeric[smooth], picked[smooth]
    if mine.size == 0:
        return Comparison(index, name, key, 0.0, (), 0.0, 0.0, kinks)
    scale = np.maximum(np.abs(mine) + np.abs(numeric), floor)
    worst = int(np.argmax(np.abs(mine - numeric) / scale))
    where = tuple(int(i) for i in np.unravel_index(int(picked[worst]), array.shape))
    return Comparison(
        index, name, key, relative_error(mine, numeric, floor), where, float(mine[worst]), float(numeric[worst]), kinks
    )


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return check_gradients(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
