"""Layers: Algorithm 6.3 forward, Algorithm 6.4 backward, one small object per step.

Shapes are batch-first: a batch of N examples is a matrix with one example per row. For a linear
layer with ``W`` of shape ``(d_out, d_in)`` (as in the book and PyTorch), the three batch forms of
Algorithm 6.4 are, with ``h`` the layer input ``(N, d_in)`` and ``g = ∇_a J`` of shape ``(N, d_out)``:

    ∇_W J = gᵀ h              (d_out, d_in)   summed over the batch
    ∇_b J = Σ_n g[n]          (d_out,)
    ∇_h J = g W               (N, d_in)       passed to the layer below

and an element-wise activation ``h = f(a)`` turns the gradient on its output into ``g ⊙ f'(a)``.

The contract every layer keeps:

* ``forward(x, training=True)`` returns the output and, when ``training`` is true, caches exactly
  what ``backward`` needs; with ``training=False`` it caches nothing (evaluation passes).
* ``backward(g)`` takes dJ/d(output) of the last training forward, **overwrites** ``grads`` (never
  accumulates) and returns dJ/d(input). It never changes ``params``: that is the optimizer's job.
  ``backward(g, input_grad=False)`` skips dJ/d(input) and returns ``None`` (the first layer during
  training does not need it).
* ``params`` and ``grads`` are dicts of arrays with the same keys and shapes. The arrays in
  ``params`` are the ones the layer computes with, so updating them in place changes the layer.
* ``buffers`` holds arrays that are part of the layer's state but not trained (statistics a layer
  keeps, say); they are saved and loaded with the parameters, never touched by an optimizer.
"""

import numpy as np

from .. import kernels
from ..errors import StateError
from ..registry import lookup
from ..validation import check_number
from .initializers import get_initializer

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_dtype(dtype):
    """``np.dtype(dtype)`` if it is float32 or float64, else ``ValueError``."""
    try:
        resolved = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}") from exc
    if resolved not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {resolved}")
    return resolved


def _as_batch(x, name):
    """Return ``x`` as an ndarray of shape ``(N, features)``; 1-D input is an error, not reshaped."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} expects a batch of shape (N, features), got shape {x.shape}")
    if x.dtype not in FLOAT_DTYPES:
        x = x.astype(np.float64 if x.dtype.kind == "f" and x.itemsize > 4 else np.float32)
    return x


class Layer:
    """Base class: a layer without parameters (``params`` and ``grads`` are empty)."""

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.buffers = {}

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        """The layer's output for a batch ``x`` (N, d_in); caches what ``backward`` needs if ``training``."""
        raise NotImplementedError

    def backward(self, g: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dJ/d(input) from ``g`` = dJ/d(output) of the last training forward; overwrites ``grads``."""
        raise NotImplementedError

    def _cached(self, value):
        if value is None:
            raise StateError(f"{type(self).__name__}.backward() needs a preceding forward(x, training=True)")
        return value

    def _check_grad(self, g, like):
        g = np.asarray(g)
        if g.shape != like.shape:
            raise ValueError(
                f"{type(self).__name__}.backward(): gradient has shape {g.shape}, "
                f"the last forward output had shape {like.shape}"
            )
        return g

    def __repr__(self):
        return f"{type(self).__name__}()"


class Linear(Layer):
    """Affine map ``a = h Wᵀ + b``.

    Parameters
    ----------
    in_features, out_features : int
        ``d_in`` and ``d_out``; ``W`` has shape ``(d_out, d_in)`` and ``b`` shape ``(d_out,)``.
    init : str
        Name of the weight initializer (see :mod:`mlp.initializers`); biases start at zero.
    dtype : float32 or float64
        Dtype of the parameters and of everything the layer computes; inputs are cast to it.
    rng : numpy.random.Generator, optional
        Source of the initial weights; without one a fresh, unseeded Generator is used.

    Shape: input ``(N, d_in)`` → output ``(N, d_out)``.
    """

    regularized = ("W",)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        init: str = "he",
        dtype=np.float32,
        rng: np.random.Generator | None = None,
    ):
        super().__init__()
        self.in_features = check_number("Linear: in_features", in_features, 1, integer=True)
        self.out_features = check_number("Linear: out_features", out_features, 1, integer=True)
        self.dtype = as_float_dtype(dtype)
        rng = np.random.default_rng() if rng is None else rng
        W = get_initializer(init)(rng, (self.out_features, self.in_features), self.dtype)
        self.params = {"W": W, "b": np.zeros(self.out_features, dtype=self.dtype)}
        self.grads = {"W": np.zeros_like(W), "b": np.zeros(self.out_features, dtype=self.dtype)}
        self._h: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        a = self.product(x, training)
        kernels.add_bias(a, self.params["b"])
        return a

    def product(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        """``h Wᵀ`` without the bias: :class:`~mlp.nn.network.Sequential` hands it to an activation
        that adds the bias in its own pass (``bias_relu``); caches ``h`` as ``forward`` does."""
        h = x
        if type(h) is not np.ndarray or h.ndim != 2 or h.dtype != self.dtype or h.shape[1] != self.in_features:
            h = self._checked_input(x)
        self._h = h if training else None
        return np.matmul(h, self.params["W"].T)

    def _checked_input(self, x):
        h = _as_batch(x, "Linear.forward")
        if h.shape[1] != self.in_features:
            raise ValueError(f"Linear.forward: expected {self.in_features} input features, got shape {h.shape}")
        return h.astype(self.dtype, copy=False)

    def backward(self, g: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        g, h = self._checked_grad(g)
        kernels.column_sums(g, self.grads["b"])
        return self._products_backward(g, h, input_grad)

    def product_backward(self, g: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """``backward`` without ``∇b``, which the activation above summed while it computed ``g``."""
        g, h = self._checked_grad(g)
        return self._products_backward(g, h, input_grad)

    def _products_backward(self, g, h, input_grad):
        np.matmul(g.T, h, out=self.grads["W"])
        return np.matmul(g, self.params["W"]) if input_grad else None

    def _checked_grad(self, g):
        """``(g, h)``: the gradient as an array of this layer's dtype and shape, and the cached input."""
        h = self._cached(self._h)
        if type(g) is not np.ndarray or g.dtype != self.dtype or g.shape != (h.shape[0], self.out_features):
            g = np.asarray(g, dtype=self.dtype)
            if g.shape != (h.shape[0], self.out_features):
                raise ValueError(
                    f"Linear.backward: gradient has shape {g.shape}, expected {(h.shape[0], self.out_features)}"
                )
        return g, h

    def __repr__(self):
        return f"Linear({self.in_features} → {self.out_features})"


class ReLU(Layer):
    """``f(a) = max(0, a)``; ``f'(a) = 1`` for ``a > 0`` and 0 otherwise (0 at the kink)."""

    def __init__(self):
        super().__init__()
        self._h: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        h = kernels.relu(_as_batch(x, "ReLU.forward"))
        self._h = h if training else None
        return h

    def backward(self, g: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        h = self._cached(self._h)
        return kernels.relu_backward(self._check_grad(g, h), h) if input_grad else None

    def forward_biased(self, a: np.ndarray, b: np.ndarray, training: bool = True) -> np.ndarray:
        """``forward(a + b)`` in one pass, overwriting ``a`` (a :meth:`Linear.product` nobody else holds)."""
        h = kernels.bias_relu(a, b)
        self._h = h if training else None
        return h

    def backward_summed(self, g: np.ndarray, bias_grad: np.ndarray) -> np.ndarray:
        """``backward(g)``, and ``bias_grad`` ← its column sums (the Linear below's ``∇b``), in one pass."""
        h = self._cached(self._h)
        return kernels.relu_backward_sums(self._check_grad(g, h), h, bias_grad)


class LeakyReLU(Layer):
    """``f(a) = a`` for ``a > 0``, else ``alpha·a``; ``f'`` is 1 or ``alpha`` (``alpha`` at 0)."""

    def __init__(self, alpha: float = 0.01):
        super().__init__()
        self.alpha = check_number("LeakyReLU: alpha", alpha, 0, 1, high_open=True)
        self._h: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        h = kernels.leaky_relu(_as_batch(x, "LeakyReLU.forward"), self.alpha)
        self._h = h if training else None
        return h

    def backward(self, g: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        h = self._cached(self._h)  # h > 0 exactly where a > 0, as alpha >= 0
        return kernels.leaky_relu_backward(self._check_grad(g, h), h, self.alpha) if input_grad else None

    def forward_biased(self, a: np.ndarray, b: np.ndarray, training: bool = True) -> np.ndarray:
        """``forward(a + b)`` in one pass, overwriting ``a`` (see :meth:`ReLU.forward_biased`)."""
        h = kernels.bias_leaky_relu(a, b, self.alpha)
        self._h = h if training else None
        return h

    def backward_summed(self, g: np.ndarray, bias_grad: np.ndarray) -> np.ndarray:
        """``backward(g)`` and ``bias_grad`` ← its column sums, in one pass (see :meth:`ReLU.backward_summed`)."""
        h = self._cached(self._h)
        return kernels.leaky_relu_backward_sums(self._check_grad(g, h), h, self.alpha, bias_grad)

    def __repr__(self):
        return f"LeakyReLU(alpha={self.alpha})"


class Sigmoid(Layer):
    """``σ(a) = 1 / (1 + e^{−a})``, computed without overflow; ``σ'(a) = σ(a)(1 − σ(a))``."""

    def __init__(self):
        super().__init__()
        self._h: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        h = kernels.sigmoid(_as_batch(x, "Sigmoid.forward"))
        self._h = h if training else None
        return h

    def backward(self, g: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        h = self._cached(self._h)
        return kernels.sigmoid_backward(self._check_grad(g, h), h) if input_grad else None


class Tanh(Layer):
    """``f(a) = tanh(a)``; ``f'(a) = 1 − tanh²(a)``."""

    def __init__(self):
        super().__init__()
        self._h: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        h = kernels.tanh(_as_batch(x, "Tanh.forward"))
        self._h = h if training else None
        return h

    def backward(self, g: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        h = self._cached(self._h)
        return kernels.tanh_backward(self._check_grad(g, h), h) if input_grad else None


class Identity(Layer):
    """``f(a) = a``; ``f'(a) = 1``."""

    def __init__(self):
        super().__init__()
        self._a: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        a = _as_batch(x, "Identity.forward")
        self._a = a if training else None
        return a

    def backward(self, g: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return self._check_grad(g, self._cached(self._a)) if input_grad else None


class Dropout(Layer):
    """Inverted dropout: ``h = a ⊙ m / (1 − p)`` with ``m_i ~ Bernoulli(1 − p)`` while training.

    With ``training=False`` it is the identity. The mask comes from ``rng`` (a seeded
    ``numpy.random.Generator``; a fresh unseeded one if omitted), so a seed fixes every mask.
    Backward multiplies by the same scaled mask.
    """

    def __init__(self, p: float, rng: np.random.Generator | None = None):
        super().__init__()
        self.p = check_number("Dropout: p", p, 0, 1, high_open=True)
        self.rng = np.random.default_rng() if rng is None else rng
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        a = _as_batch(x, "Dropout.forward")
        if not training:
            self._mask = None
            return a
        mask = self.rng.random(a.shape, dtype=a.dtype) >= self.p
        scaled = np.multiply(mask, a.dtype.type(1 / (1 - self.p)), dtype=a.dtype)
        self._mask = scaled
        return a * scaled

    def backward(self, g: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        mask = self._cached(self._mask)
        return self._check_grad(g, mask) * mask if input_grad else None

    def __repr__(self):
        return f"Dropout(p={self.p})"


ACTIVATIONS = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "identity": Identity,
}


def get_activation(name, **kwargs):
    """Instantiate the activation layer registered under ``name``."""
    return lookup(ACTIVATIONS, name, "activation")(**kwargs)
