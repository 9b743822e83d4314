"""The sweep file: expansion into trials, seeded draws, and one clear error per mistake."""

import pytest

from helpers import CONFIGS_DIR, run, write_config
from mlp.errors import ConfigError
from mlp.sweeps.spec import build_sweep, load_sweep, trial_id

BASE = {
    "data": {"name": "iris"},
    "model": {"hidden": [8]},
    "training": {"epochs": 5},
}


def sweep(**parts):
    return build_sweep({"base": BASE, **parts}, "test")


def test_grid_random_and_repeats_multiply():
    spec = sweep(
        grid={"model.hidden": [[8], [16]], "optimizer.lr": [0.01, 0.05]},
        random={"n": 3, "regularization.lambda": {"log_uniform": [1e-6, 1e-3]}},
        repeats=2,
    )
    assert len(spec.trials) == 2 * 2 * 3 * 2
    assert spec.varied == ["model.hidden", "optimizer.lr", "regularization.lambda", "seed"]
    lambdas = {t.values["regularization.lambda"] for t in spec.trials}
    assert len(lambdas) == 3 and all(1e-6 <= v <= 1e-3 for v in lambdas)
    assert {t.config.seed for t in spec.trials} == {0, 1}
    first = spec.trials[0]
    assert first.config.model.hidden == [8] and first.config.optimizer.lr == 0.01
    assert first.id == trial_id(first.config) and len({t.id for t in spec.trials}) == len(spec.trials)


def test_the_same_file_gives_the_same_trials_and_another_seed_others():
    random = {"n": 4, "model.dropout": {"uniform": [0.0, 0.5]}, "model.activation": {"choice": ["relu", "tanh"]}}
    ids = [t.id for t in sweep(random=random).trials]
    assert ids == [t.id for t in sweep(random=random).trials]
    assert ids != [t.id for t in sweep(random={**random, "seed": 1}).trials]


def test_int_uniform_includes_both_ends_and_duplicates_run_once():
    spec = sweep(random={"n": 40, "training.batch_size": {"int_uniform": [16, 17]}})
    assert {t.config.training.batch_size for t in spec.trials} == {16, 17}
    assert len(spec.trials) == 2  # 40 draws of two values: two distinct configs


@pytest.mark.parametrize(
    "parts, message",
    [
        ({"grd": {}}, "unknown key 'grd' (did you mean 'grid'?)"),
        ({"grid": {"model.hiden": [[8]]}}, "grid.model.hiden: no such config key 'model.hiden' (did you mean"),
        ({"grid": {"optimizer.lr": 0.1}}, "grid.optimizer.lr: must be a non-empty list of values, got 0.1"),
        ({"grid": {"optimizer.lr": [0.1, -1]}}, "the trial optimizer.lr=-1: optimizer.lr: must be > 0"),
        ({"random": {"n": 2, "optimizer.lr": {"unifrm": [0, 1]}}}, "random.optimizer.lr: unknown name (did you mean"),
        ({"random": {"n": 2, "optimizer.lr": {"uniform": [1, 0]}}}, "random.optimizer.lr: uniform needs low < high"),
        ({"random": {"n": 2, "optimizer.lr": {"log_uniform": [0, 1]}}}, "random.optimizer.lr.log_uniform: must be > 0"),
        ({"random": {"optimizer.lr": {"uniform": [0, 1]}}}, "random.n: must be a number"),
        ({"metric": "val_rmse"}, "metric: val_rmse needs a regression loss"),
        ({"grid": {"data.validation_split": [0.0]}}, "metric: val_loss needs validation rows"),
        ({"metric": "accuracy"}, "metric: unknown name (did you mean 'val_accuracy'?)"),
        ({"pruning": {"name": "asha", "reduction": 1}}, "pruning.reduction: must be >= 2, got 1"),
        ({"pruning": {"name": "hyperband"}}, "pruning.name: unknown name"),
        ({"repeats": 0}, "repeats: must be >= 1, got 0"),
        ({"grid": {"name": ["a", "b"]}}, "grid.name: trials are named by their config's hash"),
    ],
)
def test_a_bad_sweep_is_refused_naming_the_key(parts, message):
    with pytest.raises(ConfigError) as error:
        sweep(**parts)
    assert message in str(error.value)


def test_the_command_line_refuses_a_bad_sweep_with_status_2_before_running(tmp_path):
    path = write_config(tmp_path / "bad.yaml", "base: {data: {name: iris}}\ngrid: {optimizer.lr: [0.1, nope]}\n")
    result = run("sweep", path, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert f"error: {path}: the trial optimizer.lr='nope': optimizer.lr: must be a number" in result.output
    assert not (tmp_path / "out").exists()


def test_base_may_be_a_config_file(tmp_path):
    config = write_config(tmp_path / "base.yaml", "data: {name: iris}\ntraining: {epochs: 3}\n")
    path = write_config(tmp_path / "sweep.yaml", f"base: {config}\ngrid: {{optimizer.lr: [0.1, 0.2]}}\n")
    spec = load_sweep(path)
    assert [t.config.training.epochs for t in spec.trials] == [3, 3]
    assert spec.name == "sweep"


@pytest.mark.parametrize("name", ["digits.yaml", "digits_asha.yaml"])
def test_the_shipped_sweeps_are_valid_from_the_project_folder(name, monkeypatch):
    monkeypatch.chdir(CONFIGS_DIR.parent)
    spec = load_sweep(CONFIGS_DIR / "sweeps" / name)
    assert len(spec.trials) == 16
    assert spec.varied == ["model.hidden", "optimizer.lr", "regularization.lambda", "seed"]
