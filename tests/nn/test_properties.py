"""Property tests: backpropagation through random network shapes matches finite differences."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import mlp
from mlp.nn.layers import ACTIVATIONS
from mlp.nn.losses import get_loss


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(
    n=st.integers(1, 5),
    widths=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_networks_pass_gradcheck(n, widths, activation, seed):
    rng = np.random.default_rng(seed)
    layers = []
    for index, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(mlp.Linear(d_in, d_out, dtype=np.float64, rng=rng))
        if index < len(widths) - 2:
            layers.append(mlp.nn.layers.get_activation(activation))
    model = mlp.Sequential(layers)
    x = rng.standard_normal((n, widths[0]))
    # keep every pre-activation at least 1e-3 (5x the stencil's reach) from the kinks of relu and leaky_relu
    pre = x
    for layer in model.layers:
        out = layer.forward(pre, training=False)
        if isinstance(layer, mlp.Linear) and np.min(np.abs(out)) < 1e-3:
            return
        pre = out
    target = rng.standard_normal((n, widths[-1]))
    errors = mlp.gradcheck(model, get_loss("squared"), x, target)
    assert max(errors.values()) < 1e-6, errors
