"""The faults an adversarial pass found, one class at a time, and the README's guarantees behind them.

Each test here failed on the code before the reliability work (except where its docstring says it
guards a property that held already).
"""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mlp
from helpers import npz_arrays, run, train_stopped_after, write_config
from mlp.errors import NonFiniteError
from mlp.io import archive
from mlp.io.files import write_json_atomic

IRIS_ROWS = Path(mlp.data.datasets.data_dir()) / "tabular" / "iris.csv"


@pytest.fixture
def trained(tmp_path, digits_config):
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=2", "--quiet").exit_code == 0
    return out


# ------------------------------------------------------------------ 1. links and special files


@pytest.mark.parametrize("option", ["--resume", "--overwrite"])
def test_a_lock_file_linked_outside_the_run_is_refused_and_the_outside_file_kept(trained, tmp_path, option):
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    (trained / "model.npz").unlink()
    (trained / ".lock").unlink(missing_ok=True)
    (trained / ".lock").symlink_to(outside)
    args = ("--resume", trained) if option == "--resume" else (trained / "config.yaml", "--out", trained, option)
    result = run("train", *args)
    assert result.exit_code == 2, result.output
    assert f"{trained / '.lock'}: is a symbolic link, not a regular file" in result.stderr
    assert outside.read_text() == "keep me"


def test_a_lock_file_that_is_a_pipe_does_not_hang_a_resume(trained):
    (trained / "model.npz").unlink()
    (trained / ".lock").unlink(missing_ok=True)
    os.mkfifo(trained / ".lock")
    done = subprocess.run(
        [sys.executable, "-m", "mlp", "train", "--resume", str(trained)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "is a named pipe, not a regular file" in done.stderr
    assert stat.S_ISFIFO(os.lstat(trained / ".lock").st_mode)


def test_a_metrics_log_linked_elsewhere_is_refused(trained, tmp_path, monkeypatch, digits_config):
    out = tmp_path / "part"
    assert (
        train_stopped_after(monkeypatch, 1, digits_config, "--out", out, "--set", "training.epochs=3").exit_code == 130
    )
    outside = tmp_path / "outside.jsonl"
    outside.write_text("mine\n")
    (out / "metrics.jsonl").unlink()
    (out / "metrics.jsonl").symlink_to(outside)
    result = run("train", "--resume", out)
    assert result.exit_code == 2 and "metrics.jsonl: is a symbolic link" in result.stderr
    assert outside.read_text() == "mine\n"


def special_files(folder):
    """A named pipe, a link to a file, and (as root) a device node, each named like an output."""
    os.mkfifo(folder / "pipe.csv")
    (folder / "target.txt").write_text("untouched")
    (folder / "link.csv").symlink_to(folder / "target.txt")
    made = {"pipe.csv": stat.S_ISFIFO, "link.csv": stat.S_ISLNK}
    if os.geteuid() == 0:
        os.mknod(folder / "device.csv", 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # a null device of our own
        made["device.csv"] = stat.S_ISCHR
    return made


def test_predict_never_replaces_a_pipe_a_link_or_a_device(trained, tmp_path):
    rows = tmp_path / "rows.csv"
    names = mlp.load(trained).feature_names
    rows.write_text(",".join(names) + "\n" + ",".join("1" for _ in names) + "\n")
    for name, kind in special_files(tmp_path).items():
        result = run("predict", trained, rows, "--out", tmp_path / name)
        assert result.exit_code == 2, (name, result.output)
        assert "not a regular file; mlp writes only regular files and never through a link" in result.stderr
        assert kind(os.lstat(tmp_path / name).st_mode), name
    assert (tmp_path / "target.txt").read_text() == "untouched"
    assert not list(tmp_path.glob(".*.tmp"))


def test_an_empty_output_name_is_a_clear_error(trained):
    result = run("predict", trained, IRIS_ROWS, "--out", "")
    assert result.exit_code == 2
    assert (
        result.stderr == "error: --out: the file name is empty; give a file to write, or leave --out out "
        "for standard output\n"
    )


def test_a_report_written_over_a_link_is_refused(trained, tmp_path):
    (tmp_path / "elsewhere.json").write_text("{}")
    report_dir = tmp_path / "eval"
    report_dir.mkdir()
    (report_dir / "report.json").symlink_to(tmp_path / "elsewhere.json")
    result = run("evaluate", trained, "--out", report_dir)
    assert result.exit_code == 2 and "report.json: is a symbolic link" in result.stderr
    assert (tmp_path / "elsewhere.json").read_text() == "{}"


# ------------------------------------------------------------------ 2. memory


def test_a_network_too_large_for_the_memory_is_refused_before_it_is_built(tmp_path, digits_config):
    result = run("train", digits_config, "--out", tmp_path / "run", "--set", "model.hidden=[100000, 100000]")
    assert result.exit_code == 2
    assert "training this network needs about" in result.stderr and "10,007,600,010 parameters" in result.stderr
    assert not (tmp_path / "run").exists()


def test_summary_prints_the_estimate_without_allocating(digits_config):
    script = (
        "from click.testing import CliRunner\n"
        "from mlp.cli import main\n"
        f"result = CliRunner().invoke(main, ['summary', {str(digits_config)!r}, '--set', 'model.hidden=[100000000]'])\n"
        "peak = next(line for line in open('/proc/self/status') if line.startswith('VmHWM:')).split()[1]\n"
        "print(result.exit_code, peak)\n"
        "print(result.output)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    status, peak_kb = done.stdout.split("\n")[0].split()
    assert status == "0" and int(peak_kb) < 400_000  # this process's peak (VmHWM); the weights would be 30 GB
    assert "total parameters: 7,500,000,010" in done.stdout and "training needs about" in done.stdout


def test_the_estimate_follows_its_formula():
    from mlp.config import resolve
    from mlp.nn import Architecture
    from mlp.training.memory import training_bytes

    config = resolve({"data": {"name": "iris"}, "optimizer": {"name": "adam"}, "training": {"batch_size": 10}})
    architecture = Architecture(4, [8], 3)
    parameters = 4 * 8 + 8 + 8 * 3 + 3
    # float32: params, grads, Adam's 3 buffers, scratch, best, checkpoint (1 + 3); activations; float64 init draw
    expected = parameters * 4 * (2 + 3 + 1 + 1 + 4) + 10 * (4 + 8 + 3) * 4 * 4 + 8 * 32
    assert training_bytes(architecture, config) == expected


# ------------------------------------------------------------------ 3. resume against changed data


def test_a_resume_after_the_data_changed_is_refused_unless_allowed(tmp_path, monkeypatch):
    data = tmp_path / "rows.csv"
    rng = np.random.default_rng(0)
    rows = rng.uniform(0, 1, (80, 3))
    data.write_text("a,b,c,y\n" + "".join(f"{r[0]},{r[1]},{r[2]},{int(r[0] > r[1])}\n" for r in rows))
    config = write_config(
        tmp_path / "c.yaml", f"data: {{path: {data}}}\nmodel: {{hidden: [4]}}\ntraining: {{epochs: 3}}\n"
    )
    out = tmp_path / "run"
    assert train_stopped_after(monkeypatch, 1, config, "--out", out).exit_code == 130
    with data.open("a") as file:
        file.write("0.5,0.5,0.5,1\n")
    result = run("train", "--resume", out)
    assert result.exit_code == 2
    assert f"last.npz: data.path ({data}) changed since this checkpoint was saved" in result.stderr
    assert "pass --allow-changed-data to continue anyway" in result.stderr
    result = run("train", "--resume", out, "--allow-changed-data")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["training"]["data_changed_on_resume"] == ["data.path"]
    assert "data.path changed" in (out / "report.md").read_text()


# ------------------------------------------------------------------ 4. tampered checkpoints


def forge(path, edit):
    """Rewrite an mlp archive through ``edit(arrays, metadata)`` with valid checksums, writing even
    what mlp's own writer refuses (NaN or infinity in the metadata)."""
    arrays, metadata = archive.load_checked(path)
    edit(arrays, metadata)
    metadata["checksums"] = {key: archive.checksum(value) for key, value in arrays.items()}
    np.savez(path, metadata=np.array(json.dumps(metadata)), **arrays)


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda a, m: m.update(epoch=10**6), "has finished 1000000 epochs, more than training.epochs (6)"),
        (lambda a, m: a.update({"best.0.W": np.zeros((3, 3), np.float32)}), "array 'best.0.W' has shape (3, 3)"),
        (lambda a, m: a["best.0.W"].fill(np.nan), "array 'best.0.W' holds NaN or infinite values"),
        (
            lambda a, m: a.update({"optimizer.exp_avg.0": a["optimizer.exp_avg.0"].astype(np.complex64)}),
            "array 'optimizer.exp_avg.0' is complex64, the network computes in float32",
        ),
        (lambda a, m: m.update(elapsed=float("inf")), "elapsed is inf, not a finite number"),
        (lambda a, m: m.update(elapsed=float("nan")), "elapsed is nan, not a finite number"),
        (lambda a, m: m["sums"].update(data=float("nan")), "sums.data is nan, not a finite number"),
    ],
)
def test_a_tampered_but_checksummed_checkpoint_is_refused(tmp_path, digits_config, monkeypatch, edit, message):
    out = tmp_path / "run"
    assert train_stopped_after(monkeypatch, 2, digits_config, "--out", out).exit_code == 130
    forge(out / "last.npz", edit)
    result = run("train", "--resume", out)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {out / 'last.npz'}: ") and message in result.stderr


def test_a_model_file_with_nan_weights_is_refused(trained):
    forge(trained / "model.npz", lambda a, m: a["0.W"].fill(np.nan))
    for args in (("evaluate", trained), ("predict", trained, IRIS_ROWS)):
        result = run(*args)
        assert result.exit_code == 2 and "array '0.W' is not a finite float array" in result.stderr


def test_json_writers_refuse_non_finite_numbers(tmp_path):
    with pytest.raises(NonFiniteError, match="a NaN or infinite number"):
        write_json_atomic(tmp_path / "report.json", {"training": {"wall_time_seconds": float("inf")}})
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ 5. numbers that overflow after parsing


def test_finite_values_too_large_for_float32_are_named_where_they_enter(tmp_path, trained):
    names = mlp.load(trained).feature_names
    rows = tmp_path / "rows.csv"
    rows.write_text(",".join(names) + "\n" + ",".join(["1"] * (len(names) - 1) + ["1e308"]) + "\n")
    result = run("predict", trained, rows)
    assert result.exit_code == 2
    assert f"error: {rows}: row 0, column {names[-1]!r}: 1e+308 is out of range for float32" in result.stderr
    labelled = tmp_path / "labelled.csv"
    labelled.write_text(",".join([*names, "digit"]) + "\n" + ",".join(["1"] * (len(names) - 1) + ["1e308", "3"]) + "\n")
    result = run("evaluate", trained, "--data", labelled, "--out", tmp_path / "ev")
    assert result.exit_code == 2
    assert f"error: {labelled}: row 0, column {names[-1]!r}: 1e+308 is out of range for float32" in result.stderr
    data = tmp_path / "train.csv"
    data.write_text("a,b,y\n" + "".join(f"{i % 5},{1e39 if i == 7 else i % 3},{i % 2}\n" for i in range(40)))
    config = write_config(
        tmp_path / "c.yaml", f"data: {{path: {data}}}\nmodel: {{hidden: [4]}}\ntraining: {{epochs: 1}}\n"
    )
    result = run("train", config, "--out", tmp_path / "r")
    assert result.exit_code == 2 and f"{data}: row 7, column 'b': 1e+39 is out of range for float32" in result.stderr
    result = run("train", config, "--out", tmp_path / "r64", "--set", "training.dtype=float64")
    assert result.exit_code == 0, result.output


# ------------------------------------------------------------------ 6. messages that mislead


def test_a_file_without_feature_columns_says_so(tmp_path):
    data = tmp_path / "only_target.csv"
    data.write_text("y\n" + "".join(f"{i % 2}\n" for i in range(20)))
    config = write_config(tmp_path / "c.yaml", f"data: {{path: {data}}}\n")
    result = run("train", config, "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert (
        result.stderr == f"error: {data}: the data has no feature columns, only the target (y); a network "
        f"needs at least one input\n"
    )


def test_class_labels_written_as_whole_floats(tmp_path):
    data = tmp_path / "labels.csv"
    data.write_text("a,b,y\n" + "".join(f"{i % 5},{i % 3},{float(1 + i % 2)}\n" for i in range(40)))
    config = write_config(
        tmp_path / "c.yaml", f"data: {{path: {data}, task: classification}}\ntraining: {{epochs: 1}}\n"
    )
    result = run("train", config, "--out", tmp_path / "r", "--quiet")
    assert result.exit_code == 0, result.output
    assert mlp.load(tmp_path / "r").class_names == ["1", "2"]
    result = run("train", config, "--out", tmp_path / "auto", "--set", "data.task=auto")
    assert result.exit_code == 2 and "set data.task: classification" in result.stderr
    data.write_text("a,y\n1,1.5\n2,1\n")
    result = run("train", config, "--out", tmp_path / "frac")
    assert result.exit_code == 2 and "line 2, column 'y': '1.5' is not a whole number" in result.stderr


def test_inputs_of_a_huge_scale_are_named_as_the_cause_of_divergence(tmp_path):
    data = tmp_path / "huge.csv"
    data.write_text("a,b,y\n" + "".join(f"{(i % 7) * 1e30},{(i % 3) * 1e30},{i % 2}\n" for i in range(60)))
    config = write_config(
        tmp_path / "c.yaml",
        f"data: {{path: {data}, standardize: false}}\nmodel: {{hidden: [8]}}\ntraining: {{epochs: 2}}\n",
    )
    result = run("train", config, "--out", tmp_path / "r")
    assert result.exit_code == 3
    assert "the network's inputs reach 6e+30: set data.standardize: true" in result.stderr
    assert "try a smaller optimizer.lr" not in result.stderr


# ------------------------------------------------------------------ 7. leftovers and slow paths


def test_predict_removes_what_a_killed_predict_left(trained, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".pred.csv.{dead.pid}.abc123.tmp"
    stale.write_bytes(b"x" * 1000)
    alive = tmp_path / f".pred.csv.{os.getppid()}.def456.tmp"  # a writer that still runs
    alive.write_bytes(b"y")
    names = mlp.load(trained).feature_names
    rows = tmp_path / "rows.csv"
    rows.write_text(",".join(names) + "\n" + ",".join("1" for _ in names) + "\n")
    assert run("predict", trained, rows, "--out", tmp_path / "pred.csv").exit_code == 0
    assert not stale.exists() and alive.exists() and (tmp_path / "pred.csv").exists()


def test_prediction_input_with_many_columns(trained, tmp_path):
    """Columns are looked up through a dict: 20,000 columns, one row, the model's 64 among them."""
    names = mlp.load(trained).feature_names
    extra = [f"extra_{j}" for j in range(20_000 - len(names))]
    header = extra[: len(extra) // 2] + list(reversed(names)) + extra[len(extra) // 2 :]
    values = {name: str(k % 16) for k, name in enumerate(names)}
    rows = tmp_path / "wide.csv"
    rows.write_text(",".join(header) + "\n" + ",".join(values.get(h, "0") for h in header) + "\n")
    narrow = tmp_path / "narrow.csv"
    narrow.write_text(",".join(names) + "\n" + ",".join(values[n] for n in names) + "\n")
    wide, expected = run("predict", trained, rows), run("predict", trained, narrow)
    assert wide.exit_code == 0 and wide.stdout == expected.stdout


# ------------------------------------------------------------------ guarantees


FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_ATTRIBUTES = {
    ("yaml", "load"),
    ("yaml", "unsafe_load"),
    ("yaml", "load_all"),
    ("yaml", "full_load"),
    ("os", "system"),
    ("os", "popen"),
    ("importlib", "import_module"),
}


def test_the_package_never_runs_code_from_what_it_reads():
    """No pickle, no allow_pickle=True, no unsafe YAML, no eval/exec, no shell, no import by a name
    that is not written in the code (a guard: it held before the reliability work too)."""
    import ast

    package = Path(mlp.__file__).resolve().parent
    found = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(package)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [alias.name for alias in node.names] + [getattr(node, "module", None) or ""]
                found += [f"{where} imports {m}" for m in modules if m.split(".")[0] in ("pickle", "marshal", "shelve")]
            elif isinstance(node, ast.Call):
                function = node.func
                if isinstance(function, ast.Name) and function.id in FORBIDDEN_CALLS:
                    found.append(f"{where} calls {function.id}")
                if (
                    isinstance(function, ast.Attribute)
                    and isinstance(function.value, ast.Name)
                    and (function.value.id, function.attr) in FORBIDDEN_ATTRIBUTES
                ):
                    found.append(f"{where} calls {function.value.id}.{function.attr}")
                for keyword in node.keywords:
                    if keyword.arg == "allow_pickle" and not (
                        isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                    ):
                        found.append(f"{where} passes allow_pickle other than False")
                    if keyword.arg == "shell" and not (
                        isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                    ):
                        found.append(f"{where} runs a shell")
    assert found == []


def test_same_config_and_seed_give_the_same_run_in_two_processes_and_twice_in_one(tmp_path, digits_config):
    """Bit-identical weights and identical metrics (timings aside) — a guard of a property that held."""
    for name in ("p1", "p2"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "mlp",
                "train",
                str(digits_config),
                "--out",
                str(tmp_path / name),
                "--quiet",
                "--set",
                "training.epochs=3",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    in_process = [mlp.train(digits_config, overrides=["training.epochs=3"]) for _ in range(2)]

    def records(history):
        return [{k: v for k, v in record.items() if k != "seconds"} for record in history]

    files = [npz_arrays(tmp_path / name / "model.npz") for name in ("p1", "p2")]
    for result in in_process:
        assert records(result.history) == records(in_process[0].history)
        for key, value in result.model.network.state_dict().items():
            assert all(np.array_equal(value, weights[key]) for weights in files), key
    logged = [
        [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        for name in ("p1", "p2")
    ]
    assert records(logged[0]) == records(logged[1]) == records(in_process[0].history)


def test_a_run_on_8_bit_images_that_diverges_says_so_cleanly(tmp_path):
    """Rows of 8-bit pixels stay integers in memory (ScaledRows); the divergence message reads their
    largest value without a float copy (it raised AttributeError before: a traceback, exit 1)."""
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (40, 3, 3)).astype(np.uint8), np.arange(40, dtype=np.uint8) % 2
    paths = []
    for name, array in (("images.idx", images), ("labels.idx", labels)):
        header = bytes([0, 0, 0x08, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
        (tmp_path / name).write_bytes(header + array.tobytes())
        paths.append(str(tmp_path / name))
    config = write_config(
        tmp_path / "c.yaml",
        f"data: {{path: {json.dumps(paths)}, standardize: false}}\n"
        "model: {hidden: [8]}\noptimizer: {name: sgd, lr: 1.0e+30}\ntraining: {epochs: 2, batch_size: 4}\n",
    )
    result = run("train", config, "--out", tmp_path / "r")
    assert result.exit_code == 3, result.output
    assert "training diverged (try a smaller optimizer.lr)" in result.stderr  # pixels scaled to [0, 1]
    assert "Traceback" not in result.output
