"""Run directories: the files of one training run, and the lock that keeps them to one process.

A run directory holds ``config.yaml`` (the resolved config), ``metrics.jsonl`` (one record per
epoch, written by the :class:`MetricsLog` callback), ``last.npz`` (the resumable checkpoint) and,
once training ends, ``model.npz`` and the report. One process at a time trains in a directory: it
holds an exclusive lock on ``.lock`` (``flock``, released by the kernel when the process dies).
:func:`start` prepares a new directory and :func:`reopen` one to resume.
"""

import fcntl
import itertools
import json
import os
import sys
import time
from pathlib import Path

from ..config import dump
from ..errors import ArgumentError, CheckpointError, MlpError
from ..io.archive import load_checked, require
from ..io.files import open_regular, refuse_special, remove_temporaries, write_text_atomic
from .trainer import Callback

RUN_FILES = (
    "config.yaml",
    "model.npz",
    "last.npz",
    "metrics.jsonl",
    "report.json",
    "report.md",
    "report.html",
    "learning_curves.png",
    "confusion_matrix.png",
    "predicted_vs_true.png",
    "residuals.png",
    "decision_boundary.png",
    "diagnostics.png",
)


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
    raise AssertionError("unreachable")


class RunInUse(MlpError):
    """Another process holds the run directory's lock."""


def lock(run_dir, holder="mlp train"):
    """An open handle holding the exclusive lock on ``run_dir``; close it to release the lock."""
    handle = open_regular(Path(run_dir) / ".lock")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RunInUse(f"run directory {run_dir} is in use by another {holder} process") from None
    return handle


def start(config, out=None, overwrite=False):
    """Make (or, with ``overwrite``, clear) the run directory of a new run; return it and its lock.

    ``out=None`` makes ``runs/<name>-<time>``. A directory holding anything but a lock file is
    refused unless ``overwrite``, which removes only the files a run writes. The resolved config is
    written to ``config.yaml``.
    """
    run_dir = new_run_dir(config.name) if out is None else Path(out)
    if run_dir.exists() and not run_dir.is_dir():
        raise ArgumentError("{out} {run_dir}: exists and is not a directory", run_dir=run_dir)
    if run_dir.is_dir() and any(p.name != ".lock" for p in run_dir.iterdir()) and not overwrite:
        raise ArgumentError(
            "run directory {run_dir} is not empty; pass {overwrite} to replace its run files, or {out_elsewhere}",
            run_dir=run_dir,
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = lock(run_dir)
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    events = run_dir / "tensorboard"
    if events.is_dir() and not events.is_symlink():  # an earlier run's TensorBoard events, not this one's
        for path in events.glob("events.out.tfevents.*"):
            path.unlink(missing_ok=True)
    remove_temporaries(run_dir, RUN_FILES)
    write_config(run_dir, config)
    return run_dir, handle


def write_config(run_dir, config):
    """``config.yaml``: the resolved config, every default filled in."""
    write_text_atomic(Path(run_dir) / "config.yaml", dump(config))


def resume_state(run_dir, config_given=False):
    """What resuming finds in ``run_dir``: ``(state, checkpoint metadata or None)``.

    ``state`` is ``"finished"`` (model and report written: nothing to do), ``"checkpoint"`` (resume
    from ``last.npz``) or ``"restart"`` (killed before its first checkpoint: start it over).
    Unless a config is given, the run's own ``config.yaml`` must be there.
    """
    run_dir = Path(run_dir)
    last, has_config = run_dir / "last.npz", (run_dir / "config.yaml").is_file()
    meta = None
    if os.path.lexists(last):
        refuse_special(last)  # a checkpoint that is a link or a pipe: refused before anything is printed
        _, meta = load_checked(last)
    elif not has_config:
        raise ArgumentError(
            "{resume} {run_dir}: not a run directory (neither last.npz nor config.yaml there)", run_dir=run_dir
        )
    if not config_given and not has_config:
        raise ArgumentError("{resume} {run_dir}: its config.yaml is missing; {give_config}", run_dir=run_dir)
    if meta is None:
        return "restart", None
    finished = meta.get("finished") and (run_dir / "model.npz").exists() and (run_dir / "report.json").exists()
    return ("finished" if finished else "checkpoint"), meta


def reopen(run_dir, config, state):
    """Lock ``run_dir`` to resume it (``state`` from :func:`resume_state`); return the lock.

    Leftover temporary files of a killed writer go; a run without a checkpoint starts over with
    ``config``. (A run resumed from its checkpoint rewrites ``config.yaml`` once the checkpoint is
    found to fit the config: it then describes the run.)
    """
    run_dir = Path(run_dir)
    handle = lock(run_dir)
    remove_temporaries(run_dir, RUN_FILES)
    if state == "restart":
        (run_dir / "metrics.jsonl").unlink(missing_ok=True)
        write_config(run_dir, config)
    return handle


def is_record(line, epoch, metric_name):
    """Whether ``line`` is the JSON record of ``epoch`` that :class:`MetricsLog` writes."""
    number = ("number",)
    fields = {
        "epoch": ("int",),
        "train_loss": number,
        "data_loss": number,
        "penalty": number,
        "val_loss": ("number", "none"),
        metric_name: ("number", "none"),
        "lr": number,
        "seconds": number,
    }
    try:
        record = json.loads(line)
        require(record, fields, "metrics.jsonl", "record")
    except (json.JSONDecodeError, CheckpointError):
        return False
    return record["epoch"] == epoch


def read_history(run_dir):
    """The epoch records of ``run_dir/metrics.jsonl`` (none if it is missing)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not os.path.lexists(path):
        return []
    refuse_special(path)
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class MetricsLog(Callback):
    """Append each epoch's record to ``run_dir/metrics.jsonl``, flushed as the epoch ends.

    On a resumed run it first keeps the records of the checkpoint's epochs and drops later or
    half-written ones: a line that is not epoch k's whole record (cut off by a crash, or damaged)
    ends what is kept, with a warning on ``stream`` if fewer than the checkpoint's epochs remain.
    """

    def __init__(self, run_dir, stream=None):
        self.path = Path(run_dir) / "metrics.jsonl"
        self.stream = stream or sys.stderr
        self.file = None

    def on_train_begin(self, trainer):
        epochs = trainer.state.epoch
        if os.path.lexists(self.path):
            refuse_special(self.path)  # a pipe would block the read, a link lead elsewhere
            keep = []
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines()[:epochs]:
                if not is_record(line, len(keep) + 1, trainer.metric_name):
                    break
                keep.append(line)
            if len(keep) < epochs:
                print(
                    f"warning: {self.path}: whole records for {len(keep)} of the checkpoint's {epochs} epochs; "
                    f"the rest of the metrics are dropped (the checkpoint is intact)",
                    file=self.stream,
                )
            write_text_atomic(self.path, "".join(line + "\n" for line in keep))
        self.file = open_regular(self.path)

    def on_epoch_end(self, trainer, record):
        self.file.write(json.dumps(record, allow_nan=False) + "\n")
        self.file.flush()

    def close(self):
        if self.file is not None:
            self.file.close()
            self.file = None

    def on_train_end(self, trainer):
        self.close()
