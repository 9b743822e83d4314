"""The ``mlp`` command line: train, evaluate, predict, summary, gradcheck, explain, compare, sweep.

Click commands only: each parses its arguments, calls the library (:mod:`mlp.api` for training and
evaluation) and prints. Errors a user can cause (:class:`~mlp.errors.MlpError`: bad input, a network
too big for the memory) print one line to stderr and exit with status 2; a bug prints ``internal
error`` and exits with status 1 (``--debug`` shows the traceback either way). A diverging run exits
with status 3; a sweep with failed trials with status 4; an interrupted one (Ctrl-C, SIGTERM) with 130 after saving a resumable checkpoint,
and any other interrupted command with 130 too.
"""

import csv
import io
import signal
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path

import click
import numpy as np

from . import api, kernels
from .config import load_config
from .data.datasets import BUILTIN, column_text, read_feature_rows
from .data.encoding import DataWarning
from .data.table import Cells
from .errors import ArgumentError, Interrupted, MlpError, NonFiniteError, TrialsFailed
from .explain.expression import dot, explain_expression
from .explain.network import explain_network
from .io.files import available_memory, human_size, remove_stale_temporaries, write_text_atomic
from .model import load_model, model_path
from .nn.gradcheck import compare_layers
from .reporting.compare import compare as compare_runs
from .reporting.compare import histories, render
from .reporting.html import comparison_page
from .reporting.markdown import summary_line
from .reporting.plots import overlaid_curves
from .sweeps.driver import run_sweep
from .sweeps.engines import available_cores
from .sweeps.summary import is_sweep_dir, sweep_table
from .training.experiment import build_experiment, describe
from .training.memory import training_bytes
from .version import __version__

EXIT_USER_ERROR = 2
EXIT_NON_FINITE = 3
EXIT_INTERRUPTED = 130
EXIT_TRIALS_FAILED = 4


# click >= 8.2 signals "no arguments: show the help" as a usage error; earlier versions exit directly
NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """A warning about the data is one line on stderr, like an error."""
    click.echo(f"warning: {message}".replace("\n", " "), err=True)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


class Cli(click.Group):
    """A group that turns user errors into one line on stderr and exit status 2."""

    def parse_args(self, ctx, args):
        try:
            return super().parse_args(ctx, args)
        except NO_ARGS_IS_HELP:
            raise
        except click.UsageError as exc:
            self._usage_error(ctx, exc)

    def invoke(self, ctx):
        # Outside the training loop (which stops gracefully by itself) SIGTERM interrupts like Ctrl-C:
        # a file being written loses only its temporary copy, and the exit status is the same.
        in_main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", DataWarning)
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            self._fail(ctx, f"interrupted ({exc.args[0] if exc.args else 'Ctrl-C'})", EXIT_INTERRUPTED)
        except click.UsageError as exc:
            self._usage_error(ctx, exc)
        except ArgumentError as exc:
            self._fail(ctx, f"error: {exc.for_cli()}", EXIT_USER_ERROR)
        except MlpError as exc:
            self._fail(ctx, f"error: {exc}", EXIT_USER_ERROR)
        except NonFiniteError as exc:
            self._fail(ctx, f"error: {exc}", EXIT_NON_FINITE)
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            self._fail(ctx, f"error: {where}{exc.strerror or exc}", EXIT_USER_ERROR)
        except MemoryError as exc:
            self._fail(
                ctx,
                f"error: out of memory ({exc}); a smaller model.hidden or training.batch_size needs less",
                EXIT_USER_ERROR,
            )
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # a bug, not the user's doing: still no traceback unless --debug
            self._fail(ctx, f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", 1)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    def _usage_error(self, ctx, exc):
        """A bad command line (unknown option, missing or invalid argument): one line, exit 2."""
        if exc.ctx is not None:
            command_path = exc.ctx.command_path
        else:  # an error in a subcommand's options can come without its context
            command_path = " ".join(filter(None, (ctx.command_path, ctx.invoked_subcommand)))
        message = exc.format_message().removesuffix(".")
        self._fail(ctx, f"error: {message} (see '{command_path} --help')", exc.exit_code)

    @staticmethod
    def _fail(ctx, message, status):
        if "--debug" in sys.argv or (ctx.obj or {}).get("debug"):
            traceback.print_exc()
        click.echo(message.replace("\n", " "), err=True)
        ctx.exit(status)


override_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config key (dotted path; value parsed as YAML). Repeatable.",
)


def _print_version(ctx, _param, value):
    if not value or ctx.resilient_parsing:
        return
    try:
        which = kernels.describe()
    except ValueError as exc:
        which = str(exc)
    click.echo(f"mlp, version {__version__}\nkernels: {which}")
    ctx.exit()


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and which kernels training uses, and exit.",
)
@click.option("--debug", is_flag=True, help="Show the traceback of an error.")
@click.pass_context
def main(ctx, debug):
    """Train and evaluate multi-layer perceptrons from YAML experiment configs."""
    ctx.obj = {"debug": debug}


# ------------------------------------------------------------------------------------------ train


@main.command()
@click.argument("config_path", metavar="CONFIG", required=False, type=click.Path(dir_okay=False))
@override_option
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default runs/<name>-<time>).")
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(file_okay=False),
    help="Continue the run in this directory from its last.npz.",
)
@click.option("--overwrite", is_flag=True, help="Replace the run files of a non-empty --out directory.")
@click.option("--quiet", is_flag=True, help="Print only the final result.")
@click.option(
    "--allow-changed-data",
    is_flag=True,
    help="Resume even though a data file changed since the checkpoint (recorded in the report).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="Threads for BLAS and the kernels (training.threads; default: every core).",
)
def train(config_path, overrides, out, resume_dir, overwrite, quiet, allow_changed_data, threads):
    """Train the experiment described by CONFIG (YAML); report on its held-out data."""
    if resume_dir is None and config_path is None:
        raise MlpError("train needs a CONFIG file (or --resume RUN_DIR)")
    overrides = [*overrides, f"training.threads={threads}"] if threads else overrides
    resume = resume_dir is not None
    run_dir = resume_dir if resume else (out or api.NEW_RUN)
    try:
        result = api.train(
            config_path,
            out=run_dir,
            overrides=overrides,
            quiet=quiet,
            resume=resume,
            overwrite=overwrite,
            handle_signals=True,
            allow_changed_data=allow_changed_data,
        )
    except Interrupted as exc:
        where = resume_dir or out or "the run directory"
        click.echo(f"interrupted ({exc}); checkpoint saved. Resume with: mlp train --resume {where}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if result.already_finished:
        click.echo(
            f"run {result.run_dir} already finished ({result.report['training']['stop_reason']}); nothing to resume"
        )
        return
    click.echo(summary_line(result.report, result.run_dir))
    for finding in (result.report["training"] or {}).get("findings", []):
        click.echo(f"finding: {finding}")


# --------------------------------------------------------------------------------------- evaluate


@main.command()
@click.argument("model", type=click.Path())
@click.option("--data", "data", help="A built-in data set name or a data file (every row is evaluated).")
@click.option(
    "--split",
    type=click.Choice(["test", "val", "train"]),
    default="test",
    show_default=True,
    help="Which split of the run's (or the built-in set's) data to evaluate.",
)
@click.option("--out", type=click.Path(file_okay=False), help="Report folder (default: <model dir>/eval-<split>).")
def evaluate(model, data, split, out):
    """Write an evaluation report for MODEL (a model.npz or a run directory)."""
    path = model_path(model)
    scored = Path(data).name if data is not None and data not in BUILTIN else split
    out_dir = Path(out) if out else path.parent / f"eval-{scored}"
    report = api.evaluate(path, data, split, out_dir)
    click.echo(summary_line(report, out_dir))


# ---------------------------------------------------------------------------------------- predict


@main.command()
@click.argument("model", type=click.Path())
@click.argument("input_path", metavar="INPUT", type=click.Path())
@click.option("--out", type=click.Path(dir_okay=False), help="CSV file to write (default: standard output).")
def predict(model, input_path, out):
    """Predict for the rows of INPUT (CSV or NPZ) with MODEL; write CSV."""
    if out == "":
        raise MlpError("--out: the file name is empty; give a file to write, or leave --out out for standard output")
    trained = load_model(model_path(model))
    rows = read_feature_rows(input_path, trained.transform)
    outputs = trained.outputs(rows, input_path)
    predicted = trained.predict_from_outputs(outputs)
    id_name = trained.config.data.id_column
    if id_name is not None and isinstance(rows, Cells) and id_name in rows.names:
        key, keys = id_name, column_text(rows, rows.names.index(id_name))  # the rows' own IDs first
    else:
        key, keys = "row", range(len(predicted))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if trained.task == "classification":
        values = trained.probabilities(outputs)
        if values is not None:
            columns = [f"p_{name}" for name in trained.class_names]
        else:  # the hinges, or a regression loss on encoded classes: the network's scores
            values = outputs
            columns = [f"score_{name}" for name in trained.class_names]
        writer.writerow([key, "predicted", *columns])
        for i, (row_key, label) in enumerate(zip(keys, predicted)):
            writer.writerow([row_key, trained.class_names[label], *(f"{v:.6g}" for v in values[i])])
    else:
        names = trained.target_names or []
        if len(names) != predicted.shape[1]:
            names = [f"target_{k}" for k in range(predicted.shape[1])]
        writer.writerow([key] + [f"predicted_{name}" for name in names])
        for row_key, values in zip(keys, predicted):
            writer.writerow([row_key] + [f"{v:.6g}" for v in values])
    if out is None:
        click.echo(buffer.getvalue(), nl=False)
    else:
        remove_stale_temporaries(out)
        write_text_atomic(out, buffer.getvalue())
        click.echo(f"wrote {len(predicted)} predictions to {out}", err=True)


# ----------------------------------------------------------------------------------------- export


@main.command("export")
@click.argument("model", type=click.Path())
@click.option(
    "--format", "fmt", type=click.Choice(["onnx", "safetensors"]), required=True, help="The file format to write."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="File to write (default: model.onnx or model.safetensors beside MODEL's model.npz).",
)
def export(model, fmt, out):
    """Write MODEL (a model.npz or a run directory) as an ONNX graph or a safetensors file."""
    source = model_path(model)
    trained = load_model(source)
    target = Path(out) if out else source.with_suffix(f".{fmt}")
    if target.resolve() == source.resolve():
        raise MlpError(f"--out {target}: that is the model file itself; choose another file")
    started = time.perf_counter()
    trained.save(target, format=fmt)
    seconds = time.perf_counter() - started
    size = target.stat().st_size
    shown_size = human_size(size) if size >= 2**20 else f"{size / 1024:.1f} KiB"
    click.echo(f"wrote {target} ({shown_size}, {fmt}) in {seconds:.2f} s")


# ---------------------------------------------------------------------------------------- summary


@main.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@override_option
def summary(config_path, overrides):
    """Print the network of CONFIG: layers, output shapes, parameter counts and the memory training needs."""
    config = load_config(config_path, overrides)
    dataset, _, transform, architecture = describe(config)
    width = architecture.input_width
    lines = [
        f"{'#':>3}  {'layer':<24} {'output shape':<14} {'parameters':>12}",
        f"{'':>3}  {'input':<24} {f'(N, {width})':<14} {'':>12}",
    ]
    for index, name, out_width, count in architecture.summary():
        lines.append(f"{index:>3}  {name:<24} {f'(N, {out_width})':<14} {count:>12,}")
    available = available_memory()
    lines += [
        f"total parameters: {architecture.num_parameters():,}  "
        f"(loss {config.loss.name}, {dataset.task}, dtype {config.training.dtype})",
        f"training needs about {human_size(training_bytes(architecture, config))} of memory besides the data"
        + ("" if available is None else f" ({human_size(available)} available)"),
        "input columns:",
    ]
    standardize = dataset.standardize_default if config.data.standardize is None else config.data.standardize
    lines += [f"  {name:<24} {done}" for name, done in transform.describe(standardize)]
    click.echo("\n".join(lines))


# -------------------------------------------------------------------------------------- gradcheck


def _finite(ctx, param, value):
    """Click callback: reject NaN and infinity (``FloatRange`` lets NaN through)."""
    if not np.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number", param=param)
    return value


@main.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@override_option
@click.option(
    "--rows", default=4, show_default=True, type=click.IntRange(min=1), help="Training rows in the checked batch."
)
@click.option(
    "--entries",
    default=50,
    show_default=True,
    type=click.IntRange(min=0),
    help="Entries checked per parameter array (0: all).",
)
@click.option(
    "--tolerance",
    default=1e-6,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    callback=_finite,
    help="Largest acceptable relative error.",
)
def gradcheck(config_path, overrides, rows, entries, tolerance):
    """Check CONFIG's backpropagation against finite differences (float64, its own data)."""
    config = load_config(config_path, [*overrides, "training.dtype=float64"])
    experiment = build_experiment(config)
    x = experiment.splits.X_train[:rows]
    y = experiment.targets["train"][:rows]
    rows = compare_layers(
        experiment.network,
        experiment.loss,
        x,
        y,
        experiment.regularizer,
        entries=entries or None,
        rng=np.random.default_rng(config.seed),
    )
    table = [["array", "layer", "max rel. error", "worst entry", "analytic", "numeric", "", "at a kink"]]
    for row in rows:
        verdict = "ok" if row.error < tolerance else "FAIL"
        where = "[" + ", ".join(map(str, row.index)) + "]"
        table.append(
            [
                f"{row.layer}.{row.key}",
                row.name,
                f"{row.error:.3e}",
                where,
                f"{row.analytic:.8g}",
                f"{row.numeric:.8g}",
                verdict,
                f"{row.kinks} left out" if row.kinks else "",
            ]
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    worst = max(row.error for row in rows)
    click.echo(f"max relative error {worst:.3e} (tolerance {tolerance:g}; N.input: dJ/d of layer N's input)")
    if not worst < tolerance:
        sys.exit(1)


# ---------------------------------------------------------------------------------------- explain


@main.command()
@click.argument("source", metavar="[CONFIG|MODEL]", required=False, type=click.Path())
@click.option("--expr", metavar="EXPR", help="A scalar expression to work through instead (e.g. '(x + y) * z').")
@click.option("--at", "at", metavar="x=-2,y=5", help="With --expr: the variables' values.")
@click.option("--rows", type=click.IntRange(min=1), default=2, show_default=True, help="Rows of the minibatch.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Which rows (seeded draw).")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "latex"]), default="text", show_default=True)
@override_option
@click.option("--dot", "dot_path", type=click.Path(dir_okay=False), help="With --expr: also write the graph as DOT.")
def explain(source, expr, at, rows, seed, fmt, overrides, dot_path):
    """Work Algorithms 6.3 and 6.4 through a minibatch of CONFIG's (or MODEL's) data, layer by layer,
    with finite differences beside every gradient; or, with --expr, Algorithms 6.1 and 6.2 through a
    scalar computation graph."""
    if (source is None) == (expr is None):
        raise ArgumentError("explain needs a CONFIG or MODEL, or --expr EXPR (one of them)")
    if expr is None:
        if at is not None or dot_path is not None:
            raise ArgumentError("--at and --dot go with --expr")
        click.echo(explain_network(source, rows, fmt, seed, overrides), nl=False)
        return
    text, graph = explain_expression(expr, at, fmt)
    if dot_path is not None:
        write_text_atomic(Path(dot_path), dot(graph))
    click.echo(text, nl=False)


# ---------------------------------------------------------------------------------------- compare


@main.command()
@click.argument("run_dirs", metavar="RUN_DIR...", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--sort", help="Sort by this column (e.g. test_accuracy, test_rmse).")
@click.option("--ascending/--descending", default=None, help="Sort order (default: best first).")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "markdown", "csv", "html"]), default="table", show_default=True
)
def compare(run_dirs, sort, ascending, fmt):
    """Compare runs: the config keys that differ and their held-out metrics (html: a page with their
    learning curves overlaid). Given a sweep directory: its trials, best first, with the keys the
    sweep varies."""
    sweep = len(run_dirs) == 1 and is_sweep_dir(run_dirs[0])
    if sweep:
        columns, rows, _ = sweep_table(run_dirs[0])
    else:
        columns, rows = compare_runs(run_dirs, sort, None if ascending is None else not ascending)
    if fmt == "html":
        curves = None if sweep else overlaid_curves(histories(run_dirs))
        title = f"Sweep {Path(run_dirs[0]).name}" if sweep else f"Comparison of {len(run_dirs)} runs"
        click.echo(comparison_page(columns, rows, curves, title), nl=False)
        return
    click.echo(render(columns, rows, fmt), nl=False)


# ------------------------------------------------------------------------------------------ sweep


@main.command()
@click.argument("sweep_path", metavar="SWEEP", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Sweep directory (default sweeps/<name>-<time>).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help=f"Trials trained at once (default: the cores, {available_cores()} here; an existing Dask cluster: its workers).",
)
@click.option(
    "--backend",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="local: worker processes on this machine (loky); dask: a Dask LocalCluster, or --address.",
)
@click.option("--address", metavar="tcp://HOST:PORT", help="The scheduler of an existing Dask cluster.")
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Times a trial whose worker died (or fell silent) is restarted from its checkpoint.",
)
@click.option("--fail-fast", is_flag=True, help="Stop the sweep at the first failed trial.")
@click.option("--resume", is_flag=True, help="Continue the sweep in --out: run only what has no result.")
@click.option(
    "--heartbeat-timeout",
    type=click.FloatRange(min=1),
    default=120.0,
    show_default=True,
    help="Seconds without a heart-beat after which a trial's worker is taken for lost.",
)
def sweep(sweep_path, out, workers, backend, address, retries, fail_fast, resume, heartbeat_timeout):
    """Run every trial of the sweep file SWEEP; record them in SWEEP_DIR/sweep.jsonl."""
    try:
        result = run_sweep(
            sweep_path,
            out,
            workers=workers,
            backend=backend,
            address=address,
            retries=retries,
            fail_fast=fail_fast,
            resume=resume,
            heartbeat_timeout=heartbeat_timeout,
        )
    except TrialsFailed as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_TRIALS_FAILED)
    except Interrupted as exc:
        click.echo(f"interrupted ({exc})", err=True)
        sys.exit(EXIT_INTERRUPTED)
    counts = result.counts
    best = "" if result.best is None else f"; best trial {result.best} ({result.value:.6g})"
    click.echo(
        f"sweep done: {counts['finished']} finished, {counts['pruned']} pruned, {counts['failed']} failed{best}; "
        f"report: {result.sweep_dir}/report.md"
    )
