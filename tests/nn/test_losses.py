"""Losses: values against the documented formulas, gradients against finite differences, errors."""

import numpy as np
import pytest

from mlp.nn.gradcheck import relative_error
from mlp.nn.losses import LOSSES, get_loss

TOL = 1e-6


def make_case(name, rng, n=4, k=3):
    """(output, target) for a loss, with outputs away from every kink."""
    output = rng.standard_normal((n, k))
    if name in ("squared", "absolute", "huber"):
        target = output + np.sign(rng.standard_normal((n, k))) * rng.uniform(0.1, 0.8, (n, k))
        target[0, 0] = output[0, 0] + 2.5  # one residual in Huber's linear part
        return output, target
    if name == "binary_cross_entropy":
        return output[:, :1], rng.integers(0, 2, n)
    labels = rng.integers(0, k, n)
    if name in ("hinge", "multiclass_hinge"):
        # keep every margin term at least 0.05 from its kink
        output = np.round(output * 4) / 4 + 0.1
    return output, labels


def numeric_grad(loss, output, target, eps=1e-6):
    grad = np.zeros_like(output)
    for index in np.ndindex(output.shape):
        saved = output[index]
        output[index] = saved + eps
        upper = loss.forward(output, target)
        output[index] = saved - eps
        lower = loss.forward(output, target)
        output[index] = saved
        grad[index] = (upper - lower) / (2 * eps)
    return grad


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("n", [1, 5])
def test_loss_gradient(name, n, rng):
    loss = get_loss(name)
    output, target = make_case(name, rng, n=n)
    loss.forward(output, target)
    analytic = loss.backward()
    assert analytic.shape == output.shape
    assert relative_error(analytic, numeric_grad(loss, output, target)) < TOL


def test_soft_targets_for_cross_entropy(rng):
    output = rng.standard_normal((3, 4))
    probs = rng.dirichlet(np.ones(4), size=3)
    loss = get_loss("cross_entropy")
    expected = -np.mean(np.sum(probs * (output - np.log(np.exp(output).sum(1, keepdims=True))), axis=1))
    assert loss.forward(output, probs) == pytest.approx(expected, rel=1e-12)
    loss.forward(output, probs)
    assert relative_error(loss.backward(), numeric_grad(loss, output, probs)) < TOL


def test_values_match_the_seed_formulas():
    a = np.array([[1.0, -2.0], [0.5, 3.0]])
    b = np.array([[0.0, 0.0], [2.5, 3.0]])
    # squared: ((1)+(4) + (4)+(0)) / 2 = 4.5 — the seed's (a − b)², no ½
    assert get_loss("squared").forward(a, b) == pytest.approx(4.5)
    # absolute: (1 + 2 + 2 + 0) / 2 = 2.5
    assert get_loss("absolute").forward(a, b) == pytest.approx(2.5)
    # huber δ=1: r = 1 → δ|r| − ½δ² = 0.5 (|r| = δ takes the linear branch), 2 → 1.5, −2 → 1.5, 0 → 0
    assert get_loss("huber").forward(a, b) == pytest.approx((0.5 + 1.5 + 1.5) / 2)
    # cross-entropy with label c: −log softmax(a)_c
    logits = np.array([[2.0, 1.0, 0.1]])
    expected = -np.log(np.exp(2.0) / np.exp(logits).sum())
    assert get_loss("cross_entropy").forward(logits, [0]) == pytest.approx(expected)
    # one-vs-all hinge, δ=1, true class 0: max(0, 1 − 2) + max(0, 1 + 1) + max(0, 1 + 0.1) = 3.1
    assert get_loss("hinge").forward(logits, [0]) == pytest.approx(3.1)
    # Weston–Watkins, true class 2: max(0, 2 − 0.1 + 1) + max(0, 1 − 0.1 + 1) = 4.8
    assert get_loss("multiclass_hinge").forward(logits, [2]) == pytest.approx(4.8)
    # BCE: softplus(z) − b z
    z = np.array([[0.3], [-1.2]])
    expected = np.mean([np.log1p(np.exp(0.3)) - 0.3, np.log1p(np.exp(-1.2))])
    assert get_loss("binary_cross_entropy").forward(z, [1, 0]) == pytest.approx(expected)


def test_subgradients_at_the_kinks():
    loss = get_loss("absolute")
    loss.forward(np.array([[1.0, 2.0]]), np.array([[1.0, 1.0]]))
    np.testing.assert_array_equal(loss.backward(), [[0.0, 1.0]])  # sign(0) = 0
    loss = get_loss("hinge", delta=1.0)
    loss.forward(np.array([[1.0, -1.0]]), [0])  # both terms exactly at the margin
    np.testing.assert_array_equal(loss.backward(), [[0.0, 0.0]])
    loss = get_loss("multiclass_hinge")
    loss.forward(np.array([[1.0, 0.0]]), [0])  # a_1 − a_0 + 1 = 0: at the margin
    np.testing.assert_array_equal(loss.backward(), [[0.0, 0.0]])
    loss = get_loss("huber", delta=1.0)
    loss.forward(np.array([[1.0, -3.0, 0.25]]), np.zeros((1, 3)))  # |r| = δ is linear: gradient δ
    np.testing.assert_allclose(loss.backward(), [[1.0, -1.0, 0.25]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropies_are_stable_for_huge_logits(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        ce = get_loss("cross_entropy")
        assert ce.forward(logits, [0, 0]) == pytest.approx(1e4, rel=1e-6)
        assert np.all(np.isfinite(ce.backward()))
        bce = get_loss("binary_cross_entropy")
        value = bce.forward(np.array([[1e4], [-1e4]], dtype=dtype), [0, 1])
        assert value == pytest.approx(1e4, rel=1e-6)
        grad = bce.backward()
        assert grad.dtype == dtype and np.all(np.isfinite(grad))


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_dtype_follows_output(name, dtype, rng):
    output, target = make_case(name, rng)
    loss = get_loss(name)
    value = loss.forward(output.astype(dtype), target)
    assert isinstance(value, float)
    assert loss.backward().dtype == dtype


def test_regression_target_of_shape_n_is_read_as_n_by_1():
    loss = get_loss("squared")
    assert loss.forward(np.array([[1.0], [2.0]]), np.array([0.0, 0.0])) == pytest.approx(2.5)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown loss 'sqared'.*did you mean 'squared'.*valid names"):
        get_loss("sqared")
    with pytest.raises(ValueError, match="label 3 at row 1 is out of range"):
        get_loss("cross_entropy").forward(np.zeros((2, 3)), [0, 3])
    with pytest.raises(ValueError, match="label -1 at row 0"):
        get_loss("hinge").forward(np.zeros((2, 3)), [-1, 0])
    with pytest.raises(ValueError, match="does not fit output shape"):
        get_loss("squared").forward(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="target has 3 rows"):
        get_loss("cross_entropy").forward(np.zeros((2, 3)), [0, 1, 2])
    with pytest.raises(ValueError, match=r"not in \[0, 1\]"):
        get_loss("binary_cross_entropy").forward(np.zeros((2, 1)), [0, 2])
    with pytest.raises(ValueError, match="non-integer"):
        get_loss("multiclass_hinge").forward(np.zeros((2, 3)), np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="delta: must be > 0"):
        get_loss("huber", delta=0)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_weighted_losses_against_finite_differences(name, rng):
    """J = Σ w_n L_n / Σ w_n: its value from the per-sample losses, its gradient by central
    differences in float64 (tolerance 1e-6 relative), and weights of ones give the plain mean."""
    loss = get_loss(name)
    k = 1 if name == "binary_cross_entropy" else 3
    output = rng.standard_normal((6, k))
    if name in ("squared", "absolute", "huber"):
        target = rng.standard_normal((6, k))
    else:
        target = rng.integers(0, 2 if k == 1 else k, 6)
    weights = rng.uniform(0.1, 3, 6)
    value = loss.forward(output, target, weights)
    analytic = loss.backward()
    per_row = np.array([loss.forward(output[i : i + 1], target[i : i + 1]) for i in range(6)])
    assert value == pytest.approx(np.dot(weights, per_row) / weights.sum(), rel=1e-12)
    numeric = np.zeros_like(output)
    eps = 1e-6
    for index in np.ndindex(output.shape):
        shifted = output.copy()
        shifted[index] += eps
        plus = loss.forward(shifted, target, weights)
        shifted[index] -= 2 * eps
        numeric[index] = (plus - loss.forward(shifted, target, weights)) / (2 * eps)
    assert relative_error(analytic, numeric) < 1e-6
    assert loss.forward(output, target, np.ones(6)) == pytest.approx(loss.forward(output, target), rel=1e-12)
    with pytest.raises(ValueError, match="sample weights must be finite, >= 0 and not all zero"):
        loss.forward(output, target, np.zeros(6))
