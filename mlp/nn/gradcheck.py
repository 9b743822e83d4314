"""Gradient checking: analytic backpropagation against central finite differences in float64.

For every parameter θ_j and every input element x_j, the fourth-order central difference

    numeric_j = (J(θ_j − 2ε) − 8 J(θ_j − ε) + 8 J(θ_j + ε) − J(θ_j + 2ε)) / 12ε,
    J = loss(model(x), y) + λΩ(θ),

and the reported error of an array is

    max_j |analytic_j − numeric_j| / max(|analytic_j| + |numeric_j|, 1e-5·max(1, |J|)),

a relative error that stays meaningful where both gradients are tiny. Dropout masks are held fixed by
restoring every layer's random state before each evaluation. The module is callable:
``mlp.gradcheck(model, loss, x, y)`` is ``mlp.gradcheck.check_gradients(model, loss, x, y)``.
"""

import sys
import types

import numpy as np

# With ε = 1e-4 the truncation error is O(ε⁴) and the rounding in J (relative 1e-16) divided by ε
# leaves an absolute noise of about 2e-12·max(1, |J|); gradients smaller than FLOOR·max(1, |J|) are
# compared against that instead of their own size. Kinks (ReLU at 0, hinge margins) must lie more
# than 2ε away from the point.
FLOOR = 1e-5


def _random_states(model):
    return [(layer.rng, layer.rng.bit_generator.state) for layer in model.layers if hasattr(layer, "rng")]


def _objective(model, loss, x, y, regularizer, states):
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


def check_gradients(model, loss, x, y, regularizer=None, eps=1e-4, entries=None, rng=None):
    """Max relative error per parameter key (``"0.W"``, …) and for ``"input"``.

    Parameters
    ----------
    model : Sequential in float64 (``ValueError`` otherwise: float32 cannot resolve ε-differences).
    loss : a loss object; ``y`` its target.
    x : array of shape (N, d_in).
    regularizer : optional; its λΩ is part of J and its λ∇Ω part of the analytic gradient.
    entries : optional; check at most this many entries of each array, drawn with ``rng``
        (for large networks, where 2 forward passes per entry add up).
    """
    if model.dtype != np.float64:
        raise ValueError(f"gradcheck needs a float64 model, got {model.dtype} (build it with dtype=np.float64)")
    x = np.array(x, dtype=np.float64)
    states = _random_states(model)
    floor = FLOOR * max(1.0, abs(_objective(model, loss, x, y, regularizer, states)))
    input_grad = model.backward(loss.backward())
    if regularizer is not None:
        regularizer.add_gradient(model)
    analytic = {key: grad.copy() for key, _, grad in model.parameters()}
    analytic["input"] = np.asarray(input_grad, dtype=np.float64)

    targets = {key: param for key, param, _ in model.parameters()}
    targets["input"] = x
    errors = {}
    for key, array in targets.items():
        flat = array.reshape(-1)
        picked = np.arange(flat.size)
        if entries is not None and flat.size > entries:
            picked = np.sort((rng or np.random.default_rng(0)).choice(flat.size, entries, replace=False))
        out = np.zeros(len(picked))
        for slot, j in enumerate(picked):
            saved = flat[j]
            values = []
            for step in (-2, -1, 1, 2):
                flat[j] = saved + step * eps
                values.append(_objective(model, loss, x, y, regularizer, states))
            flat[j] = saved
            out[slot] = (values[0] - 8 * values[1] + 8 * values[2] - values[3]) / (12 * eps)
        errors[key] = relative_error(analytic[key].reshape(-1)[picked], out, floor)
    return errors


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return check_gradients(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
