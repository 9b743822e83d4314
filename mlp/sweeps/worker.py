"""What a worker process does with one piece of a trial: train it through :func:`mlp.train`.

A :class:`Job` trains a trial's run directory until an epoch (an ASHA rung) or to the end, resuming
from the directory's checkpoint when it has one — so a trial whose worker died, or that a rung
paused, continues bit-exactly where it stopped. While it trains, a :class:`HeartBeat` callback
rewrites the trial's heart-beat file every few seconds; the driver watches those files.

:func:`run_job` returns a plain dict (it crosses a process boundary): ``status`` ``finished``,
``paused``, ``pruned`` or ``failed`` (the trial's own error: bad data, divergence — retrying would
fail again). Anything else it raises (a bug, memory) counts as a lost attempt, like a dead worker.
"""

import json
import math
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from .. import kernels
from ..errors import Interrupted, MlpError, NonFiniteError
from ..io.files import write_json_atomic
from ..training.runs import RunInUse, read_history
from ..training.trainer import Callback

PRUNED = "pruned"  # how a pruned run's stop reason starts


@dataclass
class Job:
    """Train ``run_dir`` (the trial ``trial``, config ``config``) until epoch ``until`` (``None``: to
    the end); with ``reference`` (epoch -> the finished trials' median), prune below it from
    ``min_epochs`` on."""

    trial: str
    run_dir: str
    heartbeat: str
    config: dict
    metric: str
    maximize: bool
    until: int | None = None
    reference: dict | None = None
    min_epochs: int = 1
    beat_seconds: float = 2.0
    wait_seconds: float = 60.0  # how long to wait for a dead attempt's process to release the run


class HeartBeat(Callback):
    """Rewrites ``path`` with ``{execution, worker, epoch, time}`` at most every ``seconds``."""

    def __init__(self, path, seconds):
        self.path, self.seconds = Path(path), seconds
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.execution = f"{self.worker}:{time.time_ns()}"
        self.last = -math.inf
        self.from_epoch = 0  # where training began: > 0 when it resumed from a checkpoint

    def beat(self, epoch=0, force=False):
        now = time.monotonic()
        if force or now - self.last >= self.seconds:
            self.last = now
            record = {"execution": self.execution, "worker": self.worker, "epoch": epoch, "time": time.time()}
            write_json_atomic(self.path, record)

    def on_train_begin(self, trainer):
        self.from_epoch = trainer.state.epoch
        self.beat(trainer.state.epoch, force=True)

    def on_batch_end(self, trainer, index):
        self.beat(trainer.state.epoch)

    def on_epoch_end(self, trainer, record):
        self.beat(record["epoch"])


class PauseAt(Callback):
    """Interrupts training (resumably: the checkpoint is saved) once epoch ``until`` has ended."""

    def __init__(self, until):
        self.until = until

    def on_epoch_end(self, trainer, record):
        if record["epoch"] >= self.until:
            trainer.interrupt(f"paused at epoch {record['epoch']}")


class MedianRule(Callback):
    """Stops the trial (as finished, with its report) at the first epoch >= ``min_epochs`` whose
    ``metric`` is worse than the finished trials' median ``reference[epoch]``."""

    def __init__(self, metric, maximize, reference, min_epochs):
        self.metric, self.maximize, self.reference, self.min_epochs = metric, maximize, reference, min_epochs

    def on_epoch_end(self, trainer, record):
        epoch, value = record["epoch"], record.get(self.metric)
        median = self.reference.get(epoch)
        if epoch < self.min_epochs or median is None or value is None:
            return
        if (value < median) if self.maximize else (value > median):
            trainer.stop(
                f"{PRUNED} by the median rule at epoch {epoch}: {self.metric} {value:.6g} is worse than the "
                f"median {median:.6g} of the finished trials"
            )


def run_job(job: Job) -> dict:
    """Train ``job`` in this process; the outcome as a dict (see the module's docstring)."""
    from ..api import train  # the API imports the engine; a worker needs it only here

    kernels.prepare()  # numba's import, if it will run, before the first beat
    heartbeat = HeartBeat(job.heartbeat, job.beat_seconds)
    heartbeat.beat(force=True)
    callbacks: list = [heartbeat]
    if job.until is not None:
        callbacks.append(PauseAt(job.until))
    if job.reference:
        callbacks.append(MedianRule(job.metric, job.maximize, job.reference, job.min_epochs))
    run_dir = Path(job.run_dir)
    if job.until is not None and (run_dir / "last.npz").is_file() and not (run_dir / "model.npz").exists():
        history = read_history(run_dir)  # paused there already (its result was not recorded)
        if len(history) >= job.until:
            return _outcome(job, "paused", history, len(history))
    waited = 0.0
    while True:
        resume = (run_dir / "config.yaml").is_file()
        try:
            result = train(None if resume else job.config, out=run_dir, resume=resume, callbacks=callbacks)
            break
        except RunInUse:  # a lost attempt's process still holds the run: it dies soon, or this does
            if waited >= job.wait_seconds:
                raise
            time.sleep(1.0)
            waited += 1.0
            heartbeat.beat(force=True)
        except Interrupted:
            return _outcome(job, "paused", read_history(run_dir), heartbeat.from_epoch)
        except (MlpError, NonFiniteError) as exc:
            return {"status": "failed", "message": str(exc)}
    stop_reason = result.report.get("training", {}).get("stop_reason") or ""
    status = "pruned" if stop_reason.startswith(PRUNED) else "finished"
    # A run that had finished before (its worker outlived a stopped driver) trained nothing now.
    from_epoch = len(result.history) if result.already_finished else heartbeat.from_epoch
    outcome = _outcome(job, status, result.history, from_epoch)
    outcome["test"] = {k: v for k, v in (result.report.get("metrics") or {}).items() if isinstance(v, int | float)}
    if status == "pruned":
        outcome["rule"] = stop_reason
    return outcome


def _outcome(job, status, history, from_epoch):
    curve = [record.get(job.metric) for record in history]
    values = [v for v in curve if v is not None]
    if status == "finished":
        value = (max if job.maximize else min)(values) if values else None
    else:  # paused or pruned: where it stands now
        value = values[-1] if values else None
    return {"status": status, "epoch": len(history), "value": value, "curve": curve, "from_epoch": from_epoch}


def read_heartbeat(path):
    """The last heart-beat in ``path`` as a dict, or ``None`` (none yet, or being replaced)."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("execution"), str) else None
