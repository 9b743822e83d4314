"""Losses L(output, target), reduced as J = (1/N) Σ_n L(output_n, target_n).

Each per-sample loss sums over the output components; ``forward`` returns J as a Python float and
``backward`` returns dJ/d(output), the 1/N included, with the dtype of the output.

=======================  ====================================================  ==================
name                     per-sample loss                                       target
=======================  ====================================================  ==================
``squared``              Σ_k (a_k − b_k)²           (no ½, as in the seed)     ``(N, K)`` / ``(N,)``
``absolute``             Σ_k |a_k − b_k|            (subgradient 0 at 0)       ``(N, K)`` / ``(N,)``
``huber``                Σ_k ½r² if |r| < δ, else δ|r| − ½δ²,  r = a_k − b_k   ``(N, K)`` / ``(N,)``
``cross_entropy``        −Σ_k b_k log softmax(a)_k  (logits in)                labels ``(N,)`` or
                                                                               rows ``(N, C)``
``binary_cross_entropy`` −b log σ(a) − (1 − b) log(1 − σ(a))  (logit in)       0/1, ``(N,)``/``(N,1)``
``hinge``                Σ_i max(0, δ − b_i a_i), b_i = +1 true class, else −1 labels ``(N,)``
``multiclass_hinge``     Σ_{i≠c} max(0, a_i − a_c + margin)  (Weston–Watkins)  labels ``(N,)``
=======================  ====================================================  ==================

At a kink the subgradient is 0: ``absolute`` at r = 0, ``hinge`` and ``multiclass_hinge`` exactly at
the margin. Huber is differentiable everywhere (its gradient is r inside, δ·sign(r) outside).

Shape: output ``(N, K)``; a regression target of shape ``(N,)`` is read as ``(N, 1)``.

``prepare_target`` checks and converts a target once; ``forward_prepared`` then skips the checks,
which is how the trainer uses a loss after validating the whole data set at load time. With sample
weights w the reduction is the weighted mean J = Σ_n w_n L_n / Σ_n w_n (``forward(..., weights)``,
``forward_weighted``), built from each loss's ``per_sample`` losses and gradients.
"""

from dataclasses import replace

import numpy as np

from .. import kernels
from ..registry import lookup
from ..validation import Setting, check_number, declared_settings
from .layers import FLOAT_DTYPES

DELTA = Setting("float", 1.0, low=0, low_open=True, doc="huber/hinge δ; multiclass_hinge margin")


def _check_output(output):
    output = np.asarray(output)
    if output.ndim != 2:
        raise ValueError(f"loss: output must have shape (N, K), got shape {output.shape}")
    if output.dtype not in FLOAT_DTYPES:
        output = output.astype(np.float64)
    return output


def check_weights(weights, n_rows):
    """Sample weights as float64 ``(N,)``: finite, >= 0, not all zero; else ``ValueError``."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (n_rows,):
        raise ValueError(f"sample weights must have shape ({n_rows},), got {weights.shape}")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or not weights.sum() > 0:
        raise ValueError("sample weights must be finite, >= 0 and not all zero")
    return weights


def as_labels(target, output_shape, loss_name):
    """Integer class labels ``(N,)`` in ``[0, K)`` for an output ``(N, K)``, else ``ValueError``."""
    target = np.asarray(target)
    n_rows, n_classes = output_shape
    if target.ndim != 1:
        raise ValueError(f"{loss_name}: target must be integer labels of shape (N,), got shape {target.shape}")
    if target.shape[0] != n_rows:
        raise ValueError(f"{loss_name}: target has {target.shape[0]} rows but the output has {n_rows}")
    if target.dtype.kind == "f":
        if not np.all(np.isfinite(target)) or not np.all(target == np.round(target)):
            raise ValueError(f"{loss_name}: target must be integer class labels, got non-integer values")
    elif target.dtype.kind not in "iub":
        raise ValueError(f"{loss_name}: target must be integer class labels, got dtype {target.dtype}")
    labels = target.astype(np.intp)
    bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if bad.size:
        raise ValueError(
            f"{loss_name}: label {target[bad[0]].item()!r} at row {bad[0]} is out of range: the output has "
            f"{n_classes} classes, so labels must be in 0..{n_classes - 1}"
        )
    return labels


class Loss:
    """Base class. Subclasses implement ``prepare_target`` and ``forward_prepared``.

    ``settings`` declares the config keys (under ``loss:``) the loss takes, as constructor arguments.
    """

    name = "loss"
    settings: dict = {}

    def __init__(self):
        self._grad = None

    def forward(self, output, target, weights=None):
        """J = mean over the batch of the per-sample loss, or with ``weights`` (N,) the weighted mean
        J = Σ_n w_n L_n / Σ_n w_n (weights >= 0, not all zero)."""
        output = _check_output(output)
        target = self.prepare_target(target, output.shape)
        if weights is None:
            return self.forward_prepared(output, target)
        return self.forward_weighted(output, target, check_weights(weights, output.shape[0]))

    def forward_weighted(self, output, target, weights):
        """J = Σ_n w_n L_n / Σ_n w_n for checked ``weights``; ``backward`` then gives
        dJ/da_n = (w_n / Σ w) dL_n/da_n."""
        losses, gradients = self.per_sample(output, target)
        share = weights / weights.sum()
        self._grad = lambda: gradients() * share.astype(output.dtype)[:, None]
        return float(np.dot(losses, share))

    def per_sample(self, output, target):
        """``(L, dL)``: the per-sample losses ``(N,)`` (float64) and a function giving dL_n/d(output_n)
        ``(N, K)``, without the 1/N of the mean."""
        raise NotImplementedError

    def backward(self):
        """dJ/d(output) for the last ``forward``, shape and dtype of that output."""
        if self._grad is None:
            raise RuntimeError(f"{self.name}: backward() needs a preceding forward()")
        return self._grad()

    def prepare_target(self, target, output_shape):
        raise NotImplementedError

    def forward_prepared(self, output, target):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class _RegressionLoss(Loss):
    def prepare_target(self, target, output_shape):
        target = np.asarray(target)
        if target.ndim == 1:
            target = target[:, None]
        if target.ndim != 2 or target.shape[1] != output_shape[1]:
            raise ValueError(f"{self.name}: target shape {np.shape(target)} does not fit output shape {output_shape}")
        if target.shape[0] != output_shape[0]:
            raise ValueError(f"{self.name}: target has {target.shape[0]} rows but the output has {output_shape[0]}")
        if target.dtype.kind not in "fiub":
            raise ValueError(f"{self.name}: target must be numeric, got dtype {target.dtype}")
        return target

    def forward_prepared(self, output, target):
        r = output - target.astype(output.dtype, copy=False)
        n = output.shape[0]
        self._grad = lambda: self._residual_grad(r) * output.dtype.type(1 / n)
        return float(np.sum(self._elementwise(r), dtype=np.float64)) / n

    def per_sample(self, output, target):
        r = output - target.astype(output.dtype, copy=False)
        return self._elementwise(r).sum(axis=1, dtype=np.float64), lambda: self._residual_grad(r)


class SquaredError(_RegressionLoss):
    """L = Σ_k (a_k − b_k)²; dL/da = 2(a − b)."""

    name = "squared"

    def _elementwise(self, r):
        return r * r

    def _residual_grad(self, r):
        return 2 * r


class AbsoluteError(_RegressionLoss):
    """L = Σ_k |a_k − b_k|; dL/da = sign(a − b), 0 at a = b."""

    name = "absolute"

    def _elementwise(self, r):
        return np.abs(r)

    def _residual_grad(self, r):
        return np.sign(r)


class Huber(_RegressionLoss):
    """L = Σ_k ½r² if |r| < δ else δ|r| − ½δ²; dL/da = r if |r| < δ else δ·sign(r)."""

    name = "huber"
    settings = {"delta": DELTA}

    def __init__(self, delta=1.0):
        super().__init__()
        self.delta = check_number("huber: delta", delta, 0, low_open=True)

    def _elementwise(self, r):
        absr = np.abs(r)
        return np.where(absr < self.delta, 0.5 * r * r, self.delta * absr - 0.5 * self.delta**2)

    def _residual_grad(self, r):
        return np.clip(r, -self.delta, self.delta)

    def __repr__(self):
        return f"Huber(delta={self.delta})"


class CrossEntropy(Loss):
    """Softmax cross-entropy on logits: L = logsumexp(a) − Σ_k b_k a_k·… (stable).

    For a label c: L = logsumexp(a) − a_c; for probability rows b: L = Σ_k b_k (logsumexp(a) − a_k).
    dL/da = softmax(a)·Σ_k b_k − b.
    """

    name = "cross_entropy"

    def prepare_target(self, target, output_shape):
        target = np.asarray(target)
        if target.ndim == 2 and target.dtype.kind == "f":
            if target.shape != tuple(output_shape):
                raise ValueError(
                    f"cross_entropy: probability target shape {target.shape} does not fit "
                    f"output shape {tuple(output_shape)}"
                )
            if not np.all(np.isfinite(target)) or np.any(target < 0):
                raise ValueError("cross_entropy: probability rows must be finite and >= 0")
            return target
        return as_labels(target, output_shape, self.name)

    def forward_prepared(self, output, target):
        n = output.shape[0]
        if target.ndim == 1:
            loss, gradient = kernels.softmax_cross_entropy(np.ascontiguousarray(output), target)
            self._grad = lambda: gradient
            return loss / n
        shifted = output - output.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1)
        weights = target.astype(output.dtype, copy=False)
        mass = weights.sum(axis=1)
        loss = float(np.sum(mass * np.log(sum_exp) - (weights * shifted).sum(axis=1), dtype=np.float64))
        self._grad = lambda: (exp * (mass / sum_exp)[:, None] - weights) * output.dtype.type(1 / n)
        return loss / n

    def per_sample(self, output, target):
        shifted = output - output.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1)
        log_sum = np.log(sum_exp)
        if target.ndim == 1:
            rows = np.arange(len(output))
            onehot = np.zeros_like(output)
            onehot[rows, target] = 1
            return (log_sum - shifted[rows, target]).astype(np.float64), lambda: exp / sum_exp[:, None] - onehot
        rows_target = target.astype(output.dtype, copy=False)
        mass = rows_target.sum(axis=1)
        losses = mass * log_sum - (rows_target * shifted).sum(axis=1)
        return losses.astype(np.float64), lambda: exp * (mass / sum_exp)[:, None] - rows_target


class BinaryCrossEntropy(Loss):
    """Logistic loss on one logit z: L = max(z, 0) − b z + log(1 + e^{−|z|}); dL/dz = σ(z) − b."""

    name = "binary_cross_entropy"

    def prepare_target(self, target, output_shape):
        if output_shape[1] != 1:
            raise ValueError(f"binary_cross_entropy: output must have shape (N, 1), got {tuple(output_shape)}")
        target = np.asarray(target)
        if target.ndim == 1:
            target = target[:, None]
        if target.shape != tuple(output_shape):
            raise ValueError(
                f"binary_cross_entropy: target shape {np.shape(target)} does not fit output shape {tuple(output_shape)}"
            )
        if target.dtype.kind not in "fiub":
            raise ValueError(f"binary_cross_entropy: target must be 0/1, got dtype {target.dtype}")
        bad = np.flatnonzero(~((target >= 0) & (target <= 1)))
        if bad.size:
            raise ValueError(
                f"binary_cross_entropy: target {target.ravel()[bad[0]].item()!r} at row {bad[0]} is not in "
                f"[0, 1] (labels must be 0 or 1)"
            )
        return target

    def forward_prepared(self, output, target):
        n = output.shape[0]
        b = target.astype(output.dtype, copy=False)
        z = output
        per_sample = np.maximum(z, 0) - b * z + np.log1p(np.exp(-np.abs(z)))
        self._grad = lambda: (kernels.sigmoid(z) - b) * z.dtype.type(1 / n)
        return float(np.sum(per_sample, dtype=np.float64)) / n

    def per_sample(self, output, target):
        b = target.astype(output.dtype, copy=False)
        losses = np.maximum(output, 0) - b * output + np.log1p(np.exp(-np.abs(output)))
        return losses[:, 0].astype(np.float64), lambda: kernels.sigmoid(output) - b


class Hinge(Loss):
    """One-vs-all hinge (the seed's form): L = Σ_i max(0, δ − b_i a_i), b_i = ±1.

    dL/da_i = −b_i where δ − b_i a_i > 0, else 0 (0 exactly at the margin).
    """

    name = "hinge"
    settings = {"delta": DELTA}

    def __init__(self, delta=1.0):
        super().__init__()
        self.delta = check_number("hinge: delta", delta, 0, low_open=True)

    def prepare_target(self, target, output_shape):
        return as_labels(target, output_shape, self.name)

    def forward_prepared(self, output, target):
        n = output.shape[0]
        signs = np.full(output.shape, -1, dtype=output.dtype)
        signs[np.arange(n), target] = 1
        margins = self.delta - signs * output
        active = margins > 0
        self._grad = lambda: -signs * active * output.dtype.type(1 / n)
        return float(np.sum(margins[active], dtype=np.float64)) / n

    def per_sample(self, output, target):
        signs = np.full(output.shape, -1, dtype=output.dtype)
        signs[np.arange(len(output)), target] = 1
        margins = self.delta - signs * output
        active = margins > 0
        return np.where(active, margins, 0).sum(axis=1, dtype=np.float64), lambda: -signs * active

    def __repr__(self):
        return f"Hinge(delta={self.delta})"


class MulticlassHinge(Loss):
    """Weston–Watkins hinge: L = Σ_{i≠c} max(0, a_i − a_c + margin).

    dL/da_i = 1 for each active i ≠ c; dL/da_c = −(number of active i); 0 at the margin.
    """

    name = "multiclass_hinge"
    settings = {"delta": replace(DELTA, arg="margin")}

    def __init__(self, margin=1.0):
        super().__init__()
        self.margin = check_number("multiclass_hinge: margin", margin, 0, low_open=True)

    def prepare_target(self, target, output_shape):
        return as_labels(target, output_shape, self.name)

    def forward_prepared(self, output, target):
        n = output.shape[0]
        rows = np.arange(n)
        slack = output - output[rows, target][:, None] + self.margin
        slack[rows, target] = 0
        active = slack > 0

        def grad():
            g = active.astype(output.dtype)
            g[rows, target] = -active.sum(axis=1)
            g *= output.dtype.type(1 / n)
            return g

        self._grad = grad
        return float(np.sum(slack[active], dtype=np.float64)) / n

    def per_sample(self, output, target):
        rows = np.arange(len(output))
        slack = output - output[rows, target][:, None] + self.margin
        slack[rows, target] = 0
        active = slack > 0

        def gradients():
            g = active.astype(output.dtype)
            g[rows, target] = -active.sum(axis=1)
            return g

        return np.where(active, slack, 0).sum(axis=1, dtype=np.float64), gradients

    def __repr__(self):
        return f"MulticlassHinge(margin={self.margin})"


LOSSES = {
    "squared": SquaredError,
    "absolute": AbsoluteError,
    "huber": Huber,
    "cross_entropy": CrossEntropy,
    "binary_cross_entropy": BinaryCrossEntropy,
    "hinge": Hinge,
    "multiclass_hinge": MulticlassHinge,
}

CLASSIFICATION_LOSSES = ("cross_entropy", "binary_cross_entropy", "hinge", "multiclass_hinge")
REGRESSION_LOSSES = ("squared", "absolute", "huber")


def get_loss(name, **kwargs):
    """Instantiate the loss registered under ``name`` (``ValueError`` lists the valid names)."""
    return lookup(LOSSES, name, "loss")(**kwargs)


LOSS_SETTINGS = declared_settings(LOSSES)
TARGET_ENCODINGS = ("one_hot", "plus_minus_one")


def encode_targets(labels, n_classes, encoding, dtype=np.float32):
    """Integer labels ``(N,)`` as ``one_hot`` rows (0/1) or ``plus_minus_one`` rows (±1), ``(N, K)``."""
    rows = np.zeros((len(labels), n_classes), dtype=dtype)
    rows[np.arange(len(labels)), labels] = 1
    if encoding == "plus_minus_one":
        rows = 2 * rows - 1
    return rows


def class_targets(labels, loss_name, encoding, n_outputs, dtype):
    """Class labels as the loss ``loss_name`` takes them: rows encoded by ``encoding`` for a
    regression loss, else the labels themselves."""
    if encoding is not None and loss_name in REGRESSION_LOSSES:
        return encode_targets(labels, n_outputs, encoding, dtype)
    return labels
