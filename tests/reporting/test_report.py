"""Reports checked against metrics computed independently, plots, compare, and the gallery configs."""

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import run, write_config

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


def read_predictions(path):
    lines = path.read_text().splitlines()
    return lines[0].split(","), [line.split(",") for line in lines[1:]]


def test_classification_report_matches_hand_counts(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((90, 2))
    names = np.array(["ant", "bee", "cat"])
    y = names[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)]
    rows = "\n".join(f"{a:.5f},{b:.5f},{label}" for (a, b), label in zip(X, y))
    (tmp_path / "train.csv").write_text("a,b,kind\n" + rows + "\n")
    config = write_config(
        tmp_path / "c.yaml",
        f"""
        data: {{path: {tmp_path / "train.csv"}, validation_split: 0.2, test_split: 0.3}}
        model: {{hidden: [6]}}
        optimizer: {{name: adam, lr: 0.02}}
        training: {{epochs: 5, batch_size: 16}}
    """,
    )
    out = tmp_path / "run"
    assert run("train", config, "--out", out).exit_code == 0
    assert run("evaluate", out, "--data", tmp_path / "train.csv", "--out", tmp_path / "ev").exit_code == 0
    assert run("predict", out, tmp_path / "train.csv", "--out", tmp_path / "p.csv").exit_code == 0
    header, predictions = read_predictions(tmp_path / "p.csv")
    predicted = [row[1] for row in predictions]
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    metrics = report["metrics"]
    # the confusion matrix counted by hand from the predictions
    classes = ["ant", "bee", "cat"]
    counts = [[sum(1 for t, p in zip(y, predicted) if t == a and p == b) for b in classes] for a in classes]
    assert metrics["confusion_matrix"] == counts
    assert metrics["accuracy"] == pytest.approx(np.mean(np.array(predicted) == y))
    for k, row in enumerate(metrics["per_class"]):
        tp = counts[k][k]
        assert row["class"] == classes[k]
        assert row["support"] == sum(counts[k])
        assert row["recall"] == pytest.approx(tp / sum(counts[k]))
        column = sum(counts[j][k] for j in range(3))
        assert row["precision"] == pytest.approx(tp / column if column else 0.0)
    assert metrics["macro_avg"]["f1"] == pytest.approx(np.mean([r["f1"] for r in metrics["per_class"]]))
    probabilities = np.array([[float(v) for v in row[2:]] for row in predictions])
    log_loss = -np.mean(np.log(probabilities[np.arange(90), [classes.index(t) for t in y]]))
    assert metrics["loss"] == pytest.approx(log_loss, rel=1e-4)
    wrong = [e for e in report["most_confident_errors"]]
    assert all(e["true"] != e["predicted"] and y[e["row"]] == e["true"] for e in wrong)
    assert [e["probability"] for e in wrong] == sorted((e["probability"] for e in wrong), reverse=True)
    assert set(report) >= {
        "format_version",
        "split",
        "held_out",
        "task",
        "model",
        "config",
        "data",
        "metrics",
        "most_confident_errors",
        "training",
        "plots",
    }
    assert len(report["model"]["sha256"]) == 64

    train_report = json.loads((out / "report.json").read_text())
    stratified = sum(round(0.3 * np.sum(y == name)) for name in classes)  # 30% of each class
    assert train_report["data"]["sizes"]["test"] == train_report["data"]["rows_evaluated"] == stratified
    assert train_report["training"]["epochs_run"] == 5 and train_report["training"]["samples_per_second"] > 0
    for name in ("learning_curves", "confusion_matrix"):
        assert_real_png(out / train_report["plots"][name])
    text = (out / "report.md").read_text()
    assert "![confusion_matrix](confusion_matrix.png)" in text and "| ant |" in text


def assert_real_png(path):
    import matplotlib.image

    assert path.stat().st_size > 5000
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 200 and image.shape[1] > 200
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_regression_report_in_original_units(tmp_path):
    out = tmp_path / "run"
    config = write_config(
        tmp_path / "d.yaml",
        """
        data: {name: diabetes}
        model: {hidden: [8]}
        loss: {name: huber, delta: 1.0}
        optimizer: {name: adam, lr: 0.01}
        training: {epochs: 5, batch_size: 32}
    """,
    )
    assert run("train", config, "--out", out).exit_code == 0
    report = json.loads((out / "report.json").read_text())
    from mlp.data.datasets import load_builtin

    data = load_builtin("diabetes")
    rows = np.array(report_rows(out))
    truth = data.y[rows, 0]
    X = np.asarray(data.X)[rows]
    np.savez(tmp_path / "test.npz", X=X)
    assert run("predict", out, tmp_path / "test.npz", "--out", tmp_path / "p.csv").exit_code == 0
    header, predictions = read_predictions(tmp_path / "p.csv")
    assert header == ["row", "predicted_progression"]
    predicted = np.array([float(row[1]) for row in predictions])
    metrics = report["metrics"]
    residual = predicted - truth
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(residual)), rel=1e-4)
    assert metrics["rmse"] == pytest.approx(np.sqrt(np.mean(residual**2)), rel=1e-4)
    assert metrics["median_absolute_error"] == pytest.approx(np.median(np.abs(residual)), rel=1e-3)
    assert metrics["r2"] == pytest.approx(1 - np.sum(residual**2) / np.sum((truth - truth.mean()) ** 2), rel=1e-4)
    huber = np.where(np.abs(residual) < 1, 0.5 * residual**2, np.abs(residual) - 0.5)
    assert metrics["loss"] == pytest.approx(np.mean(huber), rel=1e-4)
    assert metrics["rmse"] > 20  # original units (progression is in the tens to hundreds)
    for name in ("predicted_vs_true", "residuals", "learning_curves"):
        assert_real_png(out / report["plots"][name])


def report_rows(out):
    """The test rows of a run, from its evaluate-able config and seed."""
    from mlp.config import load_config
    from mlp.training.experiment import build_experiment

    return build_experiment(load_config(out / "config.yaml")).splits.test_rows


def test_compare_two_runs(tmp_path):
    config = write_config(
        tmp_path / "iris.yaml",
        """
        data: {name: iris}
        model: {hidden: [8]}
        optimizer: {name: adam, lr: 0.01}
        training: {epochs: 3}
    """,
    )
    assert run("train", config, "--out", tmp_path / "small", "--quiet").exit_code == 0
    assert run("train", config, "--out", tmp_path / "wide", "--quiet", "--set", "model.hidden=[32]").exit_code == 0
    result = run("compare", tmp_path / "small", tmp_path / "wide", "--sort", "test_accuracy")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert "model.hidden" in lines[0] and "test_accuracy" in lines[0] and "optimizer.lr" not in lines[0]
    assert {line.split()[0] for line in lines[1:]} == {"small", "wide"}
    markdown = run("compare", tmp_path / "small", tmp_path / "wide", "--format", "markdown").stdout
    assert markdown.startswith("| run |") and "| --- |" in markdown
    csv_text = run("compare", tmp_path / "small", tmp_path / "wide", "--format", "csv").stdout
    assert csv_text.splitlines()[0].startswith("run,model.hidden")
    bad = run("compare", tmp_path / "small", tmp_path / "nothing")
    assert bad.exit_code == 2 and "not a finished run directory" in bad.stderr


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
@pytest.mark.slow
def test_every_gallery_config_trains(config, tmp_path):
    result = run("train", config, "--out", tmp_path / "run", "--quiet", "--set", "training.epochs=1")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["metrics"] is not None
