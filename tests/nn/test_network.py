"""Sequential, regularizers, gradient checking of whole networks, and closed-form oracles."""

import numpy as np
import pytest

import mlp
from mlp.nn.losses import LOSSES, get_loss
from mlp.nn.regularizers import REGULARIZERS, get_regularizer

TOL = 1e-6


def network(rng, sizes=(4, 6, 5, 3), activation="tanh", dropout=0.0):
    layers = []
    for index, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(mlp.Linear(d_in, d_out, dtype=np.float64, rng=rng))
        if index < len(sizes) - 2:
            layers.append(mlp.nn.layers.get_activation(activation))
            if dropout:
                layers.append(mlp.Dropout(dropout, rng=np.random.default_rng(5)))
    return mlp.Sequential(layers)


def target_for(name, rng, n, k):
    if name in ("squared", "absolute", "huber"):
        return rng.standard_normal((n, k)) * 3
    if name == "binary_cross_entropy":
        return rng.integers(0, 2, n)
    return rng.integers(0, k, n)


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@pytest.mark.parametrize("reg_name", sorted(REGULARIZERS))
def test_network_gradcheck(loss_name, reg_name, rng):
    k = 1 if loss_name == "binary_cross_entropy" else 3
    model = network(rng, sizes=(4, 6, 5, k))
    x = rng.standard_normal((3, 4))
    kwargs = {"l1_ratio": 0.3} if reg_name == "elastic_net" else {}
    errors = mlp.nn.gradcheck.check_gradients(
        model, get_loss(loss_name), x, target_for(loss_name, rng, 3, k), get_regularizer(reg_name, 0.05, **kwargs)
    )
    assert set(errors) == {"0.W", "0.b", "2.W", "2.b", "4.W", "4.b", "input"}
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "identity"])
def test_gradcheck_with_dropout_and_batch_of_one(activation, rng):
    model = network(rng, activation=activation, dropout=0.3)
    errors = mlp.gradcheck(model, get_loss("cross_entropy"), rng.standard_normal((1, 4)), [2])
    assert max(errors.values()) < TOL, errors


def test_gradcheck_catches_a_wrong_gradient(rng):
    model = network(rng)
    layer = model.layers[0]
    original = type(layer).backward

    def broken(self, g, input_grad=True):
        out = original(self, g, input_grad)
        self.grads["W"] *= 1.01
        return out

    layer.backward = broken.__get__(layer)
    errors = mlp.gradcheck(model, get_loss("squared"), rng.standard_normal((2, 4)), rng.standard_normal((2, 3)))
    assert errors["0.W"] > 1e-3 and errors["2.W"] < TOL


def test_two_layer_network_matches_algorithm_6_4_by_hand(rng):
    # h1 = relu(x W1ᵀ + b1); ŷ = h1 W2ᵀ + b2; J = mean squared error (no ½) + λ(½‖W1‖² + ½‖W2‖²)
    lam = 0.1
    model = mlp.Sequential(
        [mlp.Linear(3, 4, dtype=np.float64, rng=rng), mlp.ReLU(), mlp.Linear(4, 2, dtype=np.float64, rng=rng)]
    )
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    W1, b1 = model.layers[0].params["W"].copy(), model.layers[0].params["b"].copy()
    W2, b2 = model.layers[2].params["W"].copy(), model.layers[2].params["b"].copy()
    loss, reg = get_loss("squared"), get_regularizer("l2", lam)
    J = loss.forward(model.forward(x), y) + reg.penalty(model)
    dx = model.backward(loss.backward())
    reg.add_gradient(model)

    a1 = x @ W1.T + b1
    h1 = np.maximum(a1, 0)
    y_hat = h1 @ W2.T + b2
    assert J == pytest.approx(np.mean(np.sum((y_hat - y) ** 2, axis=1)) + lam * 0.5 * (np.sum(W1**2) + np.sum(W2**2)))
    g = 2 * (y_hat - y) / len(x)  # g ← ∇ŷ J
    gW2, gb2 = g.T @ h1 + lam * W2, g.sum(0)
    g = g @ W2  # g ← ∇h1 J = W2ᵀ g
    g = g * (a1 > 0)  # g ← g ⊙ f'(a1)
    gW1, gb1 = g.T @ x + lam * W1, g.sum(0)
    np.testing.assert_allclose(model.layers[2].grads["W"], gW2, rtol=1e-12)
    np.testing.assert_allclose(model.layers[2].grads["b"], gb2, rtol=1e-12)
    np.testing.assert_allclose(model.layers[0].grads["W"], gW1, rtol=1e-12)
    np.testing.assert_allclose(model.layers[0].grads["b"], gb1, rtol=1e-12)
    np.testing.assert_allclose(dx, g @ W1, rtol=1e-12)


def test_ridge_regression_oracle(rng):
    # No hidden layer + squared loss (no ½, mean over N) + L2 on W only. Setting the gradient to 0:
    # (2/N) [X 1]ᵀ([X 1]θ − y) + λ diag(1,…,1,0) θ = 0.
    n, d, lam = 40, 3, 0.5
    X = rng.standard_normal((n, d))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.3 + 0.1 * rng.standard_normal(n)
    model = mlp.Sequential([mlp.Linear(d, 1, dtype=np.float64, rng=rng)])
    loss, reg = get_loss("squared"), get_regularizer("l2", lam)
    opt = mlp.optim.get_optimizer("sgd", model, lr=0.05)
    for _ in range(3000):
        loss.forward(model.forward(X), y)
        model.backward(loss.backward(), input_grad=False)
        reg.add_gradient(model)
        opt.step()
    A = np.hstack([X, np.ones((n, 1))])
    penalty = np.diag([1.0] * d + [0.0])
    theta = np.linalg.solve(2 / n * A.T @ A + lam * penalty, 2 / n * A.T @ y)
    np.testing.assert_allclose(model.layers[0].params["W"][0], theta[:d], rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(model.layers[0].params["b"][0], theta[d], rtol=1e-9, atol=1e-10)


def spirals(rng, n_per_class=100):
    t = np.sqrt(rng.uniform(0, 1, n_per_class)) * 3 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)
    X = np.vstack([arm, -arm]) + 0.01 * rng.standard_normal((2 * n_per_class, 2))
    return X, np.repeat([0, 1], n_per_class)


def test_public_api_loop_fits_two_spirals(rng):
    X, y = spirals(rng)
    model = mlp.Sequential(
        [mlp.Linear(2, 64, rng=rng), mlp.Tanh(), mlp.Linear(64, 64, rng=rng), mlp.Tanh(), mlp.Linear(64, 2, rng=rng)]
    )
    loss = get_loss("cross_entropy")
    opt = mlp.optim.get_optimizer("adam", model, lr=0.01)
    for _ in range(1500):
        loss.forward(model.forward(X), y)
        model.backward(loss.backward())
        opt.step()
    accuracy = np.mean(model.forward(X, training=False).argmax(1) == y)
    assert accuracy >= 0.99


def test_state_dict_round_trip_and_strictness(rng):
    model = network(rng)
    state = model.state_dict()
    assert list(state) == ["0.W", "0.b", "2.W", "2.b", "4.W", "4.b"]
    assert state["0.W"].shape == (6, 4)
    other = network(np.random.default_rng(99))
    other.load_state_dict(state)
    x = rng.standard_normal((2, 4))
    np.testing.assert_array_equal(other.forward(x), model.forward(x))
    state["0.W"][...] = 0  # a copy: the model is unchanged
    assert np.any(model.layers[0].params["W"] != 0)
    with pytest.raises(ValueError, match=r"'2.W' has shape \(5, 7\).*expects shape \(5, 6\)"):
        other.load_state_dict({**model.state_dict(), "2.W": np.zeros((5, 7))})
    with pytest.raises(ValueError, match="missing key '4.b'"):
        other.load_state_dict({k: v for k, v in model.state_dict().items() if k != "4.b"})
    with pytest.raises(ValueError, match="unexpected key '9.W'"):
        other.load_state_dict({**model.state_dict(), "9.W": np.zeros(1)})


def test_parameters_are_views_of_one_vector(rng):
    model = network(rng)
    keys = [key for key, _, _ in model.parameters()]
    assert keys == ["0.W", "0.b", "2.W", "2.b", "4.W", "4.b"]
    model.flat_params[:] = 0
    assert all(np.all(p == 0) for _, p, _ in model.parameters())
    model.layers[0].params["W"][...] = 1  # in-place writes change the layer
    assert model.forward(np.ones((1, 4))).shape == (1, 3)
    assert model.num_parameters() == sum(p.size for _, p, _ in model.parameters())


def test_backward_can_skip_the_input_gradient(rng):
    model = network(rng)
    model.forward(rng.standard_normal((2, 4)))
    assert model.backward(np.ones((2, 3)), input_grad=False) is None
    assert np.any(model.layers[0].grads["W"] != 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_activation_pairs_equal_the_layers_run_one_by_one(dtype, rng):
    """Sequential runs Linear→ReLU and Linear→LeakyReLU as pairs (bias added in the activation's pass,
    ∇b summed in its backward pass): outputs, every gradient and dJ/dx are those of the layers run one
    by one, bit for bit, with whichever kernels this session selected."""
    layers = [
        mlp.Linear(5, 6, dtype=dtype, rng=rng),
        mlp.ReLU(),
        mlp.Linear(6, 4, dtype=dtype, rng=rng),
        mlp.LeakyReLU(0.1),
        mlp.Linear(4, 3, dtype=dtype, rng=rng),
        mlp.Tanh(),
    ]
    model = mlp.Sequential(layers)
    for linear in layers[0:4:2]:
        linear.params["b"][...] = rng.standard_normal(linear.params["b"].shape)  # zeros would hide a lost bias
    x, g = rng.standard_normal((7, 5)).astype(dtype), rng.standard_normal((7, 3)).astype(dtype)
    x[0, :] = 0  # rows at the kink
    output = model.forward(x).copy()
    input_grad = model.backward(g.copy())
    paired = {key: grad.copy() for key, _, grad in model.parameters()}

    h = x
    for layer in layers:
        h = layer.forward(h)
    np.testing.assert_array_equal(output, h)
    back = g.copy()
    for layer in reversed(layers):
        back = layer.backward(back)
    np.testing.assert_array_equal(input_grad, back)
    for key, _, grad in model.parameters():
        np.testing.assert_array_equal(paired[key], grad, err_msg=key)


def test_a_subclassed_activation_is_not_paired(rng):
    class Doubled(mlp.ReLU):
        def forward(self, x, training=True):
            return 2 * super().forward(x, training)

    model = mlp.Sequential([mlp.Linear(3, 2, rng=rng), Doubled()])
    x = rng.standard_normal((4, 3)).astype(np.float32)
    expected = 2 * np.maximum(x @ model.layers[0].params["W"].T + model.layers[0].params["b"], 0)
    np.testing.assert_allclose(model.forward(x), expected, rtol=1e-6)


@pytest.mark.parametrize(
    "name,omega",
    [
        ("l2", lambda W: 0.5 * np.sum(W**2)),
        ("l1", lambda W: np.sum(np.abs(W))),
        ("elastic_net", lambda W: 0.25 * np.sum(np.abs(W)) + 0.75 * 0.5 * np.sum(W**2)),
    ],
)
def test_regularizer_covers_weights_not_biases(name, omega, rng):
    model = network(rng)
    reg = get_regularizer(name, 0.2, **({"l1_ratio": 0.25} if name == "elastic_net" else {}))
    weights = [p for key, p, _ in model.parameters() if key.endswith("W")]
    assert reg.penalty(model) == pytest.approx(0.2 * sum(omega(W) for W in weights), rel=1e-12)
    model.flat_grads[:] = 0
    reg.add_gradient(model)
    assert all(np.all(g == 0) for key, _, g in model.parameters() if key.endswith("b"))
    assert get_regularizer("none", 1.0).penalty(model) == 0.0
    with pytest.raises(ValueError, match="lambda: must be >= 0"):
        get_regularizer("l2", -1)
    with pytest.raises(ValueError, match="valid names: elastic_net, l1, l2, none"):
        get_regularizer("l3", 1.0)


def test_max_norm_rescales_long_rows_only(rng):
    from mlp.nn.regularizers import apply_max_norm

    model = mlp.Sequential([mlp.Linear(3, 4, dtype=np.float64, rng=rng)])
    W = model.layers[0].params["W"]
    W[...] = [[3, 4, 0], [0.3, 0.4, 0], [0, 0, 10], [1, 0, 0]]
    apply_max_norm(model, 2.0)
    np.testing.assert_allclose(np.linalg.norm(W, axis=1), [2.0, 0.5, 2.0, 1.0])
    np.testing.assert_allclose(W[0], [1.2, 1.6, 0])  # direction kept


def test_architecture_with_input_dropout(rng):
    from mlp.nn import Architecture

    model = Architecture(5, [4], 2, dropout=0.5, input_dropout=0.2).build(rng, rng)
    assert [type(layer).__name__ for layer in model.layers] == ["Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert model.forward(np.ones((3, 5)), training=False).shape == (3, 2)


class RunningMean(mlp.nn.Layer):
    """A parameter-free layer with state that is not trained: the mean of the inputs it has seen."""

    def __init__(self, width):
        super().__init__()
        self.buffers = {"mean": np.zeros(width), "count": np.zeros(1)}

    def forward(self, x, training=True):
        if training:
            count = self.buffers["count"]
            self.buffers["mean"] += (x.mean(axis=0) - self.buffers["mean"]) * len(x) / (count + len(x))
            count += len(x)
        return x

    def backward(self, g, input_grad=True):
        return g if input_grad else None


def test_buffers_travel_in_the_state_dict_and_no_optimizer_touches_them(rng):
    model = mlp.Sequential([mlp.Linear(3, 4, rng=rng), RunningMean(4), mlp.Linear(4, 2, rng=rng)])
    x = rng.standard_normal((5, 3))
    out = model.forward(x)
    state = model.state_dict()
    assert {"1.mean", "1.count"} <= set(state) and state["1.count"][0] == 5
    assert model.num_parameters() == 3 * 4 + 4 + 4 * 2 + 2  # buffers are not parameters
    optimizer = mlp.optim.get_optimizer("sgd", model, lr=0.1)
    model.backward(np.ones_like(out))
    optimizer.step()
    assert np.array_equal(model.state_dict()["1.mean"], state["1.mean"])
    fresh = mlp.Sequential([mlp.Linear(3, 4, rng=rng), RunningMean(4), mlp.Linear(4, 2, rng=rng)])
    fresh.load_state_dict(state)
    assert np.array_equal(fresh.layers[1].buffers["mean"], state["1.mean"])
    with pytest.raises(ValueError, match="missing key '1.count'"):
        fresh.load_state_dict({k: v for k, v in state.items() if k != "1.count"})


def test_an_empty_network_is_the_identity_both_ways():
    network = mlp.Sequential([])
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert network.forward(x) is x
    g = np.ones((2, 3), np.float32)
    assert network.backward(g) is g
    assert network.backward(g, input_grad=False) is None
