"""Optimizers: in-place updates of parameters from their gradients, as in ``torch.optim``.

An optimizer is built from a :class:`~mlp.network.Sequential` (it then updates the network's single
parameter vector, a few vector operations per step) or from ``(key, param, grad)`` triples such as
``Sequential.parameters()`` (one update per array). ``step()`` reads the gradients and updates the
parameters in place; ``lr`` may be changed between steps (the trainer sets it from a schedule).

=============  ==========================================================================
name           update, with g the gradient and t the step count (from 1)
=============  ==========================================================================
``sgd``        v ← μv + g (v₁ = g); d = g + μv if nesterov else v (d = g if μ = 0); θ ← θ − lr·d
``adam``       m ← β₁m + (1−β₁)g; s ← β₂s + (1−β₂)g²;
               θ ← θ − (lr / (1−β₁ᵗ)) · m / (√s / √(1−β₂ᵗ) + ε)
``adamw``      θ ← θ(1 − lr·weight_decay), then the Adam step
``rmsprop``    s ← αs + (1−α)g²; u = g / (√s + ε); with μ > 0: v ← μv + u, u = v; θ ← θ − lr·u
=============  ==========================================================================

``state_dict()`` exports the step count and every buffer as arrays; ``load_state_dict`` restores
them exactly, so a resumed run continues bit for bit.
"""

import numpy as np

from .. import kernels
from ..registry import lookup
from ..validation import Setting, check_number, declared_settings

LR = Setting("float", 0.01, low=0, low_open=True)
MOMENTUM = Setting("float", 0.0, low=0, high=1, high_open=True, doc="sgd, rmsprop")
BETAS = Setting("pair", [0.9, 0.999], doc="adam, adamw")
EPS = Setting("float", 1e-8, low=0, low_open=True, doc="adam, adamw, rmsprop")


def _unit(name, value):
    """A coefficient in [0, 1)."""
    return check_number(name, value, 0, 1, high_open=True)


def _param_pairs(params):
    if hasattr(params, "flat_params"):
        return [(params.flat_params, params.flat_grads)]
    pairs = []
    for item in params:
        param, grad = item[-2], item[-1]
        pairs.append((param, grad))
    if not pairs:
        raise ValueError("optimizer: got no parameters to update")
    return pairs


class Optimizer:
    """Base class: parameter/gradient pairs, named state buffers and a step count."""

    name = "optimizer"
    buffer_names: tuple[str, ...] = ()
    settings: dict = {"lr": LR}

    def __init__(self, params, lr):
        self.pairs = _param_pairs(params)
        self.lr = check_number(f"{self.name}: lr", lr, 0, low_open=True)
        self.t = 0
        self.buffers = {name: [np.zeros_like(p) for p, _ in self.pairs] for name in self.buffer_names}
        self._scratch = [np.empty_like(p) for p, _ in self.pairs]

    def step(self):
        """Update every parameter in place from its current gradient."""
        self.t += 1
        for index, (param, grad) in enumerate(self.pairs):
            self._update(index, param, grad, self._scratch[index])

    def _update(self, index, param, grad, scratch):
        raise NotImplementedError

    def state_dict(self):
        """``{"t": …, "<buffer>.<index>": array}``: everything a resumed run needs."""
        state = {"t": np.array(self.t)}
        for name, arrays in self.buffers.items():
            for index, array in enumerate(arrays):
                state[f"{name}.{index}"] = array.copy()
        return state

    def load_state_dict(self, state):
        """Restore a ``state_dict()``; a missing or misshapen entry raises ``ValueError``.

        Nothing changes unless every entry fits.
        """
        t = np.asarray(state.get("t"))
        if t.shape != () or t.dtype.kind not in "iu" or not 0 <= t < 2**53:
            raise ValueError(f"{self.name}: optimizer state 't' must be a step count, got {state.get('t')!r}")
        values = []
        for name, arrays in self.buffers.items():
            for index, array in enumerate(arrays):
                key = f"{name}.{index}"
                if key not in state:
                    raise ValueError(f"{self.name}: optimizer state lacks {key!r}")
                value = np.asarray(state[key])
                if value.shape != array.shape:
                    raise ValueError(
                        f"{self.name}: optimizer state {key!r} has shape {value.shape}, expected {array.shape}"
                    )
                values.append((array, value))
        for array, value in values:
            np.copyto(array, value, casting="unsafe")
        self.t = int(t)

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``."""

    name = "sgd"
    settings = {**Optimizer.settings, "momentum": MOMENTUM, "nesterov": Setting("bool", False, doc="sgd")}

    def __init__(self, params, lr=0.01, momentum=0.0, nesterov=False):
        self.momentum = _unit("sgd: momentum", momentum)
        if nesterov and self.momentum == 0:
            raise ValueError("sgd: nesterov needs momentum > 0")
        self.nesterov = bool(nesterov)
        self.buffer_names = ("momentum",) if self.momentum > 0 else ()
        super().__init__(params, lr)

    def _update(self, index, param, grad, scratch):
        velocity = self.buffers["momentum"][index] if self.momentum > 0 else scratch
        kernels.sgd_step(param, grad, velocity, scratch, self.lr, self.momentum, self.nesterov, self.t == 1)


class Adam(Optimizer):
    """Adam (Kingma & Ba), bias-corrected, in the operation order of ``torch.optim.Adam``."""

    name = "adam"
    buffer_names = ("exp_avg", "exp_avg_sq")
    settings = {**Optimizer.settings, "betas": BETAS, "eps": EPS}

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        betas = tuple(betas)
        if len(betas) != 2:
            raise ValueError(f"{self.name}: betas must be two numbers, got {betas!r}")
        self.beta1 = _unit(f"{self.name}: betas[0]", betas[0])
        self.beta2 = _unit(f"{self.name}: betas[1]", betas[1])
        self.eps = check_number(f"{self.name}: eps", eps, 0, low_open=True)
        self.weight_decay = check_number(f"{self.name}: weight_decay", weight_decay, 0)
        super().__init__(params, lr)
        self._second = [np.empty_like(p) for p, _ in self.pairs]

    decoupled = False  # AdamW decays θ ← θ(1 − lr·weight_decay); plain Adam has no decay (use a regularizer)

    def _update(self, index, param, grad, scratch):
        kernels.adam_step(
            param,
            grad,
            self.buffers["exp_avg"][index],
            self.buffers["exp_avg_sq"][index],
            scratch,
            self._second[index],
            self.lr,
            self.beta1,
            self.beta2,
            self.eps,
            self.t,
            self.weight_decay if self.decoupled else 0.0,
        )


class AdamW(Adam):
    """Adam with decoupled weight decay θ ← θ(1 − lr·weight_decay), as ``torch.optim.AdamW``."""

    name = "adamw"
    settings = {**Adam.settings, "weight_decay": Setting("float", 0.01, low=0, doc="adamw (decoupled)")}

    decoupled = True

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr, betas, eps, weight_decay)


class RMSprop(Optimizer):
    """RMSprop as ``torch.optim.RMSprop`` (not centered): s ← αs + (1−α)g², θ ← θ − lr·g/(√s + ε)."""

    name = "rmsprop"
    settings = {
        **Optimizer.settings,
        "alpha": Setting("float", 0.99, low=0, high=1, high_open=True, doc="rmsprop"),
        "eps": EPS,
        "momentum": MOMENTUM,
    }

    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0):
        self.alpha = _unit("rmsprop: alpha", alpha)
        self.eps = check_number("rmsprop: eps", eps, 0, low_open=True)
        self.momentum = _unit("rmsprop: momentum", momentum)
        self.buffer_names = ("square_avg", "momentum") if self.momentum > 0 else ("square_avg",)
        super().__init__(params, lr)

    def _update(self, index, param, grad, scratch):
        velocity = self.buffers["momentum"][index] if self.momentum > 0 else scratch
        square_avg = self.buffers["square_avg"][index]
        kernels.rmsprop_step(param, grad, square_avg, velocity, scratch, self.lr, self.alpha, self.eps, self.momentum)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}
OPTIMIZER_SETTINGS = declared_settings(OPTIMIZERS)


def get_optimizer(name, params, **kwargs):
    """Instantiate the optimizer registered under ``name`` over ``params`` (a network or triples)."""
    return lookup(OPTIMIZERS, name, "optimizer")(params, **kwargs)
