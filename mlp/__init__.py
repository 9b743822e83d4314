"""mlp: multi-layer perceptrons trained by Algorithms 6.3 and 6.4 of Goodfellow et al.

The public entry points: :func:`train` (a config, optionally with rows given as arrays, trained in
memory or into a run directory) and :func:`load` (a trained :class:`Model` from a model file or a
run directory); :class:`Callback` to hook into training; :func:`check_layer` (the layer contract,
checked for a layer you write); :func:`explain_layers` (Algorithms 6.3/6.4 worked through any network); :func:`sweep` (every trial of a sweep
file, in parallel, recorded in a ledger). The building blocks: layers and
:class:`Sequential` (:mod:`mlp.nn`), losses, regularizers, gradient checking, optimizers and
schedules (:mod:`mlp.optim`).
"""

from .api import Result, load, train
from .explain.network import explain_layers
from .model import Model
from .nn import (
    Dropout,
    Identity,
    Layer,
    LayerReport,
    LeakyReLU,
    Linear,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
    check_layer,
    gradcheck,
    losses,
    regularizers,
)
from .optim import optimizers as optim
from .optim import schedules
from .sweeps.driver import SweepResult
from .sweeps.driver import run_sweep as sweep
from .training.trainer import Callback
from .version import __version__

__all__ = [
    "Callback",
    "Dropout",
    "Identity",
    "Layer",
    "LayerReport",
    "LeakyReLU",
    "Linear",
    "Model",
    "ReLU",
    "Result",
    "Sequential",
    "Sigmoid",
    "SweepResult",
    "Tanh",
    "check_layer",
    "explain_layers",
    "gradcheck",
    "load",
    "losses",
    "optim",
    "regularizers",
    "schedules",
    "sweep",
    "train",
    "__version__",
]
