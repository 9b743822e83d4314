"""``mlp sweep`` end to end, as a user runs it: every trial recorded once, however workers and the
driver die; lost work resumed from its checkpoint, bit-identical to work never interrupted."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import MLP, events, heartbeat, outcomes, wait_for

import mlp
from helpers import npz_arrays, run
from mlp.errors import TrialsFailed
from mlp.sweeps.engines import ONE_THREAD

pytestmark = pytest.mark.slow


def sweep_file(tmp_path, grid, epochs=6, extra=""):
    text = f"""
    base:
      seed: 0
      data: {{name: digits, validation_split: 0.2, test_split: 0.2}}
      model: {{hidden: [16]}}
      optimizer: {{name: sgd, lr: 0.05, momentum: 0.9}}
      training: {{epochs: {epochs}, batch_size: 16, early_stopping: {{patience: null}}}}
    grid: {grid}
    metric: val_loss
    """
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(text) + extra)
    return path


def same_as_uninterrupted(trial_dir, tmp_path):
    """Whether the trial's model equals one trained from its config without a stop (in a process
    with one BLAS thread, as sweep workers have: the sum order of a product depends on it)."""
    reference = tmp_path / f"reference-{trial_dir.name}"
    command = [*MLP, "train", trial_dir / "config.yaml", "--out", reference, "--quiet"]
    subprocess.run(list(map(str, command)), env={**os.environ, **ONE_THREAD}, check=True, timeout=300)
    ours, theirs = npz_arrays(trial_dir / "model.npz"), npz_arrays(reference / "model.npz")
    weights = [k for k in ours if k != "metadata"]
    return bool(weights) and all(np.array_equal(ours[k], theirs[k]) for k in weights)


def test_a_grid_runs_every_trial_once_and_compare_ranks_them(tmp_path):
    path = sweep_file(tmp_path, "{model.hidden: [[8], [16]], optimizer.lr: [0.02, 0.05]}", epochs=3)
    result = run("sweep", path, "--out", tmp_path / "s", "--workers", "2")
    assert result.exit_code == 0, result.output
    found = outcomes(tmp_path / "s")
    assert len(found) == 4 and all(len(v) == 1 and v[0]["event"] == "finished" for v in found.values())
    values = {t: v[0]["value"] for t, v in found.items()}
    best = min(values, key=values.get)
    assert f"best trial {best}" in result.output
    table = run("compare", tmp_path / "s").output.splitlines()
    assert table[0].split()[:4] == ["rank", "trial", "status", "val_loss"]
    assert table[1].split()[:3] == ["1", "best", best]
    assert [line.split()[1] for line in table[2:]] == sorted(values, key=values.get)[1:]
    for trial in found:
        assert {"config.yaml", "model.npz", "metrics.jsonl", "report.md"} <= {
            p.name for p in (tmp_path / "s" / "trials" / trial).iterdir()
        }
    report = (tmp_path / "s" / "report.md").read_text()
    assert "4 finished of 4 trials" in report and "![val_loss against each varied key](sweep.png)" in report
    assert (tmp_path / "s" / "sweep.png").stat().st_size > 0
    again = run("sweep", path, "--out", tmp_path / "s")
    assert again.exit_code == 2 and "not empty; pass --resume to continue it" in again.output


def kill_when_checkpointed(sweep_dir, trial, signum=signal.SIGKILL):
    """Send ``signum`` to the worker training ``trial`` once it has checkpointed epoch 3 or later."""
    run_dir = sweep_dir / "trials" / trial

    def checkpointed():
        beat = heartbeat(sweep_dir, trial)
        return beat if beat and epochs_done(run_dir) >= 3 and (run_dir / "last.npz").exists() else None

    beat = wait_for(checkpointed, 120, f"trial {trial} to checkpoint")
    os.kill(int(beat["worker"].rsplit(":", 1)[1]), signum)
    return beat


def epochs_done(run_dir):
    try:
        return len((run_dir / "metrics.jsonl").read_text().splitlines())
    except OSError:
        return 0


def check_killed_trial(sweep_dir, trial, tmp_path):
    found = outcomes(sweep_dir)
    assert all(len(v) == 1 and v[0]["event"] == "finished" for v in found.values()), found
    mine = [e for e in events(sweep_dir) if e.get("trial") == trial and e["event"] in ("started", "lost")]
    assert [(e["event"], e["attempt"]) for e in mine][:3] == [("started", 1), ("lost", 1), ("started", 2)]
    assert found[trial][0]["from_epoch"] >= 2  # resumed from its checkpoint, not from the start
    assert same_as_uninterrupted(sweep_dir / "trials" / trial, tmp_path)


def start_sweep(local_processes, path, sweep_dir, *options):
    command = [*MLP, "sweep", path, "--out", sweep_dir, *options]
    return local_processes.start(command, sweep_dir.parent / f"{sweep_dir.name}.log")


def first_trial(sweep_dir):
    queued = wait_for(lambda: [e for e in events(sweep_dir) if e["event"] == "queued"], 60, "the ledger")
    return queued[0]["trial"]


def test_a_killed_worker_is_replaced_and_its_trial_resumes_bit_identical(tmp_path, local_processes):
    path = sweep_file(tmp_path, "{model.hidden: [[8], [16]], optimizer.lr: [0.02, 0.05]}", epochs=40)
    sweep_dir = tmp_path / "s"
    driver = start_sweep(local_processes, path, sweep_dir, "--workers", "2")
    trial = first_trial(sweep_dir)
    kill_when_checkpointed(sweep_dir, trial)
    assert driver.wait(300) == 0, (tmp_path / "s.log").read_text()
    check_killed_trial(sweep_dir, trial, tmp_path)


def test_a_trial_that_kills_its_worker_every_time_fails_after_the_retries(tmp_path, local_processes):
    path = sweep_file(tmp_path, "{optimizer.lr: [0.01, 0.02, 0.05]}", epochs=30)
    sweep_dir = tmp_path / "s"
    driver = start_sweep(local_processes, path, sweep_dir, "--workers", "2", "--retries", "1")
    poison = first_trial(sweep_dir)
    killed = set()
    while driver.poll() is None and len(killed) < 5:
        beat = heartbeat(sweep_dir, poison)
        if beat and beat["execution"] not in killed:
            killed.add(beat["execution"])
            try:
                os.kill(int(beat["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_for(lambda: True, 1, "")
    assert driver.wait(300) == 4
    log = (tmp_path / "s.log").read_text()
    assert f"error: 1 of 3 trials failed; first: trial {poison}: lost 2 times (--retries 1)" in log
    found = outcomes(sweep_dir)
    assert [e["event"] for e in found.pop(poison)] == ["failed"]
    assert all([e["event"] for e in v] == ["finished"] for v in found.values())


def test_fail_fast_stops_at_the_first_failure_and_resume_runs_the_rest(tmp_path):
    path = sweep_file(tmp_path, "{optimizer.lr: [1.0e+6, 0.02, 0.05]}", epochs=2)
    sweep_dir = tmp_path / "s"
    result = run("sweep", path, "--out", sweep_dir, "--workers", "1", "--fail-fast")
    assert result.exit_code == 4
    assert "--fail-fast stops the sweep; 2 trials not run (continue with --resume)" in result.output
    found = outcomes(sweep_dir)
    diverged = next(t for t, v in found.items() if v)
    assert found[diverged][0]["event"] == "failed" and "diverged" in found[diverged][0]["message"]
    assert sum(len(v) for v in found.values()) == 1
    resumed = run("sweep", path, "--out", sweep_dir, "--workers", "1", "--resume")
    assert resumed.exit_code == 4 and "1 of 3 trials failed" in resumed.output  # the failure stays recorded
    found = outcomes(sweep_dir)
    assert [e["event"] for e in found.pop(diverged)] == ["failed"]
    assert all([e["event"] for e in v] == ["finished"] for v in found.values())
    submitted = [e["trial"] for e in events(sweep_dir) if e["event"] == "submitted"]
    assert submitted.count(diverged) == 1


def test_resume_after_the_driver_is_killed_runs_only_what_has_no_result(tmp_path, local_processes):
    path = sweep_file(tmp_path, "{optimizer.lr: [0.01, 0.02, 0.05]}", epochs=40)
    sweep_dir = tmp_path / "s"
    driver = start_sweep(local_processes, path, sweep_dir, "--workers", "1")
    first = first_trial(sweep_dir)
    wait_for(lambda: outcomes(sweep_dir)[first], 120, "the first trial's result")
    second = [e["trial"] for e in events(sweep_dir) if e["event"] == "queued"][1]
    wait_for(lambda: epochs_done(sweep_dir / "trials" / second) >= 3, 120, "the second trial's epoch 3")
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait(30)
    before = len(events(sweep_dir))
    result = run("sweep", path, "--out", sweep_dir, "--workers", "1", "--resume")
    assert result.exit_code == 0, result.output
    assert "3 trials (1 done before)" in result.output
    found = outcomes(sweep_dir)
    assert all(len(v) == 1 and v[0]["event"] == "finished" for v in found.values())
    after = events(sweep_dir)[before:]
    assert after[0]["event"] == "resumed"
    assert first not in [e["trial"] for e in after if e["event"] == "submitted"]
    assert found[second][0]["from_epoch"] >= 2  # the interrupted trial continued from its checkpoint
    assert same_as_uninterrupted(sweep_dir / "trials" / second, tmp_path)


def test_a_worker_whose_heart_beat_stops_is_replaced(tmp_path, local_processes):
    path = sweep_file(tmp_path, "{optimizer.lr: [0.02]}", epochs=40)
    sweep_dir = tmp_path / "s"
    driver = start_sweep(local_processes, path, sweep_dir, "--workers", "1", "--heartbeat-timeout", "3")
    trial = first_trial(sweep_dir)
    kill_when_checkpointed(sweep_dir, trial, signal.SIGSTOP)  # a hung worker: alive, silent
    assert driver.wait(300) == 0, (tmp_path / "s.log").read_text()
    lost = [e for e in events(sweep_dir) if e["event"] == "lost"]
    assert [e["reason"] for e in lost] == ["no heart-beat for 3 s"]
    check_killed_trial(sweep_dir, trial, tmp_path)


def test_asha_prunes_the_trials_worked_out_by_hand_and_its_finisher_is_bit_identical(tmp_path):
    path = sweep_file(
        tmp_path, "{optimizer.lr: [0.002, 0.02, 0.2]}", epochs=20, extra="pruning: {name: asha, min_epochs: 2}\n"
    )
    result = run("sweep", path, "--out", tmp_path / "s", "--workers", "1")
    assert result.exit_code == 0, result.output
    # By hand (reduction 3, rungs at epochs 2, 6, 18): the three trials pause at epoch 2; then,
    # all started, ⌈3/3⌉ = 1 — the best at epoch 2 — is promoted to 6, 18 and the end; the others
    # are pruned at epoch 2. "Best at epoch 2" from uninterrupted runs of the same configs:
    trials = [e["trial"] for e in events(tmp_path / "s") if e["event"] == "queued"]
    at_epoch_2 = {}
    for trial in trials:
        history = mlp.train(tmp_path / "s" / "trials" / trial / "config.yaml", overrides=["training.epochs=2"]).history
        at_epoch_2[trial] = history[1]["val_loss"]
    best = min(at_epoch_2, key=at_epoch_2.get)
    found = outcomes(tmp_path / "s")
    assert found[best][0]["event"] == "finished" and found[best][0]["epoch"] == 20
    for trial in set(trials) - {best}:
        assert (found[trial][0]["event"], found[trial][0]["epoch"]) == ("pruned", 2)
        assert found[trial][0]["value"] == at_epoch_2[trial]
    promoted = [e["until"] for e in events(tmp_path / "s") if e["event"] == "promoted"]
    assert promoted == [6, 18, None]
    assert same_as_uninterrupted(tmp_path / "s" / "trials" / best, tmp_path)


def test_sigterm_stops_the_sweep_resumably_and_resume_finishes_it(tmp_path, local_processes):
    path = sweep_file(tmp_path, "{optimizer.lr: [0.01, 0.02, 0.05]}", epochs=40)
    sweep_dir = tmp_path / "s"
    driver = start_sweep(local_processes, path, sweep_dir, "--workers", "2")
    trial = first_trial(sweep_dir)
    wait_for(lambda: epochs_done(sweep_dir / "trials" / trial) >= 3, 120, "epoch 3 of the first trial")
    driver.send_signal(signal.SIGTERM)
    assert driver.wait(60) == 130
    log = (tmp_path / "s.log").read_text()
    assert f"interrupted (SIGTERM; the trials in flight keep their checkpoints. Resume with: mlp sweep {path}" in log
    assert any(not v for v in outcomes(sweep_dir).values())  # stopped before the end
    result = run("sweep", path, "--out", sweep_dir, "--resume")
    assert result.exit_code == 0, result.output
    found = outcomes(sweep_dir)
    assert len(found) == 3 and all(len(v) == 1 and v[0]["event"] == "finished" for v in found.values())
    assert same_as_uninterrupted(sweep_dir / "trials" / trial, tmp_path)


def test_the_python_api_returns_the_best_trial_and_raises_when_trials_fail(tmp_path):
    path = sweep_file(tmp_path, "{optimizer.lr: [0.02, 0.05]}", epochs=2)
    result = mlp.sweep(path, tmp_path / "s", workers=2)
    assert isinstance(result, mlp.SweepResult) and result.counts["finished"] == 2
    values = {t: v[0]["value"] for t, v in outcomes(tmp_path / "s").items()}
    assert result.best == min(values, key=values.get) and result.value == min(values.values())
    failing = sweep_file(tmp_path, "{optimizer.lr: [1.0e+6, 0.05]}", epochs=2)
    with pytest.raises(TrialsFailed, match="1 of 2 trials failed; first: trial .*: non-finite"):
        mlp.sweep(failing, tmp_path / "f", workers=1)


def test_import_mlp_never_imports_dask_or_loky():
    code = "import sys, mlp, mlp.cli; print(sorted(m for m in ('dask', 'distributed', 'loky') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]"


def test_asha_decides_the_same_with_two_workers_however_fast_each_is(tmp_path):
    path = sweep_file(
        tmp_path,
        "{optimizer.lr: [0.002, 0.02, 0.2], model.hidden: [[8], [16]]}",
        epochs=20,
        extra="pruning: {name: asha, min_epochs: 2}\n",
    )
    decisions = []
    for name in ("a", "b"):
        result = run("sweep", path, "--out", tmp_path / name, "--workers", "2")
        assert result.exit_code == 0, result.output
        kinds = ("submitted", "paused", "promoted", "finished", "pruned")
        decisions.append(
            [
                (e["event"], e["trial"], e.get("epoch"), e.get("until"))
                for e in events(tmp_path / name)
                if e["event"] in kinds
            ]
        )
    assert decisions[0] == decisions[1]
    assert any(d[0] == "pruned" for d in decisions[0]) and any(d[0] == "promoted" for d in decisions[0])
