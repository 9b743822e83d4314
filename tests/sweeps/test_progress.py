"""The sweep's progress: one line per event in a log, one line rewritten in place on a terminal."""

import io

from mlp.sweeps.ledger import apply
from mlp.sweeps.progress import Progress
from mlp.sweeps.spec import build_sweep


class Terminal(io.StringIO):
    def isatty(self):
        return True


def feed(stream):
    sweep = build_sweep({"base": {"data": {"name": "iris"}}, "grid": {"optimizer.lr": [0.01, 0.02]}}, "s")
    a, b = (t.id for t in sweep.trials)
    progress, states = Progress(sweep, stream), {}
    for event in [
        {"event": "queued", "trial": a},
        {"event": "queued", "trial": b},
        {"event": "started", "trial": a, "attempt": 1, "worker": "host:1"},
        {"event": "lost", "trial": a, "attempt": 1, "reason": "TerminatedWorkerError"},
        {"event": "finished", "trial": a, "epoch": 5, "value": 0.25, "curve": []},
        {"event": "failed", "trial": b, "message": "non-finite loss"},
    ]:
        apply(states, event)
        progress.event(event, states)
    progress.close()
    return a, b, stream.getvalue()


def test_a_log_gets_one_line_per_event():
    a, b, text = feed(io.StringIO())
    assert text.splitlines() == [
        f"trial {a} (optimizer.lr=0.01): started, attempt 1 on host:1",
        f"trial {a} (optimizer.lr=0.01): attempt 1 lost (TerminatedWorkerError)",
        f"trial {a} (optimizer.lr=0.01): finished, val_loss 0.25 (epoch 5)",
        f"trial {b} (optimizer.lr=0.02): failed: non-finite loss",
    ]


def test_a_terminal_gets_a_line_rewritten_in_place_with_losses_and_failures_kept():
    a, b, text = feed(Terminal())
    screen = text.split("\r\x1b[K")
    assert (
        screen[-1]
        == f"sweep s: 1 finished · 1 failed · 0 pruned · 0 running · 0 paused / 2 · best val_loss 0.25 ({a})\n"
    )
    kept = [part for part in screen if part.endswith("\n")]
    assert kept[:2] == [
        f"trial {a} (optimizer.lr=0.01): attempt 1 lost (TerminatedWorkerError)\n",
        f"trial {b} (optimizer.lr=0.02): failed: non-finite loss\n",
    ]
