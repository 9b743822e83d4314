"""``report.html``: the whole report as one self-contained page — plots embedded as data URIs,
styles inline, no script and nothing fetched from elsewhere — readable offline, mailable, archivable.

The page is built from the report dictionary (what ``report.json`` holds) and the PNGs beside it;
every piece of text goes through :func:`html.escape`.
"""

import base64
import html
import io
from pathlib import Path

import numpy as np
import yaml

from ..io.files import write_text_atomic
from .markdown import fmt, network_line, summary_line

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 72rem;
       padding: 0 1rem; color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.summary { font-size: 1.1rem; background: #f3f6fa; border-left: 4px solid #3b6ea5; padding: 0.6rem 0.9rem; }
table { border-collapse: collapse; margin: 0.6rem 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f6f6f6; }
td.name, th.name { text-align: left; }
img.plot { max-width: 100%; border: 1px solid #eee; margin: 0.4rem 0; }
.findings li { color: #8a4b00; }
.quiet { color: #666; }
.mistakes img { width: 56px; height: 56px; image-rendering: pixelated; border: 1px solid #ccc; }
pre { background: #f7f7f7; padding: 0.8rem; overflow-x: auto; font-size: 0.85rem; }
"""


def _e(value):
    return html.escape(str(value))


def png_data_uri(path):
    """The PNG at ``path`` as a ``data:`` URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def image_data_uri(pixels):
    """A grey image (2-D array, 0 = white … 1 = black as MNIST's ink) as a PNG ``data:`` URI."""
    from matplotlib.image import imsave

    buffer = io.BytesIO()
    imsave(buffer, np.clip(pixels, 0, 1), cmap="gray_r", vmin=0, vmax=1, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _table(header, rows, names=1):
    """An HTML table: ``names`` leading columns left-aligned (labels), the rest numbers."""
    head = "".join(f'<th class="name">{_e(h)}</th>' if i < names else f"<th>{_e(h)}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="name">{_e(c)}</td>' if i < names else f"<td>{_e(c)}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _metrics(report):
    metrics = report["metrics"]
    if metrics is None:
        return '<p class="quiet">No rows were scored (no held-out data).</p>'
    if report["task"] == "classification":
        rows = [
            [c["class"], fmt(c["precision"]), fmt(c["recall"]), fmt(c["f1"]), c["support"]]
            for c in metrics["per_class"]
        ]
        for name in ("macro_avg", "weighted_avg"):
            row = metrics[name]
            rows.append(
                [
                    name.replace("_", " "),
                    fmt(row["precision"]),
                    fmt(row["recall"]),
                    fmt(row["f1"]),
                    row["support"],
                ]
            )
        overall = _table(["metric", "value"], [["accuracy", fmt(metrics["accuracy"])], ["loss", fmt(metrics["loss"])]])
        return overall + _table(["class", "precision", "recall", "f1", "support"], rows)
    keys = ("mse", "rmse", "mae", "median_absolute_error", "r2", "loss")
    return _table(["metric", "value"], [[key, fmt(metrics[key])] for key in keys])


def _confusion(report, class_names):
    matrix = report["metrics"]["confusion_matrix"]
    rows = [[f"true {name}", *row] for name, row in zip(class_names, matrix)]
    return _table(["", *(f"predicted {name}" for name in class_names)], rows)


def _mistakes(report, images):
    errors = report["most_confident_errors"]
    if not errors:
        return ""
    key = "probability" if "probability" in errors[0] else "score"
    cells = []
    for error in errors:
        row = f"{error['row']}" + (f" (id {error['id']})" if "id" in error else "")
        picture = images.get(error["row"]) if images else None
        image = f'<img src="{picture}" alt="row {_e(row)}">' if picture else ""
        cells.append(
            f'<tr><td>{image}</td><td class="name">{_e(row)}</td><td class="name">{_e(error["true"])}</td>'
            f'<td class="name">{_e(error["predicted"])}</td><td>{fmt(error[key])}</td></tr>'
        )
    head = '<tr><th></th><th class="name">row</th><th class="name">true</th><th class="name">predicted</th>'
    return f'<table class="mistakes"><thead>{head}<th>{key}</th></tr></thead><tbody>{"".join(cells)}</tbody></table>'


def page(report, out_dir, class_names=None, images=None):
    """The report as HTML text; ``images``: ``{row: data URI}`` of misclassified image rows."""
    out_dir = Path(out_dir)
    config = report["config"]
    title = f"Evaluation report: {config['name']}"
    plots = {name: png_data_uri(out_dir / file) for name, file in report["plots"].items() if (out_dir / file).is_file()}
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="summary">{_e(summary_line(report, "").rsplit("; report in", 1)[0])}</p>',
        f"<p>Evaluated on the <b>{_e(report['split'])}</b> split "
        f"({', '.join(f'{_e(k)} {v}' for k, v in report['data']['sizes'].items())} rows).</p>",
        f"<p>Network: {_e(network_line(report))}.</p>",
        "<h2>Metrics</h2>",
        _metrics(report),
    ]
    if report["task"] == "classification" and report["metrics"] is not None and class_names:
        parts += ["<h2>Confusion matrix</h2>", _confusion(report, class_names)]
        if "confusion_matrix" in plots:
            parts.append(f'<img class="plot" src="{plots["confusion_matrix"]}" alt="confusion matrix">')
    training = report["training"] or {}
    if "learning_curves" in plots:
        parts += [
            "<h2>Learning curves</h2>",
            f'<img class="plot" src="{plots["learning_curves"]}" alt="learning curves">',
        ]
    if "findings" in training:
        parts.append("<h2>Diagnostics</h2>")
        found = training["findings"]
        parts.append(
            '<ul class="findings">' + "".join(f"<li>{_e(f)}</li>" for f in found) + "</ul>"
            if found
            else '<p class="quiet">No finding: no dead or saturated layer, update/weight ratios in range, gradients '
            "reach the first layer, and accuracy above chance.</p>"
        )
        if "diagnostics" in plots:
            parts.append(f'<img class="plot" src="{plots["diagnostics"]}" alt="diagnostics">')
    for name in ("decision_boundary", "predicted_vs_true", "residuals"):
        if name in plots:
            label = name.replace("_", " ")
            parts += [f"<h2>{_e(label.capitalize())}</h2>", f'<img class="plot" src="{plots[name]}" alt="{_e(label)}">']
    if report["most_confident_errors"]:
        parts += ["<h2>Most confident mistakes</h2>", _mistakes(report, images)]
    if training:
        facts = [
            [key.replace("_", " "), fmt(training.get(key))]
            for key in ("epochs_run", "best_epoch", "stop_reason", "wall_time_seconds", "kernels")
        ]
        parts += ["<h2>Training</h2>", _table(["", "value"], facts)]
    parts += ["<h2>Config</h2>", f"<pre>{_e(yaml.safe_dump(config, sort_keys=False))}</pre>", "</body></html>"]
    return "\n".join(parts) + "\n"


def write_html(report, out_dir, class_names=None, images=None):
    """Write ``report.html`` into ``out_dir`` (atomically); return its path."""
    path = Path(out_dir) / "report.html"
    write_text_atomic(path, page(report, out_dir, class_names, images))
    return path


def comparison_page(columns, rows, curves=None, title="Comparison of runs"):
    """``mlp compare --format html``: the table (differing keys, metrics) and, for runs, their
    learning curves overlaid (``curves``: PNG bytes)."""
    cells = [
        [fmt(row[c]) if isinstance(row[c], float) else ("–" if row[c] is None else row[c]) for c in columns]
        for row in rows
    ]
    parts = [
        "<!doctype html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title><style>{STYLE}</style></head><body>',
        f"<h1>{_e(title)}</h1>",
        _table(columns, cells),
    ]
    if curves:
        uri = "data:image/png;base64," + base64.b64encode(curves).decode("ascii")
        parts += ["<h2>Learning curves</h2>", f'<img class="plot" src="{uri}" alt="learning curves of the runs">']
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
