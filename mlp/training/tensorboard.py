"""TensorBoard event files of a run (``logging.tensorboard: true``), written through tensorboardX.

Scalars per epoch: ``loss/train``, ``loss/validation``, the validation metric, ``lr``, and for each
linear layer k the diagnostics (``layer_k/grad_norm``, ``layer_k/update_ratio``, ``layer_k/dead`` or
``layer_k/saturated``, ``layer_k/activation_mean``, ``layer_k/activation_std``). The optional extra
is imported only when a run asks for it: ``tensorboard --logdir runs/`` shows every run.
"""

from pathlib import Path

from ..errors import ConfigError
from .trainer import Callback


def scalars(record):
    """``{tag: value}`` of one epoch's record (what ``metrics.jsonl`` holds)."""
    values = {"loss/train": record["train_loss"], "loss/validation": record.get("val_loss"), "lr": record.get("lr")}
    for metric in ("val_accuracy", "val_rmse"):
        if record.get(metric) is not None:
            values[f"validation/{metric[4:]}"] = record[metric]
    for entry in record.get("layers", []):
        prefix = f"layer_{entry['layer']}"
        for key, tag in (
            ("grad_norm", "grad_norm"),
            ("update_ratio", "update_ratio"),
            ("dead", "dead"),
            ("saturated", "saturated"),
            ("mean", "activation_mean"),
            ("std", "activation_std"),
        ):
            if entry.get(key) is not None:
                values[f"{prefix}/{tag}"] = entry[key]
    return {tag: value for tag, value in values.items() if value is not None}


class TensorBoardLog(Callback):
    """Writes each epoch's scalars into ``run_dir/tensorboard`` (after the diagnostics filled them)."""

    def __init__(self, run_dir):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ConfigError(
                "logging.tensorboard: needs the tensorboardX package: pip install -e '.[tensorboard]'"
            ) from None
        self.writer = SummaryWriter(logdir=str(Path(run_dir) / "tensorboard"))

    def on_epoch_end(self, trainer, record):
        for tag, value in scalars(record).items():
            self.writer.add_scalar(tag, value, record["epoch"])
        self.writer.flush()

    def close(self):
        self.writer.close()

    def on_train_end(self, trainer):
        self.close()

    def on_interrupt(self, trainer):
        self.close()
