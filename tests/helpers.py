"""Shared helpers for the tests: running the command line, configs, run files."""

import json
import signal
import textwrap
import time
from pathlib import Path

import numpy as np
from click.testing import CliRunner

import mlp
from mlp.cli import main
from mlp.io import archive as checkpoint


def write_config(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def run(*args, catch=False):
    """Invoke ``mlp ARGS``; return the click Result."""
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=catch, prog_name="mlp")


def npz_arrays(path):
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"


DIGITS = """
seed: 3
data: {name: digits, validation_split: 0.2, test_split: 0.2}
model: {hidden: [32], activation: relu, dropout: 0.2}
loss: {name: cross_entropy}
regularization: {name: l2, lambda: 1.0e-4}
optimizer:
  name: adam
  lr: 0.005
  schedule: {name: cosine, warmup_epochs: 1}
training: {epochs: 6, batch_size: 32}
"""


def metrics_lines(run_dir):
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for line in lines:
        line.pop("seconds")
    return lines


class SignalAfterEpoch(mlp.Callback):
    """Sends the process a real signal as epoch ``epoch`` ends (honoured after the next batch)."""

    def __init__(self, epoch, signal_name):
        self.epoch, self.signum = epoch, getattr(signal, signal_name)

    def on_epoch_end(self, trainer, record):
        if record["epoch"] == self.epoch:
            signal.raise_signal(self.signum)


def train_stopped_after(monkeypatch, epoch, *args, signal_name="SIGINT"):
    """``mlp train ARGS`` with a user callback (the public seam, injected into the command's call of
    ``mlp.train``) signalling the process as epoch ``epoch`` ends; the click Result."""
    original = mlp.api.train

    def with_signal(*positional, callbacks=(), **keywords):
        return original(*positional, callbacks=[*callbacks, SignalAfterEpoch(epoch, signal_name)], **keywords)

    with monkeypatch.context() as patch:
        patch.setattr(mlp.api, "train", with_signal)
        return run("train", *args)


def wait_for_epochs(run_dir, count, timeout=60):
    """Wait until a training process has finished ``count`` epochs (lines in metrics.jsonl)."""
    metrics = run_dir / "metrics.jsonl"
    deadline = time.time() + timeout
    while time.time() < deadline and not (metrics.exists() and metrics.read_text().count("\n") >= count):
        time.sleep(0.02)


def rewrite(path, edit):
    """Rewrite an mlp archive through ``edit(arrays, metadata)`` with fresh, valid checksums."""
    arrays, metadata = checkpoint.load_checked(path)
    for key in ("checksums", "format_version"):
        metadata.pop(key)
    edit(arrays, metadata)
    checkpoint.save_atomic(path, arrays, metadata)


class Softsign(mlp.Layer):
    """A layer of one's own: f(a) = a / (1 + |a|), f'(a) = 1 / (1 + |a|)²."""

    def __init__(self):
        super().__init__()
        self._a = None

    def forward(self, x, training=True):
        self._a = x if training else None
        return x / (1 + np.abs(x))

    def backward(self, g, input_grad=True):
        a = self._cached(self._a)
        return g / (1 + np.abs(a)) ** 2 if input_grad else None
