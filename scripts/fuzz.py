"""Throw malformed input at the mlp command line and check that it fails cleanly.

    python scripts/fuzz.py [--iterations 200] [--seed 0]
                           [--targets config,yaml,csv,npz,bytes,metadata,runfiles,traps,tampered,overflow]

Every case runs an ``mlp`` command in-process (click's test runner) on a randomly damaged input
and checks the README's contract: exit status 0, 2 or 3, and on failure exactly one line on stderr,
starting with ``error:`` and at most ``MAX_MESSAGE`` characters long (never a traceback, never
"internal error"), with no temporary file left in the run directory. The targets:

- ``config``: values of the iris config replaced by values of other types, keys deleted or added;
- ``yaml``: characters of the config text inserted, deleted or replaced;
- ``csv``: cells, lines and columns of the iris CSV damaged, for train, predict and evaluate;
- ``npz``: the iris data as an archive, with arrays of odd shapes, dtypes and values put in,
  added or taken out;
- ``bytes``: ``model.npz`` and ``last.npz`` with flipped bits, cut short, zeroed or replaced;
- ``metadata``: the same files with edited metadata but valid checksums;
- ``runfiles``: a run's ``config.yaml``, ``report.json`` or ``metrics.jsonl`` damaged, for ``compare``
  and for ``train --resume`` of the run;
- ``traps``: a run file (the lock, the metrics log, the model, the report, …) replaced by a link to a
  file outside, a dangling link, a named pipe or a folder, for ``train --resume``, ``--overwrite``,
  ``evaluate --out`` and ``predict --out``: the outside file must stay as it was, the trap too;
- ``tampered``: checkpoints and model files with hostile values of the right kind (huge epochs,
  NaN or infinite numbers, arrays of the wrong shape or dtype, NaN weights) and valid checksums: a
  command that succeeds must write finite predictions and a strictly valid ``report.json``;
- ``overflow``: finite numbers beyond float32 (``1e39``, ``1e308``) in training, prediction and
  evaluation data: refused naming the cell, or finite results.

Prints every violation with what caused it and exits 1 if there was any.
"""

import argparse
import copy
import json
import os
import random
import shutil
import stat
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml
from click.testing import CliRunner

from mlp.cli import main as cli
from mlp.data.datasets import data_dir, load_builtin
from mlp.io import archive as checkpoint

IRIS_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "iris.yaml"
ODD_VALUES = [
    None,
    True,
    0,
    -1,
    2,
    0.5,
    -0.5,
    1e300,
    float("nan"),
    float("inf"),
    "",
    "abc",
    "1e-3",
    [],
    [1],
    [-3],
    ["a"],
    {},
    {"a": 1},
    10**30,
    "relu",
    "none",
    "/nonexistent.csv",
    [16, 16],
]
ODD_TEXT = list(":{}[],-#&*!|>'\"%@` \n\t0123456789.eE+") + [
    "\x00",
    "\ufeff",
    "é",
    "~",
    "null",
    "&a",
    "*a",
    "<<: *a",
    "? ",
    "---\n",
    "!!python/object:os.system ",
]
MAX_MESSAGE = 1000  # characters: an error quotes a bad value, never a whole (aliased) structure or field
ODD_CELLS = [
    "",
    "nan",
    "inf",
    "-inf",
    "1e400",
    "abc",
    '"x"',
    "\x00",
    "é",
    " ",
    "0x10",
    "--1",
    "True",
    "1,2",
    '"unterminated',
    "\r",
    "x" * 1000,
    "9" * 200_000,
]


def forge(path, arrays, metadata):
    """Write an mlp archive with valid checksums whatever it holds (mlp's own writer refuses NaN
    and infinity in the metadata): what a tamperer who knows the format would write."""
    metadata = {
        **metadata,
        "format_version": checkpoint.FORMAT_VERSION,
        "checksums": {key: checkpoint.checksum(value) for key, value in arrays.items()},
    }
    np.savez(path, metadata=np.array(json.dumps(metadata)), **arrays)


TRAP_NAMES = [
    ".lock",
    "metrics.jsonl",
    "model.npz",
    "report.json",
    "report.md",
    "config.yaml",
    "last.npz",
    "learning_curves.png",
    "confusion_matrix.png",
]
HOSTILE_NUMBERS = [10**6, 10**15, -1, 2**53, 1e308, float("inf"), float("-inf"), float("nan"), 0, 2.5, None, True]
HUGE_CELLS = ["1e39", "-1e39", "3.5e38", "1e300", "1e308", "-1.7e308", "1e-320"]


class Fuzzer:
    def __init__(self, seed, workdir):
        self.rng = random.Random(seed)
        self.work = Path(workdir)
        self.runner = CliRunner()
        self.violations = []
        self.runs = 0
        self.iris_csv = (data_dir() / "tabular" / "iris.csv").read_text().splitlines()
        self.rows_csv = self.work / "rows.csv"
        self.rows_csv.write_text(self.iris_csv[0].rsplit(",", 1)[0] + "\n5.1,3.5,1.4,0.2\n")
        iris = load_builtin("iris")
        self.iris_arrays = {"X": np.asarray(iris.X), "y": iris.y}
        self.base = self.work / "base"
        self.invoke(
            "setup",
            [
                "train",
                str(IRIS_CONFIG),
                "--out",
                str(self.base),
                "--quiet",
                "--set",
                "training.epochs=3",
                "--set",
                "training.early_stopping.patience=1",
            ],
        )

    def invoke(self, what, args, run_dir=None):
        """Run one command; record a violation of the error contract."""
        self.runs += 1
        result = self.runner.invoke(cli, args)
        stderr = result.stderr.strip()
        one_line = len(stderr.splitlines()) == 1 and len(stderr) <= MAX_MESSAGE and stderr.startswith("error:")
        clean = result.exit_code == 0 or one_line
        clean = clean and result.exit_code in (0, 2, 3) and "internal error" not in stderr
        if run_dir is not None and Path(run_dir).is_dir():
            clean = clean and not any(p.suffix == ".tmp" for p in Path(run_dir).iterdir())
        if not clean:
            self.violations.append(f"{what}: mlp {' '.join(map(str, args))} → exit {result.exit_code}: {stderr[-400:]}")
        return result

    def train(self, what, config_path, *overrides):
        out = self.work / f"run{self.runs}"
        args = ["train", str(config_path), "--out", str(out), "--quiet", "--set", "training.epochs=2"]
        for override in overrides:
            args += ["--set", override]
        self.invoke(what, args, out)
        shutil.rmtree(out, ignore_errors=True)

    # ----------------------------------------------------------------------- targets

    def config(self):
        config = copy.deepcopy(yaml.safe_load(IRIS_CONFIG.read_text()))
        for _ in range(self.rng.randint(1, 3)):
            parent, key = self._pick_key(config)
            roll = self.rng.random()
            if roll < 0.15:
                del parent[key]
            elif roll < 0.25:
                parent[key + "_"] = self.rng.choice(ODD_VALUES)
            else:
                parent[key] = self.rng.choice(ODD_VALUES)
        path = self.work / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        self.train(f"config {config}", path)

    def _pick_key(self, config):
        places = []

        def walk(node):
            for key, value in node.items():
                places.append((node, key))
                if isinstance(value, dict):
                    walk(value)

        walk(config)
        return self.rng.choice(places)

    def yaml(self):
        text = list(IRIS_CONFIG.read_text())
        for _ in range(self.rng.randint(1, 6)):
            self._damage(text, ODD_TEXT)
        path = self.work / "config.yaml"
        path.write_text("".join(text), encoding="utf-8", errors="surrogatepass")
        self.train("yaml", path)
        self.invoke("yaml", ["summary", str(path)])

    def csv(self):
        lines = list(self.iris_csv)
        for _ in range(self.rng.randint(1, 4)):
            if not lines:
                break
            index = self.rng.randrange(len(lines))
            cells = lines[index].split(",")
            roll = self.rng.random()
            if roll < 0.5:
                cells[self.rng.randrange(len(cells))] = self.rng.choice(ODD_CELLS)
                lines[index] = ",".join(cells)
            elif roll < 0.7:
                lines[index] = ",".join(cells[:-1] if roll < 0.6 else cells + ["1"])
            elif roll < 0.85:
                del lines[index]
            else:
                lines = lines[: self.rng.randrange(len(lines) + 1)]
        path = self.work / "data.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self._use_data_file("csv", path, "data.target=species")

    def npz(self):
        arrays = dict(self.iris_arrays)  # a usable data file, then 0 to 3 arrays odd, added or gone
        for key in self.rng.sample(["X", "y", "X_test", "y_test", "other"], self.rng.randint(0, 3)):
            if key in arrays and self.rng.random() < 0.2:
                del arrays[key]
            else:
                arrays[key] = self._odd_array()
        path = self.work / "data.npz"
        np.savez(path, **arrays)
        if self.rng.random() < 0.3:
            self._damage_bytes(path)
        self._use_data_file(f"npz {[(k, a.dtype.str, a.shape) for k, a in arrays.items()]}", path)

    def _odd_array(self):
        n, d = self.rng.choice([0, 1, 5, 40]), self.rng.choice([0, 1, 4, 7])
        return self.rng.choice(
            [
                np.array(["a", "b"]),
                np.array([1 + 2j]),
                np.zeros((n, d, 2)),
                np.full((n, d), np.nan),
                np.arange(n) % 3,
                np.linspace(0, 1, n * 4).reshape(n, 4),
                np.array(True),
                np.arange(n) % 3 + 0.5,
                np.arange(n) - 5,
                np.zeros(n, dtype=[("x", "f4")]),
            ]
        )

    def _use_data_file(self, what, path, *overrides):
        roll = self.rng.random()
        if roll < 0.5:
            self.train(what, IRIS_CONFIG, f"data.path={path}", "data.name=null", *overrides)
        elif roll < 0.75:
            self.invoke(what, ["predict", str(self.base), str(path)])
        else:
            self.invoke(what, ["evaluate", str(self.base), "--data", str(path), "--out", str(self.work / "ev")])

    def bytes(self):
        run_dir, target = self._copy_of_base()
        kind = self._damage_bytes(target)
        self._use_run(f"bytes {kind} {target.name}", run_dir, target)

    def _damage_bytes(self, path):
        """Flip bits in, cut short, zero part of, extend or replace the file; return which."""
        data = bytearray(path.read_bytes())
        kind = self.rng.choice(["flip", "cut", "zero", "append", "replace"])
        if kind == "flip":
            for _ in range(self.rng.randint(1, 5)):
                data[self.rng.randrange(len(data))] ^= 1 << self.rng.randrange(8)
        elif kind == "cut":
            data = data[: self.rng.randrange(len(data))]
        elif kind == "zero":
            start = self.rng.randrange(len(data))
            data[start : start + 200] = bytes(len(data[start : start + 200]))
        elif kind == "append":
            data += self.rng.randbytes(self.rng.randint(1, 100))
        else:
            data = bytearray(self.rng.randbytes(self.rng.randint(0, 3000)))
        path.write_bytes(bytes(data))
        return kind

    def metadata(self):
        run_dir, target = self._copy_of_base()
        arrays, metadata = checkpoint.load_checked(target)
        for key in ("checksums", "format_version"):
            metadata.pop(key)
        metadata["finished"] = False
        for _ in range(self.rng.randint(1, 3)):
            parent, key = self._pick_key(metadata)
            parent[key] = self.rng.choice(ODD_VALUES)
        forge(target, arrays, metadata)
        self._use_run(f"metadata {target.name} {str(metadata)[:300]}", run_dir, target)

    def runfiles(self):
        run_dir = self._copy_run()
        target = run_dir / self.rng.choice(["config.yaml", "report.json", "metrics.jsonl"])
        if self.rng.random() < 0.5:
            kind = self._damage_bytes(target)
        else:
            kind = "text"
            text = list(target.read_text())
            for _ in range(self.rng.randint(1, 6)):
                self._damage(text, ODD_TEXT)
            target.write_text("".join(text), encoding="utf-8", errors="surrogatepass")
        what = f"runfiles {kind} {target.name}"
        self.invoke(what, ["compare", str(self.base), str(run_dir)])
        (run_dir / "model.npz").unlink()  # as if killed before the end: --resume finishes the run
        self.invoke(what, ["train", "--resume", str(run_dir), "--quiet"], run_dir)
        shutil.rmtree(run_dir)

    def traps(self):
        """A run file replaced by a link to a file outside, a dangling link, a named pipe or a folder;
        then a command that writes it. Nothing outside may change, and the trap must stay as it was
        (except under --overwrite, which removes run files it finds)."""
        run_dir = self._copy_run()
        name = self.rng.choice(TRAP_NAMES)
        path = run_dir / name
        path.unlink(missing_ok=True)
        sentinel = self.work / "sentinel.txt"
        sentinel.write_text("sentinel")
        kind = self.rng.choice(["link", "dangling", "pipe", "folder"])
        if kind == "link":
            path.symlink_to(sentinel)
        elif kind == "dangling":
            path.symlink_to(self.work / "nowhere")
        elif kind == "pipe":
            os.mkfifo(path)
        else:
            path.mkdir()
        before = stat.S_IFMT(os.lstat(path).st_mode)
        if name != "model.npz":
            (run_dir / "model.npz").unlink()  # as if killed before the end: a resume trains again
        command = self.rng.choice(["resume", "overwrite", "evaluate", "predict"])
        args = {
            "resume": ["train", "--resume", str(run_dir), "--quiet"],
            "overwrite": [
                "train",
                str(IRIS_CONFIG),
                "--out",
                str(run_dir),
                "--overwrite",
                "--quiet",
                "--set",
                "training.epochs=2",
            ],
            "evaluate": ["evaluate", str(self.base), "--out", str(run_dir)],
            "predict": ["predict", str(self.base), str(self.rows_csv), "--out", str(path)],
        }[command]
        what = f"traps {kind} as {name}, {command}"
        self.invoke(what, args, run_dir)
        if sentinel.read_text() != "sentinel" or not os.path.lexists(self.work / "sentinel.txt"):
            self.violations.append(f"{what}: the file outside the run was changed")
        if command != "overwrite" and (not os.path.lexists(path) or stat.S_IFMT(os.lstat(path).st_mode) != before):
            self.violations.append(f"{what}: the {kind} at {name} was replaced")
        shutil.rmtree(run_dir)

    def tampered(self):
        """A checkpoint or model file whose fields hold hostile values of the right kind, checksums
        recomputed; a command that succeeds on it must write only finite numbers."""
        run_dir = self._copy_run()
        target = run_dir / self.rng.choice(["last.npz", "model.npz"])
        arrays, metadata = checkpoint.load_checked(target)
        for key in ("checksums", "format_version"):
            metadata.pop(key)
        edits = [self._tamper_array] + ([self._tamper_field] if target.name == "last.npz" else [])
        for _ in range(self.rng.randint(1, 2)):
            self.rng.choice(edits)(arrays, metadata)
        forge(target, arrays, metadata)
        what = f"tampered {target.name} {str(metadata)[:200]}"
        if target.name == "model.npz":
            result = self.invoke(what, ["predict", str(target), str(self.rows_csv)])
            if result.exit_code == 0 and any(word in result.stdout for word in ("nan", "inf")):
                self.violations.append(f"{what}: predictions with NaN or infinity, exit 0")
        else:
            (run_dir / "model.npz").unlink()
            if self.invoke(what, ["train", "--resume", str(run_dir), "--quiet"], run_dir).exit_code == 0:
                self._check_finite_report(what, run_dir / "report.json")
        shutil.rmtree(run_dir)

    def _tamper_field(self, arrays, metadata):
        key = self.rng.choice(["epoch", "batch", "bad_epochs", "best_epoch", "elapsed", "best_value", "sums"])
        value = self.rng.choice(HOSTILE_NUMBERS)
        if key == "sums":
            metadata["sums"][self.rng.choice(["data", "penalty", "rows"])] = value
        else:
            metadata[key] = value

    def _tamper_array(self, arrays, metadata):
        key = self.rng.choice(sorted(arrays))
        array = arrays[key]
        roll = self.rng.random()
        if roll < 0.25 and array.size:
            array = array.astype(array.dtype if array.dtype.kind in "fc" else np.float64, copy=True)
            array.flat[self.rng.randrange(array.size)] = self.rng.choice([np.nan, np.inf, -np.inf])
        elif roll < 0.5:
            array = array.astype(self.rng.choice([np.complex64, np.int64, np.float16, np.float64]))
        elif roll < 0.75:
            array = np.zeros(tuple(d + self.rng.choice([-1, 1]) for d in array.shape) or (2,), array.dtype)
        else:
            array = np.full_like(array, self.rng.choice([1e38, -3e38, 1e-45]))
        arrays[key] = array

    def _check_finite_report(self, what, path):
        def refuse(constant):
            raise ValueError(constant)

        try:
            json.loads(path.read_text(), parse_constant=refuse)
        except (OSError, ValueError) as exc:
            self.violations.append(f"{what}: report.json is not finite, valid JSON ({exc})")

    def overflow(self):
        """Finite numbers too large for float32 (or for any float once standardized) in the data:
        training, prediction and evaluation must refuse them or produce only finite results."""
        lines = list(self.iris_csv)
        for _ in range(self.rng.randint(1, 3)):
            index = self.rng.randrange(1, len(lines))
            cells = lines[index].split(",")
            cells[self.rng.randrange(len(cells) - 1)] = self.rng.choice(HUGE_CELLS)
            lines[index] = ",".join(cells)
        path = self.work / "huge.csv"
        path.write_text("\n".join(lines) + "\n")
        what = f"overflow {[line for line in lines if 'e' in line.lower()][:3]}"
        roll = self.rng.random()
        if roll < 0.4:
            out = self.work / f"run{self.runs}"
            dtype = self.rng.choice(["float32", "float64"])
            args = [
                "train",
                str(IRIS_CONFIG),
                "--out",
                str(out),
                "--quiet",
                "--set",
                "training.epochs=2",
                "--set",
                f"data.path={path}",
                "--set",
                "data.name=null",
                "--set",
                "data.target=species",
                "--set",
                f"training.dtype={dtype}",
            ]
            if self.invoke(f"{what} {dtype}", args, out).exit_code == 0:
                self._check_finite_report(what, out / "report.json")
            shutil.rmtree(out, ignore_errors=True)
        elif roll < 0.7:
            result = self.invoke(what, ["predict", str(self.base), str(path)])
            if result.exit_code == 0 and any(word in result.stdout for word in ("nan", "inf")):
                self.violations.append(f"{what}: predictions with NaN or infinity, exit 0")
        else:
            out = self.work / "ev"
            if self.invoke(what, ["evaluate", str(self.base), "--data", str(path), "--out", str(out)]).exit_code == 0:
                self._check_finite_report(what, out / "report.json")

    def _copy_run(self):
        run_dir = self.work / f"copy{self.runs}"
        shutil.copytree(self.base, run_dir)
        return run_dir

    def _copy_of_base(self):
        run_dir = self._copy_run()
        return run_dir, run_dir / self.rng.choice(["model.npz", "last.npz"])

    def _use_run(self, what, run_dir, target):
        if target.name == "model.npz":
            self.invoke(what, ["evaluate", str(run_dir)], run_dir)
            self.invoke(what, ["predict", str(target), str(self.rows_csv)])
        else:
            self.invoke(what, ["train", "--resume", str(run_dir), "--quiet"], run_dir)
        shutil.rmtree(run_dir)

    def _damage(self, items, alphabet):
        index = self.rng.randrange(len(items) + 1)
        roll = self.rng.random()
        if roll < 0.4 or index == len(items):
            items.insert(index, self.rng.choice(alphabet))
        elif roll < 0.7:
            del items[index]
        else:
            items[index] = self.rng.choice(alphabet)


TARGETS = ("config", "yaml", "csv", "npz", "bytes", "metadata", "runfiles", "traps", "tampered", "overflow")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=200, help="cases per target")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--targets", default=",".join(TARGETS))
    args = parser.parse_args()
    targets = [t.strip() for t in args.targets.split(",")]
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown:
        parser.error(f"unknown targets {unknown}; choose from {', '.join(TARGETS)}")
    with tempfile.TemporaryDirectory() as workdir, np.errstate(all="ignore"):
        fuzzer = Fuzzer(args.seed, workdir)
        for target in targets:
            before = len(fuzzer.violations)
            for _ in range(args.iterations):
                getattr(fuzzer, target)()
            print(f"{target:<9} {args.iterations} cases, {len(fuzzer.violations) - before} violations")
        for violation in fuzzer.violations:
            print(" ", violation)
        print(f"{fuzzer.runs} commands run, {len(fuzzer.violations)} violations")
    sys.exit(1 if fuzzer.violations else 0)


if __name__ == "__main__":
    main()
