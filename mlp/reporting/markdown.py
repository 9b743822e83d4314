"""Renderings of a report for people: ``report.md`` and the one-line summary commands print."""

from ..config import Config


def fmt(value, digits=4):
    """A number for a report: 4 decimals for a float, "–" for nothing."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _setting(value):
    return f"{value:g}" if isinstance(value, float) else str(value).lower() if isinstance(value, bool) else str(value)


def _settings(component):
    """``name (key value, …)`` of a config component, with the keys the chosen one uses."""
    arguments = ", ".join(
        f"{key.replace('lam', 'λ')} {_setting(value)}" for key, value in component.arguments().items()
    )
    return f"{component.name} ({arguments})" if arguments else component.name


def network_line(report):
    """Every setting that shaped the model: layers, activation, dropout (input and hidden), init,
    loss, penalty and max-norm, optimizer and its schedule, batch size, epochs, gradient clipping."""
    config = Config.from_dict(report["config"])
    arch = report["model"]["architecture"]
    if "layers" in arch:
        parts = [f"{' → '.join(arch['layers'])} (layers of your own)"]
    else:
        widths = [arch["input_width"], *arch["hidden"], arch["n_outputs"]]
        parts = [f"{' → '.join(map(str, widths))}, {arch['activation']}, init {config.model.init}"]
        parts.append(f"dropout {_setting(config.model.dropout)} (input {_setting(config.model.input_dropout)})")
    regularization = config.regularization
    penalty = f"penalty {_settings(regularization)}" if regularization.name != "none" else "no penalty"
    if regularization.max_norm is not None:
        penalty += f", max-norm {_setting(regularization.max_norm)}"
    training = config.training
    parts += [
        f"loss {_settings(config.loss)}",
        penalty,
        f"optimizer {_settings(config.optimizer)}",
        f"schedule {_settings(config.optimizer.schedule)}",
        f"batch {training.batch_size}, up to {training.epochs} epochs",
    ]
    if training.clip_grad_norm is not None:
        parts.append(f"gradients clipped at norm {_setting(training.clip_grad_norm)}")
    return "; ".join(parts)


def markdown(report):
    """``report.md``: what a person reads."""
    config = report["config"]
    lines = [f"# Evaluation report: {config['name']}", ""]
    model = report["model"]
    where = "trained in memory (" if model["path"] is None else f"`{model['path']}` (sha256 `{model['sha256'][:16]}…`, "
    lines.append(f"Model {where}{model['parameters']:,} parameters), evaluated on the **{report['split']}** split.")
    lines.append(f"Network: {network_line(report)}.")
    sizes = report["data"]["sizes"]
    lines += ["", "| split | rows |", "| --- | --- |"] + [f"| {k} | {v} |" for k, v in sizes.items()]
    columns = report["data"].get("columns") or []
    if columns and len(columns) <= 60:  # a table, not 784 pixels
        lines += ["", "| input column | what was done to it |", "| --- | --- |"]
        lines += [f"| {c['column']} | {c['treatment']} |" for c in columns]
    elif columns:
        lines += [
            "",
            f"{len(columns)} input columns: {columns[0]['treatment']} (all alike)."
            if len({c["treatment"] for c in columns}) == 1
            else f"{len(columns)} input columns.",
        ]
    training = report["training"]
    if training:
        lines += [
            "",
            "## Training",
            "",
            f"- epochs run: {training['epochs_run']}, best epoch: {training['best_epoch']}",
            f"- stopped: {training['stop_reason']}",
            f"- wall time: {training['wall_time_seconds']:.1f} s ({training['samples_per_second']:.0f} samples/s)",
        ]
        if training.get("kernels"):
            lines.append(f"- kernels: {training['kernels']}")
        changed = training.get("data_changed_on_resume")
        if changed:
            lines.append(
                f"- resumed although {', '.join(f'{key} changed' for key in changed)} since its checkpoint "
                f"(allowed explicitly): this is not the run an uninterrupted one would have been"
            )
    lines += ["", "## Results", ""]
    metrics = report["metrics"]
    if report["split"] == "train":
        lines += [
            "These are the training rows, not held-out data: scores on them overstate how the model does on new data.",
            "",
        ]
    if metrics is None and report["split"] == "test":
        lines.append(
            "No held-out data: the test split is empty (data.test_split: 0), so nothing is scored; "
            "the training rows are not a substitute."
        )
    elif metrics is None:
        lines.append(f"No rows in the {report['split']} data, so nothing is scored.")
    elif report["task"] == "classification":
        lines += [
            f"- accuracy: **{metrics['accuracy']:.4f}**",
            f"- loss ({config['loss']['name']}): {metrics['loss']:.4f}",
            "",
            "| class | precision | recall | F1 | support |",
            "| --- | --- | --- | --- | --- |",
        ]
        for row in metrics["per_class"]:
            lines.append(
                f"| {row['class']} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | {row['support']} |"
            )
        for name in ("macro_avg", "weighted_avg"):
            row = metrics[name]
            lines.append(
                f"| *{name.replace('_', ' ')}* | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | {row['support']} |"
            )
        if report["most_confident_errors"]:
            key = "probability" if "probability" in report["most_confident_errors"][0] else "score"
            lines += [
                "",
                "### Most confident mistakes",
                "",
                f"| row | true | predicted | {key} |",
                "| --- | --- | --- | --- |",
            ]
            for e in report["most_confident_errors"]:
                row = f"{e['row']} (id {e['id']})" if "id" in e else e["row"]
                lines.append(f"| {row} | {e['true']} | {e['predicted']} | {e[key]:.4f} |")
    else:
        lines += ["| metric | value |", "| --- | --- |"]
        for key in ("mse", "rmse", "mae", "median_absolute_error", "r2", "loss"):
            lines.append(f"| {key} | {fmt(metrics[key])} |")
    training = report["training"] or {}
    if "findings" in training:
        lines += ["", "## Diagnostics", ""]
        found = training["findings"]
        lines += (
            [f"- {finding}" for finding in found]
            if found
            else [
                "No finding: no dead or saturated layer, update/weight ratios in range, gradients reach the first "
                "layer, and accuracy above chance (the thresholds are in the README)."
            ]
        )
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
        result = (
            "no held-out data (test split is empty): nothing scored"
            if split == "test"
            else f"no rows in the {word or split} data: nothing scored"
        )
    elif report["task"] == "classification":
        result = f"{label}accuracy {metrics['accuracy']:.4f}, {label}loss {metrics['loss']:.4f}{on}"
    else:
        r2 = metrics["r2"]
        result = (
            f"{label}RMSE {metrics['rmse']:.4g}, MAE {metrics['mae']:.4g}, R² {r2 if r2 is None else round(r2, 4)}{on}"
        )
    extra = f"; best epoch {training['best_epoch']} of {training['epochs_run']}" if training else ""
    return f"{result}{extra}; report in {where}"
