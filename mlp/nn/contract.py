"""The layer contract, checked: an autograder for anyone who writes a layer.

:func:`check_layer` runs one layer alone and checks each rule of the contract in
:mod:`mlp.nn.layers`:

==========================  ======================================================================
``gradients``               ``backward`` matches central finite differences in float64, for the
                            input and every parameter: J = Σ f(x) ⊙ R for a fixed random R, so
                            ∂J/∂(output) = R and ∂J/∂θ_j ≈ (J(θ_j + ε) − J(θ_j − ε)) / 2ε
``grads in place``          ``backward`` writes into the arrays of ``grads`` (and keeps those of
                            ``params``): a :class:`~mlp.nn.network.Sequential` hands those very
                            arrays to the optimizer
``grads overwritten``       a second ``backward`` gives the same ``grads``, not their sum
``params unchanged``        ``backward`` leaves ``params`` as they were (updating is the optimizer's)
``no cache in evaluation``  ``forward(x, training=False)`` between a training forward and its
                            ``backward`` does not replace what ``backward`` uses
``dtype kept``              float32 in, float32 out (output, input gradient and ``grads``)
``backward needs forward``  ``backward`` before any ``forward`` raises an error
==========================  ======================================================================

A layer in float32 is checked for gradients on a float64 copy (its arrays cast), since float32
cannot resolve ε-differences.
"""

import copy
from dataclasses import dataclass, field

import numpy as np

from .gradcheck import relative_error
from .layers import Layer

EPS = 1e-6


@dataclass
class Check:
    """One rule: whether it held, and what was seen when it did not (or the figures when it did)."""

    name: str
    passed: bool
    detail: str = ""


@dataclass
class LayerReport:
    """The verdict of :func:`check_layer`: ``passed`` when every check passed; ``str()`` reads as a report."""

    layer: str
    checks: list = field(default_factory=list)
    worst: dict = field(default_factory=dict)  # array -> (index, analytic, numeric, relative error)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def failed(self):
        return [check for check in self.checks if not check.passed]

    def __str__(self):
        verdict = "PASSED" if self.passed else f"FAILED ({len(self.failed())} of {len(self.checks)} checks)"
        lines = [f"check_layer({self.layer}): {verdict}"]
        width = max(len(check.name) for check in self.checks)
        for check in self.checks:
            mark = "ok  " if check.passed else "FAIL"
            lines.append(f"  {mark} {check.name.ljust(width)}  {check.detail}".rstrip())
        return "\n".join(lines)


def check_layer(layer: Layer, input_shape: tuple[int, int], *, tolerance: float = 1e-6, seed: int = 0) -> LayerReport:
    """Check ``layer`` (given inputs of shape ``input_shape`` = (N, d_in)) against the layer contract.

    Returns a :class:`LayerReport`; ``print`` it for the report. Give it a layer that has not run
    ``forward`` yet (one check calls ``backward`` first); the layer itself is not changed: every
    check runs on copies.
    """
    rng = np.random.default_rng(seed)
    shown = repr(layer)
    report = LayerReport(shown if shown.startswith(type(layer).__name__) else f"{type(layer).__name__}: {shown}")
    report.checks.append(_gradients(layer, input_shape, tolerance, rng, report))
    x = rng.standard_normal(input_shape)
    for rule in (_in_place, _overwritten, _params_unchanged, _no_cache_in_evaluation, _dtype_kept, _needs_forward):
        try:
            report.checks.append(rule(copy.deepcopy(layer), x, rng))
        except Exception as exc:  # the layer raised where the contract allows no error
            name = rule.__name__.strip("_").replace("_", " ")
            report.checks.append(Check(NAMES[name], False, f"raised {type(exc).__name__}: {exc}"))
    return report


NAMES = {
    "in place": "grads in place",
    "overwritten": "grads overwritten",
    "params unchanged": "params unchanged",
    "no cache in evaluation": "no cache in evaluation",
    "dtype kept": "dtype kept",
    "needs forward": "backward needs forward",
}


def _dtype(layer):
    """The layer's dtype: its parameters', else its ``dtype`` attribute, else float32 (a network's default)."""
    arrays = [*layer.params.values()]
    return arrays[0].dtype if arrays else np.dtype(getattr(layer, "dtype", np.float32))


def _in_float64(layer):
    """A copy of ``layer`` computing in float64 (its arrays cast, its ``dtype`` set)."""
    twin = copy.deepcopy(layer)
    for name in ("params", "grads", "buffers"):
        arrays = getattr(twin, name, {})
        for key in list(arrays):
            arrays[key] = np.array(arrays[key], dtype=np.float64)
    if hasattr(twin, "dtype"):
        twin.dtype = np.dtype(np.float64)
    return twin


def _random_states(layer):
    rng = getattr(layer, "rng", None)
    return (rng, rng.bit_generator.state) if isinstance(rng, np.random.Generator) else None


def _objective(layer, x, projection, state):
    if state is not None:  # the same dropout mask at every evaluation
        state[0].bit_generator.state = state[1]
    return float(np.sum(layer.forward(x, True) * projection))


def _gradients(layer, input_shape, tolerance, rng, report):
    twin = _in_float64(layer)
    x = rng.standard_normal(input_shape)
    state = _random_states(twin)
    try:
        output = twin.forward(x.copy(), True)
        projection = rng.standard_normal(np.shape(output))
        _objective(twin, x, projection, state)
        saved = {key: param.copy() for key, param in twin.params.items()}
        input_grad = twin.backward(projection.copy())
        for key, param in twin.params.items():  # a backward that changes params fails its own check
            param[...] = saved[key]
    except Exception as exc:
        return Check("gradients", False, f"forward/backward raised {type(exc).__name__}: {exc}")
    analytic = {"input": np.asarray(input_grad, dtype=np.float64)}
    analytic.update({key: np.array(grad, dtype=np.float64) for key, grad in twin.grads.items()})
    targets = {"input": x, **twin.params}
    errors = []
    for key, array in targets.items():
        flat = array.reshape(-1)
        numeric = np.empty(flat.size)
        for j in range(flat.size):
            saved = flat[j]
            flat[j] = saved + EPS
            plus = _objective(twin, x, projection, state)
            flat[j] = saved - EPS
            minus = _objective(twin, x, projection, state)
            flat[j] = saved
            numeric[j] = (plus - minus) / (2 * EPS)
        mine = analytic[key].reshape(-1) if analytic[key].size == flat.size else None
        if mine is None:
            errors.append(f"{key}: gradient of shape {analytic[key].shape}, expected {array.shape}")
            continue
        scale = np.maximum(np.abs(mine) + np.abs(numeric), 1e-8)
        worst = int(np.argmax(np.abs(mine - numeric) / scale))
        error = relative_error(mine, numeric, 1e-8)
        index = tuple(int(i) for i in np.unravel_index(worst, array.shape))
        report.worst[key] = (index, float(mine[worst]), float(numeric[worst]), error)
        if error > tolerance:
            errors.append(
                f"{key}{list(index)}: analytic {mine[worst]:.6g}, numeric {numeric[worst]:.6g} (relative error {error:.1e})"
            )
    if errors:
        return Check("gradients", False, "; ".join(errors))
    figures = ", ".join(f"{key} {report.worst[key][3]:.1e}" for key in targets)
    return Check("gradients", True, f"max relative error {figures} (tolerance {tolerance:g})")


def _same(a, b):
    """Equal up to float32 rounding (the contract checks run in the layer's own dtype)."""
    return np.allclose(a, b, rtol=1e-5, atol=1e-7)


def _forward_backward(layer, x, rng):
    x = x.astype(_dtype(layer))
    output = layer.forward(x, True)
    g = rng.standard_normal(np.shape(output)).astype(_dtype(layer))
    return output, g


def _in_place(layer, x, rng):
    kept = {kind: dict(getattr(layer, kind)) for kind in ("params", "grads")}
    _, g = _forward_backward(layer, x, rng)
    layer.backward(g)
    replaced = [
        f"{kind}[{key!r}]"
        for kind, arrays in kept.items()
        for key in arrays
        if getattr(layer, kind).get(key) is not arrays[key]
    ]
    if replaced:
        return Check(
            "grads in place",
            False,
            f"backward replaced {', '.join(replaced)} by {'a new array' if len(replaced) == 1 else 'new arrays'}; "
            f"write into it instead: self.{replaced[0]}[...] = value",
        )
    return Check("grads in place", True)


def _overwritten(layer, x, rng):
    _, g = _forward_backward(layer, x, rng)
    layer.backward(g)
    once = {key: grad.copy() for key, grad in layer.grads.items()}
    layer.backward(g)
    grown = [key for key in once if not _same(layer.grads[key], once[key])]
    if grown:
        key = grown[0]
        ratio = float(np.linalg.norm(layer.grads[key]) / max(np.linalg.norm(once[key]), 1e-30))
        return Check(
            "grads overwritten",
            False,
            f"a second backward changed grads[{key!r}] (norm ×{ratio:.3g}): backward must overwrite grads, not add to them",
        )
    return Check("grads overwritten", True)


def _params_unchanged(layer, x, rng):
    before = {key: param.copy() for key, param in layer.params.items()}
    _, g = _forward_backward(layer, x, rng)
    layer.backward(g)
    changed = [key for key in before if not np.array_equal(layer.params[key], before[key])]
    if changed:
        return Check(
            "params unchanged", False, f"backward changed params[{changed[0]!r}]: updating is the optimizer's job"
        )
    return Check("params unchanged", True)


def _no_cache_in_evaluation(layer, x, rng):
    """forward(x1, training) · forward(x2, evaluation) · backward(g): raises (the evaluation pass
    cleared the cache) or gives what backward gives right after forward(x1) — never x2's gradients."""
    state = _random_states(layer)
    reference = copy.deepcopy(layer)
    _, g = _forward_backward(reference, x, rng)
    expected_input = np.asarray(reference.backward(g.copy()))
    expected = {key: grad.copy() for key, grad in reference.grads.items()}
    if state is not None:
        layer.rng.bit_generator.state = state[1]
    layer.forward(x.astype(_dtype(layer)), True)
    layer.forward(rng.standard_normal(x.shape).astype(_dtype(layer)), False)
    try:
        got_input = np.asarray(layer.backward(g.copy()))
    except Exception:
        return Check("no cache in evaluation", True)
    differ = [key for key in expected if not _same(layer.grads[key], expected[key])]
    if differ or not _same(got_input, expected_input):
        what = f"grads[{differ[0]!r}]" if differ else "the input gradient"
        return Check(
            "no cache in evaluation",
            False,
            f"forward(x, training=False) between forward and backward changed {what}: the evaluation pass "
            f"replaced what backward uses; cache only when training is true",
        )
    return Check("no cache in evaluation", True)


def _dtype_kept(layer, x, rng):
    dtype = _dtype(layer)
    output, g = _forward_backward(layer, x, rng)
    input_grad = layer.backward(g)
    wrong = []
    if np.asarray(output).dtype != dtype:
        wrong.append(f"output is {np.asarray(output).dtype}")
    if input_grad is not None and np.asarray(input_grad).dtype != dtype:
        wrong.append(f"input gradient is {np.asarray(input_grad).dtype}")
    wrong += [f"grads[{key!r}] is {grad.dtype}" for key, grad in layer.grads.items() if grad.dtype != dtype]
    if wrong:
        return Check("dtype kept", False, f"{dtype} in, but {', '.join(wrong)}")
    return Check("dtype kept", True, f"{dtype}")


def _needs_forward(layer, x, rng):
    output, g = _forward_backward(copy.deepcopy(layer), x, rng)  # on a copy: only for g's shape
    try:
        layer.backward(g)
    except Exception as exc:
        return Check("backward needs forward", True, f"{type(exc).__name__}")
    return Check("backward needs forward", False, "backward before any forward returned instead of raising an error")
