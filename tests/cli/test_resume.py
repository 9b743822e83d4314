"""`mlp train --resume`: interrupts, kills, timed checkpoints and exact resumption."""

import json
import signal
import subprocess
import sys

import numpy as np
import pytest
import yaml

from helpers import DIGITS, metrics_lines, npz_arrays, run, train_stopped_after, wait_for_epochs, write_config
from mlp.io import archive as checkpoint
from mlp.training.checkpoints import Checkpointer


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


@pytest.mark.slow
def test_sigint_to_a_real_process_saves_a_resumable_checkpoint(tmp_path):
    config = write_config(
        tmp_path / "long.yaml",
        DIGITS.replace("epochs: 6", "epochs: 400").replace(
            "training: {", "training: {early_stopping: {patience: null}, "
        ),
    )
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "mlp", "train", str(config), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
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


@pytest.mark.slow
def test_sigkill_then_resume_ends_where_an_uninterrupted_run_ends(tmp_path):
    text = DIGITS.replace("schedule: {name: cosine, warmup_epochs: 1}", "schedule: {name: constant}").replace(
        "training: {", "training: {early_stopping: {patience: null}, "
    )
    config = write_config(tmp_path / "long.yaml", text.replace("epochs: 6", "epochs: 400"))
    out = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "mlp", "train", str(config), "--out", str(out), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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
    result = train_stopped_after(
        monkeypatch, 1, digits_config, "--out", out, "--set", "training.epochs=3", signal_name="SIGTERM"
    )
    assert result.exit_code == 130
    (out / "config.yaml").unlink()
    result = run("train", "--resume", out, "--set", "training.epochs=2")
    assert result.exit_code == 2
    assert f"its config.yaml is missing; give the run's config: mlp train --resume {out} CONFIG" in result.stderr
    result = run("train", "--resume", out, digits_config, "--set", "training.epochs=2")
    assert result.exit_code == 0, result.output
    assert len(metrics_lines(out)) == 2
    assert yaml.safe_load((out / "config.yaml").read_text())["training"]["epochs"] == 2


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


def test_resume_finishes_a_run_killed_before_its_report(digits_config, tmp_path):
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=2").exit_code == 0
    (out / "report.json").unlink()
    result = run("train", "--resume", out)
    assert result.exit_code == 0 and "test accuracy" in result.stdout
    assert (out / "report.json").exists()
