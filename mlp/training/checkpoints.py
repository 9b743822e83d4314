"""Checkpoints: ``last.npz``, everything a run needs to resume, saved and restored exactly.

A checkpoint holds the network's state dict (``model.*``), the optimizer's state (``optimizer.*``),
the best weights so far (``best.*``), inside an epoch that epoch's row order (``order``), and as
metadata the trainer's state (epoch, batch, loss sums, early-stopping record, stop reason, elapsed
time), the shuffle and dropout generators' states and a hash of the config's structure. The
:class:`Checkpointer` callback saves one at every epoch's end, when training is interrupted, and
inside a long epoch once ``training.checkpoint_seconds`` have passed since the last save.
:func:`restore` checks every field against the run before anything is used.
"""

import math
import time
from pathlib import Path

import numpy as np

from ..config import structural_hash
from ..errors import CheckpointError, ConfigError, clipped
from ..io.archive import load_checked, require, save_atomic
from .trainer import Callback, TrainerState

KIND = "mlp-checkpoint"
RESUMED_STREAMS = ("shuffle", "dropout")


def save(path, trainer):
    """Write the trainer's checkpoint to ``path`` atomically."""
    state, experiment = trainer.state, trainer.experiment
    arrays = {f"model.{k}": v for k, v in experiment.network.state_dict().items()}
    arrays.update({f"optimizer.{k}": v for k, v in experiment.optimizer.state_dict().items()})
    if state.best_state is not None:
        arrays.update({f"best.{k}": v for k, v in state.best_state.items()})
    inside = state.batch > 0 and state.order is not None
    if inside:
        arrays["order"] = state.order
    metadata = {
        "kind": KIND,
        "epoch": state.epoch,
        "batch": state.batch,
        "sums": state.sums,
        "best_value": state.best_value,
        "best_epoch": state.best_epoch,
        "bad_epochs": state.bad_epochs,
        "stop_reason": state.stop_reason,
        "finished": state.finished,
        "elapsed": trainer.elapsed(),
        "rng": {name: experiment.streams[name].bit_generator.state for name in RESUMED_STREAMS},
        "config_hash": structural_hash(experiment.config),
    }
    save_atomic(path, arrays, metadata)


def restore(path, trainer):
    """Load the checkpoint at ``path`` into ``trainer`` (network, optimizer, streams, state)."""
    arrays, meta = load_checked(path)
    _check(path, arrays, meta, trainer)

    def section(prefix):
        return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

    experiment = trainer.experiment
    try:
        experiment.network.load_state_dict(section("model."))
        experiment.optimizer.load_state_dict(section("optimizer."))
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    for name in RESUMED_STREAMS:
        try:
            experiment.streams[name].bit_generator.state = meta["rng"][name]
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise CheckpointError(f"{path}: unusable {name} generator state ({clipped(repr(exc))})") from None
    trainer.state = TrainerState(
        meta["epoch"],
        meta["batch"],
        meta["sums"],
        meta["best_value"],
        meta["best_epoch"],
        meta["bad_epochs"],
        meta["stop_reason"],
        meta["finished"],
        meta["elapsed"],
        arrays.get("order"),
        section("best.") or None,
    )
    return meta


def _is_permutation(order, n):
    """Whether ``order`` is a 1-D integer array holding each of 0..n−1 once."""
    return (
        order is not None
        and order.ndim == 1
        and order.dtype.kind in "iu"
        and len(order) == n
        and np.array_equal(np.sort(order), np.arange(n))
    )


def _check(path, arrays, meta, trainer):
    """Every field :func:`restore` uses has the kind it needs, and the checkpoint fits this run."""
    if meta.get("kind") != KIND:
        raise CheckpointError(f"{path}: not an mlp training checkpoint")
    require(
        meta,
        {
            "epoch": ("int",),
            "batch": ("int",),
            "sums": ("dict",),
            "best_value": ("number", "none"),
            "best_epoch": ("int", "none"),
            "bad_epochs": ("int",),
            "stop_reason": ("str", "none"),
            "finished": ("bool",),
            "elapsed": ("number",),
            "rng": ("dict",),
            "config_hash": ("str",),
        },
        path,
    )
    require(meta["sums"], {"data": ("number",), "penalty": ("number",), "rows": ("int",)}, path, "sums")
    require(meta["rng"], {name: ("dict",) for name in RESUMED_STREAMS}, path, "rng")
    if max(meta["best_epoch"] or 0, meta["bad_epochs"]) > meta["epoch"]:
        raise CheckpointError(f"{path}: its early-stopping record is ahead of its epoch count")
    config = trainer.experiment.config
    if meta["config_hash"] != structural_hash(config):
        raise ConfigError(
            f"{path}: the config differs structurally from the run's (data, model, loss, seed, "
            f"optimizer or batching); refusing to resume"
        )
    if meta["batch"] > 0:
        order, n_rows = arrays.get("order"), len(trainer.experiment.splits.X_train)
        fits = meta["batch"] < -(-n_rows // config.training.batch_size)
        fits = fits and (_is_permutation(order, n_rows) if config.training.shuffle else order is None)
        if not fits:
            raise CheckpointError(f"{path}: its position inside the epoch does not fit the training rows")


class Checkpointer(Callback):
    """Save ``last.npz`` in ``run_dir`` at every epoch's end, on interrupt, and inside a long epoch
    every ``seconds`` (``None``: at epoch ends only)."""

    def __init__(self, run_dir, seconds=None):
        self.path = Path(run_dir) / "last.npz"
        self.seconds = math.inf if seconds is None else seconds
        self.saved_at = time.perf_counter()

    def save(self, trainer):
        save(self.path, trainer)
        self.saved_at = time.perf_counter()

    def on_batch_end(self, trainer, index):
        # a long epoch: don't risk all of it (the last batch is saved by the epoch's end anyway)
        if index < len(trainer.batches) - 1 and time.perf_counter() >= self.saved_at + self.seconds:
            self.save(trainer)

    def on_interrupt(self, trainer):
        self.save(trainer)

    def on_epoch_end(self, trainer, record):
        self.save(trainer)
