"""A trained model as it travels: the network, the feature transform that feeds it, and what its
outputs mean (the task, the class names, the target's units).

``model.npz`` holds the network's state dict under ``"<i>.<name>"`` and, as JSON metadata, the
architecture, the resolved config, the task, the class names, the feature transform (column names,
scale, standardization statistics) and the regression target's scaling. :func:`load_model` checks
every field before anything uses it; a model file written by an earlier mlp loads the same way.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import export, kernels
from .config import Config, resolve
from .data.transform import FeatureTransform, Standardizer
from .errors import CheckpointError, ConfigError, DataError, MlpError, clipped, shown
from .io.archive import load_checked, require, save_atomic
from .nn.network import Architecture, Sequential

KIND = "mlp-model"
PROBABILISTIC_LOSSES = ("cross_entropy", "binary_cross_entropy")


@dataclass
class Model:
    """A network and its data contract; ``predict``, ``predict_proba`` and ``outputs`` take raw
    feature rows ``(N, d)``, the columns in the order of ``feature_names``.

    ``task`` is ``"classification"`` (``class_names`` name the labels, in the order of the
    outputs) or ``"regression"`` (values come back in the target's own units).
    """

    network: Sequential
    architecture: Architecture | None  # None: a network of the caller's own layers (not saved)
    config: Config
    task: str
    class_names: list | None
    transform: FeatureTransform
    target_scaler: Standardizer | None = None
    target_names: list | None = None

    @property
    def feature_names(self) -> list:
        return self.transform.feature_names

    @property
    def loss_name(self) -> str:
        return self.config.loss.name

    def outputs(self, X, source: str = "the rows") -> np.ndarray:
        """Network outputs ``(N, K)`` for raw rows, in evaluation mode (no dropout, no caches);
        ``source`` names the rows in messages (a file)."""
        return self.network_outputs(self.transform.apply(X, self.network.dtype, source=source), source)

    def network_outputs(self, inputs, source: str = "the rows") -> np.ndarray:
        """Network outputs for rows already through the transform; ``DataError`` naming the first row
        whose outputs overflow (weights, or values, too large for the dtype): never NaN predictions."""
        outputs = self.network.predict(inputs)
        finite = np.isfinite(outputs).all(axis=1)
        if not finite.all():
            row = int(np.argmin(finite))
            raise DataError(
                f"{source}: row {row}: the network's outputs overflow {outputs.dtype} (its weights or "
                f"the row's values are too large); nothing predicted"
            )
        return outputs

    def predict(self, X) -> np.ndarray:
        """Class names ``(N,)`` for a classifier; values ``(N, k)`` in the target's units for regression."""
        predicted = self.predict_from_outputs(self.outputs(X))
        return np.asarray(self.class_names)[predicted] if self.task == "classification" else predicted

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(N, K)`` (columns in the order of ``class_names``).

        Only the cross-entropies give probabilities; other losses raise ``MlpError``.
        """
        probabilities = self.probabilities(self.outputs(X)) if self.task == "classification" else None
        if probabilities is None:
            raise MlpError(
                f"a model trained with loss {self.loss_name} gives no probabilities; "
                f"use predict (or outputs for its scores)"
            )
        return probabilities

    def predict_from_outputs(self, outputs):
        """Class indices ``(N,)`` or regression values ``(N, k)`` in the target's original units."""
        if self.task == "classification":
            if outputs.shape[1] == 1:
                return (outputs[:, 0] > 0).astype(np.int64)
            return outputs.argmax(axis=1)
        return self.in_target_units(outputs)

    def in_target_units(self, values):
        """Regression values (standardized, as the network sees them) in the target's own units."""
        values = np.asarray(values, dtype=np.float64)
        return values if self.target_scaler is None else self.target_scaler.inverse(values)

    def probabilities(self, outputs):
        """Class probabilities ``(N, K)`` for the cross-entropies; ``None`` for margin losses."""
        if self.loss_name == "cross_entropy":
            shifted = outputs - outputs.max(axis=1, keepdims=True)
            exp = np.exp(shifted)
            return exp / exp.sum(axis=1, keepdims=True)
        if self.loss_name == "binary_cross_entropy":
            p = kernels.sigmoid(outputs[:, 0])
            return np.stack([1 - p, p], axis=1)
        return None

    def save(self, path, format: str | None = None) -> Path:
        """Write the model to ``path`` atomically; return the path.

        ``format``: ``"npz"`` (mlp's own model file, which ``mlp.load`` reads), ``"onnx"`` (the whole
        model as one ONNX graph, transform included) or ``"safetensors"`` (the weights, with the
        architecture and transform as metadata); by default the one ``path``'s suffix names, else npz.
        """
        format = export.format_for(path, format)
        if format != "npz":
            return export.write(self, path, format)
        if self.architecture is None:
            raise MlpError(
                f"{path}: this model's network has layers of your own ({self.network!r}); model.npz holds mlp's "
                f"built-in architecture only: keep the model in Python, or save model.network.state_dict() with NumPy"
            )
        transform = self.transform.to_metadata()
        metadata = {
            "kind": KIND,
            "architecture": {**self.architecture.to_dict(), "feature_scale": transform["feature_scale"]},
            "config": self.config.to_dict(),
            "task": self.task,
            "class_names": self.class_names,
            "feature_names": transform["feature_names"],
            "standardizer": transform["standardizer"],
            "encoding": transform["encoding"],
            "target_scaler": None if self.target_scaler is None else self.target_scaler.to_json(),
            "target_names": self.target_names,
            # rows given as arrays leave the config without a data source; a model file whose config
            # lost its source otherwise has been edited
            "rows_from": "arrays" if self.config.data.name is None and self.config.data.path is None else "config",
        }
        save_atomic(path, self.network.state_dict(), metadata)
        return Path(path)


def model_path(path) -> Path:
    """``path`` itself, or the ``model.npz`` inside it when it is a run directory."""
    path = Path(path)
    return path / "model.npz" if path.is_dir() else path


def load_model(path) -> Model:
    """Read a ``model.npz`` written by :meth:`Model.save`, checking everything it declares."""
    arrays, metadata = load_checked(path)
    if metadata.get("kind") != KIND:
        raise CheckpointError(f"{path}: not an mlp model file (kind {metadata.get('kind')!r})")
    require(
        metadata,
        {
            "architecture": ("dict",),
            "config": ("dict",),
            "task": ("str",),
            "class_names": ("list[str]", "none"),
            "feature_names": ("list[str]",),
            "standardizer": ("dict", "none"),
            "target_scaler": ("dict", "none"),
            "target_names": ("list[str]", "none"),
        },
        path,
    )
    stored = dict(metadata["architecture"])
    require(
        stored,
        {
            "input_width": ("int",),
            "hidden": ("list[int]",),
            "n_outputs": ("int",),
            "activation": ("str",),
            "dropout": ("number",),
            "input_dropout": ("number",),
            "init": ("str",),
            "dtype": ("str",),
            "feature_scale": ("number",),
        },
        path,
        "architecture",
    )
    try:
        raw = metadata["config"]
        config = Config.from_dict(raw) if metadata.get("rows_from") == "arrays" else resolve(raw)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: its stored config is invalid ({exc})") from None
    _check_data_contract(metadata, path)
    try:
        transform = FeatureTransform.from_metadata({**metadata, "feature_scale": stored.pop("feature_scale")})
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: its feature transform is unreadable ({clipped(repr(exc))})") from None
    for key, array in arrays.items():
        if array.dtype.kind != "f" or not np.all(np.isfinite(array)):
            raise CheckpointError(f"{path}: array {key!r} is not a finite float array ({array.dtype})")
    try:
        architecture = Architecture(**stored)
        network = architecture.build(np.random.default_rng(0), np.random.default_rng(0))
        network.load_state_dict(arrays)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: model file does not fit its own architecture ({exc})") from None
    return Model(
        network,
        architecture,
        config,
        metadata["task"],
        metadata["class_names"],
        transform,
        Standardizer.from_json(metadata["target_scaler"]),
        metadata["target_names"],
    )


def _check_data_contract(metadata, path):
    """Task, names and scalers agree with the architecture's widths."""
    width, n_outputs = metadata["architecture"]["input_width"], metadata["architecture"]["n_outputs"]
    task, class_names = metadata["task"], metadata["class_names"]
    if task not in ("classification", "regression"):
        raise CheckpointError(f"{path}: unknown task {task!r}")
    if task == "classification" and (
        class_names is None or len(class_names) < 2 or len(class_names) != max(n_outputs, 2)
    ):
        raise CheckpointError(f"{path}: class names {shown(class_names)} do not fit {n_outputs} outputs")
    if len(metadata["feature_names"]) != width:
        raise CheckpointError(f"{path}: {len(metadata['feature_names'])} feature names for {width} inputs")
    encoding = metadata.get("encoding")
    if encoding is not None:
        require(metadata, {"encoding": ("dict",)}, path)
        require(encoding, {"missing": ("str",), "columns": ("list[dict]",)}, path, "encoding")
    numeric = width if encoding is None else sum(plan.get("kind") == "numeric" for plan in encoding["columns"])
    for key, size in (("standardizer", numeric), ("target_scaler", n_outputs)):
        scaler = metadata[key]
        if scaler is not None:
            require(scaler, {"mean": ("list[number]",), "std": ("list[number]",)}, path, key)
            if len(scaler["mean"]) != size or len(scaler["std"]) != size:
                raise CheckpointError(f"{path}: {key} does not have {size} entries")
