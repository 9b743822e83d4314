"""`mlp evaluate`, `mlp predict`, `mlp summary` and `mlp gradcheck` on a trained run."""

import json

import numpy as np
import pytest

from helpers import CONFIGS_DIR, npz_arrays, run


def test_evaluate_predict_summary_gradcheck(digits_config, tmp_path):
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=2").exit_code == 0
    result = run("evaluate", out, "--split", "val", "--out", tmp_path / "ev")
    assert result.exit_code == 0 and result.stdout.startswith("validation accuracy ")
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert report["split"] == "val" and report["data"]["rows_evaluated"] == report["data"]["sizes"]["validation"]
    own = json.loads((out / "report.json").read_text())
    again = run("evaluate", out / "model.npz", "--out", tmp_path / "ev2")
    assert again.exit_code == 0
    assert json.loads((tmp_path / "ev2" / "report.json").read_text())["metrics"] == own["metrics"]

    X = np.random.default_rng(0).uniform(0, 16, (5, 64))
    np.savez(tmp_path / "rows.npz", X=X)
    result = run("predict", out, tmp_path / "rows.npz", "--out", tmp_path / "pred.csv")
    assert result.exit_code == 0
    lines = (tmp_path / "pred.csv").read_text().splitlines()
    assert lines[0].split(",")[:3] == ["row", "predicted", "p_0"] and len(lines) == 6
    probabilities = np.array([[float(v) for v in line.split(",")[2:]] for line in lines[1:]])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)

    result = run("summary", digits_config)
    assert result.exit_code == 0
    assert "Linear(64 → 32)" in result.stdout and "total parameters: 2,410" in result.stdout

    result = run("gradcheck", digits_config, "--entries", "20")
    assert result.exit_code == 0, result.output
    assert "max relative error" in result.stdout and "0.W" in result.stdout


@pytest.mark.parametrize("data,loss", [("iris", "multiclass_hinge"), ("breast_cancer", "hinge")])
def test_predict_gives_the_scores_of_a_hinge_model(tmp_path, data, loss):
    out = tmp_path / "run"
    args = (
        "train",
        CONFIGS_DIR / f"{data}.yaml",
        "--out",
        out,
        "--quiet",
        "--set",
        "training.epochs=3",
        "--set",
        f"loss.name={loss}",
    )
    assert run(*args).exit_code == 0
    meta = json.loads(str(npz_arrays(out / "model.npz")["metadata"]))
    X = np.random.default_rng(0).normal(size=(7, len(meta["feature_names"])))
    np.savez(tmp_path / "rows.npz", X=X)
    result = run("predict", out, tmp_path / "rows.npz")
    assert result.exit_code == 0, result.output
    header, *rows = [line.split(",") for line in result.stdout.splitlines()]
    classes = meta["class_names"]  # both hinges score every class (hinge: one-vs-all)
    assert header == ["row", "predicted", *(f"score_{name}" for name in classes)] and len(rows) == 7
    scores = np.array([[float(v) for v in row[2:]] for row in rows])
    assert [row[1] for row in rows] == [classes[k] for k in scores.argmax(axis=1)]


@pytest.mark.parametrize(
    "last_cell,message",
    [
        (b"\xff\xfe", "line 2, column '{last}': '\ufffd\ufffd' is not a number"),
        (b"9" * 200_000, "line 2: not readable as CSV (field larger than field limit"),
    ],
)
def test_unreadable_prediction_input_is_a_clear_error(digits_config, tmp_path, last_cell, message):
    from mlp.model import load_model

    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=1").exit_code == 0
    names = load_model(out / "model.npz").feature_names
    rows = tmp_path / "rows.csv"
    rows.write_bytes(",".join(names).encode() + b"\n" + b"1," * (len(names) - 1) + last_cell + b"\n")
    result = run("predict", out, rows)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {rows}, {message.format(last=names[-1])}")
    assert result.stderr.count("\n") == 1


def test_prediction_input_reads_like_training_data(digits_config, tmp_path):
    """Columns by name in any order, extra columns ignored, blank rows at the end ignored; a blank
    row between rows is an error naming its line, as in training data."""
    from mlp.model import load_model

    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=1").exit_code == 0
    names = load_model(out / "model.npz").feature_names
    X = np.random.default_rng(0).uniform(0, 16, (3, len(names)))
    np.savez(tmp_path / "rows.npz", X=X)
    expected = run("predict", out, tmp_path / "rows.npz").stdout
    header = ",".join(["id", *reversed(names)])
    body = "".join(f"{i}," + ",".join(repr(float(v)) for v in reversed(row)) + "\n" for i, row in enumerate(X))
    (tmp_path / "rows.csv").write_text(header + "\n" + body + "\n , \n")
    result = run("predict", out, tmp_path / "rows.csv")
    assert result.exit_code == 0, result.output
    assert result.stdout == expected
    lines = body.splitlines()
    (tmp_path / "gap.csv").write_text("\n".join([header, lines[0], "", *lines[1:]]) + "\n")
    result = run("predict", out, tmp_path / "gap.csv")
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path / 'gap.csv'}, line 3: 0 fields, but the header has {len(names) + 1}\n"


def test_evaluate_names_what_it_scored(digits_config, tmp_path):
    out = tmp_path / "run"
    assert (
        run(
            "train", digits_config, "--out", out, "--set", "training.epochs=1", "--set", "data.validation_split=0"
        ).exit_code
        == 0
    )
    result = run("evaluate", out, "--split", "train")
    assert result.exit_code == 0 and result.stdout.startswith("train accuracy ")
    report = json.loads((out / "eval-train" / "report.json").read_text())
    assert report["held_out"] is False and report["metrics"]["accuracy"] > 0
    assert "These are the training rows, not held-out data" in (out / "eval-train" / "report.md").read_text()
    result = run("evaluate", out, "--split", "val")
    assert result.exit_code == 0 and result.stdout.startswith("no rows in the validation data: nothing scored")
    assert "No rows in the val data" in (out / "eval-val" / "report.md").read_text()
    rows = tmp_path / "rows.npz"
    np.savez(rows, X=np.zeros((3, 64)), y=np.array([0, 1, 2]))
    result = run("evaluate", out, "--data", rows, "--out", tmp_path / "ev")
    assert result.exit_code == 0 and result.stdout.startswith("accuracy ") and " on rows.npz;" in result.stdout
