"""An experiment: everything a run is made of, built from a config (no training yet).

The rows come from the config's data set or file, or from the caller as a
:class:`~mlp.data.datasets.Dataset`. Randomness comes from one seed split into four named streams:
``init`` (weights), ``split`` (test and validation rows), ``shuffle`` (batch order) and ``dropout``
(masks).
"""

import hashlib
from dataclasses import dataclass, field

import numpy as np

from ..config import Config
from ..data.datasets import Dataset, builtin_files, fingerprint, load_builtin, load_path
from ..data.splits import Splits, fit_encoding, prepare, split_rows_of
from ..data.table import Cells
from ..errors import CheckpointError, ConfigError, DataError, shown
from ..export.safetensors_file import read_state_dict
from ..io.archive import load_state_dict
from ..model import Model
from ..nn.losses import CLASSIFICATION_LOSSES, REGRESSION_LOSSES, check_weights, class_targets, get_loss
from ..nn.network import Architecture, Sequential
from ..nn.regularizers import get_regularizer
from ..optim.optimizers import get_optimizer
from ..optim.schedules import get_schedule
from .memory import check_fits

STREAMS = ("init", "split", "shuffle", "dropout")


def random_streams(seed):
    """One Generator per named stream, all derived from ``seed``."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.default_rng(child) for name, child in zip(STREAMS, children)}


def align_labels(labels, names, class_names, source):
    """``labels`` (indices into ``names``) re-indexed into ``class_names``, matched by name."""
    index = {name: i for i, name in enumerate(class_names)}
    unknown = [name for name in names if name not in index]
    if unknown:
        raise ConfigError(f"{source}: class {shown(unknown[0])} is not one the model knows ({', '.join(class_names)})")
    return np.array([index[name] for name in names], dtype=np.int64)[labels]


def load_dataset(data):
    """The rows a config's ``data`` section names: a built-in set, or a file (and a test file)."""
    if data.name is not None:
        return load_builtin(data.name, data.id_column, data.drop_missing_target, data.params)
    dataset = load_path(data.path, data.target, data.task, data.id_column, data.drop_missing_target)
    if data.test_path is not None:
        test = load_path(data.test_path, data.target, data.task, data.id_column, data.drop_missing_target)
        if not isinstance(test.X, Cells) and test.n_features != dataset.n_features:
            raise ConfigError(f"data.test_path has {test.n_features} features but data.path has {dataset.n_features}")
        y_test = (
            test.y
            if dataset.task == "regression"
            else align_labels(test.y, test.class_names, dataset.class_names, "data.test_path")
        )
        dataset.X_test, dataset.y_test, dataset.test_ids = test.X, y_test, test.ids
    return dataset


def check_task(config, dataset):
    """Loss/task agreement, checked once the data's task is known."""
    loss, task = config.loss.name, dataset.task
    n_classes = len(dataset.class_names or ())
    where = f"loss.name: {loss}"
    if config.data.task != "auto" and task != config.data.task:
        raise ConfigError(f"data.task: {config.data.task} does not fit {dataset.name} ({task})")
    if task == "regression" and loss in CLASSIFICATION_LOSSES:
        raise ConfigError(
            f"{where} needs class labels, but the data's target is a regression target (floats); if its numbers "
            f"are class labels (written 1.0, 2.0, …), set data.task: classification"
        )
    if task == "classification" and loss in REGRESSION_LOSSES and config.loss.target_encoding is None:
        raise ConfigError(
            f"{where} is a regression loss but the target holds class labels (whole numbers or text are read as "
            f"classes); if the target is a quantity, set data.task: regression; to train on class labels, set "
            f"loss.target_encoding to one_hot or plus_minus_one, or use a classification loss"
        )
    if task == "classification" and n_classes < 2:
        source = config.data.path or config.data.name or "the data"
        raise DataError(f"{source}: the target holds a single class; classification needs at least 2")
    if loss == "binary_cross_entropy" and n_classes != 2:
        raise ConfigError(f"{where} needs exactly 2 classes, the data has {n_classes}")
    monitor = config.training.early_stopping.monitor
    if monitor == ("val_accuracy" if task == "regression" else "val_rmse"):
        raise ConfigError(f"training.early_stopping.monitor: {monitor} does not apply to a {task} task")


@dataclass
class Experiment:
    """Everything a run is made of: the config, the prepared data, the network and what trains it."""

    config: Config
    splits: Splits
    architecture: Architecture | None  # None: a network of the caller's own layers
    network: Sequential
    loss: object
    regularizer: object
    optimizer: object
    schedule: object
    streams: dict
    targets: dict = field(default_factory=dict)
    fingerprints: dict = field(default_factory=dict)
    sample_weight: np.ndarray | None = None  # the training rows' weights (None: all alike)

    def model(self):
        """The network as a :class:`~mlp.model.Model` (it shares the network's arrays)."""
        s = self.splits
        return Model(
            self.network,
            self.architecture,
            self.config,
            s.task,
            s.class_names,
            s.transform,
            s.target_scaler,
            s.target_names,
        )

    def loss_targets(self, y):
        """Targets in the form the loss takes (encoded where a regression loss meets class labels)."""
        dtype, n_outputs = self.network.dtype, self.splits.n_outputs
        if self.splits.task == "classification":
            y = class_targets(y, self.config.loss.name, self.config.loss.target_encoding, n_outputs, dtype)
        else:
            y = np.asarray(y, dtype=dtype)
        return self.loss.prepare_target(y, (len(y), n_outputs))


def describe(config: Config, dataset: Dataset | None = None, streams=None):
    """What a config describes, nothing allocated for training: ``(dataset, rows, transform,
    architecture)`` — the data (loaded unless given), its seeded split, the feature transform with
    what is done to each column fitted on the training rows, and the network."""
    streams = random_streams(config.seed) if streams is None else streams
    dataset = load_dataset(config.data) if dataset is None else dataset
    check_task(config, dataset)
    if dataset.n_features == 0:
        raise DataError(
            f"{dataset.where}: the data has no feature columns, only the target "
            f"({', '.join(dataset.target_names or ['y'])}); a network needs at least one input"
        )
    data = config.data
    rows = split_rows_of(dataset, streams["split"], data.validation_split, data.test_split, data.corrupt_targets)
    transform = fit_encoding(dataset, rows, data)
    if dataset.task == "classification":
        n_outputs = 1 if config.loss.name == "binary_cross_entropy" else len(dataset.class_names or ())
    else:
        n_outputs = dataset.y.shape[1]
    model = config.model
    architecture = Architecture(
        transform.width,
        list(model.hidden),
        n_outputs,
        model.activation,
        model.dropout,
        model.input_dropout,
        model.init,
        config.training.dtype,
    )
    return dataset, rows, transform, architecture


def _check_network(network, config, width, n_outputs):
    """A network of the caller's own layers fits the data: ``width`` inputs, ``n_outputs`` outputs."""
    if not isinstance(network, Sequential):
        raise ConfigError(f"network: must be an mlp.Sequential of layers, got {type(network).__name__}")
    if network.dtype != np.dtype(config.training.dtype):
        raise ConfigError(f"network: its parameters are {network.dtype}; set training.dtype: {network.dtype}")
    try:
        output = network.forward(np.zeros((1, width), dtype=network.dtype), training=False)
    except ValueError as exc:
        raise ConfigError(f"network: does not take the data's {width} input features ({exc})") from None
    if np.shape(output) != (1, n_outputs):
        raise ConfigError(f"network: gives {np.shape(output)[1:]} outputs per row, the data and loss need {n_outputs}")


def data_fingerprints(config: Config, given: Dataset | None = None) -> dict:
    """SHA-256 of every file the run reads rows or weights from, by config key (or of the rows given
    as arrays, under ``data``): what a resumed run must find unchanged."""
    data, prints = config.data, {}
    if given is not None:
        prints["data"] = fingerprint(given)
    elif data.name is not None:
        prints["data.name"] = fingerprint(builtin_files(data.name))
    for key, value in (
        ("data.path", data.path),
        ("data.test_path", data.test_path),
        ("model.init_from", config.model.init_from),
    ):
        if value is not None:
            prints[key] = fingerprint(value if isinstance(value, list) else [value])
    return prints


def held_out_rows(config: Config):
    """The test split's rows of the config's data as they come, before the feature transform (an
    array, or a table's cells): what ``mlp predict`` would be given for them."""
    dataset, rows, _, _ = describe(config)
    source = dataset.X_test if rows.own_test else dataset.X
    return source.subset(rows.test) if isinstance(source, Cells) else np.asarray(source)[rows.test]


def initial_weights(path):
    """The state dict ``model.init_from`` names: an mlp model file, an ``np.savez`` state dict, or a
    safetensors file (mlp's, or a PyTorch ``nn.Sequential``'s: ``<i>.weight``/``<i>.bias``)."""
    if str(path).lower().endswith(".safetensors"):
        return read_state_dict(path)
    return load_state_dict(path)


def build_experiment(
    config: Config, dataset: Dataset | None = None, sample_weight=None, network: Sequential | None = None
) -> Experiment:
    """Load (unless given) and split the data, build the network, loss, regularizer, optimizer and schedule.

    ``sample_weight`` (N,) weights the training rows in the loss (J = Σ w L / Σ w per batch). A
    network that would not fit in the memory available is refused before it is built. ``network``:
    a :class:`Sequential` of the caller's own layers instead of the config's ``model`` section
    (its widths must fit the data; its dtype is ``training.dtype``).
    """
    streams = random_streams(config.seed)
    given, given_network = dataset, network
    dataset, rows, transform, architecture = describe(config, dataset, streams)
    if network is None:
        check_fits(architecture, config)
    else:
        _check_network(network, config, transform.width, architecture.n_outputs)
    fingerprints = data_fingerprints(config, given)
    if sample_weight is not None:
        try:
            sample_weight = check_weights(sample_weight, len(dataset.y))
        except ValueError as exc:
            raise DataError(f"sample_weight: {exc}") from None
        fingerprints["sample_weight"] = hashlib.sha256(sample_weight.tobytes()).hexdigest()
    data = config.data
    splits = prepare(
        dataset,
        rows,
        transform,
        data.standardize,
        np.dtype(config.training.dtype),
        data.standardize_target,
        architecture.n_outputs,
    )
    splits.ids = dataset.test_ids if rows.own_test else (None if dataset.ids is None else dataset.ids[rows.test])
    del dataset
    network = architecture.build(streams["init"], streams["dropout"]) if network is None else network
    if config.model.init_from is not None:
        try:
            network.load_state_dict(initial_weights(config.model.init_from))
        except (ValueError, CheckpointError) as exc:
            raise ConfigError(f"model.init_from: {exc}") from None
    loss = get_loss(config.loss.name, **config.loss.arguments())
    regularizer = get_regularizer(config.regularization.name, **config.regularization.arguments())
    optimizer = get_optimizer(config.optimizer.name, network, **config.optimizer.arguments())
    schedule_config = config.optimizer.schedule
    schedule = get_schedule(
        schedule_config.name, config.optimizer.lr, config.training.epochs, **schedule_config.arguments()
    )
    experiment = Experiment(
        config,
        splits,
        architecture if given_network is None else None,
        network,
        loss,
        regularizer,
        optimizer,
        schedule,
        streams,
        fingerprints=fingerprints,
        sample_weight=None if sample_weight is None else sample_weight[rows.train],
    )
    for split in ("train", "val", "test"):
        experiment.targets[split] = experiment.loss_targets(getattr(splits, f"y_{split}"))
    return experiment
