"""The sweep driver: hands trials to an engine's workers, watches their heart-beats, retries lost
work, applies the pruning rule, and writes every event to the ledger before acting on it.

A sweep directory holds ``sweep.jsonl`` (the ledger), ``trials/<id>/`` (one run directory per
trial, written by :func:`mlp.train`), ``heartbeats/<id>.json`` (rewritten by the workers),
``report.md`` with ``sweep.png`` once it ends, and ``.lock`` (one driver at a time).

Determinism: with pruning, results are applied in the order their work was handed out (a result
that arrives early waits for the ones handed out before it), and each freed slot's next work is
decided right after the one result that freed it, before the next is applied. Which trials are promoted or pruned then depends on the sweep file and
W only, not on which worker was quicker. Without pruning, results are applied as they arrive.
"""

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ArgumentError, Interrupted, MlpError, TrialsFailed
from ..training import runs
from .engines import make_engine
from .ledger import OUTCOMES, Ledger, apply, read_events, replay
from .progress import Progress
from .pruning import Rule, Work
from .spec import Sweep, load_sweep
from .summary import write_sweep_report
from .worker import Job, read_heartbeat

POLL_SECONDS = 0.25
BEAT_SECONDS = 2.0


@dataclass
class Slot:
    """One piece of work in flight: its place in the order work was handed out, and its attempts."""

    number: int
    work: Work
    job: Job
    task: Any = None
    attempt: int = 1
    first_attempt: int = 1
    execution: str | None = None  # the heart-beat's execution id of the attempt running now
    stale_execution: str | None = None  # an earlier attempt's, still in the file at submission
    last_beat: float = field(default_factory=time.monotonic)
    beat_time: float | None = None
    outcome: dict | None = None


def new_sweep_dir(name):
    """``sweeps/<name>-<time>`` (``-2``… when two start in the same second)."""
    return runs.new_run_dir(name, "sweeps")


@dataclass
class SweepResult:
    """What :func:`run_sweep` returns: the sweep directory, the best trial's id and metric value
    (``None`` when no trial finished), and how many trials ended each way (``left``: no outcome)."""

    sweep_dir: Path
    best: str | None
    value: float | None
    counts: dict


def run_sweep(
    path: str | Path,
    out: str | Path | None = None,
    *,
    workers: int | None = None,
    backend: str = "local",
    address: str | None = None,
    retries: int = 2,
    fail_fast: bool = False,
    resume: bool = False,
    heartbeat_timeout: float = 120.0,
    stream=None,
) -> SweepResult:
    """Run the sweep file ``path`` into the sweep directory ``out`` (default
    ``sweeps/<name>-<time>``), as ``mlp sweep`` does; progress goes to ``stream`` (standard error).

    ``backend``: ``"local"`` (loky worker processes) or ``"dask"`` (a new ``LocalCluster``, or the
    cluster whose scheduler is at ``address``). Raises :class:`~mlp.errors.TrialsFailed` after the
    sweep when a trial failed (at the first, with ``fail_fast``), and
    :class:`~mlp.errors.Interrupted` on Ctrl-C or SIGTERM (continue with ``resume=True``).
    """
    stream = stream or sys.stderr
    sweep = load_sweep(path)
    sweep_dir = _sweep_dir(sweep, out, resume)
    lock = runs.lock(sweep_dir, "mlp sweep")
    try:
        events = read_events(sweep_dir / "sweep.jsonl") if resume else []
        if resume:
            _check_same_trials(sweep, events, sweep_dir, path)
        engine = make_engine(backend, workers, address)
        ledger = Ledger(sweep_dir / "sweep.jsonl")
        try:
            driver = Driver(sweep, sweep_dir, engine, ledger, replay(events), retries, fail_fast, heartbeat_timeout)
            driver.progress = Progress(sweep, stream)
            done = sum(s.status in OUTCOMES for s in driver.states.values())
            print(
                f"sweep {sweep.name}: {len(sweep.trials)} trials ({done} done before), metric {sweep.metric}, "
                f"pruning {sweep.pruning.name}, {engine.workers} {engine.name} workers → {sweep_dir}",
                file=stream,
                flush=True,
            )
            try:
                return driver.run(events)
            except Interrupted as exc:
                raise Interrupted(
                    f"{exc}; the trials in flight keep their checkpoints. Resume with: "
                    f"mlp sweep {path} --out {sweep_dir} --resume"
                ) from None
        finally:
            ledger.close()
    finally:
        lock.close()


def _sweep_dir(sweep, out, resume):
    if resume:
        if out is None:
            raise ArgumentError("--resume needs the sweep directory to continue as --out")
        sweep_dir = Path(out)
        if not (sweep_dir / "sweep.jsonl").is_file():
            raise MlpError(f"{sweep_dir}: no sweep.jsonl, so no sweep to resume; run it without --resume")
        return sweep_dir
    if out is None:
        return new_sweep_dir(sweep.name)
    sweep_dir = Path(out)
    if sweep_dir.is_symlink():
        raise MlpError(f"--out {sweep_dir}: a symbolic link; mlp never writes through a link: choose another --out")
    if sweep_dir.exists() and not sweep_dir.is_dir():
        raise MlpError(f"--out {sweep_dir}: exists and is not a directory")
    if sweep_dir.is_dir() and any(p.name != ".lock" for p in sweep_dir.iterdir()):
        hint = "pass --resume to continue it" if (sweep_dir / "sweep.jsonl").exists() else "choose another --out"
        raise MlpError(f"--out {sweep_dir}: not empty; {hint}")
    sweep_dir.mkdir(parents=True, exist_ok=True)
    return sweep_dir


def _check_same_trials(sweep, events, sweep_dir, path):
    recorded = [e["trial"] for e in events if e["event"] == "queued"]
    if recorded != [t.id for t in sweep.trials]:
        raise MlpError(
            f"{sweep_dir} was started from another sweep than {path} ({len(recorded)} trials recorded, "
            f"{len(sweep.trials)} now, or their configs differ); resume it with the sweep file it started with"
        )


class Driver:
    """Runs ``sweep`` on ``engine``, recording in ``ledger``; ``states`` are the ledger's replayed."""

    def __init__(self, sweep: Sweep, sweep_dir, engine, ledger, states, retries, fail_fast, heartbeat_timeout):
        self.sweep, self.sweep_dir, self.engine, self.ledger = sweep, Path(sweep_dir), engine, ledger
        self.states, self.retries, self.fail_fast, self.timeout = states, retries, fail_fast, heartbeat_timeout
        self.by_id = {t.id: t for t in sweep.trials}
        self.slots: list[Slot] = []
        self.handed_out = 0
        self.progress: Progress | None = None
        self.stopped = None  # why the sweep stopped before its end (--fail-fast)

    # ------------------------------------------------------------ ledger

    def record(self, kind, **fields):
        """Append an event to the ledger (fsynced), then apply it to the states."""
        event = self.ledger.append(kind, **fields)
        apply(self.states, event)
        if self.progress is not None:
            self.progress.event(event, self.states)
        return event

    # ------------------------------------------------------------ the loop

    def run(self, events):
        (self.sweep_dir / "trials").mkdir(exist_ok=True)
        (self.sweep_dir / "heartbeats").mkdir(exist_ok=True)
        header = {
            "metric": self.sweep.metric,
            "maximize": self.sweep.maximize,
            "varied": self.sweep.varied,
            "workers": self.engine.workers,
            "backend": self.engine.name,
            "pruning": self.sweep.pruning.name,
        }
        if events:
            self.record("resumed", **header)
        else:
            self.record("sweep", name=self.sweep.name, trials=len(self.sweep.trials), **header)
            for trial in self.sweep.trials:
                self.record("queued", trial=trial.id, index=trial.index, values=trial.values)
        rule = Rule(self.sweep, self.states)
        try:
            # Work in flight when an earlier driver stopped goes first, with what it was asked.
            for trial in self.sweep.trials:
                state = self.states[trial.id]
                if state.status not in OUTCOMES and state.submitted:
                    self._hand_out(Work(trial, state.until, state.reference), resumed_attempts=state.attempts)
            self._loop(rule)
        except KeyboardInterrupt as exc:
            self._stop_all()
            raise Interrupted(exc.args[0] if exc.args else "Ctrl-C") from None
        finally:
            self.engine.close()
        return self._finish(rule)

    def _loop(self, rule):
        while True:
            if self.stopped is None:
                self._fill(rule)
            if not self.slots:
                return
            self.engine.wait([s.task for s in self.slots if s.outcome is None], POLL_SECONDS)
            self._watch()
            self._apply_results(rule)
            if self.stopped is not None and all(s.outcome is not None for s in self.slots):
                self._apply_results(rule, everything=True)
                return

    def _fill(self, rule):
        while len(self.slots) < self.engine.workers:
            work = rule.next_work()
            if work is None:
                return
            if work.promoted:
                self.record("promoted", trial=work.trial.id, until=work.until)
            self._hand_out(work)

    def _hand_out(self, work, resumed_attempts=0):
        trial = work.trial
        job = Job(
            trial=trial.id,
            run_dir=str(self.sweep_dir / "trials" / trial.id),
            heartbeat=str(self.sweep_dir / "heartbeats" / f"{trial.id}.json"),
            config=trial.config.to_dict(),
            metric=self.sweep.metric,
            maximize=self.sweep.maximize,
            until=work.until,
            reference=work.reference,
            min_epochs=self.sweep.pruning.min_epochs,
            beat_seconds=BEAT_SECONDS,
            wait_seconds=self.timeout,
        )
        slot = Slot(self.handed_out, work, job, attempt=resumed_attempts + 1, first_attempt=resumed_attempts + 1)
        self.handed_out += 1
        reference = None if work.reference is None else {str(e): v for e, v in work.reference.items()}
        self.record("submitted", trial=trial.id, until=work.until, reference=reference)
        self._submit(slot)
        self.slots.append(slot)

    def _submit(self, slot):
        beat = read_heartbeat(slot.job.heartbeat)
        slot.stale_execution = None if beat is None else beat["execution"]
        slot.execution, slot.last_beat = None, time.monotonic()
        slot.task = self.engine.submit(slot.job)

    # ------------------------------------------------------------ watching the workers

    def _watch(self):
        now = time.monotonic()
        for slot in self.slots:
            if slot.outcome is not None:
                continue
            done = slot.task.done()  # read before the heart-beat: a start is recorded before its end
            beat = read_heartbeat(slot.job.heartbeat)
            if beat is not None and beat["execution"] not in (slot.execution, slot.stale_execution):
                if slot.execution is not None:  # the engine reran it elsewhere: the first run was lost
                    if not self._lost(slot, "its worker stopped and the engine restarted it", resubmit=False):
                        continue
                slot.execution, slot.beat_time, slot.last_beat = beat["execution"], beat["time"], now
                self.record("started", trial=slot.job.trial, attempt=slot.attempt, worker=beat["worker"])
            elif beat is not None and beat["execution"] == slot.execution and beat["time"] != slot.beat_time:
                slot.beat_time, slot.last_beat = beat["time"], now
                self.record("heartbeat", trial=slot.job.trial, attempt=slot.attempt, epoch=beat["epoch"])
            elif not done and slot.execution is not None and now - slot.last_beat > self.timeout:
                self.engine.kill(slot.task)
                self._lost(slot, f"no heart-beat for {self.timeout:g} s")
                continue
            if done and slot.outcome is None:
                self._collect(slot)

    def _collect(self, slot):
        try:
            outcome = slot.task.outcome()
        except Exception as exc:  # the worker died, or the job raised: the attempt is lost
            self.engine.release(slot.task)
            self._lost(slot, _reason(exc))
            return
        self.engine.release(slot.task)
        slot.outcome = outcome
        if outcome["status"] == "failed":
            self._after_failure(slot)

    def _lost(self, slot, reason, resubmit=True):
        """Record the attempt lost; retry it (True) or, its retries spent, fail the trial (False)."""
        self.record("lost", trial=slot.job.trial, attempt=slot.attempt, reason=reason)
        if slot.attempt - slot.first_attempt >= self.retries:
            self.engine.kill(slot.task)
            slot.outcome = {
                "status": "failed",
                "message": f"lost {slot.attempt - slot.first_attempt + 1} times (--retries {self.retries}): {reason}",
            }
            self._after_failure(slot)
            return False
        slot.attempt += 1
        if resubmit:
            self._submit(slot)
        return True

    def _after_failure(self, slot):
        """With --fail-fast, the first failed trial stops the sweep."""
        if self.fail_fast and self.stopped is None:
            self.stopped = f"trial {slot.job.trial} failed and --fail-fast stops the sweep"
            self._stop_all(keep=slot)

    def _stop_all(self, keep=None):
        """Stop every worker's work (it resumes from its checkpoint); the slots leave unapplied."""
        for slot in self.slots:
            if slot is not keep and slot.outcome is None:
                self.engine.kill(slot.task)
                slot.outcome = {"status": "stopped"}

    # ------------------------------------------------------------ results

    def _apply_results(self, rule, everything=False):
        """Apply the results that may be applied now: in hand-out order when the rule is ordered."""
        while self.slots:
            ready = [s for s in self.slots if s.outcome is not None]
            if not ready:
                return
            slot = self.slots[0] if rule.ordered and not everything else ready[0]
            if slot.outcome is None:
                return
            self.slots.remove(slot)
            self._record_outcome(slot)
            if self.stopped is None:  # the freed slot's next work is decided on exactly this state
                self._fill(rule)

    def _record_outcome(self, slot):
        outcome, trial = slot.outcome, slot.job.trial
        status = outcome["status"]
        if status == "stopped":
            return
        if status == "paused":
            self.record(
                "paused", trial=trial, epoch=outcome["epoch"], value=outcome["value"], from_epoch=outcome["from_epoch"]
            )
        elif status == "failed":
            self.record("failed", trial=trial, message=outcome["message"], attempts=slot.attempt)
        else:
            fields = {k: outcome[k] for k in ("epoch", "value", "from_epoch", "curve", "test", "rule") if k in outcome}
            self.record(status, trial=trial, **fields)

    def _finish(self, rule):
        if self.stopped is None:
            for trial in rule.leftovers():
                state = self.states[trial.id]
                self.record(
                    "pruned",
                    trial=trial.id,
                    epoch=state.epoch,
                    value=state.value,
                    rule=f"asha: not promoted from the rung at epoch {state.epoch}",
                )
        counts = {kind: sum(s.status == kind for s in self.states.values()) for kind in OUTCOMES}
        counts["left"] = len(self.states) - sum(counts.values())
        self.record("done", **counts)
        if self.progress is not None:
            self.progress.close()
        best = write_sweep_report(self.sweep_dir)
        failed = [(t, s) for t, s in self.states.items() if s.status == "failed"]
        if failed or self.stopped:
            first_id, first = failed[0] if failed else (None, None)
            lines = [f"{counts['failed']} of {len(self.states)} trials failed"]
            if first is not None:
                lines.append(f"first: trial {first_id}: {first.message}")
            if self.stopped:
                lines.append(f"{self.stopped}; {counts['left']} trials not run (continue with --resume)")
            raise TrialsFailed("; ".join(lines))
        return SweepResult(self.sweep_dir, best["best"], best["value"], counts)


def _reason(exc):
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
