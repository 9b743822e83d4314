"""Raw tables end to end through the command line: text columns, missing cells, IDs, columns by name."""

import csv
import io
import json

import numpy as np
import pytest

import mlp
from helpers import CONFIGS_DIR, run, write_config
from mlp.data.table import MISSING_MARKERS


def raw_table(path, n=160, seed=0):
    """Rows with a text column, every missing marker, an ID column and a string label."""
    rng = np.random.default_rng(seed)
    lines = ["id,size,colour,weight,label"]
    for i in range(n):
        colour = rng.choice(["red", "green", "blue"])
        size, weight = rng.uniform(0, 10), rng.uniform(0, 5)
        label = "big" if size + (colour == "red") * 3 > 6 else "small"
        cells = [f"item-{i}", f"{size:.3f}", colour, f"{weight:.3f}", label]
        if i % 9 == 0:
            cells[1 + (i // 9) % 3] = MISSING_MARKERS[(i // 9) % len(MISSING_MARKERS)]  # every marker, some columns
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def tabular_run(tmp_path):
    data = raw_table(tmp_path / "raw.csv")
    config = write_config(
        tmp_path / "c.yaml",
        f"data: {{path: {data}, target: label, id_column: id, missing: impute}}\n"
        "model: {hidden: [8]}\noptimizer: {name: adam, lr: 0.02}\ntraining: {epochs: 30}\n",
    )
    out = tmp_path / "run"
    result = run("train", config, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    return data, out


def reordered(path, out_path, extra=True):
    """The same rows with the columns in another order (and an extra column)."""
    rows = list(csv.reader(io.StringIO(path.read_text())))
    order = [4, 2, 0, 3, 1]
    body = [[row[j] for j in order] + (["noise"] if extra else []) for row in rows]
    body[0] = [rows[0][j] for j in order] + (["extra"] if extra else [])
    out_path.write_text("\n".join(",".join(r) for r in body) + "\n")
    return out_path


def test_raw_rows_with_every_missing_marker_train_and_predict_in_any_column_order(tabular_run, tmp_path):
    data, out = tabular_run
    model = mlp.load(out)
    assert model.transform.input_columns == ["size", "colour", "weight"]  # the id is no feature
    assert model.feature_names == ["size", "weight", "colour=blue", "colour=green", "colour=red"]
    plain = run("predict", out, data)
    shuffled = run("predict", out, reordered(data, tmp_path / "shuffled.csv"))
    assert plain.exit_code == 0 and shuffled.exit_code == 0, shuffled.output
    assert shuffled.stdout == plain.stdout
    lines = plain.stdout.splitlines()
    assert lines[0].startswith("id,predicted,p_big,p_small") and lines[1].startswith("item-0,")
    report = json.loads((out / "report.json").read_text())
    columns = {c["column"]: c["treatment"] for c in report["data"]["columns"]}
    assert columns["colour"].startswith("one-hot, 3 levels") and "standardized" in columns["size"]
    assert all("id" in e for e in report["most_confident_errors"])
    summary = run("summary", tabular_run[0].parent / "c.yaml")
    assert "colour                   one-hot, 3 levels" in summary.stdout


def test_evaluate_matches_columns_by_name(tabular_run, tmp_path):
    data, out = tabular_run
    first = run("evaluate", out, "--data", data, "--out", tmp_path / "a")
    second = run("evaluate", out, "--data", reordered(data, tmp_path / "r.csv"), "--out", tmp_path / "b")
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    metrics = [json.loads((tmp_path / name / "report.json").read_text())["metrics"] for name in ("a", "b")]
    assert metrics[0] == metrics[1]


def test_an_unknown_category_is_all_zeros_with_a_warning(tabular_run, tmp_path):
    data, out = tabular_run
    rows = tmp_path / "new.csv"
    rows.write_text("id,size,colour,weight\nx1,5,purple,1\nx2,5,red,1\n")
    result = run("predict", out, rows)
    assert result.exit_code == 0
    assert result.stderr.startswith(f"warning: {rows}: categories the training rows never had, encoded as all zeros")
    assert "column 'colour': 1 (['purple'])" in result.stderr


def test_duplicate_column_names_are_refused(tmp_path):
    data = tmp_path / "dup.csv"
    data.write_text("a,b,a,y\n1,2,3,0\n4,5,6,1\n")
    config = write_config(tmp_path / "c.yaml", f"data: {{path: {data}}}\n")
    result = run("train", config, "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert result.stderr == f"error: {data}: the header names column 'a' twice; column names must be unique\n"


def test_an_id_column_is_not_a_feature(tmp_path):
    """Rows sorted by class with a running ID: as a feature it gives away the label."""
    rng = np.random.default_rng(1)
    n = 200
    lines = ["row_id,noise_a,noise_b,y"] + [
        f"{i},{rng.normal():.4f},{rng.normal():.4f},{int(i >= n // 2)}" for i in range(n)
    ]
    data = tmp_path / "sorted.csv"
    data.write_text("\n".join(lines) + "\n")
    common = "model: {hidden: [16]}\noptimizer: {name: adam, lr: 0.05}\ntraining: {epochs: 60, early_stopping: {patience: null}}\n"
    leaky = write_config(tmp_path / "leaky.yaml", f"data: {{path: {data}}}\n{common}")
    honest = write_config(tmp_path / "honest.yaml", f"data: {{path: {data}, id_column: row_id}}\n{common}")
    accuracy = {}
    for name, config in (("leaky", leaky), ("honest", honest)):
        assert run("train", config, "--out", tmp_path / name, "--quiet").exit_code == 0
        accuracy[name] = json.loads((tmp_path / name / "report.json").read_text())["metrics"]["accuracy"]
    assert accuracy["leaky"] > 0.9 and accuracy["honest"] < 0.75  # noise alone cannot beat chance by much
    assert mlp.load(tmp_path / "honest").transform.input_columns == ["noise_a", "noise_b"]


def test_a_typo_in_a_numeric_column_stops_training(tmp_path):
    data = tmp_path / "typo.csv"
    data.write_text("a,b,y\n" + "".join(f"{i},{'3.l' if i == 5 else i % 4},{i % 2}\n" for i in range(30)))
    config = write_config(tmp_path / "c.yaml", f"data: {{path: {data}}}\n")
    result = run("train", config, "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert f"{data}, line 7, column 'b': '3.l' is not a number, but 29 of the column's cells are" in result.stderr


def test_missing_targets_are_named_or_dropped(tmp_path):
    data = tmp_path / "t.csv"
    data.write_text("a,y\n" + "".join(f"{i},{'NA' if i in (3, 8) else i * 1.5}\n" for i in range(40)))
    config = write_config(
        tmp_path / "c.yaml", f"data: {{path: {data}}}\nloss: {{name: squared}}\ntraining: {{epochs: 2}}\n"
    )
    result = run("train", config, "--out", tmp_path / "r")
    assert result.exit_code == 2 and "column 'y' (the target) is missing on 2 row(s), line(s) 5, 10" in result.stderr
    result = run("train", config, "--out", tmp_path / "r", "--set", "data.drop_missing_target=true", "--quiet")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r" / "report.json").read_text())["data"]["sizes"]["train"] == 27  # 38 rows kept


def test_whole_number_regression_targets(tmp_path):
    data = tmp_path / "counts.csv"
    data.write_text("a,count\n" + "".join(f"{i},{i * 3 + 1}\n" for i in range(40)))
    config = write_config(
        tmp_path / "c.yaml", f"data: {{path: {data}}}\nloss: {{name: squared}}\ntraining: {{epochs: 2}}\n"
    )
    result = run("train", config, "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert (
        "(whole numbers or text are read as classes); if the target is a quantity, set data.task: regression"
        in result.stderr
    )
    result = run("train", config, "--out", tmp_path / "r", "--set", "data.task=regression", "--quiet")
    assert result.exit_code == 0 and "RMSE" in result.stdout


def test_the_shipped_raw_tables_train_and_predict_on_their_raw_rows(tmp_path):
    for name in ("penguins", "cars"):
        out = tmp_path / name
        result = run("train", CONFIGS_DIR / f"{name}.yaml", "--out", out, "--quiet", "--set", "training.epochs=5")
        assert result.exit_code == 0, (name, result.output)
        rows = mlp.data.datasets.builtin_files(name)[0]  # the raw file, strings, blanks and all
        predicted = run("predict", out, rows)
        assert predicted.exit_code == 0 and len(predicted.stdout.splitlines()) > 300, predicted.output
