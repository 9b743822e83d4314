"""The two kernel versions: numba's fused kernels against the NumPy reference, kernel by kernel,
and the selection (config key, ``MLP_KERNELS``, what a run reports)."""

import numpy as np
import pytest

from helpers import run, write_config
from mlp import kernels
from mlp.config import resolve
from mlp.errors import ConfigError
from mlp.nn.gradcheck import compare_layers
from mlp.nn.losses import get_loss
from mlp.nn.network import Architecture
from mlp.nn.regularizers import get_regularizer
from mlp.training.experiment import build_experiment
from mlp.training.trainer import Trainer

pytest.importorskip("numba")

# float64 must agree to 1e-12 relative; float32 to 2e-6 relative (a few units in the last place:
# the versions round their float32 exp and products in different orders)
TOLERANCE = {np.float64: dict(rtol=1e-12, atol=1e-300), np.float32: dict(rtol=2e-6, atol=1e-7)}
DTYPES = [np.float64, np.float32]


@pytest.fixture
def fused():
    return kernels.fused()


def batch(rng, dtype, shape=(7, 13), scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def close(a, b, dtype):
    np.testing.assert_allclose(a, b, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_activations_forward_and_backward_agree(name, dtype, fused, rng):
    a, g = batch(rng, dtype), batch(rng, dtype)
    a[0, :3] = 0  # the kink
    h_ref, h_fused = getattr(kernels.Reference, name)(a), getattr(fused, name)(a)
    close(h_fused, h_ref, dtype)
    assert h_fused.dtype == dtype and h_fused.shape == a.shape
    backward = f"{name}_backward"
    close(getattr(fused, backward)(g, h_ref), getattr(kernels.Reference, backward)(g, h_ref), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_leaky_relu_agrees(dtype, fused, rng):
    a, g = batch(rng, dtype), batch(rng, dtype)
    h = kernels.Reference.leaky_relu(a, 0.1)
    close(fused.leaky_relu(a, 0.1), h, dtype)
    close(fused.leaky_relu_backward(g, h, 0.1), kernels.Reference.leaky_relu_backward(g, h, 0.1), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_and_column_sums_agree(dtype, fused, rng):
    a, b = batch(rng, dtype), batch(rng, dtype, (13,))
    expected = a.copy()
    kernels.Reference.add_bias(expected, b)
    fused.add_bias(a, b)
    close(a, expected, dtype)
    sums_ref, sums_fused = np.empty(13, dtype), np.empty(13, dtype)
    kernels.Reference.column_sums(a, sums_ref)
    fused.column_sums(a, sums_fused)
    close(sums_fused, sums_ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha", [None, 0.1])
def test_bias_activation_and_backward_sums_agree(alpha, dtype, fused, rng):
    """``bias_relu``/``bias_leaky_relu`` are add_bias then the activation, in place; the
    ``…_backward_sums`` kernels are the activation's backward plus column_sums: in each version
    exactly its single kernels composed, and the versions agree with each other."""
    a, b, g = batch(rng, dtype), batch(rng, dtype, (13,)), batch(rng, dtype)
    a[0] = -b  # a + b = 0: the kink
    leaky = () if alpha is None else (alpha,)
    prefix = "relu" if alpha is None else "leaky_relu"
    results = {}
    for version in (kernels.Reference, fused):
        expected = a.copy()
        version.add_bias(expected, b)
        expected = getattr(version, prefix)(expected, *leaky)
        biased = a.copy()
        h = getattr(version, f"bias_{prefix}")(biased, b, *leaky)
        assert h is biased or np.shares_memory(h, biased)  # in place
        np.testing.assert_array_equal(h, expected)
        sums, expected_sums = np.full(13, np.nan, dtype), np.empty(13, dtype)
        back = getattr(version, f"{prefix}_backward_sums")(g, h, *leaky, sums)
        expected_back = getattr(version, f"{prefix}_backward")(g, h, *leaky)
        version.column_sums(expected_back, expected_sums)
        np.testing.assert_array_equal(back, expected_back)
        np.testing.assert_array_equal(sums, expected_sums)
        results[version.name] = (h, back, sums)
    for ours, theirs in zip(results["numba"], results["numpy"]):
        close(ours, theirs, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_agrees_even_for_huge_logits(dtype, fused, rng):
    logits = batch(rng, dtype, (9, 4), scale=50.0)
    logits[0] = [1e4, -1e4, 0, 3]
    labels = rng.integers(0, 4, 9)
    loss_ref, grad_ref = kernels.Reference.softmax_cross_entropy(logits, labels)
    loss_fused, grad_fused = fused.softmax_cross_entropy(logits, labels)
    assert np.isfinite(loss_fused)
    close(loss_fused, loss_ref, dtype)
    close(grad_fused, grad_ref, dtype)
    np.testing.assert_allclose(grad_fused.sum(axis=1), 0, atol=1e-6)  # softmax rows sum to one


@pytest.mark.parametrize("dtype", DTYPES)
def test_gather_rows_agrees(dtype, fused, rng):
    X = batch(rng, dtype, (20, 5))
    rows = rng.permutation(20)[:6]
    out_ref, out_fused = np.empty((8, 5), dtype), np.empty((8, 5), dtype)
    np.testing.assert_array_equal(
        fused.gather_rows(X, rows, out_fused), kernels.Reference.gather_rows(X, rows, out_ref)
    )


OPTIMIZER_STEPS = {
    "sgd": lambda k, p, g, b, s, d, t: k.sgd_step(p, g, b[0], s, 0.05, 0.0, False, t == 1),
    "momentum": lambda k, p, g, b, s, d, t: k.sgd_step(p, g, b[0], s, 0.05, 0.9, False, t == 1),
    "nesterov": lambda k, p, g, b, s, d, t: k.sgd_step(p, g, b[0], s, 0.05, 0.9, True, t == 1),
    "adam": lambda k, p, g, b, s, d, t: k.adam_step(p, g, b[0], b[1], s, d, 0.01, 0.9, 0.999, 1e-8, t, 0.0),
    "adamw": lambda k, p, g, b, s, d, t: k.adam_step(p, g, b[0], b[1], s, d, 0.01, 0.9, 0.999, 1e-8, t, 0.01),
    "rmsprop": lambda k, p, g, b, s, d, t: k.rmsprop_step(p, g, b[0], b[1], s, 0.01, 0.99, 1e-8, 0.0),
    "rmsprop_momentum": lambda k, p, g, b, s, d, t: k.rmsprop_step(p, g, b[0], b[1], s, 0.01, 0.99, 1e-8, 0.5),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(OPTIMIZER_STEPS))
def test_optimizer_steps_agree_over_several_steps(name, dtype, fused, rng):
    """Five steps from the same start with fresh gradients each step: parameters and every buffer."""
    states = []
    for version in (kernels.Reference, fused):
        param = batch(np.random.default_rng(0), dtype, (1000,))
        buffers = [np.zeros_like(param), np.zeros_like(param)]
        scratch, denom = np.empty_like(param), np.empty_like(param)
        grads = np.random.default_rng(1)
        for t in range(1, 6):
            OPTIMIZER_STEPS[name](version, param, batch(grads, dtype, (1000,)), buffers, scratch, denom, t)
        states.append([param, *buffers])
    for ref, fast in zip(*states):
        close(fast, ref, dtype)


@pytest.mark.parametrize("version", ["numpy", "numba"])
def test_non_finite_values_propagate_in_both_versions(version):
    implementation = kernels.fused() if version == "numba" else kernels.Reference
    a = np.array([[np.nan, -1.0, np.inf, 2.0]], dtype=np.float32)
    h = implementation.relu(a)
    assert np.isnan(h[0, 0]) and h[0, 2] == np.inf
    g = np.array([[np.nan, np.nan, 1.0, 1.0]], dtype=np.float32)
    assert np.isnan(implementation.relu_backward(g, h)[0, 1])  # NaN · 0 is NaN, as in NumPy
    param, grad = np.ones(4, np.float32), np.array([np.nan, 0, 0, 0], np.float32)
    implementation.sgd_step(param, grad, np.zeros(4, np.float32), np.empty(4, np.float32), 0.1, 0.9, False, True)
    assert np.isnan(param[0]) and np.all(param[1:] == 1)


def test_a_network_trains_to_the_same_weights_with_either_version_in_float64():
    """A whole run (forward, loss, backward, Adam) in float64: the two versions end within 1e-10."""
    raw = {
        "data": {"name": "iris"},
        "model": {"hidden": [16, 8], "activation": "tanh"},
        "optimizer": {"name": "adam", "lr": 0.01},
        "training": {"epochs": 3, "batch_size": 16, "dtype": "float64"},
    }
    weights = {}
    for version in ("numpy", "numba"):
        trainer = Trainer(build_experiment(resolve({**raw, "training": {**raw["training"], "kernels": version}})))
        trainer.run()
        assert trainer.kernels_used.startswith(version)
        weights[version] = trainer.experiment.network.flat_params
    np.testing.assert_allclose(weights["numba"], weights["numpy"], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("version", ["numpy", "numba"])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "tanh"])
def test_gradients_match_finite_differences_with_either_version(version, activation, rng):
    network = Architecture(5, [6, 4], 3, activation=activation, dtype="float64").build(rng)
    x, y = rng.standard_normal((4, 5)), rng.integers(0, 3, 4)
    with kernels.selected(version):
        comparisons = compare_layers(network, get_loss("cross_entropy"), x, y, get_regularizer("l2", 0.05))
    assert len(comparisons) == 2 * 3 + len(network.layers)
    assert max(c.error for c in comparisons) < 1e-6, comparisons


def test_the_selection_follows_the_config_and_the_environment(monkeypatch):
    monkeypatch.delenv(kernels.ENV, raising=False)
    assert kernels.resolve("auto") == "numba" and kernels.resolve("numpy") == "numpy"
    monkeypatch.setenv(kernels.ENV, "numpy")
    assert kernels.resolve("auto") == "numpy" and kernels.resolve("numba") == "numba"
    monkeypatch.setenv(kernels.ENV, "fortran")
    with pytest.raises(ValueError, match="MLP_KERNELS='fortran': choose one of auto, numpy, numba"):
        kernels.resolve("auto")
    with pytest.raises(ConfigError, match="training.kernels: MLP_KERNELS"):
        Trainer(build_experiment(resolve({"data": {"name": "iris"}})))


def test_asking_for_numba_without_it_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(kernels, "numba_available", lambda: False)
    config = write_config(tmp_path / "c.yaml", "data: {name: iris}\ntraining: {epochs: 1, kernels: numba}\n")
    result = run("train", config, "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert 'numba is not installed: pip install -e ".[fast]"' in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run" / "model.npz").exists()


def test_version_and_report_say_which_kernels_ran(monkeypatch, tmp_path):
    monkeypatch.delenv(kernels.ENV, raising=False)
    assert "kernels: numba" in run("--version").output
    monkeypatch.setenv(kernels.ENV, "numpy")
    assert "kernels: numpy (reference); MLP_KERNELS=numpy" in run("--version").output
    config = write_config(tmp_path / "c.yaml", "data: {name: iris}\ntraining: {epochs: 1}\n")
    assert run("train", config, "--out", tmp_path / "run", "--threads", "1", "--quiet").exit_code == 0
    report = (tmp_path / "run" / "report.md").read_text()
    assert "- kernels: numpy (reference), 1 thread" in report
    monkeypatch.delenv(kernels.ENV)
    assert run("train", config, "--out", tmp_path / "fast", "--quiet").exit_code == 0
    assert (
        f"- kernels: numba {__import__('numba').__version__} (fused)" in (tmp_path / "fast" / "report.md").read_text()
    )


def test_optimizer_steps_update_strided_and_two_dimensional_arrays_in_place(fused, rng):
    """Arrays that are not flat vectors (a layer's W, a strided view) are updated in place too."""
    for make in (lambda a: a, lambda a: a[:, ::2]):
        expected, param = make(rng.standard_normal((4, 6))), None
        param = expected.copy() if expected.flags.c_contiguous else make(expected.base.copy())
        grad = np.ones_like(expected)
        kernels.Reference.sgd_step(expected, grad, np.zeros_like(grad), np.empty_like(grad), 0.5, 0.0, False, True)
        fused.sgd_step(param, grad, np.zeros_like(grad), np.empty_like(grad), 0.5, 0.0, False, True)
        np.testing.assert_array_equal(param, expected)


def test_gathering_small_integers_casts_and_scales_them_exactly(fused, rng):
    X = rng.integers(0, 256, (30, 7)).astype(np.uint8)
    rows = rng.permutation(30)[:9]
    factor = np.float32(1 / 255)
    out_ref, out_fused = np.empty((12, 7), np.float32), np.empty((12, 7), np.float32)
    expected = kernels.Reference.gather_rows(X, rows, out_ref, factor)
    np.testing.assert_array_equal(fused.gather_rows(X, rows, out_fused, factor), expected)
    np.testing.assert_array_equal(expected, X[rows].astype(np.float32) * factor)


def test_the_batch_constants_are_made_once_and_read_only(monkeypatch):
    """ReLU's zeros: one array per row width, grown with the batch and sliced (not one per batch
    size); the column sums' ones and the label gathers' row starts: made once per length."""
    monkeypatch.setattr(kernels, "_ZEROS", {})
    for n in (5, 3, 9, 4):
        a = -np.ones((n, 6), np.float32)
        np.testing.assert_array_equal(kernels.Reference.relu(a), np.zeros((n, 6), np.float32))
        labels = np.arange(n) % 3
        _, grad = kernels.Reference.softmax_cross_entropy(np.zeros((n, 3), np.float32), labels)
        np.testing.assert_allclose(grad[np.arange(n), labels], (1 / 3 - 1) / n, rtol=1e-6)
        sums = np.empty(6, np.float32)
        kernels.Reference.column_sums(a, sums)
        np.testing.assert_array_equal(sums, np.full(6, -n, np.float32))
    assert (
        list(kernels._ZEROS) == [((6,), np.dtype(np.float32))] and len(kernels._ZEROS[(6,), np.dtype(np.float32)]) == 9
    )
    np.testing.assert_array_equal(kernels._row_starts(9, 3), np.arange(9) * 3)
    assert kernels._row_starts(9, 3) is kernels._row_starts(9, 3)
    assert kernels._ones(4, np.dtype(np.float32)) is kernels._ones(4, np.dtype(np.float32))
    for constant in (kernels._zeros((2, 6), np.float32), kernels._ones(4, np.float32), kernels._row_starts(9, 3)):
        assert not constant.flags.writeable
