"""`mlp explain CONFIG|MODEL`: every gradient it prints is the network's own, and agrees with finite
differences computed here, independently of the package's gradient checking."""

import numpy as np
import pytest

import mlp
from helpers import CONFIGS_DIR, Softsign, run
from mlp.config import load_config
from mlp.errors import MlpError
from mlp.explain.network import explain_network, network_trace
from mlp.explain.trace import trace
from mlp.training.experiment import build_experiment

LECTURE = CONFIGS_DIR / "lecture.yaml"


def lecture_trace(overrides=()):
    """The experiment, its dropout generator's state before the trace, the trace, and the rows."""
    experiment = build_experiment(load_config(LECTURE, ["training.dtype=float64", *overrides]))
    x = experiment.splits.X_train[:2]
    y = experiment.targets["train"][:2]
    rng = next((layer.rng for layer in experiment.network.layers if hasattr(layer, "rng")), None)
    state = None if rng is None else rng.bit_generator.state
    worked = trace(experiment.network, experiment.loss, experiment.regularizer, x, y)
    return experiment, (rng, state), worked, x, y


def independent_gradient(f, array, eps=1e-6):
    """Central differences of f() in every entry of array (changed in place and restored)."""
    flat, out = array.reshape(-1), np.zeros(array.size)
    for j in range(array.size):
        saved = flat[j]
        flat[j] = saved + eps
        plus = f()
        flat[j] = saved - eps
        minus = f()
        flat[j] = saved
        out[j] = (plus - minus) / (2 * eps)
    return out.reshape(array.shape)


@pytest.mark.parametrize("overrides", [(), ("model.hidden=[4, 3]", "model.activation=tanh", "model.dropout=0.3")])
def test_every_printed_gradient_matches_independent_finite_differences(overrides):
    experiment, (dropout_rng, state), worked, x, y = lecture_trace(overrides)
    network, loss, regularizer = experiment.network, experiment.loss, experiment.regularizer
    layers = network.layers

    def J(start=0, h=None):
        """J with the input of layer ``start`` set to ``h``; lower layers run for their dropout draws."""
        if dropout_rng is not None:
            dropout_rng.bit_generator.state = state
        below = x.copy()
        for layer in layers[:start]:
            below = layer.forward(below, training=True)
        out = below if h is None else h
        for layer in layers[start:]:
            out = layer.forward(out, training=True)
        return float(loss.forward(out, y)) + regularizer.penalty(network)

    inputs = [x.copy()]
    if dropout_rng is not None:
        dropout_rng.bit_generator.state = state
    h = x.copy()
    for layer in layers:
        h = layer.forward(h, training=True)
        inputs.append(h.copy())
    checked = 0
    linears = [i for i, layer in enumerate(layers) if hasattr(layer, "in_features")]
    for k, quantity in worked.backward:
        symbol = quantity.symbol
        if symbol.startswith(r"\nabla_{W") or symbol.startswith(r"\nabla_{b"):
            layer = layers[linears[k - 1]]
            key = "W" if symbol.startswith(r"\nabla_{W") else "b"
            expected = independent_gradient(J, layer.params[key])
        elif k is None:  # g ← ∇_ŷ J
            output = inputs[-1].copy()
            expected = independent_gradient(
                lambda o=output: float(loss.forward(o, y)) + regularizer.penalty(network), output
            )
        else:  # the gradient on some layer's input: find the layer by shape and order
            index = _layer_of(worked.backward, quantity, layers)
            start_input = inputs[index].copy()
            expected = independent_gradient(lambda i=index, v=start_input: J(i, v), start_input)
        assert np.allclose(quantity.value, expected, rtol=1e-6, atol=1e-8), symbol
        checked += 1
    assert checked == len(worked.backward) and checked >= 7


def _layer_of(steps, quantity, layers):
    """The index of the layer whose input gradient ``quantity`` is: steps come in reverse layer order."""
    gradient_steps = [q for k, q in steps if k is not None and not q.symbol.startswith(r"\nabla")]
    position = next(i for i, q in enumerate(gradient_steps) if q is quantity)
    return len(layers) - 1 - position


def test_the_command_prints_the_book_notation_and_every_check():
    result = run("explain", LECTURE)
    assert result.exit_code == 0, result.output
    text = result.stdout
    for line in [
        "Algorithms 6.3 and 6.4 on 2 rows of xor",
        "a⁽¹⁾ = h⁽⁰⁾ W⁽¹⁾ᵀ + b⁽¹⁾",
        "h⁽¹⁾ = σ(a⁽¹⁾)",
        "a⁽²⁾ = ŷ = h⁽¹⁾ W⁽²⁾ᵀ + b⁽²⁾",
        "J = L + λ Ω = ",
        "g ← ∇_ŷ J",
        "∇_W⁽²⁾ J = gᵀ h⁽¹⁾ + λ ∇_W⁽²⁾ Ω",
        "∇_b⁽²⁾ J = Σₙ gₙ",
        "g ← ∇_h⁽¹⁾ J = g W⁽²⁾",
        "g ← ∇_a⁽¹⁾ J = g ⊙ f'(a⁽¹⁾)",
        "g ← ∇_x J = g W⁽¹⁾",
    ]:
        assert line in text, line
    assert text.count("(finite differences)") == 8
    worst = float(text.rsplit("largest relative error is ", 1)[1].rstrip(".\n"))
    assert worst < 1e-6


def test_the_printed_numbers_are_the_traced_ones():
    _, worked, _ = network_trace(LECTURE, rows=2, seed=0)
    text = explain_network(LECTURE, rows=2, seed=0)
    for _, quantity in worked.forward + worked.backward:
        for value in quantity.value.reshape(-1):
            assert (f"{value:.4g}" if value else "0") in text


def test_markdown_and_latex_render_the_same_trace(tmp_path):
    markdown = run("explain", LECTURE, "--format", "markdown").stdout
    assert "$a^{(1)} = h^{(0)} W^{(1)\\top} + b^{(1)}$" in markdown and "```text" in markdown
    latex = run("explain", LECTURE, "--format", "latex").stdout
    assert "\\begin{bmatrix}" in latex and "\\nabla_{W^{(1)}} J" in latex and "×" not in latex


def test_a_trained_model_is_explained_with_its_own_weights(tmp_path):
    assert run("train", LECTURE, "--out", tmp_path / "run", "--quiet", "--set", "training.epochs=3").exit_code == 0
    result = run("explain", tmp_path / "run", "--rows", "3")
    assert result.exit_code == 0, result.output
    assert f"Network: {tmp_path / 'run'} (trained weights)" in result.stdout
    assert "on 3 rows of xor" in result.stdout


def test_large_layers_are_summarized_with_their_checked_entries():
    result = run("explain", CONFIGS_DIR / "digits.yaml", "--rows", "3")
    assert result.exit_code == 0, result.output
    assert "∇_W⁽¹⁾ J = gᵀ h⁽⁰⁾ + λ ∇_W⁽¹⁾ Ω  (shape 64×64; norm " in result.stdout
    assert "largest entries: [" in result.stdout and "(finite difference " in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "explain needs a CONFIG or MODEL, or --expr EXPR"),
        ((LECTURE, "--rows", "100000"), "--rows 100000: the training split has"),
        ((LECTURE, "--at", "x=1"), "--at and --dot go with --expr"),
    ],
)
def test_bad_requests_are_one_line_and_status_2(args, message):
    result = run("explain", *args)
    assert result.exit_code == 2 and message in result.output


def test_a_network_of_ones_own_layers_is_explained_through_the_api():
    rng = np.random.default_rng(0)
    network = mlp.Sequential(
        [mlp.Linear(3, 4, dtype=np.float64, rng=rng), Softsign(), mlp.Linear(4, 2, dtype=np.float64, rng=rng)]
    )
    text = mlp.explain_layers(network, mlp.losses.CrossEntropy(), rng.standard_normal((2, 3)), np.array([0, 1]))
    assert "h⁽¹⁾ = Softsign(a⁽¹⁾)" in text and "g ← ∇_a⁽¹⁾ J = g ⊙ f'(a⁽¹⁾)" in text
    assert float(text.rsplit("largest relative error is ", 1)[1].rstrip(".\n")) < 1e-6
    with pytest.raises(MlpError, match="explain needs a float64 network"):
        mlp.explain_layers(mlp.Sequential([mlp.Linear(3, 2)]), mlp.losses.CrossEntropy(), np.ones((1, 3)), [0])
