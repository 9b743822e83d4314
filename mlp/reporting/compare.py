"""Side-by-side comparison of run directories: the config keys that differ and the held-out metrics."""

import csv
import io
import json
from pathlib import Path

from ..config import load_config
from ..errors import MlpError, clipped
from ..io.archive import require

METRICS = ("accuracy", "loss", "rmse", "mae", "r2")


def flatten(mapping, prefix=""):
    items = {}
    for key, value in mapping.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            items.update(flatten(value, path + "."))
        else:
            items[path] = value
    return items


def load_run(run_dir):
    run_dir = Path(run_dir)
    config_path, report_path = run_dir / "config.yaml", run_dir / "report.json"
    if not config_path.is_file() or not report_path.is_file():
        raise MlpError(f"{run_dir}: not a finished run directory (needs config.yaml and report.json)")
    config = load_config(config_path).to_dict()
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MlpError(f"{report_path}: not a JSON report ({clipped(exc)})") from None
    require(report, {"metrics": ("dict", "none"), "training": ("dict", "none")}, report_path, "report")
    metrics, training = report["metrics"] or {}, report["training"] or {}
    require(metrics, {m: ("number", "none") for m in METRICS if m in metrics}, report_path, "metrics")
    require(
        training,
        {k: ("number", "none") for k in ("epochs_run", "wall_time_seconds") if k in training},
        report_path,
        "training",
    )
    row = {"run": run_dir.name}
    row.update({f"test_{m}": metrics.get(m) for m in METRICS if m in metrics})
    row["epochs"] = training.get("epochs_run")
    row["seconds"] = training.get("wall_time_seconds")
    return flatten(config), row


def compare(run_dirs, sort=None, descending=None):
    """``(columns, rows)``: run name, differing config keys, then held-out metrics."""
    loaded = [load_run(d) for d in run_dirs]
    keys = sorted({k for config, _ in loaded for k in config})
    differing = [k for k in keys if len({json.dumps(config.get(k), sort_keys=True) for config, _ in loaded}) > 1]
    differing = [k for k in differing if k != "name"]
    metric_columns = [c for c in loaded[0][1] if c != "run"]
    for _, row in loaded[1:]:
        metric_columns += [c for c in row if c != "run" and c not in metric_columns]
    columns = ["run", *differing, *metric_columns]
    rows = [
        {"run": row["run"], **{k: config.get(k) for k in differing}, **{c: row.get(c) for c in metric_columns}}
        for config, row in loaded
    ]
    if sort is not None:
        if sort not in columns:
            raise MlpError(f"--sort {sort}: no such column; columns: {', '.join(columns)}")
        if descending is None:
            descending = sort in ("test_accuracy", "test_r2")
        present = [r for r in rows if r[sort] is not None]
        missing = [r for r in rows if r[sort] is None]
        rows = sorted(present, key=lambda r: r[sort], reverse=descending) + missing
    return columns, rows


def _cell(value):
    if isinstance(value, float):  # 4 decimals, or 4 significant digits for a small value (a weight decay)
        return f"{value:.4f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.4g}"
    return "–" if value is None else str(value)


def render(columns, rows, fmt="table"):
    """The comparison as an aligned text table, Markdown or CSV."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[("" if r[c] is None else r[c]) for c in columns] for r in rows])
        return buffer.getvalue()
    cells = [[_cell(r[c]) for c in columns] for r in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(" --- " for _ in columns) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
        return "\n".join(lines) + "\n"
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines) + "\n"


def histories(run_dirs):
    """``{run name: epoch records}`` from each run's ``metrics.jsonl`` (damaged lines skipped)."""
    found = {}
    for run_dir in map(Path, run_dirs):
        records = []
        path = run_dir / "metrics.jsonl"
        if path.is_file():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and isinstance(record.get("epoch"), int):
                    records.append(record)
        found[run_dir.name] = records
    return found
