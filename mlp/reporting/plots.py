"""PNG plots for reports, drawn on matplotlib ``Figure`` objects rendered by Agg (no display).

No pyplot and no ``matplotlib.use``: the backend a caller chose (a notebook's) is left alone, and
runs trained in several threads can write their reports at the same time.
"""

import numpy as np

from ..io.files import write_atomic


def _figure(width, height):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _log_scale(ax, which="y"):
    """A log scale whose tick labels are plain numbers (``0.01``): matplotlib's default labels are
    mathtext, whose parser is not safe to run in two threads at once (reports written in parallel)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    axis = ax.yaxis if which == "y" else ax.xaxis
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    low, high = ax.dataLim.intervaly if which == "y" else ax.dataLim.intervalx
    narrow = low > 0 and high / low < 30  # under a decade or so: label the minor ticks too
    axis.set_minor_formatter(FuncFormatter(lambda value, _: f"{value:.2g}") if narrow else NullFormatter())


def _save(fig, path):
    """Lay out and write the PNG; return the file name (for report.md)."""
    fig.tight_layout()
    write_atomic(path, lambda file: fig.savefig(file, format="png", dpi=100))
    return path.name


def learning_curves(history, path, best_epoch=None, loss_units=None):
    """Training and validation loss per epoch (log scale: it falls by decades), and the validation
    metric beside them; ``loss_units`` names the loss's units (a regression's standardized target).

    A dashed line marks ``best_epoch``, the epoch whose weights the run kept.
    """
    from matplotlib.ticker import MaxNLocator

    epochs = [h["epoch"] for h in history]
    metric = next((k for k in ("val_accuracy", "val_rmse") if k in history[0]), None)
    fig = _figure(10, 4)
    axes = fig.subplots(1, 2)
    axes[0].plot(epochs, [h["train_loss"] for h in history], marker="o", label="train (data + penalty)")
    if history[0]["val_loss"] is not None:
        axes[0].plot(epochs, [h["val_loss"] for h in history], marker="o", label="validation")
    axes[0].set(title="Loss per epoch", xlabel="epoch", ylabel="loss" if loss_units is None else f"loss ({loss_units})")
    losses = [h["train_loss"] for h in history] + [h["val_loss"] for h in history if h["val_loss"] is not None]
    if all(value > 0 for value in losses):
        _log_scale(axes[0])
    if metric and history[0][metric] is not None:
        axes[1].plot(epochs, [h[metric] for h in history], marker="o", color="tab:green")
        axes[1].set(title=f"Validation {metric[4:]}", xlabel="epoch", ylabel=metric[4:])
    else:
        axes[1].text(0.5, 0.5, "no validation split", ha="center", va="center")
        axes[1].set_axis_off()
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
        if best_epoch:
            ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label=f"kept (epoch {best_epoch})")
    axes[0].legend()
    return _save(fig, path)


def diagnostics(history, path):
    """Per layer and epoch: gradient norm, update/weight ratio, dead or saturated share, activation
    mean ± std (``history``: records with a ``layers`` list)."""
    from matplotlib.ticker import MaxNLocator

    records = [r for r in history if r.get("layers")]
    epochs = [r["epoch"] for r in records]
    n_layers = len(records[-1]["layers"])
    fig = _figure(12, 7.5)
    axes = fig.subplots(2, 2).ravel()
    panels = [
        ("grad_norm", "Gradient norm ‖∇W J‖", True),
        ("update_ratio", "Update/weight ratio ‖ΔW‖/‖W‖", True),
        ("inactive", "Dead (ReLU) or saturated (σ, tanh) share", False),
        ("mean", "Activation mean ± std", False),
    ]
    for ax, (key, title, log) in zip(axes, panels):
        for slot in range(n_layers):
            entries = [r["layers"][slot] for r in records]
            if key == "inactive":
                values = [e.get("dead", e.get("saturated")) for e in entries]
            else:
                values = [e.get(key) for e in entries]
            if all(v is None for v in values):
                continue
            values = np.array([np.nan if v is None else v for v in values], dtype=float)
            line = ax.plot(epochs, values, marker=".", label=f"layer {slot + 1}")[0]
            if key == "mean":
                spread = np.array([np.nan if e.get("std") is None else e["std"] for e in entries], dtype=float)
                ax.fill_between(epochs, values - spread, values + spread, color=line.get_color(), alpha=0.08)
        if log and ax.lines and any(np.nanmax(np.abs(drawn.get_ydata())) > 0 for drawn in ax.lines):
            _log_scale(ax)
        ax.set(title=title, xlabel="epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    return _save(fig, path)


def confusion(matrix, class_names, path):
    """The confusion matrix as a heat map with counts and class names."""
    k = len(class_names)
    size = max(4.5, 0.6 * k + 2)
    fig = _figure(size + 1, size)
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_xticks(range(k), class_names, rotation=45 if max(map(len, class_names)) > 3 else 0, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set(title="Confusion matrix (held-out rows)", xlabel="predicted class", ylabel="true class")
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                str(matrix[i, j]),
                ha="center",
                va="center",
                fontsize=8 if k > 6 else 10,
                color="white" if matrix[i, j] > threshold else "black",
            )
    return _save(fig, path)


def regression(y_true, y_pred, out_dir, target="value"):
    """Predicted against true values of ``target`` (in its units), and a histogram of the residuals."""
    y_true, y_pred = y_true.reshape(len(y_true), -1)[:, 0], y_pred.reshape(len(y_pred), -1)[:, 0]
    fig = _figure(5, 5)
    ax = fig.subplots()
    ax.scatter(y_true, y_pred, s=12, alpha=0.7)
    low, high = min(y_true.min(), y_pred.min()), max(y_true.max(), y_pred.max())
    ax.plot([low, high], [low, high], color="black", lw=1, label="perfect prediction")
    ax.set(title="Predicted vs true (held-out rows)", xlabel=f"true {target}", ylabel=f"predicted {target}")
    ax.legend()
    ax.grid(alpha=0.3)
    _save(fig, out_dir / "predicted_vs_true.png")
    fig = _figure(6, 4)
    ax = fig.subplots()
    ax.hist(y_pred - y_true, bins=30, color="tab:orange", edgecolor="black")
    ax.set(title="Residuals (predicted − true)", xlabel=f"residual of {target}", ylabel="rows")
    ax.grid(alpha=0.3)
    _save(fig, out_dir / "residuals.png")
    return {"predicted_vs_true": "predicted_vs_true.png", "residuals": "residuals.png"}


def decision_boundary(model, X, labels, path, resolution=300):
    """The plane of the model's two inputs coloured by predicted class, the rows ``X`` (N, 2) on
    top in their true class's colour."""
    from matplotlib.colors import ListedColormap

    low, high = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * np.maximum(high - low, 1e-9)
    xs = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    ys = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    grid = np.column_stack([np.repeat(xs, resolution), np.tile(ys, resolution)])
    predicted = model.predict_from_outputs(model.outputs(grid, "the plane")).reshape(resolution, resolution)
    k = len(model.class_names)
    colors = [f"C{i % 10}" for i in range(k)]
    fig = _figure(6, 5.4)
    ax = fig.subplots()
    extent = (xs[0], xs[-1], ys[0], ys[-1])
    ax.imshow(
        predicted.T,
        origin="lower",
        extent=extent,
        aspect="auto",
        cmap=ListedColormap(colors),
        alpha=0.3,
        vmin=-0.5,
        vmax=k - 0.5,
        interpolation="nearest",
    )
    for index, name in enumerate(model.class_names):
        chosen = labels == index
        ax.scatter(
            X[chosen, 0],
            X[chosen, 1],
            s=14,
            color=colors[index],
            edgecolor="black",
            linewidth=0.4,
            label=f"class {name}",
        )
    names = model.transform.input_columns
    ax.set(title="Decision regions and training rows", xlabel=names[0], ylabel=names[1])
    ax.legend(loc="best", fontsize="small")
    return _save(fig, path)


def metric_versus_values(columns, metric, path):
    """One scatter panel per varied key: ``metric`` against the key's value in each trial.

    ``columns``: ``{key: [(value, metric value, status), ...]}``. Numbers on a linear axis (log when
    they span over two decades), anything else (lists, names) as categories; pruned trials grey.
    """
    keys = list(columns)
    fig = _figure(max(4.0, 3.6 * len(keys)), 3.6)
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    colors = {"finished": "tab:blue", "pruned": "tab:grey"}
    for ax, key in zip(axes, keys):
        points = [(v, m, s) for v, m, s in columns[key] if m is not None]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v, _, _ in points)
        if numeric:
            xs = [v for v, _, _ in points]
            positive = [x for x in xs if x > 0]
            if len(positive) == len(xs) and positive and max(positive) / min(positive) > 100:
                _log_scale(ax, "x")
        else:
            labels = list(dict.fromkeys(str(v) for v, _, _ in points))
            xs = [labels.index(str(v)) for v, _, _ in points]
            ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        for status, color in colors.items():
            chosen = [(x, m) for x, (_, m, s) in zip(xs, points) if s == status]
            if chosen:
                ax.scatter([x for x, _ in chosen], [m for _, m in chosen], color=color, label=status, alpha=0.8)
        ax.set(xlabel=key, ylabel=metric)
        ax.grid(alpha=0.3)
    axes[0].legend()
    return _save(fig, path)


def overlaid_curves(histories):
    """PNG bytes: each run's validation loss and validation metric per epoch, on shared axes
    (``histories``: ``{run name: epoch records}``)."""
    import io

    from matplotlib.ticker import MaxNLocator

    fig = _figure(11, 4)
    axes = fig.subplots(1, 2)
    metric = None
    for name, history in histories.items():
        epochs = [h["epoch"] for h in history]
        losses = [h.get("val_loss") if h.get("val_loss") is not None else h.get("train_loss") for h in history]
        axes[0].plot(epochs, losses, marker=".", label=name)
        metric = metric or next(
            (k for k in ("val_accuracy", "val_rmse") if history and history[0].get(k) is not None), None
        )
        if metric:
            axes[1].plot(epochs, [h.get(metric) for h in history], marker=".", label=name)
    losses = [v for line in axes[0].lines for v in line.get_ydata() if v is not None]
    if losses and min(losses) > 0:
        _log_scale(axes[0])
    axes[0].set(title="Validation loss per epoch", xlabel="epoch", ylabel="loss")
    axes[1].set(title=f"Validation {metric[4:] if metric else 'metric'}", xlabel="epoch")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
