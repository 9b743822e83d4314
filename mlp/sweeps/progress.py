"""What a sweep shows while it runs."""

from ..errors import shown
from .ledger import OUTCOMES


class Progress:
    """A line over the trials (finished / failed / pruned / running, best so far) rewritten in place
    on a terminal, with lost attempts and failures printed above it; one line per event otherwise."""

    SHOWN = ("started", "lost", "paused", "promoted", "finished", "failed", "pruned")

    def __init__(self, sweep, stream):
        self.sweep, self.stream = sweep, stream
        self.by_id = {t.id: t for t in sweep.trials}
        self.terminal = hasattr(stream, "isatty") and stream.isatty()
        self.best = None

    def event(self, event, states):
        kind = event["event"]
        if kind == "finished" and event.get("value") is not None:
            if self.best is None or self.sweep.better(event["value"], self.best[1]):
                self.best = (event["trial"], event["value"])
        if self.terminal:
            if kind in ("failed", "lost"):  # kept on screen above the progress line
                self.stream.write(f"\r\x1b[K{self._describe(event)}\n")
            if kind in self.SHOWN or kind == "heartbeat":
                self._line(states)
        elif kind in self.SHOWN:
            print(self._describe(event), file=self.stream, flush=True)

    def _describe(self, event):
        kind, trial = event["event"], event["trial"]
        values = ", ".join(f"{k}={shown(v)}" for k, v in self.sweep_values(trial).items())
        head = f"trial {trial} ({values})"
        metric = self.sweep.metric
        if kind == "started":
            return f"{head}: started, attempt {event['attempt']} on {event['worker']}"
        if kind == "lost":
            return f"{head}: attempt {event['attempt']} lost ({event['reason']})"
        if kind == "paused":
            return f"{head}: paused at epoch {event['epoch']}, {metric} {_number(event['value'])}"
        if kind == "promoted":
            until = "the end" if event["until"] is None else f"epoch {event['until']}"
            return f"{head}: promoted, resumes to {until}"
        if kind == "failed":
            return f"{head}: failed: {event['message']}"
        if kind == "pruned":
            return f"{head}: pruned at epoch {event['epoch']}, {metric} {_number(event['value'])}"
        return f"{head}: finished, {metric} {_number(event['value'])} (epoch {event['epoch']})"

    def sweep_values(self, trial_id):
        trial = self.by_id[trial_id]
        return {k: trial.values.get(k) for k in self.sweep.varied}

    def _line(self, states):
        counts = {k: sum(s.status == k for s in states.values()) for k in (*OUTCOMES, "running", "paused")}
        best = "" if self.best is None else f" · best {self.sweep.metric} {_number(self.best[1])} ({self.best[0]})"
        text = (
            f"\r\x1b[Ksweep {self.sweep.name}: {counts['finished']} finished · {counts['failed']} failed · "
            f"{counts['pruned']} pruned · {counts['running']} running · {counts['paused']} paused "
            f"/ {len(states)}{best}"
        )
        self.stream.write(text)
        self.stream.flush()

    def close(self):
        if self.terminal:
            self.stream.write("\n")
            self.stream.flush()


def _number(value):
    return "–" if value is None else f"{value:.6g}"
