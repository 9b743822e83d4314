"""Configs as typed objects: validation, defaults, the keys components declare, the range check."""

import math

import numpy as np
import pytest

from mlp.config import Config, ignored_keys, load_config, resolve, schema
from mlp.errors import ConfigError
from mlp.nn.losses import LOSSES
from mlp.optim.optimizers import OPTIMIZERS
from mlp.optim.schedules import SCHEDULES
from mlp.validation import Setting, check_number, declared_settings


def test_defaults_fill_every_key_and_round_trip():
    config = resolve({"data": {"name": "iris"}})
    assert config.name == "iris" and config.optimizer.name == "sgd" and config.optimizer.lr == 0.01
    assert config.training.early_stopping.patience == 5 and config.model.hidden == [256, 256]
    flat = config.to_dict()
    assert list(flat) == ["name", "seed", "data", "model", "loss", "regularization", "optimizer", "training", "logging"]
    assert flat["regularization"] == {"name": "none", "lambda": 0.0, "l1_ratio": 0.5, "max_norm": None}
    assert Config.from_dict(flat) == config and Config.from_dict(flat).to_dict() == flat


def test_component_sections_take_the_keys_their_components_declare():
    optimizer = schema(Config)["optimizer"]
    assert list(optimizer) == [
        "name",
        "lr",
        "momentum",
        "nesterov",
        "betas",
        "eps",
        "weight_decay",
        "alpha",
        "schedule",
    ]
    assert set(schema(Config)["loss"]) == {"name", "delta", "target_encoding"}
    assert set(schema(Config)["optimizer"]["schedule"]) == {"name", "warmup_epochs", "step_size", "gamma", "min_lr"}
    config = resolve(
        {
            "data": {"name": "iris"},
            "optimizer": {"name": "adam", "lr": 0.1, "momentum": 0.5},
            "loss": {"name": "multiclass_hinge", "delta": 2},
        }
    )
    assert config.optimizer.arguments() == {"lr": 0.1, "betas": [0.9, 0.999], "eps": 1e-8}
    assert config.loss.arguments() == {"margin": 2.0}  # multiclass_hinge takes the config's delta as margin
    assert ignored_keys(config) == ["optimizer.momentum is ignored by adam"]
    for family in (OPTIMIZERS, SCHEDULES, LOSSES):
        merged = declared_settings(family)
        for component in family.values():
            assert set(component.settings) <= set(merged)


def test_a_key_declared_unlike_by_two_components_is_a_programming_error():
    class A:
        settings = {"rate": Setting("float", 0.1, low=0)}

    class B:
        settings = {"rate": Setting("float", 0.2, low=0)}

    with pytest.raises(AssertionError, match="declares 'rate' unlike another component"):
        declared_settings({"a": A, "b": B})


@pytest.mark.parametrize(
    "raw,message",
    [
        ({"optimizer": {"lr": 0}}, "optimizer.lr: must be > 0, got 0"),
        ({"optimizer": {"nme": "sgd"}}, "unknown key 'optimizer.nme' (did you mean 'optimizer.name'?)"),
        (
            {"optimizer": {"schedule": {"name": "cosin"}}},
            "optimizer.schedule.name: unknown name (did you mean 'cosine'?)",
        ),
        ({"training": {"epochs": 2.5}}, "training.epochs: must be an integer, got 2.5"),
        ({"training": {"epochs": "1e1"}}, None),
        ({"model": {"hidden": [4, True]}}, "model.hidden[1]: must be an integer >= 1, got True"),
        ({"training": []}, "training: must be a mapping, got []"),
    ],
)
def test_validation_names_the_key(raw, message):
    raw = {"data": {"name": "iris"}, **raw}
    if message is None:
        assert resolve(raw).training.epochs == 10
        return
    with pytest.raises(ConfigError) as raised:
        resolve(raw)
    assert message in str(raised.value)


def test_exactly_one_data_source_unless_rows_are_given():
    with pytest.raises(ConfigError, match="give exactly one of data.name"):
        resolve({})
    config = resolve({"data": {"name": "iris"}}, data_given=True)
    assert config.data.name is None and config.name == "run"


def test_a_mapping_with_overrides_and_relative_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config({"data": {"path": "rows.csv"}}, ["training.epochs=3"])
    assert config.data.path == str(tmp_path / "rows.csv") and config.training.epochs == 3
    with pytest.raises(ConfigError, match="^config with overrides: training.epochs: must be >= 1"):
        load_config({"data": {"path": "rows.csv"}}, ["training.epochs=0"])


@pytest.mark.parametrize(
    "value,kwargs,result",
    [
        (3, {"low": 1, "integer": True}, 3),
        (np.float32(0.5), {"low": 0, "high": 1}, 0.5),
        (np.int64(7), {"low": 0, "integer": True}, 7),
        (4.0, {"integer": True}, 4),
    ],
)
def test_check_number_accepts(value, kwargs, result):
    checked = check_number("x", value, **kwargs)
    assert checked == result and type(checked) is type(result)


@pytest.mark.parametrize(
    "value,kwargs,message",
    [
        (True, {}, "x: must be a number, got True"),
        ("0.1", {}, "x: must be a number, got '0.1'"),
        (math.nan, {}, "x: must be a finite number, got nan"),
        (0, {"low": 0, "low_open": True}, "x: must be > 0, got 0"),
        (1, {"low": 0, "high": 1, "high_open": True}, "x: must be >= 0 and < 1, got 1"),
        (2.5, {"integer": True}, "x: must be an integer, got 2.5"),
    ],
)
def test_check_number_refuses(value, kwargs, message):
    with pytest.raises(ConfigError) as raised:
        check_number("x", value, **kwargs)
    assert str(raised.value) == message
