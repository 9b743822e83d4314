"""The training loop: minibatch SGD on J = L + λΩ over arrays, with validation and early stopping.

Per epoch: minibatches in seeded order; forward (Algorithm 6.3), J = data loss + λΩ, backward
(Algorithm 6.4), optimizer step; then the validation loss and metric and early stopping. The model
kept at the end is the best one on the validation set (the last one without a validation set).

The trainer knows nothing of files, progress bars or signals: everything else a run does (a metrics
log, checkpoints, progress lines, a user's own hook) is a :class:`~mlp.training.callbacks.Callback`
called at fixed points. A callback may end training (:meth:`Trainer.stop`, after the current epoch)
or interrupt it (:meth:`Trainer.interrupt`, at the next batch boundary, resumably). Everything a
resumed run needs is in :attr:`Trainer.state` and the experiment's network, optimizer and random
streams; a run restored from them ends bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .. import kernels
from ..data.batching import Minibatches, worth_prefetching
from ..data.transform import largest_magnitude
from ..errors import ConfigError, Interrupted, NonFiniteError
from ..nn.regularizers import apply_max_norm

EVAL_BATCH = 1024
INPUT_SCALE_LIMIT = 1e4  # inputs beyond this (after the transform) make the first layer's products explode


class Callback:
    """Base class of the hooks the trainer calls; each does nothing here: override the ones you need.

    ==================  ============================================================================
    ``on_train_begin``  before the first epoch (of this call: a resumed run starts mid-way)
    ``on_epoch_begin``  before an epoch's first batch (or the first one left, after a resume)
    ``on_before_step``  after a batch's backward (the gradients final), just before its optimizer step
    ``on_batch_end``    after each optimizer step, with the batch's index in the epoch
    ``on_epoch_end``    after the epoch's validation, with its record (what ``metrics.jsonl`` holds)
    ``on_interrupt``    after :meth:`~mlp.training.trainer.Trainer.interrupt`, before training raises
    ``on_train_end``    after the last epoch, the kept (best) weights restored
    ==================  ============================================================================

    Each method receives the trainer: ``trainer.state`` (epoch, batch, losses so far, best epoch…),
    ``trainer.history`` (the epoch records), ``trainer.experiment`` (network, optimizer, config), and
    ``trainer.stop(reason)`` to end training after the current epoch. Callbacks run in the order given;
    a run's own (metrics log, checkpoints, progress) come after the user's, so a stop requested by a
    user's callback is in the checkpoint saved at the same epoch's end.
    """

    def on_train_begin(self, trainer: Trainer) -> None:
        pass

    def on_epoch_begin(self, trainer: Trainer) -> None:
        pass

    def on_before_step(self, trainer: Trainer, index: int) -> None:
        pass

    def on_batch_end(self, trainer: Trainer, index: int) -> None:
        pass

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        pass

    def on_interrupt(self, trainer: Trainer) -> None:
        pass

    def on_train_end(self, trainer: Trainer) -> None:
        pass


@dataclass
class TrainerState:
    """Where a run stands: every field goes into a checkpoint."""

    epoch: int = 0  # epochs completed
    batch: int = 0  # batches of the current epoch done (inside an epoch only)
    sums: dict = field(default_factory=lambda: {"data": 0.0, "penalty": 0.0, "rows": 0})
    best_value: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0
    stop_reason: str | None = None
    finished: bool = False
    elapsed: float = 0.0
    order: np.ndarray | None = None  # the current epoch's row order (inside an epoch)
    best_state: dict | None = None  # the best weights so far
    data_changed: list = field(default_factory=list)  # files found changed on a resume allowed anyway
    extras: dict = field(default_factory=dict)  # what callbacks keep across a resume (JSON values)


def evaluate_split(experiment, X, target):
    """``(mean data loss, metric)`` over all rows: accuracy, or RMSE in the target's units."""
    network, loss = experiment.network, experiment.loss
    total, outputs = 0.0, []
    for start in range(0, len(X), EVAL_BATCH):
        out = network.forward(X[start : start + EVAL_BATCH], training=False)
        total += loss.forward_prepared(out, target[start : start + EVAL_BATCH]) * len(out)
        outputs.append(out)
    model = experiment.model()
    predicted = model.predict_from_outputs(np.concatenate(outputs))
    if experiment.splits.task == "classification":
        labels = target if target.ndim == 1 else target.argmax(axis=1)
        metric = float(np.mean(predicted == labels))
    else:
        metric = float(np.sqrt(np.mean((predicted - model.in_target_units(target)) ** 2)))
    return total / len(X), metric


class Trainer:
    """Trains an :class:`~mlp.training.experiment.Experiment` in memory, calling ``callbacks``."""

    def __init__(self, experiment, callbacks=()):
        self.experiment = experiment
        self.callbacks = list(callbacks)
        self.state = TrainerState()
        self.history = []
        self.interrupt_reason = None
        self.metric_name = "val_accuracy" if experiment.splits.task == "classification" else "val_rmse"
        self.monitor = experiment.config.training.early_stopping.monitor
        self._epoch_started = None
        try:
            kernels.prepare(experiment.config.training.kernels)
        except ValueError as exc:
            raise ConfigError(f"training.kernels: {exc}") from None
        self.kernels_used: str | None = None  # which kernels ran, on how many threads
        # The per-batch hooks are called only on the callbacks that override them (the hot loop).
        self._batch_callbacks = self._overriding("on_batch_end")
        self._step_callbacks = self._overriding("on_before_step")
        splits, training = experiment.splits, experiment.config.training
        self.batches = Minibatches(
            splits.X_train,
            experiment.targets["train"],
            training.batch_size,
            experiment.streams["shuffle"],
            training.shuffle,
            prefetch=worth_prefetching(splits.X_train[:1].nbytes, experiment.network.num_parameters()),
        )

    def _overriding(self, hook):
        return [c for c in self.callbacks if getattr(type(c), hook) is not getattr(Callback, hook)]

    @property
    def has_validation(self):
        return len(self.experiment.splits.X_val) > 0

    # ---------------------------------------------------------------- what callbacks may call

    def stop(self, reason):
        """End training after the current epoch, as finished (the report follows), with ``reason``."""
        if not self.state.finished:
            self.state.finished, self.state.stop_reason = True, reason

    def interrupt(self, reason):
        """Stop at the next batch boundary: callbacks' ``on_interrupt`` runs, then :class:`Interrupted`."""
        self.interrupt_reason = reason

    def set_rows(self, X, y, sample_weight=None):
        """Train the next epochs on other rows ``X`` (raw: through the experiment's fitted feature
        transform), targets ``y`` (class indices, or values in the target's units) and weights."""
        experiment = self.experiment
        splits, training = experiment.splits, experiment.config.training
        inputs = splits.transform.apply(X, experiment.network.dtype)
        y = np.asarray(y)
        if splits.task == "regression":
            y = y.astype(np.float64).reshape(len(y), -1)
            y = y if splits.target_scaler is None else splits.target_scaler.apply(y)
        self.batches = Minibatches(
            inputs, experiment.loss_targets(y), training.batch_size, experiment.streams["shuffle"], training.shuffle
        )
        experiment.sample_weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        self.state.batch, self.state.order = 0, None

    def elapsed(self):
        """Training seconds so far, the current epoch's included."""
        inside = self._epoch_started is not None and self.state.batch > 0
        return self.state.elapsed + (time.perf_counter() - self._epoch_started if inside else 0.0)

    # ---------------------------------------------------------------- the loop

    def _call(self, event, *args):
        for callback in self.callbacks:
            getattr(callback, event)(self, *args)

    def run(self):
        """Train until the epoch budget, early stopping, a stop, an interrupt or a non-finite value."""
        state, experiment = self.state, self.experiment
        epochs = experiment.config.training.epochs
        self._call("on_train_begin")
        while state.epoch < epochs and not state.finished:
            self.run_epoch()
            if self.interrupt_reason and not state.finished:  # asked during the epoch's last batch
                self._interrupt(f"stopped after epoch {state.epoch}")
        if state.best_state is not None:
            experiment.network.load_state_dict(state.best_state)
        self._call("on_train_end")
        return state

    def run_epoch(self):
        """One epoch (the rest of one, after a mid-epoch resume) and its validation; return its record."""
        state, experiment = self.state, self.experiment
        started = self._epoch_started = time.perf_counter()
        if state.batch == 0:
            state.order = self.batches.draw_order()
        experiment.optimizer.lr = experiment.schedule.lr_at(state.epoch)
        self._call("on_epoch_begin")
        training = experiment.config.training
        # Overflow is detected and reported as a non-finite loss; NumPy's warnings would only repeat
        # it, out of order.
        with (
            kernels.selected(training.kernels, training.threads) as self.kernels_used,
            np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"),
        ):
            self.train_epoch()
            record = self._end_of_epoch(time.perf_counter() - started)
        state.elapsed += time.perf_counter() - started
        self._epoch_started = None
        self.history.append(record)
        self._decide_stop(experiment.config.training.epochs)
        self._call("on_epoch_end", record)
        return record

    def train_epoch(self):
        """One pass over the minibatches of ``state.order`` from batch ``state.batch`` on."""
        experiment, state = self.experiment, self.state
        network, loss, optimizer, regularizer = (
            experiment.network,
            experiment.loss,
            experiment.optimizer,
            experiment.regularizer,
        )
        penalize = regularizer.active
        clip = experiment.config.training.clip_grad_norm
        max_norm = experiment.config.regularization.max_norm
        grads = network.flat_grads
        sums = state.sums
        on_batch_end, before_step = self._batch_callbacks, self._step_callbacks
        weights = experiment.sample_weight
        for index, xb, yb in self.batches.batches(state.order, state.batch):
            output = network.forward(xb, True)
            if weights is None:
                data_loss = loss.forward_prepared(output, yb)
            else:  # J = Σ w L / Σ w over the batch's rows
                data_loss = loss.forward_weighted(output, yb, weights[self.batches.rows_of(state.order, index)])
            network.backward(loss.backward(), input_grad=False)
            penalty = 0.0
            if penalize:
                penalty = regularizer.penalty(network)
                regularizer.add_gradient(network)
            # ‖g‖² by BLAS: NaN or inf in any gradient (or an overflowing one) makes it non-finite
            squared_norm = float(grads.dot(grads))
            if not (math.isfinite(data_loss) and math.isfinite(penalty) and math.isfinite(squared_norm)):
                what = "loss" if not math.isfinite(data_loss + penalty) else "gradient"
                raise NonFiniteError(
                    f"non-finite {what} at epoch {state.epoch + 1}, batch {index + 1}: training diverged "
                    f"({self._divergence_hint()})"
                )
            if clip is not None:
                norm = math.sqrt(squared_norm)
                if norm > clip:
                    grads *= grads.dtype.type(clip / norm)
            for callback in before_step:
                callback.on_before_step(self, index)
            optimizer.step()
            if max_norm is not None:
                apply_max_norm(network, max_norm)
            rows = len(xb)
            sums["data"] += data_loss * rows
            sums["penalty"] += penalty * rows
            sums["rows"] += rows
            state.batch = index + 1
            for callback in on_batch_end:
                callback.on_batch_end(self, index)
            if self.interrupt_reason and state.batch < len(self.batches):  # after the last, the epoch ends first
                self._interrupt(f"stopped at epoch {state.epoch + 1}, batch {index + 1}")

    def _interrupt(self, where):
        self._call("on_interrupt")
        raise Interrupted(f"{self.interrupt_reason}: {where}")

    def _divergence_hint(self):
        """What to try: inputs far from unit scale diverge at any rate, so say so before the rate."""
        largest = largest_magnitude(self.experiment.splits.X_train)
        if largest > INPUT_SCALE_LIMIT:
            return (
                f"the network's inputs reach {largest:.3g}: set data.standardize: true or rescale the "
                f"features; a smaller optimizer.lr will not help"
            )
        return "try a smaller optimizer.lr"

    def _end_of_epoch(self, seconds):
        experiment, state = self.experiment, self.state
        sums = state.sums
        rows = max(sums["rows"], 1)
        record = {
            "epoch": state.epoch + 1,
            "train_loss": (sums["data"] + sums["penalty"]) / rows,
            "data_loss": sums["data"] / rows,
            "penalty": sums["penalty"] / rows,
            "val_loss": None,
            self.metric_name: None,
        }
        state.epoch += 1
        state.batch = 0
        state.order = None
        state.sums = {"data": 0.0, "penalty": 0.0, "rows": 0}
        if self.has_validation:
            val_loss, metric = evaluate_split(experiment, experiment.splits.X_val, experiment.targets["val"])
            if not (math.isfinite(val_loss) and math.isfinite(metric)):
                raise NonFiniteError(f"non-finite validation loss at epoch {state.epoch}: training diverged")
            record["val_loss"], record[self.metric_name] = val_loss, metric
            self._early_stopping(record)
        record["lr"] = experiment.optimizer.lr
        record["seconds"] = round(seconds, 4)
        return record

    def _early_stopping(self, record):
        state = self.state
        min_delta = self.experiment.config.training.early_stopping.min_delta
        value = record[self.monitor]
        if state.best_value is None:
            improved = True
        elif self.monitor == "val_accuracy":
            improved = value > state.best_value + min_delta
        else:
            improved = value < state.best_value - min_delta
        if improved:
            state.best_value, state.best_epoch, state.bad_epochs = value, state.epoch, 0
            state.best_state = self.experiment.network.state_dict()
        else:
            state.bad_epochs += 1

    def _decide_stop(self, epochs):
        patience = self.experiment.config.training.early_stopping.patience if self.has_validation else None
        if patience is not None and self.state.bad_epochs >= patience:
            self.stop(f"early stopping: no {self.monitor} improvement for {patience} epochs")
        elif self.state.epoch >= epochs:
            self.stop(f"epoch budget reached ({epochs})")
