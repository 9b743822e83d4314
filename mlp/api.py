"""The public entry points: :func:`train` and :func:`load`.

Every front end — the ``mlp`` command, Python code, and later the scikit-learn estimators and the
sweep workers — trains through :func:`train`; none of them re-implements a piece of a run.
"""

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config, ignored_keys, load_config
from .data.datasets import BUILTIN, Dataset, from_arrays, load_path
from .data.splits import split_features, split_rows_of, split_targets
from .data.table import Cells
from .errors import ArgumentError, CheckpointError, DataError, MlpError, NonFiniteError, clipped
from .io.files import regular_file
from .model import Model, load_model, model_path
from .nn.network import Sequential
from .reporting.html import image_data_uri
from .reporting.report import build_report, write_report
from .training import checkpoints, runs
from .training.callbacks import ProgressPrinter, StopOnSignal
from .training.diagnostics import Diagnostics, findings
from .training.experiment import Experiment, align_labels, build_experiment, load_dataset, random_streams
from .training.tensorboard import TensorBoardLog
from .training.trainer import Callback, Trainer


class _NewRunDir:
    def __repr__(self):
        return "NEW_RUN"


NEW_RUN: Any = _NewRunDir()
"""``out=NEW_RUN``: a new run directory ``runs/<name>-<YYYYmmdd-HHMMSS>``, as ``mlp train`` makes."""


@dataclass
class Result:
    """What :func:`train` returns.

    ``model`` : the trained :class:`~mlp.model.Model` (the best on validation); ``report`` : what
    ``report.json`` holds (the held-out evaluation); ``history`` : one record per epoch (what
    ``metrics.jsonl`` holds); ``run_dir`` : the run directory, ``None`` for a run in memory;
    ``already_finished`` : a resumed run that had finished before (nothing was trained).
    """

    model: Model
    report: dict
    history: list
    run_dir: Path | None = None
    already_finished: bool = False


def load(path) -> Model:
    """The trained :class:`~mlp.model.Model` in a ``model.npz`` file or a run directory."""
    return load_model(model_path(path))


def train(
    config: str | Path | dict | Config | None,
    *,
    data: Sequence | None = None,
    out: Any = None,
    overrides: Iterable[str] = (),
    callbacks: Iterable[Callback] = (),
    quiet: bool = True,
    resume: bool = False,
    overwrite: bool = False,
    handle_signals: bool = False,
    allow_changed_data: bool = False,
    sample_weight=None,
    network: Sequential | None = None,
    stream=None,
) -> Result:
    """Train the experiment ``config`` describes; return the model, its report and its history.

    Parameters
    ----------
    config : a YAML file's path, a mapping in the config format, or a :class:`~mlp.config.Config`;
        with ``resume``, ``None`` takes the run's own ``config.yaml``.
    data : optional rows instead of the config's ``data.name``/``data.path``: ``(X, y)`` or
        ``(X, y, X_test, y_test)`` — ``X`` of shape (N, d), ``y`` of shape (N,) class labels (integers
        or strings) or (N,)/(N, k) regression targets (floats; ``data.task`` decides otherwise) — or a
        :class:`~mlp.data.datasets.Dataset`.
    out : ``None`` trains in memory and writes no file anywhere; a folder (or :data:`NEW_RUN`) is
        the run directory, written exactly as ``mlp train`` writes it (config, metrics, checkpoints,
        model, report), locked while training.
    overrides : ``"key.path=value"`` strings applied to the config (values parsed as YAML).
    callbacks : :class:`~mlp.training.callbacks.Callback` objects, called before the run's own.
    quiet : no progress lines (warnings about the config still go to ``stream``).
    resume : continue the run in ``out`` from its checkpoint (a finished run returns at once).
    overwrite : replace the run files of a non-empty ``out``.
    handle_signals : SIGINT/SIGTERM stop training resumably (main thread only), raising
        :class:`~mlp.errors.Interrupted` after the checkpoint is saved.
    allow_changed_data : resume even though a file the run reads changed since its checkpoint (the
        files are fingerprinted; the change is recorded in the report).
    sample_weight : optional weights (N,) of the rows, >= 0: the training loss of a batch is the
        weighted mean J = Σ w_n L_n / Σ w_n (validation and test scores stay unweighted).
    network : optional :class:`~mlp.nn.network.Sequential` of layers of your own (``mlp.Layer``
        subclasses) to train instead of the config's ``model`` section; in memory only (``out=None``:
        mlp's files hold its built-in architecture). Check a new layer first with :func:`mlp.check_layer`.
    stream : where progress and warnings go (default: standard error).
    """
    stream = stream or sys.stderr
    if resume and (out is None or out is NEW_RUN):
        raise ArgumentError("{resume} needs the run directory to continue as {out}")
    if network is not None and out is not None:
        raise ArgumentError(
            "a network of your own layers trains in memory only (out=None): model files hold mlp's built-in "
            "architecture, which could not rebuild it"
        )
    state = None
    if resume:
        state, _ = runs.resume_state(out, config_given=config is not None)
        if state == "finished":
            return _finished_run(Path(out))
        config = Path(out) / "config.yaml" if config is None else config
    config = load_config(
        config.to_dict() if isinstance(config, Config) else config, overrides, data_given=data is not None
    )
    rows = data if data is None or isinstance(data, Dataset) else from_arrays(*data)
    experiment = build_experiment(config, rows, sample_weight, network)
    for note in ignored_keys(config):
        print(f"warning: {note}", file=stream)
    user_callbacks = list(callbacks)
    if out is None:
        return _train_in_memory(experiment, user_callbacks, quiet, stream)
    if state is None:
        run_dir, lock = runs.start(config, None if out is NEW_RUN else out, overwrite)
    else:
        run_dir, lock = Path(out), runs.reopen(out, config, state)
        if state == "restart":
            print(f"{run_dir} has no checkpoint yet (stopped during its first epoch): starting it over", file=stream)
    metrics_log, signals = runs.MetricsLog(run_dir, stream), StopOnSignal()
    run_callbacks = [
        *_diagnostics(config),
        metrics_log,
        checkpoints.Checkpointer(run_dir, config.training.checkpoint_seconds),
    ]
    if config.logging.tensorboard:
        run_callbacks.append(TensorBoardLog(run_dir))
    run_callbacks += [] if quiet else [ProgressPrinter(stream)]
    run_callbacks += [signals] if handle_signals else []
    try:
        trainer = Trainer(experiment, [*user_callbacks, *run_callbacks])
        if state == "checkpoint":
            checkpoints.restore(run_dir / "last.npz", trainer, allow_changed_data)
            runs.write_config(run_dir, config)
        if not quiet:
            _announce(experiment, run_dir, stream)
        try:
            trainer.run()
        except NonFiniteError as exc:
            kept = (
                "the last good checkpoint is kept"
                if (run_dir / "last.npz").exists()
                else "no epoch had finished, so there is no checkpoint"
            )
            raise NonFiniteError(f"{exc}; {kept}") from None
        model = experiment.model()
        model.save(run_dir / "model.npz")
        history = runs.read_history(run_dir)
        report = _report(experiment, trainer, model, run_dir / "model.npz", history, run_dir)
    finally:
        signals.restore()
        metrics_log.close()
        lock.close()
    return Result(model, report, history, run_dir)


def _diagnostics(config):
    """The diagnostics callback (before the metrics log, which writes what it adds), unless off."""
    return [Diagnostics()] if config.training.diagnostics else []


def _train_in_memory(experiment: Experiment, callbacks, quiet, stream) -> Result:
    if experiment.config.logging.tensorboard:
        print("warning: logging.tensorboard writes into a run directory; a run in memory writes none", file=stream)
    callbacks = [*callbacks, *_diagnostics(experiment.config)]
    trainer = Trainer(experiment, callbacks if quiet else [*callbacks, ProgressPrinter(stream)])
    if not quiet:
        _announce(experiment, None, stream)
    trainer.run()
    model = experiment.model()
    report = _report(experiment, trainer, model, None, trainer.history, None)
    return Result(model, report, trainer.history, None)


def _announce(experiment, run_dir, stream):
    sizes = experiment.splits.sizes()
    where = "in memory" if run_dir is None else f"→ {run_dir}"
    print(
        f"training {experiment.config.name}: {experiment.network.num_parameters():,} parameters, "
        f"{sizes['train']} train / {sizes['validation']} validation / {sizes['test']} test rows {where}",
        file=stream,
        flush=True,
    )


def _report(experiment, trainer, model, path, history, run_dir):
    """The report on the test split (written into ``run_dir`` unless it is ``None``)."""
    splits, state = experiment.splits, trainer.state
    n_train, sizes = len(splits.X_train), splits.sizes()
    training_rows = _plane_rows(model, splits)
    majority = None
    if splits.task == "classification" and len(splits.y_val):
        majority = float(np.bincount(np.asarray(splits.y_val)).max() / len(splits.y_val))
    # The training rows are done with: free them before the report (and matplotlib) need memory.
    splits.X_train = splits.X_val = trainer.batches = None
    experiment.targets.clear()
    outputs = model.network_outputs(splits.X_test, "the test rows")
    y = splits.y_test if model.task == "classification" else model.in_target_units(splits.y_test)
    seen = n_train * len(history)
    training = {
        "epochs_run": state.epoch,
        "best_epoch": state.best_epoch or state.epoch,
        "stop_reason": state.stop_reason,
        "wall_time_seconds": state.elapsed,
        "samples_per_second": seen / state.elapsed if state.elapsed else 0.0,
        "kernels": trainer.kernels_used,
        "data_changed_on_resume": state.data_changed,
        "findings": findings(history, splits.task, majority),
    }
    report = build_report(model, path, outputs, y, splits.test_rows, "test", sizes, training, ids=splits.ids)
    if run_dir is not None:
        images = _error_images(model, splits, report["most_confident_errors"])
        write_report(report, run_dir, model, history, outputs, y, training_rows, images)
    return report


def _error_images(model, splits, errors):
    """``{row: PNG data URI}`` of the misclassified test rows, for image data (an IDX data set of
    square images); ``None`` for other data."""
    data, transform = model.config.data, model.transform
    side = int(round(transform.width**0.5))
    if not errors or side * side != transform.width or not (data.name == "mnist" or isinstance(data.path, list)):
        return None
    position = {int(row): i for i, row in enumerate(splits.test_rows)}
    images = {}
    for error in errors:
        pixels = transform.unstandardize(splits.X_test[position[error["row"]]])
        images[error["row"]] = image_data_uri(pixels.reshape(side, side))
    return images


def _plane_rows(model, splits):
    """The training rows in the units of the data, for a decision boundary: a classifier of two
    numeric features only (``None`` otherwise)."""
    transform = model.transform
    if model.task != "classification" or transform.encoding is not None or transform.width != 2:
        return None
    return transform.unstandardize(splits.X_train) / transform.scale, np.asarray(splits.y_train)


def _finished_run(run_dir: Path) -> Result:
    path = regular_file(run_dir / "report.json", CheckpointError, "report")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not a JSON report ({clipped(exc)})") from None
    return Result(load(run_dir), report, runs.read_history(run_dir), run_dir, already_finished=True)


def evaluate(model, data: str | None = None, split: str = "test", out=None) -> dict:
    """The evaluation report of ``model`` (a :class:`~mlp.model.Model`, a model file or a run
    directory); written into ``out`` when it is given.

    Without ``data``: the ``split`` (``test``, ``val`` or ``train``) of the model's own data, drawn
    with its seed exactly as training drew it. With ``data`` (a built-in set's name): that set's
    split; (a file): every row of the file. The model's own feature transform feeds the network.
    """
    path = None
    if not isinstance(model, Model):
        path = model_path(model)
        model = load_model(path)
    config = model.config
    if data is None and config.data.name is None and config.data.path is None:
        raise MlpError(
            f"{path or 'the model'}: trained on rows given as arrays, so its config gives no data set "
            f"to evaluate on; pass data (a built-in data set's name or a file)"
        )
    if data is not None and data not in BUILTIN:
        target = config.data.target or (model.target_names or [None])[0]  # matched by name, like the features
        dataset = load_path(data, target, model.task, config.data.id_column, config.data.drop_missing_target)
        _check_width(dataset, model, data)
        y = (
            dataset.y
            if model.task == "regression"
            else align_labels(dataset.y, dataset.class_names, model.class_names, data)
        )
        outputs = model.outputs(dataset.X, str(data))
        rows, sizes, split, ids = np.arange(len(y)), {"evaluated": len(y)}, Path(data).name, dataset.ids
    else:
        data_config = config.data if data is None else replace(config.data, name=data, path=None, test_path=None)
        dataset = load_dataset(data_config)
        _check_width(dataset, model, data)
        if model.task == "classification":
            source = data_config.name or data_config.path
            dataset.y = align_labels(dataset.y, dataset.class_names, model.class_names, source)
            if dataset.y_test is not None:
                dataset.y_test = align_labels(dataset.y_test, dataset.class_names, model.class_names, source)
        split_of = split_rows_of(
            dataset,
            random_streams(config.seed)["split"],
            data_config.validation_split,
            data_config.test_split,
            data_config.corrupt_targets,
        )
        inputs = split_features(dataset, split_of, model.transform, model.network.dtype, split)
        outputs = model.network_outputs(inputs, dataset.where)
        y = split_targets(dataset, split_of, split)
        rows = getattr(split_of, split)
        sizes = {"train": len(split_of.train), "validation": len(split_of.val), "test": len(split_of.test)}
        own = split == "test" and split_of.own_test
        ids = dataset.test_ids if own else (None if dataset.ids is None else dataset.ids[rows])
    report = build_report(model, path, outputs, y, rows, split, sizes, ids=ids)
    if out is not None:
        write_report(report, out, model, (), outputs, y)
    return report


def _check_width(dataset, model, data):
    if not isinstance(dataset.X, Cells) and dataset.n_features != len(model.transform.input_columns):
        raise DataError(f"{data}: {dataset.n_features} features, the model takes {model.transform.width}")
