"""Generated 2-D data sets for teaching: spirals, moons, circles, XOR and Gaussian blobs.

Each is drawn from its own seeded generator (``data.params.seed``, default 0) — the same rows
whatever the experiment's ``seed`` — with ``n`` rows and Gaussian ``noise`` added to the
coordinates. Features ``x1``, ``x2``; classes ``0`` … ``k-1``.

==========  ====================================================================================
spirals     ``arms`` (default 3) arms of n/arms points: radius r ∈ [0, 1], angle 4(j + r) + noise
            (CS231n's spiral data); default noise 0.2
moons       two interleaving half circles (as scikit-learn draws them); default noise 0.1
circles     a circle of radius 1 around one of radius ``factor`` (default 0.5); default noise 0.05
xor         points uniform in [-1, 1]², class (x1 > 0) XOR (x2 > 0); default noise 0
blobs       ``centers`` (default 3) Gaussian blobs of spread ``spread`` (default 0.5), centres on a
            circle of radius 2
==========  ====================================================================================
"""

import numpy as np

from ..errors import ConfigError, shown
from ..validation import check_number

COMMON = {"n": (400, 4, None, True), "noise": (None, 0.0, None, False), "seed": (0, 0, None, True)}
PARAMS = {  # name -> {key: (default, low, high, integer)}
    "spirals": {**COMMON, "noise": (0.2, 0.0, None, False), "arms": (3, 2, 10, True)},
    "moons": {**COMMON, "noise": (0.1, 0.0, None, False)},
    "circles": {**COMMON, "noise": (0.05, 0.0, None, False), "factor": (0.5, 0.01, 0.99, False)},
    "xor": {**COMMON, "noise": (0.0, 0.0, None, False)},
    "blobs": {
        **COMMON,
        "noise": (0.0, 0.0, None, False),
        "centers": (3, 2, 10, True),
        "spread": (0.5, 0.01, None, False),
    },
}
TOY = tuple(PARAMS)


def check_params(name, params):
    """``params`` of the toy set ``name`` with defaults filled in; ``ConfigError`` names the key."""
    if not isinstance(params, dict):
        raise ConfigError(f"data.params: must be a mapping, got {shown(params)}")
    allowed = PARAMS[name]
    for key in params:
        if key not in allowed:
            raise ConfigError(f"data.params.{key}: {name} takes {', '.join(allowed)}")
    checked = {}
    for key, (default, low, high, integer) in allowed.items():
        value = params.get(key, default)
        checked[key] = check_number(f"data.params.{key}", value, low, high, integer=integer)
    return checked


def generate(name, params):
    """``(X, y)``: X (n, 2) float64 coordinates, y (n,) int64 classes."""
    params = check_params(name, params)
    rng = np.random.default_rng(params["seed"])
    X, y = DRAW[name](rng, params)
    return X.astype(np.float64), y.astype(np.int64)


def _jitter(rng, X, noise):
    """``X`` plus Gaussian noise of standard deviation ``noise`` on each coordinate."""
    return X + noise * rng.standard_normal(X.shape)


def _sizes(n, k):
    """``n`` rows over ``k`` classes, as evenly as possible."""
    return [n // k + (1 if j < n % k else 0) for j in range(k)]


def _spirals(rng, params):
    xs, ys = [], []
    for arm, size in enumerate(_sizes(params["n"], params["arms"])):
        radius = np.linspace(0.0, 1.0, size)
        angle = 4.0 * (arm + radius) + params["noise"] * rng.standard_normal(size)
        xs.append(np.column_stack([radius * np.sin(angle), radius * np.cos(angle)]))
        ys.append(np.full(size, arm))
    return np.concatenate(xs), np.concatenate(ys)


def _moons(rng, params):
    outer, inner = _sizes(params["n"], 2)
    t_outer, t_inner = np.linspace(0, np.pi, outer), np.linspace(0, np.pi, inner)
    X = np.concatenate(
        [
            np.column_stack([np.cos(t_outer), np.sin(t_outer)]),
            np.column_stack([1 - np.cos(t_inner), 0.5 - np.sin(t_inner)]),
        ]
    )
    return _jitter(rng, X, params["noise"]), np.repeat([0, 1], [outer, inner])


def _circles(rng, params):
    outer, inner = _sizes(params["n"], 2)
    t_outer = np.linspace(0, 2 * np.pi, outer, endpoint=False)
    t_inner = np.linspace(0, 2 * np.pi, inner, endpoint=False)
    X = np.concatenate(
        [
            np.column_stack([np.cos(t_outer), np.sin(t_outer)]),
            params["factor"] * np.column_stack([np.cos(t_inner), np.sin(t_inner)]),
        ]
    )
    return _jitter(rng, X, params["noise"]), np.repeat([0, 1], [outer, inner])


def _xor(rng, params):
    X = rng.uniform(-1.0, 1.0, (params["n"], 2))
    return _jitter(rng, X, params["noise"]), ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(np.int64)


def _blobs(rng, params):
    k = params["centers"]
    angles = 2 * np.pi * np.arange(k) / k
    centres = 2.0 * np.column_stack([np.cos(angles), np.sin(angles)])
    sizes = _sizes(params["n"], k)
    X = np.concatenate([centres[j] + params["spread"] * rng.standard_normal((size, 2)) for j, size in enumerate(sizes)])
    return _jitter(rng, X, params["noise"]), np.repeat(np.arange(k), sizes)


DRAW = {"spirals": _spirals, "moons": _moons, "circles": _circles, "xor": _xor, "blobs": _blobs}
