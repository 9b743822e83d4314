"""mlp: multi-layer perceptrons trained by Algorithms 6.3 and 6.4 of Goodfellow et al.

The public objects: layers (:mod:`mlp.layers`), :class:`Sequential` (:mod:`mlp.network`), losses
(:mod:`mlp.losses`), regularizers (:mod:`mlp.regularizers`), optimizers and schedules
(:mod:`mlp.optim`, :mod:`mlp.schedules`), gradient checking (:mod:`mlp.gradcheck`) and training a
config into a run directory (:mod:`mlp.runs`, what ``mlp train`` runs).
"""
from . import gradcheck, losses, optim, regularizers, schedules
from .layers import Dropout, Identity, LeakyReLU, Linear, ReLU, Sigmoid, Tanh
from .network import Sequential

__version__ = "0.1.0"

__all__ = [
    "Dropout", "Identity", "LeakyReLU", "Linear", "ReLU", "Sequential", "Sigmoid", "Tanh",
    "gradcheck", "losses", "optim", "regularizers", "schedules", "__version__",
]
