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
from pathlib import Path

import numpy as np

from ..io.files import write_json_atomic, write_text_atomic
from ..nn.losses import class_targets, get_loss
from . import plots
from .html import write_html
from .markdown import markdown
from .metrics import classification_metrics, regression_metrics

FORMAT_VERSION = 1
TOP_ERRORS = 10


def file_sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def evaluate_model(model, outputs, y, rows, ids=None):
    """Metrics from network ``outputs`` (N, K) and targets ``y`` (labels, or values in original units)."""
    loss_config = model.config.loss
    loss = get_loss(loss_config.name, **loss_config.arguments())
    if model.task == "classification":
        predicted = model.predict_from_outputs(outputs)
        metrics = classification_metrics(y, predicted, model.class_names)
        target = class_targets(y, loss_config.name, loss_config.target_encoding, outputs.shape[1], outputs.dtype)
        metrics = {"accuracy": metrics.pop("accuracy"), "loss": loss.forward(outputs, target), **metrics}
        return metrics, confident_errors(model, outputs, y, predicted, rows, ids)
    values = model.predict_from_outputs(outputs)
    metrics = regression_metrics(y, values)
    metrics["loss"] = loss.forward(values, np.asarray(y, dtype=np.float64))
    return metrics, []


def confident_errors(model, outputs, y, predicted, rows, ids=None):
    """The misclassified rows the model was surest of (probability, or margin score for hinges);
    with ``ids`` (the ``data.id_column`` of the rows) each names its ID too."""
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
        out.append(
            {
                "row": int(rows[i]),
                **({} if ids is None else {"id": str(ids[i])}),
                "true": model.class_names[y[i]],
                "predicted": model.class_names[predicted[i]],
                key: float(value),
            }
        )
    return out


def build_report(model, model_path, outputs, y, rows, split, sizes, training=None, ids=None):
    """The report dictionary (what ``report.json`` holds) from the network's ``outputs``.

    ``model_path`` is ``None`` for a model that was never saved (trained in memory); ``ids`` are the
    scored rows' IDs (``data.id_column``), if any.
    """
    scored = len(outputs) > 0
    metrics, errors = evaluate_model(model, outputs, y, rows, ids) if scored else (None, [])
    if model.architecture is None:  # a network of the caller's own layers
        architecture = {
            "layers": [repr(layer) for layer in model.network.layers],
            "feature_scale": model.transform.scale,
        }
    else:
        architecture = {**model.architecture.to_dict(), "feature_scale": model.transform.scale}
    return {
        "format_version": FORMAT_VERSION,
        "split": split,
        "held_out": scored and split != "train",
        "task": model.task,
        "model": {
            "path": None if model_path is None else str(model_path),
            "sha256": None if model_path is None else file_sha256(model_path),
            "parameters": model.network.num_parameters(),
            "architecture": architecture,
        },
        "config": model.config.to_dict(),
        "data": {
            "sizes": sizes,
            "rows_evaluated": int(len(outputs)),
            "columns": [{"column": name, "treatment": done} for name, done in model.transform.describe()],
        },
        "metrics": metrics,
        "most_confident_errors": errors,
        "training": training,
        "plots": {},
    }


def write_report(report, out_dir, model, history=(), outputs=None, y=None, training_rows=None, error_images=None):
    """Write ``report.json``, the PNG plots, ``report.md`` and ``report.html`` into ``out_dir``;
    ``training_rows`` ``(X (N, 2) raw features, y (N,) classes)`` of a model with two inputs draw its
    decision boundary; ``error_images`` (``{row: data URI}``) show image rows in the HTML page."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if history:
        best = (report["training"] or {}).get("best_epoch")
        units = "standardized target units" if getattr(model, "target_scaler", None) is not None else None
        report["plots"]["learning_curves"] = plots.learning_curves(
            history, out_dir / "learning_curves.png", best, units
        )
        if any(record.get("layers") for record in history):
            report["plots"]["diagnostics"] = plots.diagnostics(history, out_dir / "diagnostics.png")
    if report["metrics"] is not None:
        if report["task"] == "classification":
            report["plots"]["confusion_matrix"] = plots.confusion(
                np.array(report["metrics"]["confusion_matrix"]), model.class_names, out_dir / "confusion_matrix.png"
            )
        else:
            predicted = model.predict_from_outputs(outputs)
            target = (model.target_names or ["value"])[0]
            report["plots"].update(plots.regression(np.asarray(y, dtype=float), predicted, out_dir, target))
    if training_rows is not None:
        X, labels = training_rows
        report["plots"]["decision_boundary"] = plots.decision_boundary(
            model, X, labels, out_dir / "decision_boundary.png"
        )
    write_json_atomic(out_dir / "report.json", report)
    write_text_atomic(out_dir / "report.md", markdown(report))
    write_html(report, out_dir, model.class_names, error_images)
    return report
