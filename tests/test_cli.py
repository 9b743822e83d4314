"""The command line end to end: train, resume, checkpoints, errors, evaluate, predict, summary, gradcheck."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import mlp
from mlp.io import archive as checkpoint
from mlp.training.checkpoints import Checkpointer
from helpers import npz_arrays, run, write_config

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"

DIGITS = """
seed: 3
data: {name: digits, validation_split: 0.2, test_split: 0.2}
model: {hidden: [32], activation: relu, dropout: 0.2}
loss: {name: cross_entropy}
regularization: {name: l2, lambda: 1.0e-4}
optimizer:
  name: adam
  lr: 0.005
  schedule: {name: cosine, warmup_epochs: 1}
training: {epochs: 6, batch_size: 32}
"""


@pytest.fixture
def digits_config(tmp_path):
    return write_config(tmp_path / "digits.yaml", DIGITS)


def metrics_lines(run_dir):
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for line in lines:
        line.pop("seconds")
    return lines


def test_train_writes_a_complete_run_directory(digits_config, tmp_path):
    out = tmp_path / "run"
    result = run("train", digits_config, "--out", out)
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.stdout and str(out) in result.stdout
    for name in ("config.yaml", "model.npz", "last.npz", "metrics.jsonl", "report.json", "report.md"):
        assert (out / name).is_file(), name
    lines = metrics_lines(out)
    assert [line["epoch"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert set(lines[0]) == {"epoch", "train_loss", "data_loss", "penalty", "val_loss", "val_accuracy", "lr"}
    assert lines[0]["penalty"] > 0 and lines[0]["train_loss"] == pytest.approx(lines[0]["data_loss"] + lines[0]["penalty"])
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


class SignalAfterEpoch(mlp.Callback):
    """Sends the process a real signal as epoch ``epoch`` ends (honoured after the next batch)."""

    def __init__(self, epoch, signal_name):
        self.epoch, self.signum = epoch, getattr(signal, signal_name)

    def on_epoch_end(self, trainer, record):
        if record["epoch"] == self.epoch:
            signal.raise_signal(self.signum)


def train_stopped_after(monkeypatch, epoch, *args, signal_name="SIGINT"):
    """``mlp train ARGS`` with a user callback (the public seam, injected into the command's call of
    ``mlp.train``) signalling the process as epoch ``epoch`` ends; the click Result."""
    original = mlp.api.train

    def with_signal(*positional, callbacks=(), **keywords):
        return original(*positional, callbacks=[*callbacks, SignalAfterEpoch(epoch, signal_name)], **keywords)
    with monkeypatch.context() as patch:
        patch.setattr(mlp.api, "train", with_signal)
        return run("train", *args)


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


def test_resume_after_interrupt_equals_uninterrupted(digits_config, tmp_path, monkeypatch):
    full = tmp_path / "full"
    assert run("train", digits_config, "--out", full).exit_code == 0
    part = tmp_path / "part"
    result = train_stopped_after(monkeypatch, 3, digits_config, "--out", part)
    assert result.exit_code == 130 and "Resume with: mlp train --resume" in result.stderr
    assert len(metrics_lines(part)) == 3 and not (part / "model.npz").exists()
    # what a SIGKILL in the middle of writing a checkpoint leaves, and a file that is not mlp's
    (part / ".last.npz.k1ll3d.tmp").write_bytes(b"half a checkpoint")
    (part / ".notes.tmp").write_text("mine")
    result = run("train", "--resume", part)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
    assert not (part / ".last.npz.k1ll3d.tmp").exists() and (part / ".notes.tmp").read_text() == "mine"
    for key, value in npz_arrays(full / "model.npz").items():
        if key != "metadata":
            np.testing.assert_array_equal(npz_arrays(part / "model.npz")[key], value)
    assert metrics_lines(part) == metrics_lines(full)
    again = run("train", "--resume", part)
    assert again.exit_code == 0 and "already finished" in again.stdout


def test_resume_drops_damaged_metrics_records_with_a_warning(digits_config, tmp_path, monkeypatch):
    out = tmp_path / "run"
    result = train_stopped_after(monkeypatch, 3, digits_config, "--out", out, "--set", "training.epochs=4")
    assert result.exit_code == 130
    lines = (out / "metrics.jsonl").read_text().splitlines()
    lines[1] = lines[1].replace('"train_loss"', '"train_lss"')
    (out / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    result = run("train", "--resume", out)
    assert result.exit_code == 0, result.output
    assert "metrics.jsonl: whole records for 1 of the checkpoint's 3 epochs" in result.stderr
    assert [record["epoch"] for record in metrics_lines(out)] == [1, 4]


def wait_for_epochs(run_dir, count, timeout=60):
    """Wait until a training process has finished ``count`` epochs (lines in metrics.jsonl)."""
    metrics = run_dir / "metrics.jsonl"
    deadline = time.time() + timeout
    while time.time() < deadline and not (metrics.exists() and metrics.read_text().count("\n") >= count):
        time.sleep(0.02)


def test_sigint_to_a_real_process_saves_a_resumable_checkpoint(tmp_path):
    config = write_config(tmp_path / "long.yaml", DIGITS.replace("epochs: 6", "epochs: 400")
                          .replace("training: {", "training: {early_stopping: {patience: null}, "))
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "mlp", "train", str(config), "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_epochs(out, 2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "checkpoint saved" in stderr
    arrays, meta = checkpoint.load_checked(out / "last.npz")
    assert meta["epoch"] >= 2 and not meta["finished"]
    result = run("train", "--resume", out, "--set", "training.epochs=" + str(meta["epoch"] + 1))
    assert result.exit_code == 0, result.output
    assert (out / "model.npz").exists()


def test_sigkill_then_resume_ends_where_an_uninterrupted_run_ends(tmp_path):
    text = (DIGITS.replace("schedule: {name: cosine, warmup_epochs: 1}", "schedule: {name: constant}")
            .replace("training: {", "training: {early_stopping: {patience: null}, "))
    config = write_config(tmp_path / "long.yaml", text.replace("epochs: 6", "epochs: 400"))
    out = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "mlp", "train", str(config), "--out", str(out), "--quiet"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_epochs(out, 2)
    process.kill()  # SIGKILL: no handler runs, whatever was being written is cut off
    process.wait(timeout=60)
    _, meta = checkpoint.load_checked(out / "last.npz")
    epochs = meta["epoch"] + 2
    result = run("train", "--resume", out, "--set", f"training.epochs={epochs}")
    assert result.exit_code == 0, result.output
    reference = tmp_path / "reference"
    short = write_config(tmp_path / "short.yaml", text.replace("epochs: 6", f"epochs: {epochs}"))
    assert run("train", short, "--out", reference).exit_code == 0
    assert metrics_lines(out) == metrics_lines(reference)
    for key, value in npz_arrays(reference / "model.npz").items():
        if key != "metadata":
            assert np.array_equal(npz_arrays(out / "model.npz")[key], value), key


def test_a_crash_after_a_timed_checkpoint_inside_an_epoch_resumes_exactly(digits_config, tmp_path, monkeypatch):
    """``training.checkpoint_seconds`` saves inside an epoch; a run that dies right after such a save
    resumes from that batch and ends bit-identical to an uninterrupted run."""
    every_batch = ("--set", "training.checkpoint_seconds=1e-9")
    reference = tmp_path / "reference"
    assert run("train", digits_config, "--out", reference, *every_batch).exit_code == 0
    saves, elapsed = [], {}
    original = Checkpointer.save

    def save_then_die(self, trainer):
        original(self, trainer)
        saves.append((trainer.state.epoch, trainer.state.batch))
        elapsed[saves[-1]] = checkpoint.load_checked(self.path)[1]["elapsed"]
        if saves[-1] == (2, 5):
            raise KeyboardInterrupt("killed")  # as if the process died right after this save
    crashed = tmp_path / "crashed"
    with monkeypatch.context() as patch:
        patch.setattr(Checkpointer, "save", save_then_die)
        assert run("train", digits_config, "--out", crashed, *every_batch).exit_code == 130
    assert saves[:3] == [(0, 1), (0, 2), (0, 3)] and (1, 0) in saves  # every batch, and each epoch's end
    _, meta = checkpoint.load_checked(crashed / "last.npz")
    assert (meta["epoch"], meta["batch"]) == (2, 5) and len(metrics_lines(crashed)) == 2
    assert meta["elapsed"] > elapsed[(2, 0)]  # the time spent so far in the interrupted epoch is kept
    assert run("train", "--resume", crashed).exit_code == 0
    assert json.loads((crashed / "report.json").read_text())["training"]["wall_time_seconds"] > meta["elapsed"]
    assert metrics_lines(crashed) == metrics_lines(reference)
    for key, value in npz_arrays(reference / "model.npz").items():
        if key != "metadata":
            assert np.array_equal(npz_arrays(crashed / "model.npz")[key], value), key


def test_without_checkpoint_seconds_checkpoints_come_at_epoch_ends_only(digits_config, tmp_path, monkeypatch):
    saves = []
    original = Checkpointer.save

    def recording(self, trainer):
        original(self, trainer)
        saves.append((trainer.state.epoch, trainer.state.batch))
    monkeypatch.setattr(Checkpointer, "save", recording)
    result = run("train", digits_config, "--out", tmp_path / "run", "--set", "training.checkpoint_seconds=null")
    assert result.exit_code == 0
    assert saves == [(epoch, 0) for epoch in range(1, 7)]


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


def test_resume_with_a_structurally_different_config_is_refused(digits_config, tmp_path):
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=1").exit_code == 0
    state = checkpoint.load_checked(out / "last.npz")[1]
    assert state["finished"]
    (out / "model.npz").unlink()
    config_text = (out / "config.yaml").read_text()
    result = run("train", digits_config, "--resume", out, "--set", "model.hidden=[16]")
    assert result.exit_code == 2 and "refusing to resume" in result.stderr
    assert (out / "config.yaml").read_text() == config_text


def test_resume_records_its_config_and_needs_one(digits_config, tmp_path, monkeypatch):
    out = tmp_path / "run"
    result = train_stopped_after(monkeypatch, 1, digits_config, "--out", out, "--set", "training.epochs=3",
                                 signal_name="SIGTERM")
    assert result.exit_code == 130
    (out / "config.yaml").unlink()
    result = run("train", "--resume", out, "--set", "training.epochs=2")
    assert result.exit_code == 2
    assert f"its config.yaml is missing; give the run's config: mlp train --resume {out} CONFIG" in result.stderr
    result = run("train", "--resume", out, digits_config, "--set", "training.epochs=2")
    assert result.exit_code == 0, result.output
    assert len(metrics_lines(out)) == 2
    assert yaml.safe_load((out / "config.yaml").read_text())["training"]["epochs"] == 2


def test_atomic_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.npz"
    checkpoint.save_atomic(path, {"a": np.arange(3.0)}, {"epoch": 1})

    def failing_writer(file, arrays, metadata):
        file.write(b"PK\x03\x04 half a zip archive")
        raise OSError("disk full")
    monkeypatch.setattr(checkpoint, "write_archive", failing_writer)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save_atomic(path, {"a": np.zeros(3)}, {"epoch": 2})
    arrays, meta = checkpoint.load_checked(path)
    np.testing.assert_array_equal(arrays["a"], [0.0, 1.0, 2.0])
    assert meta["epoch"] == 1
    assert os.listdir(tmp_path) == ["last.npz"]  # no temporary file left behind


def test_a_full_disk_while_writing_the_report_leaves_no_half_file(digits_config, tmp_path, monkeypatch):
    import errno
    from matplotlib.figure import Figure
    out = tmp_path / "run"
    original = Figure.savefig

    def disk_full(self, file, **kwargs):
        file.write(b"\x89PNG half an image")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(Figure, "savefig", disk_full)
    result = run("train", digits_config, "--out", out, "--set", "training.epochs=2")
    assert result.exit_code == 2, result.output
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"error: {out}") and last_line.endswith(".png: No space left on device")
    assert not [p.name for p in out.iterdir() if p.suffix == ".tmp" or p.stat().st_size == 0 and p.name != ".lock"]
    assert not (out / "report.json").exists()
    monkeypatch.setattr(Figure, "savefig", original)
    result = run("train", "--resume", out)
    assert result.exit_code == 0 and (out / "report.json").exists() and (out / "learning_curves.png").exists()


def test_run_files_get_ordinary_permissions(digits_config, tmp_path):
    old = os.umask(0o022)
    try:
        assert run("train", digits_config, "--out", tmp_path / "run", "--set", "training.epochs=1").exit_code == 0
    finally:
        os.umask(old)
    for name in ("model.npz", "last.npz", "report.json", "config.yaml", "learning_curves.png"):
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == 0o644, name


def test_an_npz_whose_header_numpy_cannot_parse_is_a_clear_error(digits_config, tmp_path):
    import struct
    import zipfile
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, "  # cut off: NumPy's tokenizer fails
    header = header.ljust(118) + "\n"
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("X.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=1").exit_code == 0
    for args in (("evaluate", bad), ("predict", out, bad), ("evaluate", out, "--data", bad),
                 ("train", digits_config, "--out", tmp_path / "again", "--set", f"data.path={bad}",
                  "--set", "data.name=null")):
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert f"{bad}: corrupt or not an .npz file (TokenError" in result.stderr, args


def test_corrupt_checkpoint_is_a_clear_error(digits_config, tmp_path):
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=1").exit_code == 0
    blob = bytearray((out / "model.npz").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (out / "model.npz").write_bytes(bytes(blob))
    result = run("evaluate", out)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "model.npz" in result.stderr and ("corrupt" in result.stderr or "checksum" in result.stderr)


def test_a_model_file_with_compressed_arrays_is_refused_before_decompressing(digits_config, tmp_path):
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=1").exit_code == 0
    for name in ("model.npz", "last.npz"):
        np.savez_compressed(out / name, **npz_arrays(out / name))  # same arrays, checksums valid
    result = run("evaluate", out)
    assert result.exit_code == 2
    assert "model.npz: array" in result.stderr and "is compressed, but mlp writes its files uncompressed" in result.stderr
    result = run("train", "--resume", out, "--set", "training.epochs=2")
    assert result.exit_code == 2 and "last.npz: array" in result.stderr


def rewrite(path, edit):
    """Rewrite an mlp archive through ``edit(arrays, metadata)`` with fresh, valid checksums."""
    arrays, metadata = checkpoint.load_checked(path)
    for key in ("checksums", "format_version"):
        metadata.pop(key)
    edit(arrays, metadata)
    checkpoint.save_atomic(path, arrays, metadata)


@pytest.mark.parametrize("edit,message", [
    (lambda a, m: m.update(architecture=[]), "metadata 'architecture' is [], expected dict"),
    (lambda a, m: m["architecture"].update(hidden=["16"]), "architecture 'hidden' is ['16'], expected list[int]"),
    (lambda a, m: m["config"].pop("data"), "its stored config is invalid"),
    (lambda a, m: m["config"]["optimizer"].update(lr=-1), "its stored config is invalid (optimizer.lr"),
    (lambda a, m: m.update(class_names=["a", 1, "c"]), "metadata 'class_names' is ['a', 1, 'c']"),
    (lambda a, m: m.update(class_names=["a", "b"]), "class names ['a', 'b'] do not fit 10 outputs"),
    (lambda a, m: m.update(task="ranking"), "unknown task 'ranking'"),
    (lambda a, m: m["standardizer"].update(mean={"x": 1}), "standardizer 'mean' is {'x': 1}"),
    (lambda a, m: m.update(feature_names=["x"]), "1 feature names for 64 inputs"),
    (lambda a, m: m["architecture"].update(feature_scale={}), "architecture 'feature_scale' is {}, expected number"),
])
def test_model_file_with_edited_metadata_is_a_clear_error(digits_config, tmp_path, edit, message):
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=1").exit_code == 0
    rewrite(out / "model.npz", edit)
    for args in (("evaluate", out), ("predict", out, tmp_path / "rows.csv")):
        result = run(*args)
        assert result.exit_code == 2, result.output
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("edit,message", [
    (lambda a, m: m.update(epoch="3"), "metadata 'epoch' is '3', expected int"),
    (lambda a, m: m.update(epoch=10**20), "metadata 'epoch' is 100000000000000000000, expected int"),
    (lambda a, m: m["sums"].update(rows=None), "sums 'rows' is None, expected int"),
    (lambda a, m: m.update(rng={"shuffle": {}, "dropout": {}}), "unusable shuffle generator state"),
    (lambda a, m: m.update(best_epoch=7), "early-stopping record is ahead of its epoch count"),
    (lambda a, m: a.update({"optimizer.t": np.zeros(3)}), "optimizer state 't' must be a step count"),
    (lambda a, m: m.update(batch=2) or a.update(order=np.arange(5)), "position inside the epoch"),
])
def test_checkpoint_with_edited_metadata_is_a_clear_error(digits_config, tmp_path, edit, message):
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=2").exit_code == 0
    rewrite(out / "last.npz", lambda arrays, metadata: (metadata.update(finished=False), edit(arrays, metadata)))
    result = run("train", "--resume", out)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_non_finite_loss_stops_with_its_own_status(tmp_path):
    config = write_config(tmp_path / "boom.yaml", """
        data: {name: diabetes, standardize: false, standardize_target: false}
        model: {hidden: [8]}
        loss: {name: squared}
        optimizer: {name: sgd, lr: 1.0e+3}
        training: {epochs: 5, batch_size: 16}
    """)
    out = tmp_path / "run"
    result = run("train", config, "--out", out)
    assert result.exit_code == 3, result.output
    assert "non-finite" in result.stderr and "epoch 1, batch" in result.stderr
    assert "no epoch had finished, so there is no checkpoint" in result.stderr
    assert not (out / "last.npz").exists()


def test_divergence_after_some_epochs_keeps_the_last_finite_checkpoint(tmp_path):
    # full batches without shuffling: plain gradient descent with a step past the stability limit
    # grows the error geometrically, so the run diverges after several good epochs
    config = write_config(tmp_path / "boom.yaml", """
        data: {name: diabetes, validation_split: 0.0, test_split: 0.2}
        model: {hidden: []}
        loss: {name: squared}
        optimizer: {name: sgd, lr: 4.0}
        training: {epochs: 200, batch_size: 1000, shuffle: false}
    """)
    out = tmp_path / "run"
    result = run("train", config, "--out", out)
    assert result.exit_code == 3, result.output
    assert "the last good checkpoint is kept" in result.stderr
    arrays, meta = checkpoint.load_checked(out / "last.npz")
    assert meta["epoch"] >= 2 and f"epoch {meta['epoch'] + 1}, batch 1" in result.stderr
    assert all(np.all(np.isfinite(a)) for a in arrays.values() if a.dtype.kind == "f")


@pytest.mark.parametrize("text,message", [
    ("data: {name: iris}\noptimzer: {lr: 0.1}\n", "unknown key 'optimzer' (did you mean 'optimizer'?)"),
    ("data: {name: iris}\n[model]: 1\n", "config: a key must be a plain name, not a list (line 2)"),
    ("name: ../../elsewhere\ndata: {name: iris}\n", "name: must be a plain name (it names the run directory under runs/)"),
    ("data: {name: iris, {a: 1}: 2}\n", "data: a key must be a plain name, not a mapping (line 1)"),
    ("data: {name: iris}\ntraining: {epochs: ten}\n", "training.epochs: must be a number, got 'ten'"),
    ("data: {name: iris}\noptimizer: {lr: 0}\n", "optimizer.lr: must be > 0, got 0"),
    ("data: {name: iris}\nmodel: {dropout: 1.0}\n", "model.dropout: must be >= 0 and < 1, got 1.0"),
    ("data: {name: iris}\nmodel: {hidden: [4, 0]}\n", "model.hidden[1]: must be an integer >= 1, got 0"),
    ("data: {name: iris}\nloss: {name: huber, delta: 0}\n", "loss.delta: must be > 0, got 0"),
    ("data: {name: iris}\nmodel: {activation: relu6}\n", "model.activation: unknown name"),
    ("data: {name: iris}\ndata: {name: wine}\n", "duplicate key 'data' (lines 1 and 2)"),
    ("data: {name: diabetes}\nloss: {name: cross_entropy}\n", "loss.name: cross_entropy needs class labels"),
    ("data: {name: iris}\nloss: {name: squared}\n", "set loss.target_encoding"),
    ("data: {name: iris}\nloss: {name: binary_cross_entropy}\n", "needs exactly 2 classes, the data has 3"),
    ("data: {name: irsi}\n", "data.name: unknown name (did you mean 'iris'?)"),
    ("model: {hidden: [4]}\n", "give exactly one of data.name"),
    ("data: {name: iris}\nmodel: [1, 2\n", "not valid YAML"),
])
def test_config_errors_are_one_clear_line(tmp_path, text, message):
    config = write_config(tmp_path / "bad.yaml", text)
    result = run("train", config, "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output and result.stderr.count("\n") == 1
    assert not (tmp_path / "run").exists()  # nothing written before validation passed


def test_a_billion_laughs_config_is_refused_with_a_short_message(tmp_path):
    # nine levels of nine aliases: 9⁹ ≈ 387 million strings once expanded (a full repr needs ~3 GB)
    anchors = ['&l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    anchors += [f"&l{k} [{', '.join([f'*l{k - 1}'] * 9)}]" for k in range(1, 9)]
    text = "data: {name: iris}\noptimizer:\n  betas:\n" + "".join(f"    - {a}\n" for a in anchors)
    config = write_config(tmp_path / "laughs.yaml", text + "seed: *l8\n")
    result = run("train", config, "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {config}: seed: must be a number, got [[[...], [...]")
    assert len(result.stderr) < 300 + len(str(config)) and result.stderr.count("\n") == 1


def test_a_network_too_big_for_memory_is_a_clear_error(digits_config, tmp_path):
    # 64 × 10¹² weights need more bytes than a 48-bit address space holds: refused on any machine,
    # whatever its overcommit policy
    result = run("train", digits_config, "--out", tmp_path / "run", "--set", "model.hidden=[1000000000000]")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: out of memory (") and "model.hidden" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_numbers_like_1e_minus_3_are_numbers(tmp_path):
    config = write_config(tmp_path / "c.yaml", "data: {name: iris}\noptimizer: {lr: 1e-3}\ntraining: {epochs: 1}\n")
    out = tmp_path / "run"
    assert run("train", config, "--out", out, "--quiet").exit_code == 0
    assert "lr: 0.001" in (out / "config.yaml").read_text()


def test_set_overrides(tmp_path, digits_config):
    out = tmp_path / "run"
    result = run("train", digits_config, "--out", out, "--set", "training.epochs=2", "--set", "model.hidden=[8, 8]",
                 "--set", "optimizer.lr=1e-2")
    assert result.exit_code == 0
    saved = (out / "config.yaml").read_text()
    assert "hidden: [8, 8]" in saved and "lr: 0.01" in saved and "epochs: 2" in saved
    result = run("train", digits_config, "--out", tmp_path / "x", "--set", "training.epoch=2")
    assert result.exit_code == 2 and "no such config key 'training.epoch' (did you mean 'training.epochs'?)" in result.stderr


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
    config = write_config(tmp_path / "c.yaml", """
        data: {name: iris, validation_split: 0, test_split: 0}
        model: {hidden: [4]}
        optimizer: {name: adam, lr: 0.01}
        training: {epochs: 3, early_stopping: {patience: 1}}
    """)
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
    start = run("train", digits_config, "--out", tmp_path / "b", "--set", "training.epochs=1",
                "--set", f"model.init_from={out / 'model.npz'}")
    assert start.exit_code == 0
    np.savez(tmp_path / "wrong.npz", **{"0.W": np.zeros((3, 3)), "0.b": np.zeros(3)})
    bad = run("train", digits_config, "--out", tmp_path / "c", "--set", f"model.init_from={tmp_path / 'wrong.npz'}")
    assert bad.exit_code == 2 and "model.init_from" in bad.stderr


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
    args = ("train", CONFIGS_DIR / f"{data}.yaml", "--out", out, "--quiet", "--set", "training.epochs=3",
            "--set", f"loss.name={loss}")
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


@pytest.mark.parametrize("option,value", [("--rows", "0"), ("--entries", "-1"), ("--tolerance", "0"),
                                          ("--tolerance", "nan"), ("--tolerance", "inf")])
def test_gradcheck_rejects_meaningless_options(digits_config, option, value):
    result = run("gradcheck", digits_config, option, value)
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.stderr
    assert "Traceback" not in result.output


def test_gradcheck_fails_on_a_wrong_gradient(digits_config, monkeypatch):
    from mlp.nn import layers
    original = layers.Linear.backward

    def broken(self, g, input_grad=True):
        out = original(self, g, input_grad)
        self.grads["b"] *= 1.5
        return out
    monkeypatch.setattr(layers.Linear, "backward", broken)
    result = run("gradcheck", digits_config, "--entries", "10")
    assert result.exit_code == 1 and "FAIL" in result.stdout


def test_version_help_and_python_m():
    assert mlp.__version__ in run("--version").stdout
    help_text = run("--help").stdout
    for command in ("train", "evaluate", "predict", "summary", "gradcheck", "compare"):
        assert command in help_text
    assert "--resume" in run("train", "--help").stdout
    result = subprocess.run([sys.executable, "-m", "mlp", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and mlp.__version__ in result.stdout


@pytest.mark.parametrize("args,message,help_command", [
    (("train", "--bogus", "x.yaml"), "No such option '--bogus'", "mlp train --help"),
    (("trian",), "No such command 'trian'", "mlp --help"),
    (("--bogus", "train"), "No such option '--bogus'", "mlp --help"),
    (("evaluate",), "Missing argument 'MODEL'", "mlp evaluate --help"),
    (("train", "x.yaml", "--set"), "Option '--set' requires an argument", "mlp train --help"),
    (("gradcheck", "x.yaml", "--rows", "x"), "Invalid value for '--rows'", "mlp gradcheck --help"),
])
def test_a_bad_command_line_is_one_error_line(args, message, help_command):
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {message}") and f"(see '{help_command}')" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Usage:" not in result.output


def test_no_arguments_shows_the_help():
    result = run()
    assert result.output.startswith("Usage: mlp") and "Commands:" in result.output


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_command_exits_130_and_leaves_no_temporary_file(digits_config, tmp_path, monkeypatch, signum):
    from mlp.io import files
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=1").exit_code == 0
    run_files = {p.name: p.read_bytes() for p in out.iterdir() if p.name != ".lock"}
    original = files.os.fsync

    def fsync_then_signal(fd):  # the signal arrives while report.json's temporary copy is written
        original(fd)
        os.kill(os.getpid(), signum)
    monkeypatch.setattr(files.os, "fsync", fsync_then_signal)
    previous = signal.getsignal(signal.SIGTERM)
    result = run("evaluate", out, "--out", out)
    assert result.exit_code == 130, result.output
    assert result.stderr.strip() == f"interrupted ({'Ctrl-C' if signum == signal.SIGINT else 'SIGTERM'})"
    assert signal.getsignal(signal.SIGTERM) is previous
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != ".lock"} == run_files


@pytest.mark.parametrize("last_cell,message", [
    (b"\xff\xfe", "line 2, column '{last}': '\ufffd\ufffd' is not a number"),
    (b"9" * 200_000, "line 2: not readable as CSV (field larger than field limit"),
])
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


def test_missing_files_exit_2(tmp_path):
    for args in (("train", tmp_path / "nope.yaml"), ("evaluate", tmp_path / "nope.npz"),
                 ("predict", tmp_path / "nope.npz", tmp_path / "x.csv")):
        result = run(*args)
        assert result.exit_code == 2 and "not found" in result.stderr and "Traceback" not in result.output


def test_a_pipe_or_a_device_given_as_a_file_is_refused_unread(digits_config, tmp_path):
    """Refused unread (a named pipe would block, /dev/zero never ends), and not called missing."""
    pipe, csv_pipe = tmp_path / "pipe", tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    os.mkfifo(csv_pipe)
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=1", "--quiet").exit_code == 0
    cases = [(("train", pipe), "config file"), (("summary", "/dev/zero"), "config file"),
             (("evaluate", pipe), "model file"), (("evaluate", out, "--data", csv_pipe), "data file"),
             (("predict", out, csv_pipe), "data file"), (("predict", out, "/dev/zero"), "data file")]
    for args, what in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr == f"error: {what} is not a regular file: {args[-1]}\n"


def test_a_run_directory_in_use_is_refused(digits_config, tmp_path):
    from mlp.training.runs import lock
    out = tmp_path / "run"
    out.mkdir()
    held = lock(out)
    result = run("train", digits_config, "--out", out, "--overwrite")
    held.close()
    assert result.exit_code == 2 and "in use by another mlp train process" in result.stderr


def test_an_internal_error_is_one_line_without_debug(digits_config, monkeypatch):
    import mlp.cli

    def broken(config):
        raise TypeError("something the code got wrong")
    monkeypatch.setattr(mlp.cli, "build_experiment", broken)
    result = run("summary", digits_config)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "internal error: TypeError: something the code got wrong" in result.stderr


def test_resume_after_a_kill_mid_write(digits_config, tmp_path, monkeypatch):
    """A kill can leave a half-written metrics line and a stale temporary file: resume still works."""
    full, part = tmp_path / "full", tmp_path / "part"
    assert run("train", digits_config, "--out", full).exit_code == 0
    assert train_stopped_after(monkeypatch, 2, digits_config, "--out", part, signal_name="SIGTERM").exit_code == 130
    with open(part / "metrics.jsonl", "a") as metrics:
        metrics.write('{"epoch": 3, "trai')  # cut off mid-line
    (part / ".last.npz.x1y2.tmp").write_bytes(b"PK\x03\x04 partial")
    result = run("train", "--resume", part)
    assert result.exit_code == 0, result.output
    assert metrics_lines(part) == metrics_lines(full)
    for key, value in npz_arrays(full / "model.npz").items():
        if key != "metadata":
            np.testing.assert_array_equal(npz_arrays(part / "model.npz")[key], value)


@pytest.mark.parametrize("text,message", [
    ("data: {name: iris}\noptimizer: {lr: .inf}\n", "optimizer.lr: must be a finite number"),
    ("data: {name: iris}\ntraining: {epochs: .nan}\n", "training.epochs: must be a finite number"),
    ("a: &a [1, 2]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nd: [*c, *c, *c, *c]\n", "unknown key 'a'"),
    ("[" * 5000 + "]" * 5000, "nested too deeply"),
])
def test_hostile_configs(tmp_path, text, message):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    result = run("train", config, "--out", tmp_path / "run")
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert "Traceback" not in result.output


def test_binary_config_file(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_bytes(b"\xff\xfe\x00binary")
    result = run("train", config)
    assert result.exit_code == 2 and "not a UTF-8 text file" in result.stderr


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
    config = write_config(tmp_path / "c.yaml", "data: {path: data/pts.csv}\nmodel: {hidden: [4]}\ntraining: {epochs: 2}\n")
    assert run("train", config, "--out", "run", "--quiet").exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert str(data / "pts.csv") in (tmp_path / "run" / "config.yaml").read_text()
    assert run("evaluate", tmp_path / "run", "--out", "ev").exit_code == 0
    assert run("train", tmp_path / "run" / "config.yaml", "--out", "again", "--quiet").exit_code == 0


def test_resume_of_a_run_killed_in_its_first_epoch_starts_it_over(digits_config, tmp_path):
    reference = tmp_path / "reference"
    assert run("train", digits_config, "--out", reference, "--set", "training.epochs=2").exit_code == 0
    # what a SIGKILL between the first metrics line and the first checkpoint leaves behind
    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / "config.yaml").write_text((reference / "config.yaml").read_text())
    (killed / "metrics.jsonl").write_text('{"epoch": 1, "train_lo')
    result = run("train", "--resume", killed)
    assert result.exit_code == 0, result.output
    assert "no checkpoint yet" in result.stderr and "starting it over" in result.stderr
    assert len(metrics_lines(killed)) == 2
    assert npz_arrays(killed / "model.npz").keys() == npz_arrays(reference / "model.npz").keys()
    for key, value in npz_arrays(reference / "model.npz").items():
        assert np.array_equal(npz_arrays(killed / "model.npz")[key], value), key


def test_resume_of_a_directory_that_is_not_a_run(tmp_path):
    result = run("train", "--resume", tmp_path)
    assert result.exit_code == 2 and "not a run directory" in result.stderr


@pytest.mark.parametrize("kind", ["npz", "csv", "idx"])
def test_training_on_a_data_file_of_each_kind(tmp_path, kind):
    from mlp.data.datasets import load_builtin
    iris = load_builtin("iris")
    if kind == "npz":
        np.savez(tmp_path / "iris.npz", X=iris.X, y=iris.y)
        path = str(tmp_path / "iris.npz")
    elif kind == "csv":
        lines = [",".join(iris.feature_names + ["species"])]
        lines += [",".join([*map(repr, row), iris.class_names[label]]) for row, label in zip(iris.X.tolist(), iris.y)]
        (tmp_path / "iris.csv").write_text("\n".join(lines) + "\n")
        path = str(tmp_path / "iris.csv")
    else:
        images = (iris.X / iris.X.max() * 255).astype(np.uint8).reshape(-1, 2, 2)
        for name, array in (("images.idx", images), ("labels.idx", iris.y.astype(np.uint8))):
            header = bytes([0, 0, 0x08, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
            (tmp_path / name).write_bytes(header + array.tobytes())
        path = [str(tmp_path / "images.idx"), str(tmp_path / "labels.idx")]
    config = write_config(tmp_path / "c.yaml", f"data: {{path: {json.dumps(path)}}}\nmodel: {{hidden: [8]}}\n"
                                               "training: {epochs: 2}\n")
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
        np.savez(tmp_path / name, X=iris.X[rows], y=iris.y[rows])
    config = write_config(tmp_path / "c.yaml", f"data: {{path: {tmp_path / 'train.npz'}, test_path: "
                                               f"{tmp_path / 'test.npz'}}}\ntraining: {{epochs: 2}}\n")
    out = tmp_path / "run"
    assert run("train", config, "--out", out).exit_code == 0
    sizes = json.loads((out / "report.json").read_text())["data"]["sizes"]
    assert sizes["test"] == 75 and sizes["train"] + sizes["validation"] == 75


def test_evaluate_names_what_it_scored(digits_config, tmp_path):
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=1",
               "--set", "data.validation_split=0").exit_code == 0
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


def test_resume_finishes_a_run_killed_before_its_report(digits_config, tmp_path):
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=2").exit_code == 0
    (out / "report.json").unlink()
    result = run("train", "--resume", out)
    assert result.exit_code == 0 and "test accuracy" in result.stdout
    assert (out / "report.json").exists()


def test_regression_loss_on_encoded_class_labels(tmp_path):
    config = write_config(tmp_path / "c.yaml", """
        data: {name: iris}
        model: {hidden: [8]}
        loss: {name: squared, target_encoding: one_hot}
        optimizer: {name: adam, lr: 0.01}
        training: {epochs: 30}
    """)
    out = tmp_path / "run"
    result = run("train", config, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["metrics"]["accuracy"] > 0.6 and report["metrics"]["loss"] > 0
    assert report["config"]["loss"]["target_encoding"] == "one_hot"


@pytest.mark.parametrize("data,overrides", [
    ("iris", [f"optimizer.name={name}"]) for name in ("sgd", "adam", "adamw", "rmsprop")
] + [
    ("iris", ["optimizer.momentum=0.9", "optimizer.nesterov=true"]),
    ("iris", ["optimizer.name=rmsprop", "optimizer.momentum=0.5"]),
] + [
    ("iris", [f"optimizer.schedule.name={name}", "optimizer.schedule.warmup_epochs=1"])
    for name in ("constant", "step", "exponential", "cosine")
] + [
    ("iris", [f"model.activation={name}"]) for name in ("relu", "leaky_relu", "sigmoid", "tanh", "identity")
] + [
    ("iris", [f"model.init={name}"]) for name in ("he", "he_uniform", "xavier", "xavier_normal", "zeros")
] + [
    ("iris", [f"regularization.name={name}", "regularization.lambda=0.01"]) for name in ("l1", "l2", "elastic_net")
] + [
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
])
def test_every_option_trains_end_to_end(tmp_path, data, overrides):
    out = tmp_path / "run"
    args = ["train", CONFIGS_DIR / f"{'diabetes_squared' if data == 'diabetes' else data}.yaml", "--out", out,
            "--quiet", "--set", "training.epochs=2"]
    for override in overrides:
        args += ["--set", override]
    result = run(*args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "report.json").read_text())["metrics"]
    assert np.isfinite(metrics["loss"]) and np.isfinite(metrics.get("accuracy", metrics.get("rmse")))


@pytest.mark.parametrize("name,content,message", [
    ("report.json", "{bad", "report.json: not a JSON report (Expecting property name"),
    ("report.json", "[1, 2]", "report.json: report is not a JSON object"),
    ("report.json", '{"metrics": 5, "training": null}', "report.json: report 'metrics' is 5, expected dict or none"),
    ("report.json", '{"metrics": {"accuracy": "x"}, "training": null}', "metrics 'accuracy' is 'x', expected number"),
    ("config.yaml", ": : :", "config.yaml: not valid YAML"),
    ("config.yaml", "- 1", "config.yaml: the config must be a mapping of keys, got list"),
    ("config.yaml", "name: [1]\ndata: {name: iris}", "config.yaml: name: must be a string, got [1]"),
])
def test_compare_names_a_damaged_run_file(digits_config, tmp_path, name, content, message):
    for run_name in ("a", "b"):
        assert run("train", digits_config, "--out", tmp_path / run_name, "--set", "training.epochs=1").exit_code == 0
    (tmp_path / "b" / name).write_text(content)
    result = run("compare", tmp_path / "a", tmp_path / "b")
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1
