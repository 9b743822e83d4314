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
from ..errors import ArgumentError, CheckpointError, ConfigError, clipped
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
        "fingerprints": experiment.fingerprints,
        "data_changed": state.data_changed,
        "extras": state.extras,
    }
    save_atomic(path, arrays, metadata)


def restore(path, trainer, allow_changed_data=False):
    """Load the checkpoint at ``path`` into ``trainer`` (network, optimizer, streams, state).

    The files the run reads must be the ones the checkpoint was saved with (their SHA-256), or the
    splits and the rest of the run would silently differ; ``allow_changed_data`` continues anyway
    and records the changed ones in the trainer's state (and so in the report).
    """
    arrays, meta = load_checked(path)
    optional = {
        "fingerprints": ("dict",),
        "data_changed": ("list[str]",),
        "extras": ("dict",),
    }  # absent from older ones
    require(meta, {key: kinds for key, kinds in optional.items() if key in meta}, path)
    changed = _changed_data(path, meta, trainer.experiment, allow_changed_data)
    if changed and meta.get("batch"):  # the rows changed: the interrupted epoch starts again
        meta.update(batch=0, sums={"data": 0.0, "penalty": 0.0, "rows": 0})
        arrays.pop("order", None)
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
        sorted({*meta.get("data_changed", []), *changed}),
        meta.get("extras", {}),
    )
    return meta


def _changed_data(path, meta, experiment, allowed):
    """The config keys whose files differ from the checkpoint's fingerprints (refused unless allowed)."""
    saved = meta.get("fingerprints")
    if saved is None:  # a checkpoint written before fingerprints were kept
        return []
    now = experiment.fingerprints
    changed = sorted(key for key in {*saved, *now} if saved.get(key) != now.get(key))
    if changed and not allowed:
        key = changed[0]
        where = _source(experiment.config, key)
        raise ArgumentError(
            "{path}: {key}{where} changed since this checkpoint was saved (sha256 {old}… now {new}…): the splits "
            "and the rest of the run would differ from the run it continues; resume with the original data, or "
            "pass {allow_changed_data} to continue anyway (recorded in the report)",
            path=path,
            key=key,
            where=where,
            old=str(saved.get(key))[:12],
            new=str(now.get(key))[:12],
        )
    return changed


def _source(config, key):
    value = {
        "data.name": config.data.name,
        "data.path": config.data.path,
        "data.test_path": config.data.test_path,
        "model.init_from": config.model.init_from,
    }.get(key)
    return f" ({', '.join(value) if isinstance(value, list) else value})" if value is not None else ""


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
    if meta["epoch"] > config.training.epochs:
        raise ConfigError(
            f"{path}: the checkpoint has finished {meta['epoch']} epochs, more than training.epochs "
            f"({config.training.epochs}); resume with training.epochs of at least {meta['epoch']}"
        )
    for where, value in (
        ("elapsed", meta["elapsed"]),
        ("best_value", meta["best_value"]),
        ("sums.data", meta["sums"]["data"]),
        ("sums.penalty", meta["sums"]["penalty"]),
    ):
        if value is not None and not (math.isfinite(value) and (where != "elapsed" or value >= 0)):
            raise CheckpointError(f"{path}: {where} is {value!r}, not a finite number")
    _check_arrays(path, arrays, trainer)


def _check_arrays(path, arrays, trainer):
    """Weights, best weights and optimizer state: the network's keys and shapes, its float dtype,
    finite values."""
    network = trainer.experiment.network
    expected = {key: value.shape for key, value in network.state_dict().items()}
    for prefix, required in (("model.", True), ("best.", False)):
        found = {k[len(prefix) :] for k in arrays if k.startswith(prefix)}
        if (found or required) and found != set(expected):
            raise CheckpointError(f"{path}: its {prefix[:-1]} weights do not match the network's parameters")
        for key in found:
            _check_array(path, prefix + key, arrays[prefix + key], network.dtype, expected[key])
    for key in (k for k in arrays if k.startswith("optimizer.") and k != "optimizer.t"):
        _check_array(path, key, arrays[key], network.dtype, None)


def _check_array(path, key, array, dtype, shape):
    if array.dtype != dtype:
        raise CheckpointError(f"{path}: array {key!r} is {array.dtype}, the network computes in {dtype}")
    if shape is not None and array.shape != shape:
        raise CheckpointError(f"{path}: array {key!r} has shape {array.shape}, the network's is {shape}")
    if not np.all(np.isfinite(array)):
        raise CheckpointError(f"{path}: array {key!r} holds NaN or infinite values")


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
