"""Weight initializers: draws of a ``(fan_out, fan_in)`` matrix from an explicit Generator.

=================  =====================================================
name               distribution
=================  =====================================================
``he_normal``      N(0, 2 / fan_in)                      (He et al. 2015)
``he_uniform``     U(−√(6 / fan_in), √(6 / fan_in))
``xavier_normal``  N(0, 2 / (fan_in + fan_out))          (Glorot & Bengio 2010)
``xavier_uniform`` U(−√(6 / (fan_in + fan_out)), +…)
``zeros``          0
=================  =====================================================

``he`` means ``he_normal``; ``xavier`` and ``glorot`` mean ``xavier_uniform``; ``glorot_normal`` and
``glorot_uniform`` are the Xavier ones. Draws are made in float64 and then rounded to ``dtype``, so a
float32 and a float64 model built from the same seed start from the same numbers.
"""

import numpy as np

from ..registry import lookup


def he_normal(rng, shape, dtype):
    fan_in = shape[1]
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def he_uniform(rng, shape, dtype):
    limit = np.sqrt(6.0 / shape[1])
    return rng.uniform(-limit, limit, shape).astype(dtype)


def xavier_normal(rng, shape, dtype):
    return (rng.standard_normal(shape) * np.sqrt(2.0 / (shape[0] + shape[1]))).astype(dtype)


def xavier_uniform(rng, shape, dtype):
    limit = np.sqrt(6.0 / (shape[0] + shape[1]))
    return rng.uniform(-limit, limit, shape).astype(dtype)


def zeros(rng, shape, dtype):
    return np.zeros(shape, dtype=dtype)


INITIALIZERS = {
    "he": he_normal,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "xavier": xavier_uniform,
    "glorot": xavier_uniform,
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "glorot_normal": xavier_normal,
    "glorot_uniform": xavier_uniform,
    "zeros": zeros,
}


def get_initializer(name):
    """Return the initializer function ``f(rng, shape, dtype)`` registered under ``name``."""
    return lookup(INITIALIZERS, name, "initializer")
