"""The network's mathematics: layers (Algorithms 6.3 and 6.4), the network built from one
architecture, losses, regularizers and gradient checking."""

from . import gradcheck, losses, regularizers
from .contract import LayerReport, check_layer
from .layers import Dropout, Identity, Layer, LeakyReLU, Linear, ReLU, Sigmoid, Tanh
from .network import Architecture, Sequential

__all__ = [
    "Architecture",
    "Dropout",
    "Identity",
    "Layer",
    "LayerReport",
    "LeakyReLU",
    "Linear",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "check_layer",
    "gradcheck",
    "losses",
    "regularizers",
]
