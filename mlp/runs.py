"""Run directories: the files of one training run, the lock that keeps them to one process, and
training an experiment into them.

A run directory holds ``config.yaml`` (the resolved config), ``metrics.jsonl`` (one record per
epoch), ``last.npz`` (the resumable checkpoint) and, once training ends, ``model.npz`` and the report.
One process at a time trains in a directory: it holds an exclusive lock on ``.lock`` (``flock``,
released by the kernel when the process dies). :func:`start` prepares a new directory,
:func:`reopen` one to resume, and :func:`train` trains, saves the model and writes the report.
Nothing here prints but progress, and nothing installs a signal handler unless asked to
(``stop_on_signals``, honoured in the main thread only), so a run can be trained from a worker thread.
"""
import fcntl
import itertools
import signal
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path

from . import config as config_module
from .checkpoint import load_checked
from .errors import CheckpointError, MlpError
from .files import remove_temporaries, write_text_atomic
from .report import build_report, read_history, write_report
from .trainer import Trainer

RUN_FILES = ("config.yaml", "model.npz", "last.npz", "metrics.jsonl", "report.json", "report.md",
             "learning_curves.png", "confusion_matrix.png", "predicted_vs_true.png", "residuals.png")


def new_run_dir(name, parent="runs"):
    """``runs/<name>-<time>``, made here and now; ``-2``, ``-3``… when runs start in the same second."""
    base = Path(parent) / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    base.parent.mkdir(parents=True, exist_ok=True)
    for suffix in itertools.count(1):
        run_dir = base if suffix == 1 else base.with_name(f"{base.name}-{suffix}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue


def lock(run_dir):
    """An open handle holding the exclusive lock on ``run_dir``; close it to release the lock."""
    handle = open(Path(run_dir) / ".lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise MlpError(f"run directory {run_dir} is in use by another mlp train process") from None
    return handle


def start(config, out=None, overwrite=False):
    """Make (or, with ``overwrite``, clear) the run directory of a new run; return it and its lock.

    ``out=None`` makes ``runs/<name>-<time>``. A directory holding anything but a lock file is
    refused unless ``overwrite``, which removes only the files a run writes. The resolved config is
    written to ``config.yaml``.
    """
    run_dir = new_run_dir(config["name"]) if out is None else Path(out)
    if run_dir.exists() and not run_dir.is_dir():
        raise MlpError(f"--out {run_dir}: exists and is not a directory")
    if run_dir.is_dir() and any(p.name != ".lock" for p in run_dir.iterdir()) and not overwrite:
        raise MlpError(f"run directory {run_dir} is not empty; pass --overwrite to replace its run files, "
                       f"or --out elsewhere")
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = lock(run_dir)
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    remove_temporaries(run_dir, RUN_FILES)
    write_text_atomic(run_dir / "config.yaml", config_module.dump(config))
    return run_dir, handle


def resume_state(run_dir, config_path=None):
    """What ``--resume`` finds in ``run_dir``: ``(state, checkpoint metadata or None)``.

    ``state`` is ``"finished"`` (model and report written: nothing to do), ``"checkpoint"`` (resume
    from ``last.npz``) or ``"restart"`` (killed before its first checkpoint: start it over).
    Without ``config_path`` the run's own ``config.yaml`` must be there.
    """
    run_dir = Path(run_dir)
    last, has_config = run_dir / "last.npz", (run_dir / "config.yaml").is_file()
    meta = None
    if last.exists():
        _, meta = load_checked(last)
    elif not has_config:
        raise CheckpointError(f"--resume {run_dir}: not a run directory (neither last.npz nor config.yaml there)")
    if config_path is None and not has_config:
        raise CheckpointError(f"--resume {run_dir}: its config.yaml is missing; give the run's config: "
                              f"mlp train --resume {run_dir} CONFIG")
    if meta is None:
        return "restart", None
    finished = meta.get("finished") and (run_dir / "model.npz").exists() and (run_dir / "report.json").exists()
    return ("finished" if finished else "checkpoint"), meta


def reopen(run_dir, config, state):
    """Lock ``run_dir`` to resume it (``state`` from :func:`resume_state`); return the lock.

    Leftover temporary files of a killed writer go; a run without a checkpoint starts over with
    ``config``.
    """
    run_dir = Path(run_dir)
    handle = lock(run_dir)
    remove_temporaries(run_dir, RUN_FILES)
    if state == "restart":
        (run_dir / "metrics.jsonl").unlink(missing_ok=True)
        write_text_atomic(run_dir / "config.yaml", config_module.dump(config))
    return handle


class StopOnSignal:
    """Turn SIGINT/SIGTERM into a request the trainer honours at the next batch boundary."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.previous = {}

    def __enter__(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        self.trainer.stop_requested = signal.Signals(signum).name

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)


def train(experiment, run_dir, resume=False, quiet=False, stream=None, stop_on_signals=False):
    """Train ``experiment`` in the locked ``run_dir``, save ``model.npz``, write the report; return it.

    With ``resume`` training continues from ``last.npz`` (and ``config.yaml`` is rewritten: the
    checkpoint fits the config, which now describes the run). ``stop_on_signals`` (main thread
    only) makes Ctrl-C and SIGTERM stop at the next batch with a checkpoint, raising
    :class:`~mlp.trainer.Interrupted`. Progress lines go to ``stream`` (stderr) unless ``quiet``.
    """
    config, run_dir = experiment.config, Path(run_dir)
    stream = stream or sys.stderr
    trainer = Trainer(experiment, run_dir, quiet=quiet, stream=stream)
    if resume:
        trainer.restore(run_dir / "last.npz")
        write_text_atomic(run_dir / "config.yaml", config_module.dump(config))
    if not quiet:
        sizes = experiment.splits.sizes()
        print(f"training {config['name']}: {experiment.network.num_parameters():,} parameters, "
              f"{sizes['train']} train / {sizes['validation']} validation / {sizes['test']} test rows "
              f"→ {run_dir}", file=stream, flush=True)
    signals = stop_on_signals and threading.current_thread() is threading.main_thread()
    with StopOnSignal(trainer) if signals else nullcontext():
        progress = trainer.run()
    return finish(experiment, progress, run_dir)


def finish(experiment, progress, run_dir):
    """Save ``model.npz`` and write the report on the test split; return the report."""
    model = experiment.trained_model()
    model.save(run_dir / "model.npz")
    splits = experiment.splits
    n_train, sizes = len(splits.X_train), splits.sizes()
    # The training rows are done with: free them before the report (and matplotlib) need memory.
    splits.X_train = splits.X_val = None
    experiment.targets.clear()
    outputs = model.network.predict(splits.X_test)
    y = splits.y_test if model.task == "classification" else model.in_target_units(splits.y_test)
    history = read_history(run_dir)
    seen = n_train * len(history)
    training = {"epochs_run": progress.epoch, "best_epoch": progress.best_epoch or progress.epoch,
                "stop_reason": progress.stop_reason, "wall_time_seconds": progress.elapsed,
                "samples_per_second": seen / progress.elapsed if progress.elapsed else 0.0}
    report = build_report(model, run_dir / "model.npz", outputs, y, splits.test_rows, "test",
                          sizes, training)
    write_report(report, run_dir, model, history, outputs, y)
    return report
