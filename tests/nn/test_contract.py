"""The layer contract: the autograder fails each deliberately broken layer on its own rule, passes
the built-in layers, and a network catches a replaced gradient array at once."""

import numpy as np
import pytest

import mlp
from mlp.errors import ContractError
from mlp.nn.contract import check_layer


class WrongDerivative(mlp.Sigmoid):
    """σ' written as σ instead of σ(1 − σ)."""

    def backward(self, g, input_grad=True):
        h = self._cached(self._h)
        return g * h


class ReplacesGrads(mlp.Linear):
    def backward(self, g, input_grad=True):
        h = self._cached(self._h)
        self.grads["W"] = g.T @ h
        self.grads["b"][...] = g.sum(axis=0)
        return g @ self.params["W"] if input_grad else None


class Accumulates(mlp.Linear):
    def backward(self, g, input_grad=True):
        h = self._cached(self._h)
        self.grads["W"] += g.T @ h
        self.grads["b"] += g.sum(axis=0)
        return g @ self.params["W"] if input_grad else None


class StepsItself(mlp.Linear):
    def backward(self, g, input_grad=True):
        result = super().backward(g, input_grad)
        self.params["W"] -= 0.1 * self.grads["W"]
        return result


class CachesInEvaluation(mlp.Tanh):
    def forward(self, x, training=True):
        h = np.tanh(x)
        self._h = h  # whatever training says
        return h


class ReturnsFloat64(mlp.Tanh):
    def forward(self, x, training=True):
        h = np.tanh(np.asarray(x, dtype=np.float64))
        self._h = h if training else None
        return h


class ZeroCache(mlp.Layer):
    """A scaling layer whose cache starts as zeros: backward before forward 'works'."""

    def __init__(self):
        super().__init__()
        self._x = np.zeros((4, 3), dtype=np.float32)

    def forward(self, x, training=True):
        if training:
            self._x = x
        return 2 * x

    def backward(self, g, input_grad=True):
        return 2 * g


BROKEN = [
    (WrongDerivative(), "gradients"),
    (ReplacesGrads(3, 2, rng=np.random.default_rng(0)), "grads in place"),
    (Accumulates(3, 2, rng=np.random.default_rng(0)), "grads overwritten"),
    (StepsItself(3, 2, rng=np.random.default_rng(0)), "params unchanged"),
    (CachesInEvaluation(), "no cache in evaluation"),
    (ReturnsFloat64(), "dtype kept"),
    (ZeroCache(), "backward needs forward"),
]


@pytest.mark.parametrize("layer, rule", BROKEN, ids=[rule for _, rule in BROKEN])
def test_each_broken_layer_fails_its_own_rule(layer, rule):
    report = check_layer(layer, (4, 3))
    assert not report.passed
    assert [check.name for check in report.failed()] == [rule], str(report)
    assert f"FAIL {rule}" in str(report)


BUILT_IN = [
    mlp.Linear(3, 2, rng=np.random.default_rng(0)),
    mlp.Linear(3, 2, dtype=np.float64, rng=np.random.default_rng(0)),
    mlp.ReLU(),
    mlp.LeakyReLU(0.1),
    mlp.Sigmoid(),
    mlp.Tanh(),
    mlp.Identity(),
    mlp.Dropout(0.5, rng=np.random.default_rng(0)),
]


@pytest.mark.parametrize("layer", BUILT_IN, ids=repr)
def test_the_built_in_layers_pass(layer):
    report = check_layer(layer, (4, 3))
    assert report.passed, str(report)
    assert "PASSED" in str(report).splitlines()[0]


def test_the_gradient_failure_names_the_worst_entry_with_both_values():
    report = check_layer(WrongDerivative(), (4, 3))
    (index, analytic, numeric, error) = report.worst["input"]
    detail = report.failed()[0].detail
    assert f"input{list(index)}: analytic {analytic:.6g}, numeric {numeric:.6g}" in detail
    assert error > 1e-2 and abs(numeric - analytic) > 1e-3


def test_a_network_refuses_a_replaced_gradient_array_naming_layer_key_and_fix():
    network = mlp.Sequential([mlp.Linear(3, 4, rng=np.random.default_rng(0)), mlp.ReLU(), ReplacesGrads(4, 2)])
    output = network.forward(np.ones((5, 3), dtype=np.float32))
    with pytest.raises(ContractError) as error:
        network.backward(np.ones_like(output))
    message = str(error.value)
    assert message.startswith("layer 2 (ReplacesGrads): backward replaced grads['W'] by a new array")
    assert "self.grads['W'][...] = " in message


class ForgetsInputGradient(mlp.Tanh):
    def backward(self, g, input_grad=True):
        super().backward(g, input_grad)
        return None


def test_a_network_refuses_a_layer_that_returns_no_input_gradient():
    network = mlp.Sequential([mlp.Linear(3, 4, rng=np.random.default_rng(0)), ForgetsInputGradient(), mlp.Linear(4, 2)])
    output = network.forward(np.ones((5, 3), dtype=np.float32))
    with pytest.raises(ContractError, match=r"ForgetsInputGradient.backward\(g, input_grad=True\) returned None"):
        network.backward(np.ones_like(output))


def test_the_replaced_array_would_have_stopped_training_silently():
    """Why the check exists: the optimizer updates the network's flat vector, which a replaced
    array has left; with the check off (a bare loop over the layers) the weights never move."""
    layer = ReplacesGrads(3, 2, rng=np.random.default_rng(0))
    network = mlp.Sequential([layer])
    before = network.flat_params.copy()
    optimizer = mlp.optim.SGD(network, lr=0.1)
    for _ in range(5):
        output = network.forward(np.ones((5, 3), dtype=np.float32))
        layer.backward(np.ones_like(output))  # around the network's check
        optimizer.step()
    assert np.array_equal(layer.params["W"], before[:6].reshape(2, 3))  # W never moved
    assert not np.array_equal(layer.params["b"], before[6:])  # b, written in place, did
    assert np.abs(layer.grads["W"]).sum() > 0  # the layer computed gradients the optimizer never saw


def test_gradcheck_by_layer_points_at_the_broken_layer_and_names_parameter_free_ones():
    from mlp.nn.gradcheck import compare_layers
    from mlp.nn.losses import get_loss

    rng = np.random.default_rng(0)
    model = mlp.Sequential(
        [mlp.Linear(3, 5, dtype=np.float64, rng=rng), WrongDerivative(), mlp.Linear(5, 2, dtype=np.float64, rng=rng)]
    )
    rows = compare_layers(model, get_loss("cross_entropy"), rng.standard_normal((4, 3)), np.array([0, 1, 1, 0]))
    table = {(row.layer, row.name, row.key): row for row in rows}
    assert list(table) == [
        (0, "Linear", "W"),
        (0, "Linear", "b"),
        (0, "Linear", "input"),
        (1, "WrongDerivative", "input"),
        (2, "Linear", "W"),
        (2, "Linear", "b"),
        (2, "Linear", "input"),
    ]
    assert all(table[2, "Linear", key].error < 1e-8 for key in ("W", "b", "input"))  # above the bug: right
    broken = table[1, "WrongDerivative", "input"]
    assert broken.error > 0.1 and abs(broken.analytic - broken.numeric) > 1e-3


def test_an_entry_at_a_relu_kink_is_left_out_and_counted():
    from mlp.nn.gradcheck import compare_layers
    from mlp.nn.losses import get_loss

    linear = mlp.Linear(2, 2, dtype=np.float64, rng=np.random.default_rng(0))
    model = mlp.Sequential([linear, mlp.ReLU(), mlp.Linear(2, 2, dtype=np.float64, rng=np.random.default_rng(1))])
    x = np.array([[1.0, 2.0]])
    linear.params["b"][0] = 1e-5 - x[0] @ linear.params["W"][0]  # unit 0's input is 1e-5: a kink within 2ε
    rows = compare_layers(model, get_loss("squared"), x, np.array([[0.5, -0.5]]))
    relu = next(row for row in rows if row.name == "ReLU")
    assert relu.kinks == 1 and relu.error < 1e-8
