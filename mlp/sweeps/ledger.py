"""The sweep's ledger: ``sweep.jsonl``, one JSON event per line, appended and fsynced as it happens.

The driver alone writes it. Events (each with ``event``, ``time`` and, for a trial, ``trial``):

==============  ==============================================================================
``sweep``       the sweep started (or ``resumed``): its trials, workers and backend
``queued``      a trial exists: its index and the values it sets
``submitted``   work handed to a worker: train until ``until`` (``null``: the end); the median
                rule's ``reference`` (epoch -> median)
``started``     a worker began it: ``attempt`` (1, 2, ...), ``worker`` (host:pid)
``heartbeat``   the worker is alive: ``attempt``, ``epoch``
``lost``        the worker died or its heart-beat stopped: ``attempt``, ``reason``
``paused``      stopped at an ASHA rung: ``epoch``, ``value``, ``from_epoch`` (where it began)
``promoted``    an ASHA rung promoted it: ``until``
``finished``    a result: ``value`` (the metric, best over epochs), ``epoch``, ``curve`` (the
                metric per epoch), ``test`` (held-out metrics), ``from_epoch`` (> 0: resumed)
``failed``      no result: ``message``
``pruned``      stopped early by the pruning rule: ``epoch``, ``value``, ``rule``
``done``        the sweep ended: the counts of each outcome
==============  ==============================================================================

Exactly one of ``finished``, ``failed`` and ``pruned`` ends each trial: :func:`replay` rebuilds every
trial's state from the lines, and the driver writes an outcome only for a trial that has none.
A line cut short by a crash (the last one, without its newline) is dropped when the ledger reopens.
"""

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MlpError, clipped

OUTCOMES = ("finished", "failed", "pruned")


@dataclass
class TrialState:
    """What the ledger says of one trial."""

    status: str = "queued"  # queued, running, paused, or one of OUTCOMES
    attempts: int = 0
    epoch: int = 0
    value: float | None = None
    curve: list = field(default_factory=list)  # the metric per epoch (finished trials)
    submitted: bool = False  # work was handed out and has no result yet
    until: int | None = None  # the epoch that work stops at
    reference: dict | None = None  # median rule: epoch -> the median that work prunes against
    rungs: dict = field(default_factory=dict)  # ASHA: rung epoch -> metric value there
    promoted: set = field(default_factory=set)  # ASHA: rung epochs it was promoted from
    message: str | None = None
    test: dict = field(default_factory=dict)


class Ledger:
    """The append-only event file ``path``; opening it drops a torn last line."""

    def __init__(self, path):
        self.path = Path(path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        try:
            self._fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise MlpError(f"{self.path}: cannot open the sweep ledger ({exc.strerror})") from None
        self._drop_torn_line()

    def _drop_torn_line(self):
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            os.ftruncate(self._fd, end)
            os.fsync(self._fd)

    def append(self, event, **fields):
        """Write one event and fsync it: once this returns, the event survives a crash."""
        record = {"event": event, "time": round(time.time(), 3), **fields}
        line = (json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n").encode()
        os.write(self._fd, line)
        os.fsync(self._fd)
        return record

    def close(self):
        os.close(self._fd)


def read_events(path):
    """The events in the ledger ``path`` (a torn last line ignored)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise MlpError(f"{path}: not a sweep ledger (not UTF-8 text)") from None
    lines = text.split("\n")
    events = []
    for number, line in enumerate(lines[:-1], 1):  # the part after the last newline is torn or empty
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MlpError(f"{path}:{number}: not a ledger event ({clipped(exc)})") from None
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            raise MlpError(f"{path}:{number}: not a ledger event")
        events.append(event)
    return events


def replay(events):
    """``{trial id: TrialState}`` in the order the trials were queued."""
    trials: dict = {}
    for event in events:
        apply(trials, event)
    return trials


def apply(trials, event):
    """Update ``trials`` (``{id: TrialState}``) by one event; nothing changes after a trial's outcome."""
    kind, trial = event["event"], event.get("trial")
    if kind == "queued":
        trials.setdefault(trial, TrialState())
        return
    state = trials.get(trial)
    if state is None or state.status in OUTCOMES:
        return
    if kind == "submitted":
        state.submitted, state.until = True, event.get("until")
        reference = event.get("reference")
        state.reference = None if reference is None else {int(e): v for e, v in reference.items()}
    elif kind == "started":
        state.status, state.attempts = "running", event["attempt"]
    elif kind == "heartbeat":
        state.epoch = max(state.epoch, event.get("epoch", 0))
    elif kind == "paused":
        state.status, state.epoch, state.value, state.submitted = "paused", event["epoch"], event["value"], False
        state.rungs[event["epoch"]] = event["value"]
    elif kind == "promoted":
        state.promoted.add(state.epoch)
        state.status = "queued"
    elif kind in OUTCOMES:
        state.status, state.message = kind, event.get("message")
        state.epoch, state.value = event.get("epoch", state.epoch), event.get("value")
        state.curve, state.test = event.get("curve", []), event.get("test", {})
