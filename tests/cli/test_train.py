"""`mlp train` end to end: run directories, results, options, data files, divergence."""

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import mlp
from helpers import CONFIGS_DIR, metrics_lines, npz_arrays, run, write_config
from mlp.io import archive as checkpoint


def test_train_writes_a_complete_run_directory(digits_config, tmp_path):
    out = tmp_path / "run"
    result = run("train", digits_config, "--out", out)
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.stdout and str(out) in result.stdout
    for name in ("config.yaml", "model.npz", "last.npz", "metrics.jsonl", "report.json", "report.md"):
        assert (out / name).is_file(), name
    lines = metrics_lines(out)
    assert [line["epoch"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert set(lines[0]) == {"epoch", "train_loss", "data_loss", "penalty", "val_loss", "val_accuracy", "lr", "layers"}
    assert lines[0]["penalty"] > 0 and lines[0]["train_loss"] == pytest.approx(
        lines[0]["data_loss"] + lines[0]["penalty"]
    )
    arrays = npz_arrays(out / "model.npz")  # loads without pickle
    assert {"0.W", "0.b", "3.W", "3.b", "metadata"} == set(arrays)
    meta = json.loads(str(arrays["metadata"]))
    assert meta["class_names"] == [str(k) for k in range(10)] and meta["format_version"] == 1
    assert set(meta["checksums"]) == {"0.W", "0.b", "3.W", "3.b"}
    # non-terminal output: one line per epoch, no carriage returns
    assert "\r" not in result.stderr and result.stderr.count("epoch ") == 6


def test_quiet_prints_only_the_result(digits_config, tmp_path):
    result = run("train", digits_config, "--out", tmp_path / "q", "--quiet")
    assert result.exit_code == 0
    assert result.stderr == "" and result.stdout.count("\n") == 1


def test_same_seed_gives_bit_identical_weights_and_config_reproduces(digits_config, tmp_path):
    assert run("train", digits_config, "--out", tmp_path / "a", "--set", "training.epochs=3").exit_code == 0
    assert run("train", tmp_path / "a" / "config.yaml", "--out", tmp_path / "b").exit_code == 0
    first, second = npz_arrays(tmp_path / "a" / "model.npz"), npz_arrays(tmp_path / "b" / "model.npz")
    for key in ("0.W", "0.b", "3.W", "3.b"):
        np.testing.assert_array_equal(first[key], second[key])
    assert metrics_lines(tmp_path / "a") == metrics_lines(tmp_path / "b")
    assert len(metrics_lines(tmp_path / "a")) == 3  # the --set override was applied and saved


@pytest.mark.slow
def test_training_through_the_library_in_worker_threads_equals_the_command(digits_config, tmp_path):
    """``mlp.train`` is what ``mlp train`` runs; two runs can train at once in worker threads
    (no signal handlers there, no shared plotting state) and each ends as the command's run."""
    by_command = tmp_path / "command"
    assert run("train", digits_config, "--out", by_command, "--quiet").exit_code == 0
    reports = {}

    def train_in_library(name):
        reports[name] = mlp.train(digits_config, out=tmp_path / name, handle_signals=True).report

    workers = [threading.Thread(target=train_in_library, args=(name,)) for name in ("first", "second")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(reports) == ["first", "second"], "training in a worker thread failed"
    command = npz_arrays(by_command / "model.npz")
    for name, report in reports.items():
        assert report["metrics"] == json.loads((by_command / "report.json").read_text())["metrics"]
        library = npz_arrays(tmp_path / name / "model.npz")
        assert library.keys() == command.keys()
        for key in command.keys() - {"metadata"}:
            assert np.array_equal(library[key], command[key]), key
        assert metrics_lines(tmp_path / name) == metrics_lines(by_command)
        assert (tmp_path / name / "learning_curves.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_writing_a_report_leaves_the_callers_matplotlib_backend_alone(digits_config, tmp_path):
    script = (
        "import sys, matplotlib\n"
        "matplotlib.use('svg')\n"
        "import mlp\n"
        f"mlp.train({str(digits_config)!r}, overrides=['training.epochs=1'], out={str(tmp_path / 'run')!r})\n"
        "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["svg", "False"]
    assert (tmp_path / "run" / "confusion_matrix.png").read_bytes().startswith(b"\x89PNG")


def test_non_finite_loss_stops_with_its_own_status(tmp_path):
    config = write_config(
        tmp_path / "boom.yaml",
        """
        data: {name: diabetes, standardize: false, standardize_target: false}
        model: {hidden: [8]}
        loss: {name: squared}
        optimizer: {name: sgd, lr: 1.0e+3}
        training: {epochs: 5, batch_size: 16}
    """,
    )
    out = tmp_path / "run"
    result = run("train", config, "--out", out)
    assert result.exit_code == 3, result.output
    assert "non-finite" in result.stderr and "epoch 1, batch" in result.stderr
    assert "no epoch had finished, so there is no checkpoint" in result.stderr
    assert not (out / "last.npz").exists()


def test_divergence_after_some_epochs_keeps_the_last_finite_checkpoint(tmp_path):
    # full batches without shuffling: plain gradient descent with a step past the stability limit
    # grows the error geometrically, so the run diverges after several good epochs
    config = write_config(
        tmp_path / "boom.yaml",
        """
        data: {name: diabetes, validation_split: 0.0, test_split: 0.2}
        model: {hidden: []}
        loss: {name: squared}
        optimizer: {name: sgd, lr: 4.0}
        training: {epochs: 200, batch_size: 1000, shuffle: false}
    """,
    )
    out = tmp_path / "run"
    result = run("train", config, "--out", out)
    assert result.exit_code == 3, result.output
    assert "the last good checkpoint is kept" in result.stderr
    arrays, meta = checkpoint.load_checked(out / "last.npz")
    assert meta["epoch"] >= 2 and f"epoch {meta['epoch'] + 1}, batch 1" in result.stderr
    assert all(np.all(np.isfinite(a)) for a in arrays.values() if a.dtype.kind == "f")


def test_a_network_too_big_for_memory_is_a_clear_error(digits_config, tmp_path):
    # 64 × 10¹² weights need more bytes than a 48-bit address space holds: refused on any machine,
    # whatever its overcommit policy
    result = run("train", digits_config, "--out", tmp_path / "run", "--set", "model.hidden=[1000000000000]")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: model.hidden [1000000000000]: training this network needs about ")
    assert "of memory available; use smaller model.hidden" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_set_overrides(tmp_path, digits_config):
    out = tmp_path / "run"
    result = run(
        "train",
        digits_config,
        "--out",
        out,
        "--set",
        "training.epochs=2",
        "--set",
        "model.hidden=[8, 8]",
        "--set",
        "optimizer.lr=1e-2",
    )
    assert result.exit_code == 0
    saved = (out / "config.yaml").read_text()
    assert "hidden: [8, 8]" in saved and "lr: 0.01" in saved and "epochs: 2" in saved
    result = run("train", digits_config, "--out", tmp_path / "x", "--set", "training.epoch=2")
    assert (
        result.exit_code == 2
        and "no such config key 'training.epoch' (did you mean 'training.epochs'?)" in result.stderr
    )


def test_runs_started_in_the_same_second_get_their_own_directories(digits_config, tmp_path, monkeypatch):
    import mlp.training.runs

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(mlp.training.runs.time, "strftime", lambda fmt: "20261122-120000")
    for _ in range(3):
        assert run("train", digits_config, "--set", "training.epochs=1", "--quiet").exit_code == 0
    made = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert made == ["digits-20261122-120000", "digits-20261122-120000-2", "digits-20261122-120000-3"]
    assert all((tmp_path / "runs" / name / "model.npz").exists() for name in made)


def test_existing_run_directory_is_not_overwritten(digits_config, tmp_path):
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=1").exit_code == 0
    result = run("train", digits_config, "--out", out, "--set", "training.epochs=1")
    assert result.exit_code == 2 and "--overwrite" in result.stderr
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=1", "--overwrite").exit_code == 0


def test_validation_and_test_splits_of_zero(tmp_path):
    config = write_config(
        tmp_path / "c.yaml",
        """
        data: {name: iris, validation_split: 0, test_split: 0}
        model: {hidden: [4]}
        optimizer: {name: adam, lr: 0.01}
        training: {epochs: 3, early_stopping: {patience: 1}}
    """,
    )
    out = tmp_path / "run"
    result = run("train", config, "--out", out)
    assert result.exit_code == 0, result.output
    assert "no held-out data" in result.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["held_out"] is False and report["metrics"] is None
    assert "No held-out data" in (out / "report.md").read_text()
    assert len(metrics_lines(out)) == 3  # no early stopping without validation data
    last = checkpoint.load_checked(out / "last.npz")[0]
    for key, value in npz_arrays(out / "model.npz").items():  # the final model is the last one
        if key != "metadata":
            np.testing.assert_array_equal(last[f"model.{key}"], value)


def test_best_model_is_kept(digits_config, tmp_path):
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out).exit_code == 0
    lines = metrics_lines(out)
    best = min(lines, key=lambda line: line["val_loss"])
    report = json.loads((out / "report.json").read_text())
    assert report["training"]["best_epoch"] == best["epoch"]
    model = mlp.load(out / "model.npz")
    last = checkpoint.load_checked(out / "last.npz")[0]
    np.testing.assert_array_equal(model.network.state_dict()["0.W"], last["best.0.W"])


def test_init_from(tmp_path, digits_config):
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=1").exit_code == 0
    start = run(
        "train",
        digits_config,
        "--out",
        tmp_path / "b",
        "--set",
        "training.epochs=1",
        "--set",
        f"model.init_from={out / 'model.npz'}",
    )
    assert start.exit_code == 0
    np.savez(tmp_path / "wrong.npz", **{"0.W": np.zeros((3, 3)), "0.b": np.zeros(3)})
    bad = run("train", digits_config, "--out", tmp_path / "c", "--set", f"model.init_from={tmp_path / 'wrong.npz'}")
    assert bad.exit_code == 2 and "model.init_from" in bad.stderr


def test_a_single_class_is_a_clear_error(tmp_path):
    data = tmp_path / "one.csv"
    data.write_text("a,b,kind\n" + "".join(f"{i},{i % 3},cat\n" for i in range(20)))
    config = write_config(tmp_path / "c.yaml", f"data: {{path: {data}}}\nmodel: {{hidden: [4]}}\n")
    result = run("train", config, "--out", tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"error: {data}: the target holds a single class; classification needs at least 2"
    assert not (tmp_path / "run").exists()


def test_saved_config_works_from_another_directory(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "pts.csv").write_text("a,b,y\n" + "".join(f"{i % 7},{i % 5},{i % 2}\n" for i in range(60)))
    monkeypatch.chdir(tmp_path)
    config = write_config(
        tmp_path / "c.yaml", "data: {path: data/pts.csv}\nmodel: {hidden: [4]}\ntraining: {epochs: 2}\n"
    )
    assert run("train", config, "--out", "run", "--quiet").exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert str(data / "pts.csv") in (tmp_path / "run" / "config.yaml").read_text()
    assert run("evaluate", tmp_path / "run", "--out", "ev").exit_code == 0
    assert run("train", tmp_path / "run" / "config.yaml", "--out", "again", "--quiet").exit_code == 0


@pytest.mark.parametrize("kind", ["npz", "csv", "idx"])
def test_training_on_a_data_file_of_each_kind(tmp_path, kind):
    from mlp.data.datasets import load_builtin

    iris = load_builtin("iris")
    if kind == "npz":
        np.savez(tmp_path / "iris.npz", X=np.asarray(iris.X), y=iris.y)
        path = str(tmp_path / "iris.npz")
    elif kind == "csv":
        lines = [",".join(iris.feature_names + ["species"])]
        lines += [
            ",".join([*map(repr, row), iris.class_names[label]])
            for row, label in zip(np.asarray(iris.X).tolist(), iris.y)
        ]
        (tmp_path / "iris.csv").write_text("\n".join(lines) + "\n")
        path = str(tmp_path / "iris.csv")
    else:
        images = (np.asarray(iris.X) / np.asarray(iris.X).max() * 255).astype(np.uint8).reshape(-1, 2, 2)
        for name, array in (("images.idx", images), ("labels.idx", iris.y.astype(np.uint8))):
            header = bytes([0, 0, 0x08, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
            (tmp_path / name).write_bytes(header + array.tobytes())
        path = [str(tmp_path / "images.idx"), str(tmp_path / "labels.idx")]
    config = write_config(
        tmp_path / "c.yaml", f"data: {{path: {json.dumps(path)}}}\nmodel: {{hidden: [8]}}\ntraining: {{epochs: 2}}\n"
    )
    out = tmp_path / "run"
    result = run("train", config, "--out", out)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["data"]["sizes"]["test"] == 30 and report["metrics"]["accuracy"] > 0
    if kind != "idx":  # --data takes one file
        result = run("evaluate", out, "--data", path, "--out", tmp_path / "ev")
        assert result.exit_code == 0 and f" on iris.{kind};" in result.stdout, result.output


def test_a_test_file_is_the_held_out_data(tmp_path):
    from mlp.data.datasets import load_builtin

    iris = load_builtin("iris")
    for name, rows in (("train.npz", slice(0, None, 2)), ("test.npz", slice(1, None, 2))):
        np.savez(tmp_path / name, X=np.asarray(iris.X)[rows], y=iris.y[rows])
    config = write_config(
        tmp_path / "c.yaml",
        f"data: {{path: {tmp_path / 'train.npz'}, test_path: {tmp_path / 'test.npz'}}}\ntraining: {{epochs: 2}}\n",
    )
    out = tmp_path / "run"
    assert run("train", config, "--out", out).exit_code == 0
    sizes = json.loads((out / "report.json").read_text())["data"]["sizes"]
    assert sizes["test"] == 75 and sizes["train"] + sizes["validation"] == 75


def test_regression_loss_on_encoded_class_labels(tmp_path):
    config = write_config(
        tmp_path / "c.yaml",
        """
        data: {name: iris}
        model: {hidden: [8]}
        loss: {name: squared, target_encoding: one_hot}
        optimizer: {name: adam, lr: 0.01}
        training: {epochs: 30}
    """,
    )
    out = tmp_path / "run"
    result = run("train", config, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["metrics"]["accuracy"] > 0.6 and report["metrics"]["loss"] > 0
    assert report["config"]["loss"]["target_encoding"] == "one_hot"


@pytest.mark.parametrize(
    "data,overrides",
    [("iris", [f"optimizer.name={name}"]) for name in ("sgd", "adam", "adamw", "rmsprop")]
    + [
        ("iris", ["optimizer.momentum=0.9", "optimizer.nesterov=true"]),
        ("iris", ["optimizer.name=rmsprop", "optimizer.momentum=0.5"]),
    ]
    + [
        ("iris", [f"optimizer.schedule.name={name}", "optimizer.schedule.warmup_epochs=1"])
        for name in ("constant", "step", "exponential", "cosine")
    ]
    + [("iris", [f"model.activation={name}"]) for name in ("relu", "leaky_relu", "sigmoid", "tanh", "identity")]
    + [("iris", [f"model.init={name}"]) for name in ("he", "he_uniform", "xavier", "xavier_normal", "zeros")]
    + [("iris", [f"regularization.name={name}", "regularization.lambda=0.01"]) for name in ("l1", "l2", "elastic_net")]
    + [
        ("iris", ["loss.name=multiclass_hinge"]),
        ("iris", ["loss.name=squared", "loss.target_encoding=one_hot"]),
        ("iris", ["loss.name=huber", "loss.target_encoding=plus_minus_one"]),
        ("iris", ["loss.name=absolute", "loss.target_encoding=one_hot"]),
        ("breast_cancer", ["loss.name=binary_cross_entropy"]),
        ("breast_cancer", ["loss.name=hinge"]),
        ("iris", ["model.dropout=0.2", "model.input_dropout=0.1"]),
        ("iris", ["regularization.max_norm=1.0", "training.clip_grad_norm=0.5"]),
        ("iris", ["training.dtype=float64", "training.shuffle=false"]),
        ("iris", ["training.early_stopping.monitor=val_accuracy", "data.standardize=false"]),
        ("diabetes", ["loss.name=squared", "training.early_stopping.monitor=val_rmse"]),
        ("diabetes", ["loss.name=huber", "data.standardize_target=false", "data.corrupt_targets=0.1"]),
        ("diabetes", ["loss.name=absolute", "data.validation_split=0"]),
    ],
)
@pytest.mark.slow
def test_every_option_trains_end_to_end(tmp_path, data, overrides):
    out = tmp_path / "run"
    args = [
        "train",
        CONFIGS_DIR / f"{'diabetes_squared' if data == 'diabetes' else data}.yaml",
        "--out",
        out,
        "--quiet",
        "--set",
        "training.epochs=2",
    ]
    for override in overrides:
        args += ["--set", override]
    result = run(*args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "report.json").read_text())["metrics"]
    assert np.isfinite(metrics["loss"]) and np.isfinite(metrics.get("accuracy", metrics.get("rmse")))


def test_prefetching_rows_does_not_change_a_run(digits_config, tmp_path, monkeypatch):
    import mlp.data.batching
    import mlp.training.trainer

    monkeypatch.setattr(mlp.data.batching, "BLOCK_BYTES", 3 * 32 * 64 * 4)  # blocks of 3 batches
    models = {}
    for prefetch in (False, True):
        monkeypatch.setattr(mlp.training.trainer, "worth_prefetching", lambda *args, on=prefetch: on)
        out = tmp_path / f"prefetch-{prefetch}"
        assert run("train", digits_config, "--out", out, "--set", "training.epochs=2").exit_code == 0
        models[prefetch] = npz_arrays(out / "model.npz")
        assert metrics_lines(out) == metrics_lines(tmp_path / "prefetch-False")
    for key, value in models[False].items():
        assert np.array_equal(models[True][key], value), key


def test_run_files_get_ordinary_permissions(digits_config, tmp_path):
    old = os.umask(0o022)
    try:
        assert run("train", digits_config, "--out", tmp_path / "run", "--set", "training.epochs=1").exit_code == 0
    finally:
        os.umask(old)
    for name in ("model.npz", "last.npz", "report.json", "config.yaml", "learning_curves.png"):
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == 0o644, name


def test_a_run_directory_in_use_is_refused(digits_config, tmp_path):
    from mlp.training.runs import lock

    out = tmp_path / "run"
    out.mkdir()
    held = lock(out)
    result = run("train", digits_config, "--out", out, "--overwrite")
    held.close()
    assert result.exit_code == 2 and "in use by another mlp train process" in result.stderr
