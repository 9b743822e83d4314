"""Layer contract: finite-difference gradients, kinks, dtypes, caching and errors."""

import numpy as np
import pytest

import mlp
from mlp.errors import StateError
from mlp.nn.gradcheck import relative_error
from mlp.nn.layers import ACTIVATIONS

TOL = 1e-6  # max relative error, float64 central differences


def numeric_input_grad(layer, x, upstream, eps=1e-6):
    """d/dx of sum(upstream * layer(x)) by central differences."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + eps
        upper = np.sum(upstream * layer.forward(x.copy(), training=False))
        x[index] = saved - eps
        lower = np.sum(upstream * layer.forward(x.copy(), training=False))
        x[index] = saved
        grad[index] = (upper - lower) / (2 * eps)
    return grad


def away_from_kink(rng, shape):
    """Entries with |x| >= 0.1, so ±ε never crosses the kink at 0."""
    z = rng.standard_normal(shape)
    return np.sign(z) * (0.1 + np.abs(z))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("batch", [1, 4])
def test_activation_gradient(name, batch, rng):
    layer = mlp.nn.layers.get_activation(name)
    x = away_from_kink(rng, (batch, 5))
    upstream = rng.standard_normal((batch, 5))
    layer.forward(x, training=True)
    analytic = layer.backward(upstream)
    assert relative_error(analytic, numeric_input_grad(layer, x, upstream)) < TOL


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("init", ["he", "he_uniform", "xavier", "xavier_normal"])
def test_linear_gradients(batch, init, rng):
    layer = mlp.Linear(4, 3, init=init, dtype=np.float64, rng=rng)
    x = rng.standard_normal((batch, 4))
    upstream = rng.standard_normal((batch, 3))
    layer.forward(x)
    dx = layer.backward(upstream)
    assert relative_error(dx, numeric_input_grad(layer, x, upstream)) < TOL
    # Algorithm 6.4 in batch form: ∇W = gᵀh, ∇b = Σ g, ∇h = g W.
    np.testing.assert_allclose(layer.grads["W"], upstream.T @ x, rtol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], upstream.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(dx, upstream @ layer.params["W"], rtol=1e-12)


def test_dropout_gradient_and_scaling(rng):
    layer = mlp.Dropout(0.4, rng=np.random.default_rng(0))
    x = rng.standard_normal((50, 40))
    out = layer.forward(x)
    kept = out != 0
    # Inverted dropout: kept units are scaled by 1/(1-p); about 60% are kept.
    np.testing.assert_allclose(out[kept], x[kept] / 0.6)
    assert 0.5 < kept.mean() < 0.7
    upstream = rng.standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(upstream), upstream * kept / 0.6)
    np.testing.assert_array_equal(layer.forward(x, training=False), x)


def test_dropout_is_seeded():
    x = np.ones((8, 8))
    first = mlp.Dropout(0.5, rng=np.random.default_rng(7)).forward(x)
    second = mlp.Dropout(0.5, rng=np.random.default_rng(7)).forward(x)
    np.testing.assert_array_equal(first, second)


def test_sigmoid_gate_from_the_seed():
    # Seed 000: σ'(1) = σ(1)(1 − σ(1)) = 0.73 · 0.27 ≈ 0.20.
    layer = mlp.Sigmoid()
    out = layer.forward(np.array([[1.0]]))
    grad = layer.backward(np.array([[1.0]]))
    assert out[0, 0] == pytest.approx(0.7310585786, abs=1e-9)
    assert grad[0, 0] == pytest.approx(0.1966119332, abs=1e-9)
    assert round(grad[0, 0], 2) == 0.20


@pytest.mark.parametrize(
    "layer,expected",
    [
        (mlp.ReLU(), [0.0, 0.0, 1.0]),  # subgradient 0 at the kink
        (mlp.LeakyReLU(0.1), [0.1, 0.1, 1.0]),  # alpha at the kink
    ],
)
def test_subgradient_at_kink(layer, expected):
    layer.forward(np.array([[-1.0, 0.0, 2.0]]))
    np.testing.assert_array_equal(layer.backward(np.ones((1, 3))), [expected])


def test_sigmoid_extremes_do_not_overflow():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = mlp.Sigmoid().forward(np.array([[-1e4, 0.0, 1e4]], dtype=np.float32))
    np.testing.assert_array_equal(out, [[0.0, 0.5, 1.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "factory",
    [
        lambda d: mlp.Linear(3, 2, dtype=d, rng=np.random.default_rng(0)),
        *[(lambda name: lambda d: mlp.nn.layers.get_activation(name))(n) for n in sorted(ACTIVATIONS)],
        lambda d: mlp.Dropout(0.3, rng=np.random.default_rng(0)),
    ],
)
def test_dtype_in_equals_dtype_out(dtype, factory, rng):
    layer = factory(dtype)
    x = rng.standard_normal((4, 3)).astype(dtype)
    out = layer.forward(x)
    assert out.dtype == dtype
    back = layer.backward(np.ones_like(out))
    assert back.dtype == dtype
    assert all(g.dtype == dtype for g in layer.grads.values())


@pytest.mark.parametrize(
    "layer",
    [mlp.Linear(2, 2), mlp.ReLU(), mlp.Sigmoid(), mlp.Tanh(), mlp.LeakyReLU(), mlp.Identity(), mlp.Dropout(0.5)],
)
def test_backward_before_forward_is_a_clear_error(layer):
    with pytest.raises(StateError, match="forward"):
        layer.backward(np.ones((1, 2)))


def test_evaluation_forward_caches_nothing():
    layer = mlp.Linear(2, 2)
    layer.forward(np.ones((1, 2)), training=False)
    with pytest.raises(StateError):
        layer.backward(np.ones((1, 2)))


def test_params_are_the_arrays_the_layer_uses(rng):
    layer = mlp.Linear(3, 2, rng=rng)
    layer.params["W"][...] = 0
    layer.params["b"][...] = [1, 2]
    np.testing.assert_array_equal(layer.forward(np.ones((2, 3))), [[1, 2], [1, 2]])
    assert {k: v.shape for k, v in layer.params.items()} == {k: v.shape for k, v in layer.grads.items()}


def test_bad_inputs_are_rejected():
    layer = mlp.Linear(3, 2)
    with pytest.raises(ValueError, match=r"shape \(N, features\)"):
        layer.forward(np.ones(3))
    with pytest.raises(ValueError, match="expected 3 input features"):
        layer.forward(np.ones((2, 4)))
    with pytest.raises(ValueError, match="in_features"):
        mlp.Linear(0, 2)
    with pytest.raises(ValueError, match="unknown initializer"):
        mlp.Linear(2, 2, init="nope")
    with pytest.raises(ValueError, match="must be >= 0 and < 1"):
        mlp.Dropout(1.0)


def test_initializers_have_the_documented_scale():
    rng = np.random.default_rng(0)
    W = mlp.Linear(1000, 500, init="he", rng=rng).params["W"]
    assert np.std(W) == pytest.approx(np.sqrt(2 / 1000), rel=0.02)
    W = mlp.Linear(1000, 500, init="xavier_uniform", rng=rng).params["W"]
    assert np.max(np.abs(W)) <= np.sqrt(6 / 1500)
    assert np.std(W) == pytest.approx(np.sqrt(2 / 1500), rel=0.02)
