"""A trained model as it travels: the network plus what turns raw rows into predictions.

``model.npz`` holds the state dict under ``"<i>.<name>"`` and, as JSON metadata, the architecture,
the resolved config, the task, class and feature names, and the standardization statistics of the
features (and of regression targets), so ``predict`` and ``evaluate`` apply the training transform.
"""
from dataclasses import dataclass

import numpy as np

from .checkpoint import load_checked, require, save_atomic
from .config import resolve
from .errors import CheckpointError, ConfigError, shown
from .layers import sigmoid
from .network import build_mlp
from .preprocessing import Standardizer

KIND = "mlp-model"


def _scaler_to_json(scaler):
    return None if scaler is None else {"mean": scaler.mean.tolist(), "std": scaler.std.tolist()}


def _scaler_from_json(data):
    return None if data is None else Standardizer(np.array(data["mean"]), np.array(data["std"]))


@dataclass
class TrainedModel:
    """``network`` and its data contract; ``outputs``/``predict`` take raw feature rows ``(N, d)``."""

    network: object
    architecture: dict
    config: dict
    task: str
    class_names: list
    feature_names: list
    standardizer: Standardizer = None
    target_scaler: Standardizer = None
    target_names: list = None

    @property
    def loss_name(self):
        return self.config["loss"]["name"]

    def transform(self, X):
        """Raw rows → the network's input: dtype, pixel scale and standardization of training."""
        X = np.asarray(X, dtype=self.network.dtype) * self.network.dtype.type(self.architecture["feature_scale"])
        return X if self.standardizer is None else self.standardizer.apply(X)

    def outputs(self, X):
        """Network outputs for raw rows, in evaluation mode (no dropout, no caches)."""
        return self.network.predict(self.transform(X))

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
            p = sigmoid(outputs[:, 0])
            return np.stack([1 - p, p], axis=1)
        return None

    def save(self, path):
        metadata = {
            "kind": KIND, "architecture": self.architecture, "config": self.config, "task": self.task,
            "class_names": self.class_names, "feature_names": self.feature_names,
            "standardizer": _scaler_to_json(self.standardizer),
            "target_scaler": _scaler_to_json(self.target_scaler),
            "target_names": self.target_names,
        }
        save_atomic(path, self.network.state_dict(), metadata)


def network_from_architecture(architecture, rng=None):
    return build_mlp(architecture["input_width"], architecture["hidden"], architecture["n_outputs"],
                     architecture["activation"], architecture["dropout"], architecture["init"],
                     np.dtype(architecture["dtype"]), rng=rng or np.random.default_rng(0),
                     dropout_rng=np.random.default_rng(0), input_dropout=architecture["input_dropout"])


def load_model(path):
    """Read a ``model.npz`` written by :meth:`TrainedModel.save`, checking everything it declares."""
    arrays, metadata = load_checked(path)
    if metadata.get("kind") != KIND:
        raise CheckpointError(f"{path}: not an mlp model file (kind {metadata.get('kind')!r})")
    require(metadata, {"architecture": ("dict",), "config": ("dict",), "task": ("str",),
                       "class_names": ("list[str]", "none"), "feature_names": ("list[str]",),
                       "standardizer": ("dict", "none"), "target_scaler": ("dict", "none"),
                       "target_names": ("list[str]", "none")}, path)
    architecture = metadata["architecture"]
    require(architecture, {"input_width": ("int",), "hidden": ("list[int]",), "n_outputs": ("int",),
                           "activation": ("str",), "dropout": ("number",), "input_dropout": ("number",),
                           "init": ("str",), "dtype": ("str",), "feature_scale": ("number",)},
            path, "architecture")
    try:
        config = resolve(metadata["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{path}: its stored config is invalid ({exc})") from None
    _check_data_contract(metadata, path)
    try:
        network = network_from_architecture(architecture)
        network.load_state_dict(arrays)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: model file does not fit its own architecture ({exc})") from None
    return TrainedModel(network, architecture, config, metadata["task"], metadata["class_names"],
                        metadata["feature_names"], _scaler_from_json(metadata["standardizer"]),
                        _scaler_from_json(metadata["target_scaler"]), metadata["target_names"])


def _check_data_contract(metadata, path):
    """Task, names and scalers agree with the architecture's widths."""
    width, n_outputs = metadata["architecture"]["input_width"], metadata["architecture"]["n_outputs"]
    task, class_names = metadata["task"], metadata["class_names"]
    if task not in ("classification", "regression"):
        raise CheckpointError(f"{path}: unknown task {task!r}")
    if task == "classification" and (class_names is None or len(class_names) < 2
                                     or len(class_names) != max(n_outputs, 2)):
        raise CheckpointError(f"{path}: class names {shown(class_names)} do not fit {n_outputs} outputs")
    if len(metadata["feature_names"]) != width:
        raise CheckpointError(f"{path}: {len(metadata['feature_names'])} feature names for {width} inputs")
    for key, size in (("standardizer", width), ("target_scaler", n_outputs)):
        scaler = metadata[key]
        if scaler is not None:
            require(scaler, {"mean": ("list[number]",), "std": ("list[number]",)}, path, key)
            if len(scaler["mean"]) != size or len(scaler["std"]) != size:
                raise CheckpointError(f"{path}: {key} does not have {size} entries")
