"""Evaluation reports on held-out data: ``report.json``, ``report.md`` and PNG plots.

``report.json`` keys (stable): ``format_version``, ``split``, ``held_out`` (false when no rows were
scored or they are the training rows), ``task``, ``model`` (path, sha256, parameters,
architecture), ``config``, ``data`` (sizes of each split, rows evaluated), ``metrics``
(classification: accuracy, loss, per_class, macro_avg, weighted_avg, confusion_matrix; regression:
mse, rmse, mae, median_absolute_error, r2, loss — in the target's original units), ``most_confident_errors``
(classification: row, true, predicted, probability), ``training`` (epochs_run, best_epoch,
stop_reason, wall_time_seconds, samples_per_second; null for ``mlp evaluate``) and ``plots``.
"""
import hashlib
import json
from pathlib import Path

import numpy as np

from . import plots
from .files import write_text_atomic
from .losses import loss_from_config
from .metrics import classification_metrics, regression_metrics
from .preprocessing import class_targets

FORMAT_VERSION = 1
TOP_ERRORS = 10


def file_sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def evaluate_model(model, outputs, y, rows):
    """Metrics from network ``outputs`` (N, K) and targets ``y`` (labels, or values in original units)."""
    loss = loss_from_config(model.config["loss"])
    if model.task == "classification":
        predicted = model.predict_from_outputs(outputs)
        metrics = classification_metrics(y, predicted, model.class_names)
        target = class_targets(y, model.config["loss"], outputs.shape[1], outputs.dtype)
        metrics = {"accuracy": metrics.pop("accuracy"), "loss": loss.forward(outputs, target), **metrics}
        return metrics, confident_errors(model, outputs, y, predicted, rows)
    values = model.predict_from_outputs(outputs)
    metrics = regression_metrics(y, values)
    metrics["loss"] = loss.forward(values, np.asarray(y, dtype=np.float64))
    return metrics, []


def confident_errors(model, outputs, y, predicted, rows):
    """The misclassified rows the model was surest of (probability, or margin score for hinges)."""
    probabilities = model.probabilities(outputs)
    scores = probabilities if probabilities is not None else outputs
    wrong = np.flatnonzero(predicted != y)
    if scores.shape[1] == 1:
        confidence = np.abs(scores[wrong, 0])
    else:
        confidence = scores[wrong, predicted[wrong]]
    order = wrong[np.argsort(-confidence, kind="stable")][:TOP_ERRORS]
    key = "probability" if probabilities is not None else "score"
    out = []
    for i in order:
        value = scores[i, predicted[i]] if scores.shape[1] > 1 else abs(scores[i, 0])
        out.append({"row": int(rows[i]), "true": model.class_names[y[i]],
                    "predicted": model.class_names[predicted[i]], key: float(value)})
    return out


def build_report(model, model_path, outputs, y, rows, split, sizes, training=None):
    """The report dictionary (what ``report.json`` holds) from the network's ``outputs``."""
    scored = len(outputs) > 0
    metrics, errors = evaluate_model(model, outputs, y, rows) if scored else (None, [])
    return {
        "format_version": FORMAT_VERSION,
        "split": split,
        "held_out": scored and split != "train",
        "task": model.task,
        "model": {"path": str(model_path), "sha256": file_sha256(model_path),
                  "parameters": model.network.num_parameters(), "architecture": model.architecture},
        "config": model.config,
        "data": {"sizes": sizes, "rows_evaluated": int(len(outputs))},
        "metrics": metrics,
        "most_confident_errors": errors,
        "training": training,
        "plots": {},
    }


def read_history(run_dir):
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_report(report, out_dir, model, history=(), outputs=None, y=None):
    """Write ``report.json``, the PNG plots and ``report.md`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if history:
        best = (report["training"] or {}).get("best_epoch")
        report["plots"]["learning_curves"] = plots.learning_curves(history, out_dir / "learning_curves.png", best)
    if report["metrics"] is not None:
        if report["task"] == "classification":
            report["plots"]["confusion_matrix"] = plots.confusion(
                np.array(report["metrics"]["confusion_matrix"]), model.class_names, out_dir / "confusion_matrix.png")
        else:
            predicted = model.predict_from_outputs(outputs)
            report["plots"].update(plots.regression(np.asarray(y, dtype=float), predicted, out_dir))
    write_text_atomic(out_dir / "report.json", json.dumps(report, indent=2) + "\n")
    write_text_atomic(out_dir / "report.md", markdown(report))
    return report


def _fmt(value, digits=4):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(report):
    """``report.md``: what a person reads."""
    config = report["config"]
    lines = [f"# Evaluation report: {config['name']}", ""]
    lines.append(f"Model `{report['model']['path']}` (sha256 `{report['model']['sha256'][:16]}…`, "
                 f"{report['model']['parameters']:,} parameters), evaluated on the **{report['split']}** split.")
    arch = report["model"]["architecture"]
    lines.append(f"Network: {arch['input_width']} → {' → '.join(map(str, arch['hidden']))}"
                 f"{' → ' if arch['hidden'] else ''}{arch['n_outputs']}, {arch['activation']}, "
                 f"dropout {arch['dropout']}; loss {config['loss']['name']}, "
                 f"{config['regularization']['name']} (λ = {config['regularization']['lambda']}), "
                 f"optimizer {config['optimizer']['name']} (lr {config['optimizer']['lr']}).")
    sizes = report["data"]["sizes"]
    lines += ["", "| split | rows |", "| --- | --- |"] + [f"| {k} | {v} |" for k, v in sizes.items()]
    training = report["training"]
    if training:
        lines += ["", "## Training", "",
                  f"- epochs run: {training['epochs_run']}, best epoch: {training['best_epoch']}",
                  f"- stopped: {training['stop_reason']}",
                  f"- wall time: {training['wall_time_seconds']:.1f} s "
                  f"({training['samples_per_second']:.0f} samples/s)"]
    lines += ["", "## Results", ""]
    metrics = report["metrics"]
    if report["split"] == "train":
        lines += ["These are the training rows, not held-out data: scores on them overstate how the model "
                  "does on new data.", ""]
    if metrics is None and report["split"] == "test":
        lines.append("No held-out data: the test split is empty (data.test_split: 0), so nothing is scored; "
                     "the training rows are not a substitute.")
    elif metrics is None:
        lines.append(f"No rows in the {report['split']} data, so nothing is scored.")
    elif report["task"] == "classification":
        lines += [f"- accuracy: **{metrics['accuracy']:.4f}**", f"- loss ({config['loss']['name']}): {metrics['loss']:.4f}",
                  "", "| class | precision | recall | F1 | support |", "| --- | --- | --- | --- | --- |"]
        for row in metrics["per_class"]:
            lines.append(f"| {row['class']} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | {row['support']} |")
        for name in ("macro_avg", "weighted_avg"):
            row = metrics[name]
            lines.append(f"| *{name.replace('_', ' ')}* | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | {row['support']} |")
        if report["most_confident_errors"]:
            key = "probability" if "probability" in report["most_confident_errors"][0] else "score"
            lines += ["", "### Most confident mistakes", "", f"| row | true | predicted | {key} |", "| --- | --- | --- | --- |"]
            for e in report["most_confident_errors"]:
                lines.append(f"| {e['row']} | {e['true']} | {e['predicted']} | {e[key]:.4f} |")
    else:
        lines += ["| metric | value |", "| --- | --- |"]
        for key in ("mse", "rmse", "mae", "median_absolute_error", "r2", "loss"):
            lines.append(f"| {key} | {_fmt(metrics[key])} |")
    if report["plots"]:
        lines += ["", "## Plots", ""]
        lines += [f"![{name}]({file})" for name, file in report["plots"].items()]
    return "\n".join(lines) + "\n"


SPLIT_WORDS = {"test": "test", "val": "validation", "train": "train"}


def summary_line(report, where):
    """``test accuracy …, test loss …`` (or the split's or data file's name), then where the report is."""
    metrics, training, split = report["metrics"], report["training"] or {}, report["split"]
    word = SPLIT_WORDS.get(split)
    label, on = (f"{word} ", "") if word else ("", f" on {split}")
    if metrics is None:
        result = ("no held-out data (test split is empty): nothing scored" if split == "test"
                  else f"no rows in the {word or split} data: nothing scored")
    elif report["task"] == "classification":
        result = f"{label}accuracy {metrics['accuracy']:.4f}, {label}loss {metrics['loss']:.4f}{on}"
    else:
        r2 = metrics["r2"]
        result = (f"{label}RMSE {metrics['rmse']:.4g}, MAE {metrics['mae']:.4g}, "
                  f"R² {r2 if r2 is None else round(r2, 4)}{on}")
    extra = f"; best epoch {training['best_epoch']} of {training['epochs_run']}" if training else ""
    return f"{result}{extra}; report in {where}"
