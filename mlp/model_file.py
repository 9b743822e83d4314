"""A trained model as it travels: the network plus what turns raw rows into predictions.

``model.npz`` holds the state dict under ``"<i>.<name>"`` and, as JSON metadata, the architecture,
the resolved config, the task, class and feature names, and the standardization statistics of the
features (and of regression targets), so ``predict`` and ``evaluate`` apply the training transform.
"""
from dataclasses import dataclass

import numpy as np

from .checkpoint import load_checked, save_atomic
from .errors import CheckpointError
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
        X = np.asarray(X, dtype=self.network.dtype) * self.network.dtype.type(self.architecture.get("feature_scale", 1.0))
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
                     dropout_rng=np.random.default_rng(0), input_dropout=architecture.get("input_dropout", 0.0))


def load_model(path):
    """Read a ``model.npz`` written by :meth:`TrainedModel.save`."""
    arrays, metadata = load_checked(path)
    if metadata.get("kind") != KIND:
        raise CheckpointError(f"{path}: not an mlp model file (kind {metadata.get('kind')!r})")
    try:
        network = network_from_architecture(metadata["architecture"])
        network.load_state_dict(arrays)
        return TrainedModel(network, metadata["architecture"], metadata["config"], metadata["task"],
                            metadata["class_names"], metadata["feature_names"],
                            _scaler_from_json(metadata["standardizer"]),
                            _scaler_from_json(metadata["target_scaler"]), metadata.get("target_names"))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: model file does not fit its own architecture ({exc})") from None
