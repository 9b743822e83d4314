"""The element-wise kernels of the hot loop, in two versions with the same names and contracts.

:class:`Reference` is plain NumPy: the math as the layers, losses and optimizers state it, one array
operation at a time. :class:`Fused` is the same contract compiled by numba (the optional extra
``pip install -e ".[fast]"``): each kernel one pass over memory instead of several. The kernels run
on the calling thread: while BLAS runs on every core its idle workers spin between matrix products,
and a second kernel thread measured slower, not faster (see the README's Performance section). The
module's own names (``kernels.relu``, ``kernels.sgd_step``, …) are the selected version's: :func:`use`
selects one for the process (``"auto"``: numba when it is installed, unless ``MLP_KERNELS=numpy``),
and the callers read them at call time.

Contracts (arrays C-contiguous, float32 or float64, one dtype per call; ``(N, K)`` a batch):

================================================  ===================================================
``add_bias(a, b)``                                a ← a + b, in place; a (N, K), b (K,)
``column_sums(g, out)``                           out ← Σ_n g[n]; g (N, K), out (K,)
``relu(a)`` / ``relu_backward(g, h)``             max(0, a); g ⊙ [h > 0]  (h the forward's output)
``leaky_relu(a, α)`` / ``…_backward(g, h, α)``    a if a > 0 else αa; g ⊙ (1 if h > 0 else α)
``bias_relu(a, b)``, ``bias_leaky_relu(a, b, α)``  f(a + b), in place in a and returned: a Linear
                                                  layer's bias add and the activation in one pass
``relu_backward_sums(g, h, out)``,                the activation's backward (a new array) and
``leaky_relu_backward_sums(g, h, α, out)``        out ← its column sums (the Linear below's ∇b)
``sigmoid(a)`` / ``sigmoid_backward(g, h)``       1/(1 + e^{−a}) without overflow; g ⊙ h(1 − h)
``tanh(a)`` / ``tanh_backward(g, h)``             tanh a; g ⊙ (1 − h²)
``softmax_cross_entropy(a, labels)``              (Σ_n [logsumexp(a_n) − a_n,c] as a float,
                                                  (softmax(a) − onehot) / N)
``gather_rows(X, rows, out, factor=None)``        out[:len(rows)] ← X[rows] · factor, in out's dtype
``sgd_step(θ, g, v, scratch, lr, μ, …)``          v ← μv + g (v = g at the first step); θ ← θ − lr·d
``adam_step(θ, g, m, s, scratch, denom, …)``      the Adam/AdamW update of :mod:`mlp.optim.optimizers`
``rmsprop_step(θ, g, s, v, scratch, …)``          the RMSprop update (with optional momentum)
================================================  ===================================================

NaN and infinity propagate as in the NumPy versions (``max(0, NaN)`` is NaN, ``NaN · 0`` is NaN), so
the trainer's finite check sees a diverged run the same way with either version.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import math
import os
import threading

import numpy as np

ENV = "MLP_KERNELS"
CHOICES = ("auto", "numpy", "numba")


_ZEROS: dict[tuple, np.ndarray] = {}


def _zeros(shape, dtype):
    """Read-only zeros of ``shape`` (N, K): the first N rows of one array kept per row width and
    dtype, made again only when more rows are asked for — what ReLU compares against, without an
    allocation per batch and without one array per batch size."""
    key = (shape[1:], dtype)
    array = _ZEROS.get(key)
    if array is None or len(array) < shape[0]:
        array = _ZEROS[key] = np.zeros(shape, dtype)
        array.flags.writeable = False
    return array if len(array) == shape[0] else array[: shape[0]]


@functools.lru_cache(maxsize=64)
def _ones(length, dtype):
    """Read-only ones of ``length``, kept for the next call (a column or row sum as a product)."""
    ones = np.ones(length, dtype)
    ones.flags.writeable = False
    return ones


@functools.lru_cache(maxsize=64)
def _row_starts(rows, width):
    """Flat index of each row's first element in a C-contiguous ``(rows, width)`` array: 0, K, 2K, …"""
    starts = np.arange(rows, dtype=np.intp) * width
    starts.flags.writeable = False
    return starts


def _slopes(x, alpha):
    """LeakyReLU's f'(x): 1 where x > 0, else ``alpha``, in x's dtype (also f(x) = x · f'(x))."""
    return np.where(x > 0, x.dtype.type(1), x.dtype.type(alpha))


class Reference:
    """The NumPy versions: the specification the fused versions are tested against."""

    name = "numpy"

    @staticmethod
    def add_bias(a, b):
        a += b

    @staticmethod
    def column_sums(g, out):
        # 1ᵀg, a BLAS matrix-vector product: faster than np.add.reduce(g, axis=0) at the batch
        # shapes of every bench workload (scripts/kernels_bench.py's last table)
        _ones(g.shape[0], g.dtype).dot(g, out=out)

    @staticmethod
    def relu(a):
        # NumPy's maximum runs SIMD against an array but not against the scalar 0 (~3x slower)
        return np.maximum(a, _zeros(a.shape, a.dtype))

    @staticmethod
    def relu_backward(g, h):
        return np.multiply(g, h > 0, dtype=h.dtype)

    @staticmethod
    def bias_relu(a, b):
        Reference.add_bias(a, b)
        return np.maximum(a, _zeros(a.shape, a.dtype), out=a)

    @staticmethod
    def relu_backward_sums(g, h, out):
        g = Reference.relu_backward(g, h)
        Reference.column_sums(g, out)
        return g

    @staticmethod
    def leaky_relu(a, alpha):
        return a * _slopes(a, alpha)

    @staticmethod
    def bias_leaky_relu(a, b, alpha):
        Reference.add_bias(a, b)
        return np.multiply(a, _slopes(a, alpha), out=a)

    @staticmethod
    def leaky_relu_backward_sums(g, h, alpha, out):
        g = Reference.leaky_relu_backward(g, h, alpha)
        Reference.column_sums(g, out)
        return g

    @staticmethod
    def leaky_relu_backward(g, h, alpha):
        return g * _slopes(h, alpha)

    @staticmethod
    def sigmoid(a):
        e = np.exp(-np.abs(a))
        return np.where(a >= 0, 1, e) / (1 + e)

    @staticmethod
    def sigmoid_backward(g, h):
        return g * h * (1 - h)

    @staticmethod
    def tanh(a):
        return np.tanh(a)

    @staticmethod
    def tanh_backward(g, h):
        return g * (1 - h * h)

    @staticmethod
    def softmax_cross_entropy(a, labels):
        n, k = a.shape
        # Row maxima over the short class axis: a reduction along the first axis of a transposed
        # copy, and row sums as a matrix-vector product, are several times faster than axis=1.
        row_max = np.maximum.reduce(np.ascontiguousarray(a.T), axis=0)
        shifted = a - row_max[:, None]
        exp = np.exp(shifted)
        sum_exp = exp.dot(_ones(k, a.dtype))
        targets = _row_starts(n, k) + labels  # flat index of a[n, labels[n]]
        losses = np.log(sum_exp)
        losses -= shifted.take(targets)
        grad = np.multiply(exp, (a.dtype.type(1 / n) / sum_exp)[:, None], out=exp)
        grad.reshape(-1)[targets] -= a.dtype.type(1 / n)
        return float(np.add.reduce(losses, dtype=np.float64)), grad

    @staticmethod
    def gather_rows(X, rows, out, factor=None):
        if factor is None and X.dtype == out.dtype:
            return np.take(X, rows, axis=0, out=out[: len(rows)], mode="clip")
        picked = np.take(X, rows, axis=0)
        if factor is None:
            out[: len(rows)] = picked
        else:
            np.multiply(picked, factor, out=out[: len(rows)])
        return out[: len(rows)]

    @staticmethod
    def sgd_step(param, grad, velocity, scratch, lr, momentum, nesterov, first):
        direction = grad
        if momentum > 0:
            if first:
                np.copyto(velocity, grad)
            else:
                velocity *= momentum
                velocity += grad
            if nesterov:
                np.multiply(velocity, momentum, out=scratch)
                scratch += grad
                direction = scratch
            else:
                direction = velocity
        np.multiply(direction, -lr, out=scratch)
        param += scratch

    @staticmethod
    def adam_step(param, grad, exp_avg, exp_avg_sq, scratch, denom, lr, beta1, beta2, eps, t, decay):
        if decay:
            param *= 1 - lr * decay
        exp_avg *= beta1
        np.multiply(grad, 1 - beta1, out=scratch)
        exp_avg += scratch
        exp_avg_sq *= beta2
        np.multiply(grad, grad, out=scratch)
        scratch *= 1 - beta2
        exp_avg_sq += scratch
        bias1, bias2 = 1 - beta1**t, 1 - beta2**t
        np.sqrt(exp_avg_sq, out=denom)
        denom /= math.sqrt(bias2)
        denom += eps
        np.divide(exp_avg, denom, out=scratch)
        scratch *= -lr / bias1
        param += scratch

    @staticmethod
    def rmsprop_step(param, grad, square_avg, velocity, scratch, lr, alpha, eps, momentum):
        square_avg *= alpha
        np.multiply(grad, grad, out=scratch)
        scratch *= 1 - alpha
        square_avg += scratch
        np.sqrt(square_avg, out=scratch)
        scratch += eps
        np.divide(grad, scratch, out=scratch)
        if momentum > 0:
            velocity *= momentum
            velocity += scratch
            np.multiply(velocity, -lr, out=scratch)
        else:
            scratch *= -lr
        param += scratch


# ----------------------------------------------------------------------------- the fused loops
# Plain Python over flat arrays, compiled by numba when it is installed. Scalars arrive in the
# arrays' dtype, so float32 arithmetic stays float32 as in NumPy.


def _add_bias_loop(a, b):
    n, k = a.shape
    for i in range(n):
        for j in range(k):
            a[i, j] += b[j]


def _column_sums_loop(g, out):
    n, k = g.shape
    for j in range(k):
        out[j] = g[0, j]
    for i in range(1, n):
        for j in range(k):
            out[j] += g[i, j]


def _relu_loop(a, out, zero):
    for i in range(a.size):
        v = a[i]
        out[i] = zero if v <= zero else v  # NaN stays NaN


def _relu_backward_loop(g, h, out, zero, one):
    for i in range(g.size):
        out[i] = g[i] * (one if h[i] > zero else zero)


def _bias_relu_loop(a, b, zero):
    n, k = a.shape
    for i in range(n):
        for j in range(k):
            v = a[i, j] + b[j]
            a[i, j] = zero if v <= zero else v


def _leaky_relu_loop(a, out, alpha, zero):
    for i in range(a.size):
        v = a[i]
        out[i] = v if v > zero else v * alpha


def _leaky_relu_backward_loop(g, h, out, alpha, zero, one):
    for i in range(g.size):
        out[i] = g[i] * (one if h[i] > zero else alpha)


def _bias_leaky_relu_loop(a, b, alpha, zero):
    n, k = a.shape
    for i in range(n):
        for j in range(k):
            v = a[i, j] + b[j]
            a[i, j] = v if v > zero else v * alpha


def _rectifier_backward_sums_loop(g, h, out, sums, slope, zero, one):
    """ReLU's (slope 0) or LeakyReLU's backward, g ⊙ (1 if h > 0 else slope), and its column sums."""
    n, k = g.shape
    for j in range(k):
        sums[j] = zero
    for i in range(n):
        for j in range(k):
            d = g[i, j] * (one if h[i, j] > zero else slope)
            out[i, j] = d
            sums[j] += d


def _sigmoid_loop(a, e, out, one):
    for i in range(a.size):
        out[i] = (one if a[i] >= 0 else e[i]) / (one + e[i])


def _sigmoid_backward_loop(g, h, out, one):
    for i in range(g.size):
        out[i] = g[i] * h[i] * (one - h[i])


def _tanh_backward_loop(g, h, out, one):
    for i in range(g.size):
        out[i] = g[i] * (one - h[i] * h[i])


def _softmax_cross_entropy_loop(a, labels, grad, scale, zero):
    n, k = a.shape
    total = 0.0
    for i in range(n):
        top = a[i, 0]
        for j in range(1, k):
            if a[i, j] > top or a[i, j] != a[i, j]:
                top = a[i, j]
        sum_exp = zero
        for j in range(k):
            e = np.exp(a[i, j] - top)
            grad[i, j] = e
            sum_exp += e
        total += float(np.log(sum_exp)) - float(a[i, labels[i]] - top)
        factor = scale / sum_exp
        for j in range(k):
            grad[i, j] *= factor
        grad[i, labels[i]] -= scale
    return total


def _gather_scaled_loop(X, rows, out, factor):
    for i in range(rows.size):
        row = rows[i]
        for j in range(X.shape[1]):
            out[i, j] = X[row, j] * factor


def _sgd_loop(param, grad, velocity, lr, momentum, nesterov, first):
    for i in range(param.size):
        d = grad[i]
        if momentum > 0:
            v = d if first else velocity[i] * momentum + d
            velocity[i] = v
            d = v * momentum + d if nesterov else v
        param[i] += d * -lr


def _adam_loop(param, grad, exp_avg, exp_avg_sq, beta1, rest1, beta2, rest2, eps, root_bias2, step, shrink):
    for i in range(param.size):
        g = grad[i]
        m = exp_avg[i] * beta1 + g * rest1
        s = exp_avg_sq[i] * beta2 + g * g * rest2
        exp_avg[i] = m
        exp_avg_sq[i] = s
        param[i] = param[i] * shrink + m / (np.sqrt(s) / root_bias2 + eps) * step


def _rmsprop_loop(param, grad, square_avg, velocity, lr, alpha, rest, eps, momentum):
    for i in range(param.size):
        g = grad[i]
        s = square_avg[i] * alpha + g * g * rest
        square_avg[i] = s
        u = g / (np.sqrt(s) + eps)
        if momentum > 0:
            u = velocity[i] * momentum + u
            velocity[i] = u
        param[i] += u * -lr


class Fused:
    """The numba versions of :class:`Reference`'s kernels (built by :func:`fused`)."""

    name = "numba"

    def __init__(self, numba):
        jit = numba.njit(cache=True, nogil=True, error_model="numpy")
        for name, loop in list(globals().items()):
            if name.startswith("_") and name.endswith("_loop"):
                setattr(self, name, jit(loop))

    def add_bias(self, a, b):
        self._add_bias_loop(a, b)

    def column_sums(self, g, out):
        self._column_sums_loop(g, out)

    @staticmethod
    def _map(loop, a, *args):
        """``out = f(a)`` element by element, ``out`` a new C-ordered array."""
        out = np.empty(a.shape, a.dtype)
        loop(np.ascontiguousarray(a).reshape(-1), out.reshape(-1), *args)
        return out

    @staticmethod
    def _map2(loop, g, h, *args):
        """``out = f(g, h)`` element by element (``g`` cast to ``h``'s dtype), ``out`` a new array."""
        out = np.empty(h.shape, h.dtype)
        flat_g = np.ascontiguousarray(g, dtype=h.dtype).reshape(-1)
        loop(flat_g, np.ascontiguousarray(h).reshape(-1), out.reshape(-1), *args)
        return out

    def relu(self, a):
        return self._map(self._relu_loop, a, a.dtype.type(0))

    def relu_backward(self, g, h):
        kind = h.dtype.type
        return self._map2(self._relu_backward_loop, g, h, kind(0), kind(1))

    def bias_relu(self, a, b):
        if not a.flags.c_contiguous:
            return Reference.bias_relu(a, b)
        self._bias_relu_loop(a, b, a.dtype.type(0))
        return a

    def relu_backward_sums(self, g, h, out):
        kind = h.dtype.type
        return self._summed(self._rectifier_backward_sums_loop, g, h, out, kind(0), kind(0), kind(1))

    @staticmethod
    def _summed(loop, g, h, sums, *args):
        """``out = f(g, h)`` (a new array, ``g`` cast to ``h``'s dtype) and ``sums`` ← its column sums."""
        out = np.empty(h.shape, h.dtype)
        loop(np.ascontiguousarray(g, dtype=h.dtype), np.ascontiguousarray(h), out, sums, *args)
        return out

    def leaky_relu(self, a, alpha):
        return self._map(self._leaky_relu_loop, a, a.dtype.type(alpha), a.dtype.type(0))

    def leaky_relu_backward(self, g, h, alpha):
        kind = h.dtype.type
        return self._map2(self._leaky_relu_backward_loop, g, h, kind(alpha), kind(0), kind(1))

    def bias_leaky_relu(self, a, b, alpha):
        if not a.flags.c_contiguous:
            return Reference.bias_leaky_relu(a, b, alpha)
        self._bias_leaky_relu_loop(a, b, a.dtype.type(alpha), a.dtype.type(0))
        return a

    def leaky_relu_backward_sums(self, g, h, alpha, out):
        kind = h.dtype.type
        return self._summed(self._rectifier_backward_sums_loop, g, h, out, kind(alpha), kind(0), kind(1))

    def sigmoid(self, a):
        # NumPy's exp is vectorized (SIMD), a compiled loop's calls libm per element: keep it
        a = np.ascontiguousarray(a)
        return self._map2(self._sigmoid_loop, a, np.exp(-np.abs(a)), a.dtype.type(1))

    def sigmoid_backward(self, g, h):
        return self._map2(self._sigmoid_backward_loop, g, h, h.dtype.type(1))

    tanh = staticmethod(Reference.tanh)  # NumPy's is vectorized; a compiled loop's is not

    def tanh_backward(self, g, h):
        return self._map2(self._tanh_backward_loop, g, h, h.dtype.type(1))

    def softmax_cross_entropy(self, a, labels):
        grad = np.empty_like(a)
        total = self._softmax_cross_entropy_loop(a, labels, grad, a.dtype.type(1 / a.shape[0]), a.dtype.type(0))
        return total, grad

    def gather_rows(self, X, rows, out, factor=None):
        if factor is None:  # np.take copies each row with memcpy: as fast as a compiled loop
            return Reference.gather_rows(X, rows, out)
        self._gather_scaled_loop(X, rows, out, factor)  # gathered, cast and scaled in one pass
        return out[: len(rows)]

    @staticmethod
    def _flat(*arrays):
        """The arrays as 1-D views (the loops run over elements), or None if one is not contiguous
        (a view of it would be a copy, and the update would be lost): then NumPy's version runs."""
        if all(array.flags.c_contiguous for array in arrays):
            return [array.reshape(-1) for array in arrays]
        return None

    def sgd_step(self, param, grad, velocity, scratch, lr, momentum, nesterov, first):
        flat = self._flat(param, grad, velocity)
        if flat is None:
            Reference.sgd_step(param, grad, velocity, scratch, lr, momentum, nesterov, first)
            return
        kind = param.dtype.type
        self._sgd_loop(*flat, kind(lr), kind(momentum), nesterov, first)

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, scratch, denom, lr, beta1, beta2, eps, t, decay):
        flat = self._flat(param, grad, exp_avg, exp_avg_sq)
        if flat is None:
            Reference.adam_step(param, grad, exp_avg, exp_avg_sq, scratch, denom, lr, beta1, beta2, eps, t, decay)
            return
        kind = param.dtype.type
        bias1, bias2 = 1 - beta1**t, 1 - beta2**t
        # 1 − β rounded from float64, as NumPy does with the Python float (not 1 − float32(β))
        scalars = (kind(beta1), kind(1 - beta1), kind(beta2), kind(1 - beta2), kind(eps), kind(math.sqrt(bias2)))
        self._adam_loop(*flat, *scalars, kind(-lr / bias1), kind(1 - lr * decay))

    def rmsprop_step(self, param, grad, square_avg, velocity, scratch, lr, alpha, eps, momentum):
        flat = self._flat(param, grad, square_avg, velocity)
        if flat is None:
            Reference.rmsprop_step(param, grad, square_avg, velocity, scratch, lr, alpha, eps, momentum)
            return
        kind = param.dtype.type
        self._rmsprop_loop(*flat, kind(lr), kind(alpha), kind(1 - alpha), kind(eps), kind(momentum))


KERNEL_NAMES = [name for name in vars(Reference) if not name.startswith("_") and name != "name"]
_fused: Fused | None = None
_lock = threading.Lock()


def numba_available() -> bool:
    """Whether the optional accelerator (numba) is installed, without importing it."""
    return importlib.util.find_spec("numba") is not None


def fused() -> Fused:
    """The compiled kernels (numba imported on first use; each kernel compiled at its first call,
    from an on-disk cache after the first run)."""
    global _fused
    with _lock:
        if _fused is None:
            import numba

            _fused = Fused(numba)
    return _fused


def prepare(choice: str = "auto") -> str:
    """:func:`resolve` ``choice``, and import numba's kernels now if it is numba (seconds on a busy
    machine: before a run's first batch or a sweep worker's first heart-beat, not inside them)."""
    name = resolve(choice)
    if name == "numba":
        fused()
    return name


def resolve(choice: str = "auto") -> str:
    """``"numpy"`` or ``"numba"`` for a config's ``training.kernels`` (``auto``: numba if installed,
    unless ``MLP_KERNELS=numpy``); ``ValueError`` for ``numba`` where it is not installed."""
    if choice == "auto":
        choice = os.environ.get(ENV, "auto").strip().lower() or "auto"
        if choice not in CHOICES:
            raise ValueError(f"{ENV}={os.environ[ENV]!r}: choose one of {', '.join(CHOICES)}")
        if choice == "auto":
            return "numba" if numba_available() else "numpy"
    if choice == "numba" and not numba_available():
        raise ValueError('kernels: numba is not installed: pip install -e ".[fast]", or choose kernels: numpy')
    return choice


active = Reference.name


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def use(choice: str = "auto") -> str:
    """Make the module's kernel names those of ``choice`` (see :func:`resolve`); return which."""
    global active
    name = resolve(choice)
    chosen = fused() if name == "numba" else Reference
    globals().update({kernel: getattr(chosen, kernel) for kernel in KERNEL_NAMES})
    active = name
    return name


@contextlib.contextmanager
def selected(choice: str = "auto", threads: int | None = None):
    """:func:`use` ``choice`` inside the block, with BLAS limited to ``threads`` (threadpoolctl; every
    core when ``None``), and restore both after; yields what ran, e.g. ``"numba 0.68.1 (fused), 2
    threads"``."""
    before = active
    name = use(choice)
    limit = contextlib.nullcontext() if threads is None else _blas_controller().limit(limits=threads, user_api="blas")
    try:
        with limit:
            count = threads or cores()
            yield f"{label(name)}, {count} thread{'' if count == 1 else 's'}"
    finally:
        use(before)


@functools.cache
def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries (looked up once: it costs milliseconds)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def label(name: str) -> str:
    """``numba 0.68.1 (fused)`` or ``numpy (reference)``."""
    if name == "numba":
        from importlib.metadata import version

        return f"numba {version('numba')} (fused)"
    return "numpy (reference)"


def describe() -> str:
    """What a run with ``kernels: auto`` uses here, and why, for ``mlp --version``."""
    name = resolve("auto")
    if name == "numba":
        return f"{label(name)}; {ENV}=numpy or training.kernels: numpy switches them off"
    why = f"{ENV}=numpy" if numba_available() else 'numba is not installed: pip install -e ".[fast]"'
    return f"{label(name)}; {why}"


# the NumPy versions until a run selects (imports stay free of numba)
add_bias = Reference.add_bias
column_sums = Reference.column_sums
relu = Reference.relu
relu_backward = Reference.relu_backward
bias_relu = Reference.bias_relu
relu_backward_sums = Reference.relu_backward_sums
bias_leaky_relu = Reference.bias_leaky_relu
leaky_relu_backward_sums = Reference.leaky_relu_backward_sums
leaky_relu = Reference.leaky_relu
leaky_relu_backward = Reference.leaky_relu_backward
sigmoid = Reference.sigmoid
sigmoid_backward = Reference.sigmoid_backward
tanh = Reference.tanh
tanh_backward = Reference.tanh_backward
softmax_cross_entropy = Reference.softmax_cross_entropy
gather_rows = Reference.gather_rows
sgd_step = Reference.sgd_step
adam_step = Reference.adam_step
rmsprop_step = Reference.rmsprop_step
