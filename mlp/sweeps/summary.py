"""A sweep's results, read from its ledger: the table of trials (``mlp compare SWEEP_DIR``) and the
sweep's ``report.md`` with ``sweep.png`` (the metric against each varied key)."""

from pathlib import Path

from ..errors import MlpError
from ..io.files import write_text_atomic
from ..reporting.compare import render
from ..reporting.plots import metric_versus_values
from .ledger import read_events, replay

STATUS_ORDER = {"finished": 0, "pruned": 1, "paused": 2, "running": 3, "queued": 4, "failed": 5}


def is_sweep_dir(path):
    return (Path(path) / "sweep.jsonl").is_file()


def sweep_table(sweep_dir):
    """``(columns, rows, header)``: every trial, best first — finished by the metric, then pruned,
    then the rest; ``rank`` numbers the finished trials and marks the best."""
    sweep_dir = Path(sweep_dir)
    if not is_sweep_dir(sweep_dir):
        raise MlpError(f"{sweep_dir}: not a sweep directory (no sweep.jsonl)")
    events = read_events(sweep_dir / "sweep.jsonl")
    header = next((e for e in events if e["event"] == "sweep"), None)
    if header is None:
        raise MlpError(f"{sweep_dir / 'sweep.jsonl'}: no sweep event at its start; not a sweep ledger")
    metric, maximize, varied = header["metric"], header["maximize"], header["varied"]
    values = {e["trial"]: e["values"] for e in events if e["event"] == "queued"}
    states = replay(events)

    def order(item):
        trial_id, state = item
        value = state.value
        missing = value is None
        return (STATUS_ORDER.get(state.status, 9), missing, 0.0 if missing else (-value if maximize else value))

    test_keys = sorted({k for s in states.values() for k in s.test})
    columns = ["rank", "trial", "status", metric, "epochs", *varied, *(f"test_{k}" for k in test_keys)]
    rows, rank = [], 0
    for trial_id, state in sorted(states.items(), key=order):
        label = None
        if state.status == "finished" and state.value is not None:
            rank += 1
            label = f"{rank} best" if rank == 1 else str(rank)
        row = {"rank": label, "trial": trial_id, "status": state.status, metric: state.value, "epochs": state.epoch}
        row.update({k: _plain(values[trial_id].get(k)) for k in varied})
        row.update({f"test_{k}": state.test.get(k) for k in test_keys})
        if state.status == "failed":
            row["status"] = f"failed: {state.message}"
        rows.append(row)
    return columns, rows, {"metric": metric, "maximize": maximize, "varied": varied, "states": states, "values": values}


def _plain(value):
    return str(value) if isinstance(value, list) else value


def write_sweep_report(sweep_dir):
    """Write ``report.md`` (and ``sweep.png``) into ``sweep_dir``; the best trial and the counts."""
    sweep_dir = Path(sweep_dir)
    columns, rows, header = sweep_table(sweep_dir)
    metric, states, varied, values = header["metric"], header["states"], header["varied"], header["values"]
    best = next((r for r in rows if r["rank"] and r["rank"].endswith("best")), None)
    lines = [f"# Sweep {sweep_dir.name}", ""]
    counts = {k: sum(s.status == k for s in states.values()) for k in STATUS_ORDER}
    lines.append(", ".join(f"{n} {k}" for k, n in counts.items() if n) + f" of {len(states)} trials.")
    if best is not None:
        direction = "highest" if header["maximize"] else "lowest"
        lines += ["", f"Best ({direction} {metric}): trial `{best['trial']}` — {metric} {best[metric]:.6g}."]
        lines.append(f"Its run directory: `trials/{best['trial']}`.")
    if varied:
        plotted = {
            key: [(values[t][key], s.value, s.status) for t, s in states.items() if s.status in ("finished", "pruned")]
            for key in varied
        }
        if any(plotted.values()):
            name = metric_versus_values(plotted, metric, sweep_dir / "sweep.png")
            lines += ["", f"![{metric} against each varied key]({name})"]
    lines += ["", "## Trials", "", render(columns, rows, "markdown")]
    write_text_atomic(sweep_dir / "report.md", "\n".join(lines))
    return {"best": None if best is None else best["trial"], "value": None if best is None else best[metric]}
