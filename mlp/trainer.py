"""The training loop: minibatch SGD on J = L + λΩ, with validation, early stopping and checkpoints.

Per epoch: minibatches in seeded order; forward (Algorithm 6.3), J = data loss + λΩ, backward
(Algorithm 6.4), optimizer step; then the validation loss and metric, early stopping, one line of
``metrics.jsonl`` and an atomic ``last.npz``. The model kept at the end is the best one on the
validation set (the last one when there is no validation set).

Randomness comes from one seed split into four named streams: ``init`` (weights), ``split`` (test
and validation rows), ``shuffle`` (batch order) and ``dropout`` (masks). ``last.npz`` stores the
weights, optimizer state, generator states, early-stopping state and best weights. It is saved at
every epoch's end and, inside an epoch, when the run is interrupted (Ctrl-C or SIGTERM) or
``training.checkpoint_seconds`` have passed since the last save; then it also stores the epoch's
row order and the position in it. A run resumed from any of them ends bit-identical to an
uninterrupted one.
"""
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import config as config_module
from .batching import Minibatches, worth_prefetching
from .checkpoint import load_checked, load_state_dict, require, save_atomic
from .datasets import load_builtin, load_path
from .errors import CheckpointError, ConfigError, NonFiniteError, clipped, shown
from .files import write_text_atomic
from .losses import loss_from_config
from .model_file import TrainedModel
from .network import build_mlp
from .optim import get_optimizer
from .preprocessing import class_targets, prepare
from .regularizers import apply_max_norm, get_regularizer
from .schedules import get_schedule

STREAMS = ("init", "split", "shuffle", "dropout")
CHECKPOINT_KIND = "mlp-checkpoint"
EVAL_BATCH = 1024


class Interrupted(Exception):
    """Training stopped on request (SIGINT/SIGTERM) after saving a resumable checkpoint."""


def random_streams(seed):
    """One Generator per named stream, all derived from ``seed``."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.default_rng(child) for name, child in zip(STREAMS, children)}


def load_dataset(data_config):
    if data_config["name"] is not None:
        dataset = load_builtin(data_config["name"])
    else:
        dataset = load_path(data_config["path"], data_config["target"], data_config["task"])
        if data_config["test_path"] is not None:
            test = load_path(data_config["test_path"], data_config["target"], data_config["task"])
            if test.n_features != dataset.n_features:
                raise ConfigError(
                    f"data.test_path has {test.n_features} features but data.path has {dataset.n_features}"
                )
            y_test = test.y if dataset.task == "regression" else \
                align_labels(test.y, test.class_names, dataset.class_names, "data.test_path")
            dataset.X_test, dataset.y_test = test.X, y_test
    if data_config["task"] != "auto" and dataset.task != data_config["task"]:
        raise ConfigError(f"data.task: {data_config['task']} does not fit {dataset.name} ({dataset.task})")
    return dataset


def _is_permutation(order, n):
    """Whether ``order`` is a 1-D integer array holding each of 0..n−1 once."""
    return (order is not None and order.ndim == 1 and order.dtype.kind in "iu" and len(order) == n
            and np.array_equal(np.sort(order), np.arange(n)))


def align_labels(labels, names, class_names, source):
    """``labels`` (indices into ``names``) re-indexed into ``class_names``, matched by name."""
    index = {name: i for i, name in enumerate(class_names)}
    unknown = [name for name in names if name not in index]
    if unknown:
        raise ConfigError(f"{source}: class {shown(unknown[0])} is not one the model knows ({', '.join(class_names)})")
    return np.array([index[name] for name in names], dtype=np.int64)[labels]


@dataclass
class Experiment:
    """Everything a run is made of, built from a resolved config (no training yet)."""

    config: dict
    splits: object
    network: object
    loss: object
    regularizer: object
    optimizer: object
    schedule: object
    streams: dict
    architecture: dict
    targets: dict = field(default_factory=dict)

    def trained_model(self):
        s = self.splits
        return TrainedModel(self.network, self.architecture, self.config, s.task, s.class_names,
                            s.feature_names, s.standardizer, s.target_scaler, s.target_names)


def build_experiment(config):
    """Load and split the data, build the network, loss, regularizer, optimizer and schedule."""
    streams = random_streams(config["seed"])
    data_config, model_config = config["data"], config["model"]
    dataset = load_dataset(data_config)
    classification = dataset.task == "classification"
    n_classes = len(dataset.class_names) if classification else 0
    config_module.check_task(config, dataset.task, n_classes)
    loss_name = config["loss"]["name"]
    n_outputs = 1 if loss_name == "binary_cross_entropy" else (n_classes if classification else dataset.y.shape[1])
    dtype = np.dtype(config["training"]["dtype"])
    splits = prepare(dataset, streams["split"], data_config["validation_split"], data_config["test_split"],
                     data_config["standardize"], dtype, data_config["standardize_target"],
                     data_config["corrupt_targets"], n_outputs)
    architecture = {
        "input_width": int(dataset.n_features), "hidden": model_config["hidden"], "n_outputs": n_outputs,
        "activation": model_config["activation"], "dropout": model_config["dropout"],
        "input_dropout": model_config["input_dropout"],
        "init": model_config["init"], "dtype": dtype.name, "feature_scale": dataset.feature_scale,
    }
    del dataset
    network = build_mlp(architecture["input_width"], model_config["hidden"], n_outputs,
                        model_config["activation"], model_config["dropout"], model_config["init"], dtype,
                        rng=streams["init"], dropout_rng=streams["dropout"],
                        input_dropout=model_config["input_dropout"])
    if model_config["init_from"] is not None:
        try:
            network.load_state_dict(load_state_dict(model_config["init_from"]))
        except (ValueError, CheckpointError) as exc:
            raise ConfigError(f"model.init_from: {exc}") from None
    loss = loss_from_config(config["loss"])
    reg_config = config["regularization"]
    regularizer = get_regularizer(reg_config["name"], reg_config["lambda"],
                                  **({"l1_ratio": reg_config["l1_ratio"]} if reg_config["name"] == "elastic_net" else {}))
    opt_config = config["optimizer"]
    options = {key: opt_config[key] for key in config_module.OPTIMIZER_KEYS[opt_config["name"]]}
    optimizer = get_optimizer(opt_config["name"], network, lr=opt_config["lr"], **options)
    sched = opt_config["schedule"]
    schedule = get_schedule(sched["name"], opt_config["lr"], config["training"]["epochs"],
                            warmup_epochs=sched["warmup_epochs"],
                            **{key: sched[key] for key in config_module.SCHEDULE_KEYS[sched["name"]]})
    experiment = Experiment(config, splits, network, loss, regularizer, optimizer, schedule, streams, architecture)
    for split in ("train", "val", "test"):
        experiment.targets[split] = prepare_targets(experiment, getattr(splits, f"y_{split}"))
    return experiment


def prepare_targets(experiment, y):
    """Targets in the form the loss takes (encoded where a regression loss meets class labels)."""
    dtype = experiment.network.dtype
    if experiment.splits.task == "classification":
        y = class_targets(y, experiment.config["loss"], experiment.splits.n_outputs, dtype)
    else:
        y = np.asarray(y, dtype=dtype)
    return experiment.loss.prepare_target(y, (len(y), experiment.splits.n_outputs))


def evaluate_split(experiment, X, target):
    """``(mean data loss, metric)`` over all rows: accuracy, or RMSE in the target's units."""
    network, loss = experiment.network, experiment.loss
    total, outputs = 0.0, []
    for start in range(0, len(X), EVAL_BATCH):
        out = network.forward(X[start:start + EVAL_BATCH], training=False)
        total += loss.forward_prepared(out, target[start:start + EVAL_BATCH]) * len(out)
        outputs.append(out)
    outputs = np.concatenate(outputs)
    model = experiment.trained_model()
    predicted = model.predict_from_outputs(outputs)
    if experiment.splits.task == "classification":
        labels = target if target.ndim == 1 else target.argmax(axis=1)
        metric = float(np.mean(predicted == labels))
    else:
        truth = model.in_target_units(target)
        metric = float(np.sqrt(np.mean((predicted - truth) ** 2)))
    return total / len(X), metric


@dataclass
class Progress:
    """Where a run stands; everything in it goes into ``last.npz``."""

    epoch: int = 0                 # epochs completed
    batch: int = 0                 # next batch of the current epoch (mid-epoch checkpoints)
    sums: dict = field(default_factory=lambda: {"data": 0.0, "penalty": 0.0, "rows": 0})
    best_value: float = None
    best_epoch: int = 0
    bad_epochs: int = 0
    stop_reason: str = None
    finished: bool = False
    elapsed: float = 0.0
    order: np.ndarray = None
    best_state: dict = None


class Trainer:
    """Runs an :class:`Experiment` in a run directory; ``stop_requested`` ends it resumably."""

    def __init__(self, experiment, run_dir, quiet=False, stream=None):
        self.experiment = experiment
        self.run_dir = Path(run_dir)
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.stop_requested = None
        self._saved_at = time.perf_counter()
        self._epoch_started = None
        self.progress = Progress()
        es = experiment.config["training"]["early_stopping"]
        self.monitor = es["monitor"]
        self.metric_name = "val_accuracy" if experiment.splits.task == "classification" else "val_rmse"

    # ---------------------------------------------------------------- checkpoints

    @property
    def has_validation(self):
        return len(self.experiment.splits.X_val) > 0

    def save_checkpoint(self):
        p, run = self.progress, self.experiment
        arrays = {f"model.{k}": v for k, v in run.network.state_dict().items()}
        arrays.update({f"optimizer.{k}": v for k, v in run.optimizer.state_dict().items()})
        if p.best_state is not None:
            arrays.update({f"best.{k}": v for k, v in p.best_state.items()})
        if p.order is not None and p.batch > 0:
            arrays["order"] = p.order
        elapsed = p.elapsed
        if p.batch > 0 and self._epoch_started is not None:  # inside an epoch: its time so far counts
            elapsed += time.perf_counter() - self._epoch_started
        metadata = {
            "kind": CHECKPOINT_KIND, "epoch": p.epoch, "batch": p.batch, "sums": p.sums,
            "best_value": p.best_value, "best_epoch": p.best_epoch, "bad_epochs": p.bad_epochs,
            "stop_reason": p.stop_reason, "finished": p.finished, "elapsed": elapsed,
            "rng": {name: run.streams[name].bit_generator.state for name in ("shuffle", "dropout")},
            "config_hash": config_module.structural_hash(run.config),
        }
        save_atomic(self.run_dir / "last.npz", arrays, metadata)
        self._saved_at = time.perf_counter()

    def restore(self, path):
        arrays, meta = load_checked(path)
        self._check_checkpoint(path, arrays, meta)

        def section(prefix):
            return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        try:
            self.experiment.network.load_state_dict(section("model."))
            self.experiment.optimizer.load_state_dict(section("optimizer."))
        except ValueError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
        for name in ("shuffle", "dropout"):
            try:
                self.experiment.streams[name].bit_generator.state = meta["rng"][name]
            except (KeyError, TypeError, ValueError, OverflowError) as exc:
                raise CheckpointError(f"{path}: unusable {name} generator state ({clipped(repr(exc))})") from None
        best = section("best.")
        self.progress = Progress(meta["epoch"], meta["batch"], meta["sums"], meta["best_value"],
                                 meta["best_epoch"], meta["bad_epochs"], meta["stop_reason"],
                                 meta["finished"], meta["elapsed"], arrays.get("order"), best or None)
        self._truncate_metrics(meta["epoch"])

    def _check_checkpoint(self, path, arrays, meta):
        """Every field ``restore`` uses has the kind it needs, and the checkpoint fits this run."""
        if meta.get("kind") != CHECKPOINT_KIND:
            raise CheckpointError(f"{path}: not an mlp training checkpoint")
        require(meta, {"epoch": ("int",), "batch": ("int",), "sums": ("dict",), "best_value": ("number", "none"),
                       "best_epoch": ("int", "none"), "bad_epochs": ("int",), "stop_reason": ("str", "none"),
                       "finished": ("bool",), "elapsed": ("number",), "rng": ("dict",), "config_hash": ("str",)},
                path)
        require(meta["sums"], {"data": ("number",), "penalty": ("number",), "rows": ("int",)}, path, "sums")
        require(meta["rng"], {"shuffle": ("dict",), "dropout": ("dict",)}, path, "rng")
        if max(meta["best_epoch"] or 0, meta["bad_epochs"]) > meta["epoch"]:
            raise CheckpointError(f"{path}: its early-stopping record is ahead of its epoch count")
        if meta["config_hash"] != config_module.structural_hash(self.experiment.config):
            raise ConfigError(
                f"{path}: the config differs structurally from the run's (data, model, loss, seed, "
                f"optimizer or batching); refusing to resume"
            )
        if meta["batch"] > 0:
            order, n_rows = arrays.get("order"), len(self.experiment.splits.X_train)
            training = self.experiment.config["training"]
            fits = meta["batch"] < -(-n_rows // training["batch_size"])
            fits = fits and (_is_permutation(order, n_rows) if training["shuffle"] else order is None)
            if not fits:
                raise CheckpointError(f"{path}: its position inside the epoch does not fit the training rows")

    def _truncate_metrics(self, epochs):
        """Keep the metrics lines of the checkpoint's epochs; drop later or half-written ones.

        A line that is not epoch k's whole record (cut off by a crash, or damaged) ends what is
        kept; if fewer than the checkpoint's epochs are kept, a warning says so.
        """
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return
        keep = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[:epochs]:
            if not self._is_record(line, len(keep) + 1):
                break
            keep.append(line)
        if len(keep) < epochs:
            print(f"warning: {path}: whole records for {len(keep)} of the checkpoint's {epochs} epochs; "
                  f"the rest of the metrics are dropped (the checkpoint is intact)", file=self.stream)
        write_text_atomic(path, "".join(line + "\n" for line in keep))

    def _is_record(self, line, epoch):
        """Whether ``line`` is the JSON record ``_end_of_epoch`` writes for ``epoch``."""
        number = ("number",)
        fields = {"epoch": ("int",), "train_loss": number, "data_loss": number, "penalty": number,
                  "val_loss": ("number", "none"), self.metric_name: ("number", "none"), "lr": number,
                  "seconds": number}
        try:
            record = json.loads(line)
            require(record, fields, "metrics.jsonl", "record")
        except (json.JSONDecodeError, CheckpointError):
            return False
        return record["epoch"] == epoch

    # ---------------------------------------------------------------- the loop

    def minibatches(self):
        """The training rows in batches, shuffled per epoch by the run's shuffle stream."""
        run = self.experiment
        X = run.splits.X_train
        return Minibatches(X, run.targets["train"], run.config["training"]["batch_size"], run.streams["shuffle"],
                           run.config["training"]["shuffle"],
                           prefetch=worth_prefetching(X[:1].nbytes, run.network.num_parameters()))

    def run(self):
        """Train until the epoch budget, early stopping, a stop request or a non-finite value."""
        run, p = self.experiment, self.progress
        training = run.config["training"]
        epochs = training["epochs"]
        batches = self.minibatches()
        patience = training["early_stopping"]["patience"] if self.has_validation else None
        # Overflow is detected below and reported as a non-finite loss; NumPy's warnings would only
        # repeat it, out of order.
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as metrics, \
                np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            while p.epoch < epochs and not p.finished:
                started = self._epoch_started = time.perf_counter()
                if p.batch == 0:
                    p.order = batches.draw_order()
                run.optimizer.lr = run.schedule.lr_at(p.epoch)
                self.train_epoch(batches)
                record = self._end_of_epoch(time.perf_counter() - started)
                p.elapsed += time.perf_counter() - started
                metrics.write(json.dumps(record) + "\n")
                metrics.flush()
                if patience is not None and p.bad_epochs >= patience:
                    p.stop_reason = f"early stopping: no {self.monitor} improvement for {patience} epochs"
                    p.finished = True
                elif p.epoch >= epochs:
                    p.stop_reason = f"epoch budget reached ({epochs})"
                    p.finished = True
                self.save_checkpoint()
                self._report_epoch(record, epochs)
        if p.best_state is not None:
            run.network.load_state_dict(p.best_state)
        return p

    def train_epoch(self, batches):
        """One pass over the minibatches of ``progress.order`` from ``progress.batch`` on."""
        run, p = self.experiment, self.progress
        network, loss, optimizer, regularizer = run.network, run.loss, run.optimizer, run.regularizer
        penalize = regularizer.active
        clip = run.config["training"]["clip_grad_norm"]
        max_norm = run.config["regularization"]["max_norm"]
        grads = network.flat_grads
        sums = p.sums
        every = run.config["training"]["checkpoint_seconds"]
        due = math.inf if every is None else self._saved_at + every
        last_index = len(batches) - 1
        bar = self._bar(len(batches), p.batch)
        for index, xb, yb in batches.batches(p.order, p.batch):
            data_loss = loss.forward_prepared(network.forward(xb, True), yb)
            network.backward(loss.backward(), input_grad=False)
            penalty = 0.0
            if penalize:
                penalty = regularizer.penalty(network)
                regularizer.add_gradient(network)
            # ‖g‖² by BLAS: NaN or inf in any gradient (or an overflowing one) makes it non-finite
            squared_norm = float(np.dot(grads, grads))
            if not (math.isfinite(data_loss) and math.isfinite(penalty) and math.isfinite(squared_norm)):
                what = "loss" if not math.isfinite(data_loss + penalty) else "gradient"
                kept = ("the last good checkpoint is kept" if (self.run_dir / "last.npz").exists()
                        else "no epoch had finished, so there is no checkpoint")
                raise NonFiniteError(
                    f"non-finite {what} at epoch {p.epoch + 1}, batch {index + 1}: training diverged "
                    f"(try a smaller optimizer.lr); {kept}"
                )
            if clip is not None:
                norm = math.sqrt(squared_norm)
                if norm > clip:
                    grads *= grads.dtype.type(clip / norm)
            optimizer.step()
            if max_norm is not None:
                apply_max_norm(network, max_norm)
            rows = len(xb)
            sums["data"] += data_loss * rows
            sums["penalty"] += penalty * rows
            sums["rows"] += rows
            if bar is not None:
                bar.update(1)
                if index % 20 == 0:
                    bar.set_postfix(loss=f"{(sums['data'] + sums['penalty']) / sums['rows']:.4f}", refresh=False)
            if self.stop_requested:
                p.batch = index + 1
                if bar is not None:
                    bar.close()
                self.save_checkpoint()
                raise Interrupted(f"{self.stop_requested}: stopped at epoch {p.epoch + 1}, batch {index + 1}")
            if index < last_index and time.perf_counter() >= due:  # a long epoch: don't risk all of it
                p.batch = index + 1
                self.save_checkpoint()
                due = self._saved_at + every
        if bar is not None:
            bar.close()

    def _bar(self, total, start):
        if self.quiet or not self.stream.isatty():
            return None
        return tqdm(total=total, initial=start, desc=f"epoch {self.progress.epoch + 1}", leave=False,
                    file=self.stream, unit="batch", dynamic_ncols=True)

    def _end_of_epoch(self, seconds):
        run, p = self.experiment, self.progress
        sums = p.sums
        rows = max(sums["rows"], 1)
        record = {"epoch": p.epoch + 1, "train_loss": (sums["data"] + sums["penalty"]) / rows,
                  "data_loss": sums["data"] / rows, "penalty": sums["penalty"] / rows,
                  "val_loss": None, self.metric_name: None}
        p.epoch += 1
        p.batch = 0
        p.order = None
        p.sums = {"data": 0.0, "penalty": 0.0, "rows": 0}
        if self.has_validation:
            val_loss, metric = evaluate_split(run, run.splits.X_val, run.targets["val"])
            record["val_loss"], record[self.metric_name] = val_loss, metric
            self._early_stopping(record)
        record["lr"] = run.optimizer.lr
        record["seconds"] = round(seconds, 4)
        return record

    def _early_stopping(self, record):
        p = self.progress
        es = self.experiment.config["training"]["early_stopping"]
        value = record[self.monitor]
        maximize = self.monitor == "val_accuracy"
        if p.best_value is None:
            improved = True
        elif maximize:
            improved = value > p.best_value + es["min_delta"]
        else:
            improved = value < p.best_value - es["min_delta"]
        if improved:
            p.best_value, p.best_epoch, p.bad_epochs = value, p.epoch, 0
            p.best_state = self.experiment.network.state_dict()
        else:
            p.bad_epochs += 1

    def _report_epoch(self, record, epochs):
        if self.quiet:
            return
        parts = [f"epoch {record['epoch']}/{epochs}", f"train_loss {record['train_loss']:.4f}"]
        if record["penalty"]:
            parts.append(f"(data {record['data_loss']:.4f} + penalty {record['penalty']:.4f})")
        if record["val_loss"] is not None:
            parts += [f"val_loss {record['val_loss']:.4f}", f"{self.metric_name} {record[self.metric_name]:.4f}"]
        parts += [f"lr {record['lr']:.3g}", f"{record['seconds']:.1f}s"]
        print("  ".join(parts), file=self.stream, flush=True)
