"""Layers of one's own, through the Python API: trained by mlp.train (in memory), gradient-checked,
refused where mlp's files could not hold them."""

import numpy as np
import pytest

import mlp
from helpers import Softsign
from mlp.errors import ArgumentError, ConfigError, MlpError
from mlp.reporting.markdown import markdown

IRIS = {"seed": 0, "data": {"name": "iris"}, "training": {"epochs": 40}}


def network(dtype=np.float32, width=4):
    rng = np.random.default_rng(0)
    return mlp.Sequential(
        [mlp.Linear(width, 16, rng=rng, dtype=dtype), Softsign(), mlp.Linear(16, 3, rng=rng, dtype=dtype)]
    )


def test_a_layer_of_ones_own_passes_the_autograder_and_trains_through_the_api():
    assert mlp.check_layer(Softsign(), (4, 3)).passed
    own = network()
    before = own.flat_params.copy()
    result = mlp.train(IRIS, network=own)
    assert result.model.network is own and not np.array_equal(own.flat_params, before)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.report["metrics"]["accuracy"] > 0.8
    assert result.report["model"]["architecture"]["layers"] == ["Linear(4 → 16)", "Softsign()", "Linear(16 → 3)"]
    assert "Network: Linear(4 → 16) → Softsign() → Linear(16 → 3) (layers of your own)" in markdown(result.report)


def test_gradcheck_takes_a_network_of_ones_own_layers():
    own = network(np.float64)
    x = np.random.default_rng(1).standard_normal((5, 4))
    errors = mlp.gradcheck(own, mlp.losses.CrossEntropy(), x, np.array([0, 1, 2, 0, 1]))
    assert max(errors.values()) < 1e-7 and set(errors) == {"0.W", "0.b", "2.W", "2.b", "input"}


def test_what_mlp_files_cannot_hold_is_refused_clearly(tmp_path):
    with pytest.raises(ArgumentError, match="a network of your own layers trains in memory only"):
        mlp.train(IRIS, network=network(), out=tmp_path / "run")
    result = mlp.train({**IRIS, "training": {"epochs": 1}}, network=network())
    with pytest.raises(MlpError, match="model.npz holds mlp's built-in architecture only"):
        result.model.save(tmp_path / "model.npz")
    assert not (tmp_path / "model.npz").exists()
    with pytest.raises(ConfigError, match="does not take the data's 4 input features"):
        mlp.train(IRIS, network=network(width=5))
    with pytest.raises(ConfigError, match="its parameters are float64; set training.dtype: float64"):
        mlp.train(IRIS, network=network(np.float64))
