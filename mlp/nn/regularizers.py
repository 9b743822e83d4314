"""Weight penalties λΩ(θ), added to the batch-mean loss as they are: J = L + λΩ (Algorithm 6.3).

Ω covers weight matrices only, never biases, and is not divided by N or by the batch size.

=================  ================================  ==========================
name               Ω(W)                              λ∇_W Ω
=================  ================================  ==========================
``none``           0                                 0
``l2``             ½ Σ ‖W‖²_F                        λ W
``l1``             Σ |W|                             λ sign(W)   (0 at 0)
``elastic_net``    r Σ|W| + (1 − r) ½ Σ ‖W‖²_F       λ (r sign(W) + (1 − r) W)
=================  ================================  ==========================

``penalty(weights)`` returns λΩ and ``add_gradient(weights)`` adds λ∇Ω into the weights' gradients,
where ``weights`` is a :class:`~mlp.network.Sequential` (its ``W`` matrices) or an iterable of
``(key, W, grad)`` triples such as ``Sequential.weights()``.
"""

import numpy as np

from ..registry import lookup
from ..validation import Setting, check_number, declared_settings


def _weight_pairs(weights):
    if hasattr(weights, "weights"):
        weights = weights.weights()
    return [(item[-2], item[-1]) for item in weights]


class Regularizer:
    """Base class: λ and the two operations; subclasses give Ω and ∇Ω for one matrix."""

    name = "none"
    settings = {"lambda": Setting("float", 0.0, low=0, arg="lam", doc="λ in J = L + λΩ")}

    def __init__(self, lam=0.0):
        self.lam = check_number(f"regularizer {self.name}: lambda", lam, 0)

    @property
    def active(self):
        return self.lam > 0 and self.name != "none"

    def penalty(self, weights):
        """λΩ(θ) summed over the weight matrices, as a Python float."""
        if not self.active:
            return 0.0
        return self.lam * sum(self.omega(W) for W, _ in _weight_pairs(weights))

    def add_gradient(self, weights):
        """Add λ∇_W Ω to each weight's gradient, in place."""
        if not self.active:
            return
        for W, grad in _weight_pairs(weights):
            grad += self.gradient(W)

    def gradient(self, W):
        """λ∇_W Ω for one weight matrix (a new array, dtype of ``W``)."""
        return np.zeros_like(W)

    def omega(self, W):
        return 0.0

    def __repr__(self):
        return f"{type(self).__name__}(lam={self.lam})"


class NoPenalty(Regularizer):
    """Ω = 0."""


class L2(Regularizer):
    """Ω = ½ Σ ‖W‖²_F; λ∇Ω = λW."""

    name = "l2"

    def omega(self, W):
        flat = W.ravel()
        return 0.5 * float(np.dot(flat, flat))

    def gradient(self, W):
        return W * W.dtype.type(self.lam)


class L1(Regularizer):
    """Ω = Σ |W|; λ∇Ω = λ sign(W) (subgradient 0 at W = 0)."""

    name = "l1"

    def omega(self, W):
        return float(np.sum(np.abs(W), dtype=np.float64))

    def gradient(self, W):
        return np.sign(W) * W.dtype.type(self.lam)


class ElasticNet(Regularizer):
    """Ω = r Σ|W| + (1 − r) ½ Σ ‖W‖²_F with ``l1_ratio`` r ∈ [0, 1]."""

    name = "elastic_net"
    settings = {**Regularizer.settings, "l1_ratio": Setting("float", 0.5, low=0, high=1, doc="elastic_net: r")}

    def __init__(self, lam=0.0, l1_ratio=0.5):
        super().__init__(lam)
        self.l1_ratio = check_number("elastic_net: l1_ratio", l1_ratio, 0, 1)

    def omega(self, W):
        r = self.l1_ratio
        return r * L1.omega(self, W) + (1 - r) * L2.omega(self, W)

    def gradient(self, W):
        r = self.l1_ratio
        return (np.sign(W) * W.dtype.type(r) + W * W.dtype.type(1 - r)) * W.dtype.type(self.lam)

    def __repr__(self):
        return f"ElasticNet(lam={self.lam}, l1_ratio={self.l1_ratio})"


def apply_max_norm(weights, max_norm):
    """Max-norm constraint: rescale each row of every W (a unit's incoming weights) to ‖w‖₂ ≤ c.

    Applied after each optimizer step (Srivastava et al. 2014); rows already inside the ball are
    left untouched.
    """
    for W, _ in _weight_pairs(weights):
        norms = np.sqrt(np.einsum("ij,ij->i", W, W))
        too_long = norms > max_norm
        if too_long.any():
            W[too_long] *= (max_norm / norms[too_long])[:, None].astype(W.dtype)


REGULARIZERS = {"none": NoPenalty, "l2": L2, "l1": L1, "elastic_net": ElasticNet}
REGULARIZER_SETTINGS = declared_settings(REGULARIZERS)


def get_regularizer(name, lam=0.0, **kwargs):
    """Instantiate the regularizer registered under ``name`` with strength ``lam`` (λ)."""
    return lookup(REGULARIZERS, name, "regularizer")(lam, **kwargs)
