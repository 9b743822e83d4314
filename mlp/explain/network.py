"""``mlp explain CONFIG|MODEL``: the layer trace of a real minibatch, written out for a lecture."""

from pathlib import Path

import numpy as np

from ..config import Config, load_config
from ..errors import MlpError
from ..model import load_model, model_path
from ..training.experiment import build_experiment
from .render import Renderer
from .trace import trace


def experiment_of(source, overrides=()):
    """The float64 experiment of a config file, or of a trained model (its config, its weights)."""
    path = Path(source)
    if path.is_dir() or path.suffix == ".npz":
        model = load_model(model_path(path))
        config = model.config
        if config.data.name is None and config.data.path is None:
            raise MlpError(f"{path}: trained on rows given as arrays; explain needs data: give its CONFIG instead")
        raw = config.to_dict()
        raw["training"]["dtype"] = "float64"
        raw["model"]["init_from"] = None
        experiment = build_experiment(load_config(raw, overrides))
        experiment.network.load_state_dict(model.network.state_dict())
        return experiment, f"{path} (trained weights)"
    config: Config = load_config(source, [*overrides, "training.dtype=float64"])
    return build_experiment(config), f"{source} (initial weights, seed {config.seed})"


def network_trace(source, rows=2, seed=0, overrides=()):
    """``(experiment, trace, labels)``: the float64 experiment of ``source`` and the trace of ``rows``
    training rows drawn with ``seed`` (``labels``: their classes, or targets)."""
    experiment, described = experiment_of(source, overrides)
    splits = experiment.splits
    n = len(splits.X_train)
    if not 1 <= rows <= n:
        raise MlpError(f"--rows {rows}: the training split has {n} rows; ask for 1 to {n}")
    picked = np.sort(np.random.default_rng(seed).choice(n, rows, replace=False))
    x = splits.X_train[picked]
    y = experiment.targets["train"][picked]
    worked = trace(experiment.network, experiment.loss, experiment.regularizer, x, y, described, picked.tolist())
    return experiment, worked, splits.y_train[picked]


def explain_network(source, rows=2, fmt="text", seed=0, overrides=()):
    """The worked example of a config or model file as text in ``fmt`` (``text``, ``markdown`` or
    ``latex``)."""
    experiment, worked, labels = network_trace(source, rows, seed, overrides)
    config, splits = experiment.config, experiment.splits
    targets = (
        ", ".join(splits.class_names[int(v)] for v in labels)
        if splits.task == "classification"
        else "regression targets"
    )
    where = f"rows {worked.rows} of the training split (after the feature transform)"
    return document(worked, fmt, config.data.name or config.data.path, where, targets, config.regularization.name)


def explain_layers(network, loss, x, y, regularizer=None, fmt="text") -> str:
    """The worked example for any float64 :class:`~mlp.nn.network.Sequential` — layers of your own
    included — on rows ``x`` (N, d) with targets ``y`` in the loss's form (class indices, or values)."""
    if network.dtype != np.float64:
        raise MlpError(f"explain needs a float64 network, got {network.dtype} (build its layers with dtype=np.float64)")
    worked = trace(network, loss, regularizer, x, y, repr(network), list(range(len(x))))
    name = "no" if regularizer is None else type(regularizer).__name__
    return document(worked, fmt, "the rows given", "the rows given", f"y = {np.asarray(y).tolist()}", name)


def document(worked, fmt, data_name, where, targets, penalty_name):
    """The trace ``worked`` as text: title, conventions, forward, loss, backward."""
    out = Renderer(fmt)
    n, d = worked.x.shape
    title = f"Algorithms 6.3 and 6.4 on {n} rows of {data_name}"
    if fmt == "markdown":
        out.lines += [f"## {title}", ""]
    elif fmt == "latex":
        out.lines += [f"\\subsection*{{{title}}}"]
    else:
        out.lines += [title, "=" * len(title)]
    out.paragraph(
        f"Network: {worked.source}, in float64. {where[0].upper()}{where[1:]}; targets: {targets}. Rows are examples: "
        + out.math(r"h^{(0)} = x")
        + f" is {n}×{d} (N × d), "
        + out.math(r"W^{(k)}")
        + " is (units out × units in), and "
        + out.math(r"a^{(k)} = h^{(k-1)} W^{(k)\top} + b^{(k)}")
        + " adds "
        + out.math(r"b^{(k)}")
        + " to every row."
    )
    out.heading("Forward (Algorithm 6.3)")
    current = None
    for k, quantity in worked.forward:
        if k != current and k:
            out.paragraph(f"Layer k = {k}")
            current = k
        out.quantity(quantity)
    out.heading("Loss")
    objective = worked.objective
    out.paragraph(
        out.math(r"J = L + \lambda \Omega")
        + f" = {objective['L']:.6g} + {objective['penalty']:.6g} = {objective['J']:.6g}  "
        f"(L: {worked.loss}, the mean over the {n} rows; "
        + out.math(r"\lambda")
        + f" = {objective['lam']:g}, "
        + out.math(r"\lambda \Omega")
        + f" = {penalty_name} penalty of the weights)"
    )
    out.heading("Backward (Algorithm 6.4)")
    current = None
    for k, quantity in worked.backward:
        if k != current and k is not None:
            out.paragraph(f"Layer k = {k}")
            current = k
        out.quantity(quantity)
    worst = max(q.error for _, q in worked.backward if q.error is not None)
    out.paragraph(
        f"Every gradient above is the one the layers computed; beside each, central finite differences of J "
        f"(in float64): the largest relative error is {worst:.1e}."
    )
    return out.text()
