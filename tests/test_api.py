"""The Python API: ``mlp.train`` in memory and into a run directory, callbacks, ``mlp.load``."""

import os
from pathlib import Path

import numpy as np
import pytest

import mlp
from helpers import DIGITS, npz_arrays, run
from mlp.errors import ArgumentError, MlpError

IRIS = {
    "data": {"name": "iris"},
    "model": {"hidden": [8]},
    "optimizer": {"name": "adam", "lr": 0.01},
    "training": {"epochs": 4, "batch_size": 16},
}


def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


def test_training_in_memory_creates_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = mlp.train(IRIS)
    assert files_under(tmp_path) == []
    assert result.run_dir is None and len(result.history) == 4
    assert result.report["model"]["path"] is None and result.report["plots"] == {}
    assert 0 <= result.report["metrics"]["accuracy"] <= 1
    assert set(result.model.predict(np.zeros((2, 4)))) <= {"setosa", "versicolor", "virginica"}


def test_in_memory_and_run_directory_and_command_train_the_same_weights(tmp_path, digits_config):
    in_memory = mlp.train(digits_config)
    into_dir = mlp.train(digits_config, out=tmp_path / "api")
    assert run("train", digits_config, "--out", tmp_path / "cli", "--quiet").exit_code == 0
    command = npz_arrays(tmp_path / "cli" / "model.npz")
    for key, value in in_memory.model.network.state_dict().items():
        assert np.array_equal(value, command[key]), key
        assert np.array_equal(into_dir.model.network.state_dict()[key], command[key]), key
    assert in_memory.report["metrics"] == into_dir.report["metrics"]
    strip = [{k: v for k, v in record.items() if k != "seconds"} for record in in_memory.history]
    assert strip == [{k: v for k, v in record.items() if k != "seconds"} for record in into_dir.history]


class Recorder(mlp.Callback):
    def __init__(self):
        self.events = []

    def on_train_begin(self, trainer):
        self.events.append("begin")

    def on_epoch_end(self, trainer, record):
        self.events.append(record["epoch"])

    def on_train_end(self, trainer):
        self.events.append("end")


class StopAfter(mlp.Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, trainer, record):
        if record["epoch"] == self.epoch:
            trainer.stop(f"enough after epoch {self.epoch}")


def test_a_callback_sees_every_epoch(tmp_path):
    recorder = Recorder()
    result = mlp.train(IRIS, callbacks=[recorder])
    assert recorder.events == ["begin", 1, 2, 3, 4, "end"]
    assert [record["epoch"] for record in result.history] == [1, 2, 3, 4]


def test_a_callback_can_stop_training(tmp_path):
    result = mlp.train(IRIS, callbacks=[StopAfter(2)], out=tmp_path / "run")
    assert [record["epoch"] for record in result.history] == [1, 2]
    training = result.report["training"]
    assert training["epochs_run"] == 2 and training["stop_reason"] == "enough after epoch 2"
    assert (tmp_path / "run" / "metrics.jsonl").read_text().count("\n") == 2
    again = mlp.train(None, out=tmp_path / "run", resume=True)  # the stop is in the checkpoint: finished
    assert again.already_finished and again.report["training"]["stop_reason"] == "enough after epoch 2"


def test_rows_given_as_arrays(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 3))
    y = np.where(X[:, 0] + X[:, 1] > 0, "up", "down")
    config = {"model": {"hidden": [8]}, "optimizer": {"name": "adam", "lr": 0.05}, "training": {"epochs": 30}}
    result = mlp.train(config, data=(X, y))
    assert result.model.class_names == ["down", "up"] and result.report["metrics"]["accuracy"] > 0.8
    assert result.report["data"]["sizes"]["test"] == 24  # data.test_split 0.2 of 120 rows
    X_test, y_test = X[:10] * 1.5, y[:10]
    held = mlp.train(config, data=(X, y, X_test, y_test))
    assert held.report["data"]["sizes"] == {"train": 108, "validation": 12, "test": 10}
    assert files_under(tmp_path) == []
    targets = X @ [1.0, -2.0, 0.5]
    regression = mlp.train({**config, "loss": {"name": "squared"}}, data=(X, targets))
    assert regression.model.task == "regression" and regression.model.predict(X[:3]).shape == (3, 1)


def test_a_model_trained_on_arrays_saves_and_loads(tmp_path):
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((60, 2)), rng.integers(0, 2, 60)
    result = mlp.train({"training": {"epochs": 2}}, data=(X, y), out=tmp_path / "run")
    loaded = mlp.load(tmp_path / "run")
    assert np.array_equal(loaded.predict_proba(X), result.model.predict_proba(X))
    with pytest.raises(MlpError, match="gives no data set"):
        mlp.api.evaluate(loaded)


def test_load_gives_the_model_the_command_predicts_with(tmp_path):
    result = mlp.train(IRIS, out=tmp_path / "run")
    model = mlp.load(tmp_path / "run")
    X = np.random.default_rng(0).uniform(0, 8, (5, 4))
    assert np.array_equal(model.predict(X), result.model.predict(X))
    probabilities = model.predict_proba(X)
    assert probabilities.shape == (5, 3) and np.allclose(probabilities.sum(axis=1), 1)
    assert list(model.predict(X)) == [model.class_names[k] for k in probabilities.argmax(axis=1)]
    saved = model.save(tmp_path / "copy.npz")
    assert np.array_equal(mlp.load(saved).predict_proba(X), probabilities)


def test_a_model_without_probabilities_says_so(tmp_path):
    result = mlp.train({**IRIS, "loss": {"name": "multiclass_hinge"}})
    with pytest.raises(MlpError, match="loss multiclass_hinge gives no probabilities"):
        result.model.predict_proba(np.zeros((1, 4)))


def test_a_model_file_written_before_the_engine_still_loads_and_predicts():
    fixtures = Path(__file__).resolve().parent / "fixtures"
    model = mlp.load(fixtures / "iris-model-before-engine.npz")
    expected = (fixtures / "iris-predictions-before-engine.csv").read_text()
    rows = Path(mlp.data.datasets.data_dir()) / "tabular" / "iris.csv"
    assert run("predict", fixtures / "iris-model-before-engine.npz", rows).stdout == expected
    assert model.class_names == ["setosa", "versicolor", "virginica"]


def test_api_errors_name_api_arguments(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(ArgumentError) as raised:
        mlp.train(IRIS, out=tmp_path / "run")
    assert "pass overwrite=True" in str(raised.value) and "--" not in str(raised.value)
    result = run("train", write_config(tmp_path / "iris.yaml"), "--out", tmp_path / "run")
    assert result.exit_code == 2 and "pass --overwrite to replace its run files, or --out elsewhere" in result.stderr
    with pytest.raises(ArgumentError, match="resume needs the run directory to continue as out"):
        mlp.train(IRIS, resume=True)
    with pytest.raises(ArgumentError, match=r"^overrides training.epoch: no such config key 'training.epoch'"):
        mlp.train(IRIS, overrides=["training.epoch=2"])
    with pytest.raises(ArgumentError, match=r"^config with overrides: training.epochs: must be >= 1"):
        mlp.train(IRIS, overrides=["training.epochs=0"])


def write_config(path):
    path.write_text(DIGITS)
    return path


def test_the_train_command_calls_the_api(tmp_path, monkeypatch, digits_config):
    calls = []
    original = mlp.api.train

    def recording(*args, **kwargs):
        calls.append((args, kwargs))
        return original(*args, **kwargs)

    monkeypatch.setattr(mlp.api, "train", recording)
    assert run("train", digits_config, "--out", tmp_path / "run", "--quiet").exit_code == 0
    assert len(calls) == 1 and calls[0][0] == (str(digits_config),)
    assert calls[0][1]["out"] == str(tmp_path / "run") and calls[0][1]["handle_signals"] is True
    assert os.path.exists(tmp_path / "run" / "report.json")
