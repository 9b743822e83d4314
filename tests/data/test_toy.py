"""Generated 2-D data sets: seeded and reproducible, their params checked like any config key, and a
decision boundary in the report of every two-feature classifier."""

import json

import numpy as np
import pytest

import mlp
from helpers import run, write_config
from mlp.config import load_config
from mlp.data.toy import TOY, generate
from mlp.errors import ConfigError


@pytest.mark.parametrize("name", TOY)
def test_each_set_is_seeded_sized_and_balanced(name):
    X, y = generate(name, {"n": 300})
    assert X.shape == (300, 2) and X.dtype == np.float64 and np.isfinite(X).all()
    k = len(np.unique(y))
    assert k == {"spirals": 3, "blobs": 3}.get(name, 2)
    if name != "xor":  # xor's classes follow the uniform draw
        assert np.bincount(y).max() - np.bincount(y).min() <= 1
    again, labels = generate(name, {"n": 300})
    assert np.array_equal(X, again) and np.array_equal(y, labels)
    other, _ = generate(name, {"n": 300, "seed": 1, "noise": 0.3})
    assert not np.array_equal(X, other)


def test_xor_labels_are_the_quadrant_parity_and_spirals_take_arms():
    X, y = generate("xor", {"n": 200})
    assert np.array_equal(y, ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(int))
    _, y = generate("spirals", {"arms": 5, "n": 100})
    assert np.bincount(y).tolist() == [20] * 5


@pytest.mark.parametrize(
    "params, message",
    [
        ({"arms": 1}, "data.params.arms: must be >= 2 and <= 10, got 1"),
        ({"n": 2}, "data.params.n: must be >= 4, got 2"),
        ({"noise": -0.1}, "data.params.noise: must be >= 0"),
        ({"factor": 0.5}, "data.params.factor: spirals takes n, noise, seed, arms"),
    ],
)
def test_bad_params_name_the_key(params, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config({"data": {"name": "spirals", "params": params}})


def test_params_belong_to_generated_sets_only_and_the_saved_config_shows_every_default():
    with pytest.raises(ConfigError, match="data.params: only the generated data sets take params"):
        load_config({"data": {"name": "iris", "params": {"n": 10}}})
    config = load_config({"data": {"name": "circles", "params": {"n": 100}}})
    assert config.data.params == {"n": 100, "noise": 0.05, "seed": 0, "factor": 0.5}


def test_a_two_feature_classifier_reports_its_decision_boundary_and_a_wider_one_does_not(tmp_path):
    config = write_config(
        tmp_path / "moons.yaml",
        "data: {name: moons, params: {n: 200}}\nmodel: {hidden: [16]}\noptimizer: {name: adam, lr: 0.02}\n"
        "training: {epochs: 30}\n",
    )
    assert run("train", config, "--out", tmp_path / "run", "--quiet").exit_code == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["plots"]["decision_boundary"] == "decision_boundary.png"
    image = __import__("matplotlib.image").image.imread(tmp_path / "run" / "decision_boundary.png")
    assert image.shape[0] > 300 and image.shape[1] > 300
    assert "![decision_boundary](decision_boundary.png)" in (tmp_path / "run" / "report.md").read_text()
    iris = mlp.train({"data": {"name": "iris"}, "training": {"epochs": 1}}, out=tmp_path / "iris")
    assert "decision_boundary" not in iris.report["plots"]
    assert not (tmp_path / "iris" / "decision_boundary.png").exists()
