"""Training diagnostics: recorded per layer and epoch, turned into findings that fire on the
configs made to provoke them and stay silent on the others."""

import json

import pytest

from helpers import CONFIGS_DIR, run, train_stopped_after
from mlp.training.diagnostics import THRESHOLDS, findings


def epoch(number, layers, accuracy=0.9):
    return {"epoch": number, "val_accuracy": accuracy, "layers": layers}


def layer(**values):
    return {"grad_norm": 1.0, "update_ratio": 1e-3, **values}


def test_each_rule_fires_at_its_threshold_and_not_below():
    dead = [epoch(e, [layer(dead=d), layer()]) for e, d in enumerate([0.1, 0.6, 0.7, 0.8], 1)]
    assert findings(dead) == ["layer 1: 80% of ReLU units dead since epoch 2"]
    assert findings(dead[:3]) == []  # dead for two epochs only: not yet a finding
    short_spell = [epoch(e, [layer(dead=d), layer()]) for e, d in enumerate([0.6, 0.6, 0.1, 0.6], 1)]
    assert findings(short_spell) == []
    saturated = [epoch(1, [layer(saturated=0.7), layer()])]
    assert findings(saturated) == ["layer 1: 70% of its activations saturated: its gradients all but vanish"]
    high = [epoch(1, [layer(update_ratio=0.4), layer()]), epoch(2, [layer(), layer()])]
    assert findings(high) == ["update/weight ratio 0.4 in layer 1 at epoch 1: the learning rate is likely too high"]
    low = [epoch(e, [layer(update_ratio=1e-6), layer()]) for e in (1, 2, 3)]
    assert findings(low) == ["update/weight ratio 1e-06 in layer 1: the learning rate is likely too low"]
    deep = [epoch(1, [layer(grad_norm=1e-6), layer(), layer(grad_norm=1.0)])]
    assert findings(deep) == [
        "gradient norm of layer 1 is 1e-06 of layer 3's: vanishing gradients (try ReLU units, or fewer layers)"
    ]
    healthy = [epoch(e, [layer(dead=0.2), layer(), layer()]) for e in range(1, 9)]
    assert findings(healthy, "classification", 0.4) == []


def test_chance_level_is_judged_from_the_fifth_epoch_against_the_majority_class():
    stuck = [epoch(e, [layer(), layer()], accuracy=0.34) for e in range(1, 7)]
    assert findings(stuck, "classification", 0.333) == [
        "validation accuracy at chance level after 5 epochs (34.0%; always guessing the most frequent class "
        "scores 33.3%)"
    ]
    assert findings(stuck[:4], "classification", 0.333) == []
    recovered = stuck[:5] + [epoch(6, [layer(), layer()], accuracy=0.6)]
    assert findings(recovered, "classification", 0.333) == []
    assert THRESHOLDS["chance_epochs"] == 5


@pytest.mark.slow
@pytest.mark.parametrize(
    "config, expected",
    [
        ("spirals_lr_too_large", ["the learning rate is likely too high", "chance level"]),
        ("spirals_deep_sigmoid", ["vanishing gradients", "chance level"]),
    ],
)
def test_the_provoking_configs_print_their_findings(config, expected, tmp_path):
    result = run("train", CONFIGS_DIR / f"{config}.yaml", "--out", tmp_path / "run", "--quiet")
    assert result.exit_code == 0, result.output
    printed = [line for line in result.stdout.splitlines() if line.startswith("finding: ")]
    for words in expected:
        assert any(words in line for line in printed), printed
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert [f"finding: {f}" for f in report["training"]["findings"]] == printed
    assert "## Diagnostics" in (tmp_path / "run" / "report.md").read_text()
    assert (tmp_path / "run" / "diagnostics.png").stat().st_size > 0
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    n_linear = 3 if "lr" in config else 9
    assert all(len(r["layers"]) == n_linear for r in records)
    assert set(records[0]["layers"][0]) >= {"layer", "grad_norm", "update_ratio", "mean", "std"}


@pytest.mark.slow
@pytest.mark.parametrize("config", ["iris", "wine", "breast_cancer", "digits", "diabetes_squared", "penguins", "cars"])
def test_the_default_configs_have_no_finding(config, tmp_path):
    result = run("train", CONFIGS_DIR / f"{config}.yaml", "--out", tmp_path / "run", "--quiet")
    assert result.exit_code == 0, result.output
    assert "finding:" not in result.stdout
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["training"]["findings"] == []
    assert "No finding" in (tmp_path / "run" / "report.md").read_text()


def test_diagnostics_off_records_nothing_and_draws_nothing(tmp_path):
    result = run(
        "train",
        CONFIGS_DIR / "iris.yaml",
        "--out",
        tmp_path / "run",
        "--quiet",
        "--set",
        "training.diagnostics=false",
        "--set",
        "training.epochs=3",
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all("layers" not in r for r in records)
    assert not (tmp_path / "run" / "diagnostics.png").exists()


def test_a_resumed_run_keeps_the_diagnostics_of_its_first_epochs(tmp_path, monkeypatch):
    out = tmp_path / "run"
    config = ("--set", "training.epochs=5", "--set", "training.early_stopping.patience=null")
    stopped = train_stopped_after(monkeypatch, 2, CONFIGS_DIR / "iris.yaml", "--out", out, "--quiet", *config)
    assert stopped.exit_code == 130, stopped.output
    result = run("train", "--resume", out, "--quiet")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3, 4, 5] and all(len(r["layers"]) == 2 for r in records)
