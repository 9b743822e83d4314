"""Checkpoints on their own: what a trainer saves restores it exactly, and what does not fit is refused."""

import re

import numpy as np
import pytest

from mlp.config import resolve
from mlp.errors import CheckpointError, ConfigError, Interrupted
from mlp.io.archive import load_checked, save_atomic
from mlp.training import checkpoints
from mlp.training.experiment import build_experiment
from mlp.training.trainer import Callback, Trainer

RAW = {
    "data": {"name": "iris"},
    "model": {"hidden": [8], "dropout": 0.2},
    "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
    "training": {"epochs": 4, "batch_size": 16},
}


class InterruptAt(Callback):
    def __init__(self, epoch, batch):
        self.at = (epoch, batch)

    def on_batch_end(self, trainer, index):
        if (trainer.state.epoch, index + 1) == self.at:
            trainer.interrupt("test")


def trainer_for(raw, *callbacks):
    return Trainer(build_experiment(resolve(raw)), callbacks)


@pytest.mark.parametrize("version", ["numpy", "numba"])
@pytest.mark.parametrize("optimizer", [{"name": "sgd", "lr": 0.05, "momentum": 0.9}, {"name": "adamw", "lr": 0.01}])
def test_a_checkpoint_inside_an_epoch_resumes_bit_identical(tmp_path, version, optimizer):
    if version == "numba":
        pytest.importorskip("numba")
    raw = {**RAW, "optimizer": optimizer, "training": {**RAW["training"], "kernels": version}}
    reference = trainer_for(raw)
    reference.run()
    stopped = trainer_for(raw, InterruptAt(2, 3), checkpoints.Checkpointer(tmp_path))
    with pytest.raises(Interrupted, match="stopped at epoch 3, batch 3"):
        stopped.run()
    arrays, meta = load_checked(tmp_path / "last.npz")
    assert (meta["epoch"], meta["batch"]) == (2, 3) and "order" in arrays and not meta["finished"]
    resumed = trainer_for(raw)
    checkpoints.restore(tmp_path / "last.npz", resumed)
    assert resumed.state.epoch == 2 and resumed.state.batch == 3
    resumed.run()
    for key, value in reference.experiment.network.state_dict().items():
        assert np.array_equal(resumed.experiment.network.state_dict()[key], value), key
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in reference.history[2:]]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history] == strip


def test_a_structurally_different_config_is_refused(tmp_path):
    trainer = trainer_for(RAW, checkpoints.Checkpointer(tmp_path))
    trainer.run()
    other = trainer_for({**RAW, "model": {"hidden": [9]}})
    with pytest.raises(ConfigError, match="differs structurally"):
        checkpoints.restore(tmp_path / "last.npz", other)
    longer = trainer_for({**RAW, "training": {"epochs": 6, "batch_size": 16}})  # epochs may change
    checkpoints.restore(tmp_path / "last.npz", longer)
    assert longer.state.epoch == 4


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda a, m: m.update(kind="other"), "not an mlp training checkpoint"),
        (lambda a, m: m.update(bad_epochs=9), "early-stopping record is ahead of its epoch count"),
        (lambda a, m: m.update(batch=99), "position inside the epoch does not fit"),
        (lambda a, m: m["rng"].pop("dropout"), "rng lacks 'dropout'"),
        # found by the fuzzer: a tampered data_changed was an internal error
        (lambda a, m: m.update(data_changed=0.5), re.escape("metadata 'data_changed' is 0.5, expected list[str]")),
        (lambda a, m: m.update(fingerprints=["x"]), re.escape("metadata 'fingerprints' is ['x'], expected dict")),
    ],
)
def test_a_checkpoint_that_does_not_fit_is_refused(tmp_path, edit, message):
    trainer_for(RAW, checkpoints.Checkpointer(tmp_path)).run()
    arrays, metadata = load_checked(tmp_path / "last.npz")
    for key in ("checksums", "format_version"):
        metadata.pop(key)
    edit(arrays, metadata)
    save_atomic(tmp_path / "last.npz", arrays, metadata)
    with pytest.raises(CheckpointError, match=message):
        checkpoints.restore(tmp_path / "last.npz", trainer_for(RAW))


def test_an_interrupt_during_an_epochs_last_batch_stops_at_the_epochs_end(tmp_path):
    """The checkpoint must be resumable: the epoch ends (record, checkpoint) before training stops."""
    reference = trainer_for(RAW)
    reference.run()
    n_batches = -(-len(reference.experiment.splits.X_train) // 16)
    stopped = trainer_for(RAW, InterruptAt(1, n_batches), checkpoints.Checkpointer(tmp_path))
    with pytest.raises(Interrupted, match="stopped after epoch 2"):
        stopped.run()
    _, meta = load_checked(tmp_path / "last.npz")
    assert (meta["epoch"], meta["batch"]) == (2, 0)
    resumed = trainer_for(RAW)
    checkpoints.restore(tmp_path / "last.npz", resumed)
    resumed.run()
    for key, value in reference.experiment.network.state_dict().items():
        assert np.array_equal(resumed.experiment.network.state_dict()[key], value), key
