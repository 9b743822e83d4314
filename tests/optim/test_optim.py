"""Optimizers and schedules: hand-computed updates, dtype preservation, exact state round trips."""

import math

import numpy as np
import pytest

import mlp
from mlp.optim import OPTIMIZERS, get_optimizer
from mlp.optim.schedules import get_schedule


def reference_steps(name, theta, grads, **kw):
    """The update rules of torch.optim written out in float64, one step per gradient."""
    theta = theta.copy()
    v = np.zeros_like(theta)
    m = np.zeros_like(theta)
    s = np.zeros_like(theta)
    lr = kw["lr"]
    for t, g in enumerate(grads, start=1):
        if name == "sgd":
            mu = kw.get("momentum", 0.0)
            if mu:
                v = g.copy() if t == 1 else mu * v + g
                d = g + mu * v if kw.get("nesterov") else v
            else:
                d = g
            theta = theta - lr * d
        elif name in ("adam", "adamw"):
            b1, b2, eps = 0.9, 0.999, 1e-8
            if name == "adamw":
                theta = theta * (1 - lr * kw.get("weight_decay", 0.01))
            m = b1 * m + (1 - b1) * g
            s = b2 * s + (1 - b2) * g * g
            denom = np.sqrt(s) / math.sqrt(1 - b2**t) + eps
            theta = theta - lr / (1 - b1**t) * m / denom
        elif name == "rmsprop":
            alpha, eps, mu = 0.99, 1e-8, kw.get("momentum", 0.0)
            s = alpha * s + (1 - alpha) * g * g
            u = g / (np.sqrt(s) + eps)
            if mu:
                v = mu * v + u
                u = v
            theta = theta - lr * u
    return theta


CASES = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.1, "momentum": 0.9}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("adam", {"lr": 0.01}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.1}),
    ("rmsprop", {"lr": 0.01}),
    ("rmsprop", {"lr": 0.01, "momentum": 0.5}),
]


@pytest.mark.parametrize("name,kw", CASES)
def test_update_rule_matches_reference(name, kw, rng):
    model = mlp.Sequential([mlp.Linear(3, 2, dtype=np.float64, rng=rng)])
    start = model.flat_params.copy()
    grads = [rng.standard_normal(start.shape) for _ in range(4)]
    opt = get_optimizer(name, model, **kw)
    for g in grads:
        model.flat_grads[:] = g
        opt.step()
    np.testing.assert_allclose(model.flat_params, reference_steps(name, start, grads, **kw), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name,kw", CASES)
def test_per_array_and_whole_network_agree(name, kw, rng):
    def run(use_triples):
        model = mlp.Sequential(
            [mlp.Linear(3, 4, rng=np.random.default_rng(0)), mlp.ReLU(), mlp.Linear(4, 2, rng=np.random.default_rng(1))]
        )
        opt = get_optimizer(name, list(model.parameters()) if use_triples else model, **kw)
        for step in range(3):
            model.flat_grads[:] = np.random.default_rng(step).standard_normal(model.flat_grads.shape)
            opt.step()
        return model.flat_params

    np.testing.assert_array_equal(run(True), run(False))


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_float32_stays_float32(name, rng):
    model = mlp.Sequential([mlp.Linear(3, 2, rng=rng)])
    model.flat_grads[:] = 1
    get_optimizer(name, model, lr=0.1).step()
    assert model.flat_params.dtype == np.float32


@pytest.mark.parametrize("name,kw", CASES)
def test_state_round_trip_continues_exactly(name, kw, rng):
    grads = [rng.standard_normal(8).astype(np.float32) for _ in range(6)]

    def fresh():
        return mlp.Sequential([mlp.Linear(3, 2, rng=np.random.default_rng(3))])

    model = fresh()
    opt = get_optimizer(name, model, **kw)
    for g in grads:
        model.flat_grads[:] = g
        opt.step()
    resumed = fresh()
    opt2 = get_optimizer(name, resumed, **kw)
    for g in grads[:3]:
        resumed.flat_grads[:] = g
        opt2.step()
    saved_params, saved_state = resumed.state_dict(), opt2.state_dict()
    again = fresh()
    again.load_state_dict(saved_params)
    opt3 = get_optimizer(name, again, **kw)
    opt3.load_state_dict(saved_state)
    for g in grads[3:]:
        again.flat_grads[:] = g
        opt3.step()
    np.testing.assert_array_equal(again.flat_params, model.flat_params)


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda state: state.update(t=np.zeros(2)), "'t' must be a step count"),
        (lambda state: state.update(t=np.array(-1)), "'t' must be a step count"),
        (lambda state: state.pop("exp_avg_sq.0"), "lacks 'exp_avg_sq.0'"),
        (lambda state: state.update({"exp_avg_sq.0": np.zeros(3)}), "has shape (3,), expected (8,)"),
    ],
)
def test_a_bad_optimizer_state_changes_nothing(rng, edit, message):
    model = mlp.Sequential([mlp.Linear(3, 2, rng=rng)])
    opt = get_optimizer("adam", model, lr=0.1)
    model.flat_grads[:] = 1.0
    opt.step()
    before = opt.state_dict()
    state = {key: value + 1 for key, value in before.items()}
    edit(state)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        opt.load_state_dict(state)
    after = opt.state_dict()
    assert after.keys() == before.keys()
    assert all(np.array_equal(after[key], before[key]) for key in before)


def test_optimizer_arguments_are_checked(rng):
    model = mlp.Sequential([mlp.Linear(2, 2, rng=rng)])
    with pytest.raises(ValueError, match="lr: must be > 0"):
        get_optimizer("sgd", model, lr=0)
    with pytest.raises(ValueError, match="momentum"):
        get_optimizer("sgd", model, lr=0.1, momentum=1.5)
    with pytest.raises(ValueError, match="unknown optimizer 'adma'.*did you mean 'adam'"):
        get_optimizer("adma", model, lr=0.1)


def test_schedules():
    assert get_schedule("constant", 0.1, 10).lr_at(7) == 0.1
    step = get_schedule("step", 0.1, 30, step_size=10, gamma=0.5)
    assert [step.lr_at(e) for e in (0, 9, 10, 25)] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    assert get_schedule("exponential", 0.1, 5, gamma=0.9).lr_at(2) == pytest.approx(0.081)
    cosine = get_schedule("cosine", 0.1, 10, min_lr=0.0)
    assert cosine.lr_at(0) == pytest.approx(0.1) and cosine.lr_at(5) == pytest.approx(0.05)
    warm = get_schedule("cosine", 0.1, 12, warmup_epochs=2)
    assert [warm.lr_at(0), warm.lr_at(1), warm.lr_at(2)] == pytest.approx([0.05, 0.1, 0.1])
    assert warm.lr_at(7) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="unknown schedule"):
        get_schedule("linear", 0.1)
