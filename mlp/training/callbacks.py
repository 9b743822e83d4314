"""The callbacks every front end may add to a run: progress lines and signal handling.

(The hooks themselves are documented on :class:`~mlp.training.trainer.Callback`.)
"""

import signal
import sys
import threading

from tqdm import tqdm

from .trainer import Callback


class ProgressPrinter(Callback):
    """One line per epoch on ``stream`` (stderr), and a progress bar over the batches on a terminal."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.bar = None

    def on_epoch_begin(self, trainer):
        if self.stream.isatty():
            self.bar = tqdm(
                total=len(trainer.batches),
                initial=trainer.state.batch,
                desc=f"epoch {trainer.state.epoch + 1}",
                leave=False,
                file=self.stream,
                unit="batch",
                dynamic_ncols=True,
            )

    def on_batch_end(self, trainer, index):
        if self.bar is not None:
            self.bar.update(1)
            if index % 20 == 0:
                sums = trainer.state.sums
                self.bar.set_postfix(loss=f"{(sums['data'] + sums['penalty']) / sums['rows']:.4f}", refresh=False)

    def _close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_interrupt(self, trainer):
        self._close()

    def on_epoch_end(self, trainer, record):
        self._close()
        metric = trainer.metric_name
        parts = [
            f"epoch {record['epoch']}/{trainer.experiment.config.training.epochs}",
            f"train_loss {record['train_loss']:.4f}",
        ]
        if record["penalty"]:
            parts.append(f"(data {record['data_loss']:.4f} + penalty {record['penalty']:.4f})")
        if record["val_loss"] is not None:
            parts += [f"val_loss {record['val_loss']:.4f}", f"{metric} {record[metric]:.4f}"]
        parts += [f"lr {record['lr']:.3g}", f"{record['seconds']:.1f}s"]
        print("  ".join(parts), file=self.stream, flush=True)


class StopOnSignal(Callback):
    """SIGINT and SIGTERM interrupt training at the next batch boundary (resumably) while it runs.

    The handlers are installed in the main thread only (Python allows nothing else) and the
    previous ones restored when training ends or raises.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.previous = {}

    def on_train_begin(self, trainer):
        if threading.current_thread() is not threading.main_thread():
            return

        def handle(signum, frame):
            trainer.interrupt(signal.Signals(signum).name)

        for signum in self.SIGNALS:
            self.previous[signum] = signal.signal(signum, handle)

    def restore(self):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous.clear()

    def on_train_end(self, trainer):
        self.restore()
