"""Files mlp reads and writes: atomic writes, damaged model files and checkpoints, special files."""

import os

import numpy as np
import pytest

from helpers import npz_arrays, rewrite, run
from mlp.io import archive as checkpoint


def test_atomic_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.npz"
    checkpoint.save_atomic(path, {"a": np.arange(3.0)}, {"epoch": 1})

    def failing_writer(file, arrays, metadata):
        file.write(b"PK\x03\x04 half a zip archive")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "write_archive", failing_writer)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save_atomic(path, {"a": np.zeros(3)}, {"epoch": 2})
    arrays, meta = checkpoint.load_checked(path)
    np.testing.assert_array_equal(arrays["a"], [0.0, 1.0, 2.0])
    assert meta["epoch"] == 1
    assert os.listdir(tmp_path) == ["last.npz"]  # no temporary file left behind


def test_a_full_disk_while_writing_the_report_leaves_no_half_file(digits_config, tmp_path, monkeypatch):
    import errno

    from matplotlib.figure import Figure

    out = tmp_path / "run"
    original = Figure.savefig

    def disk_full(self, file, **kwargs):
        file.write(b"\x89PNG half an image")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", disk_full)
    result = run("train", digits_config, "--out", out, "--set", "training.epochs=2")
    assert result.exit_code == 2, result.output
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"error: {out}") and last_line.endswith(".png: No space left on device")
    assert not [p.name for p in out.iterdir() if p.suffix == ".tmp" or p.stat().st_size == 0 and p.name != ".lock"]
    assert not (out / "report.json").exists()
    monkeypatch.setattr(Figure, "savefig", original)
    result = run("train", "--resume", out)
    assert result.exit_code == 0 and (out / "report.json").exists() and (out / "learning_curves.png").exists()


def test_an_npz_whose_header_numpy_cannot_parse_is_a_clear_error(digits_config, tmp_path):
    import struct
    import zipfile

    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, "  # cut off: NumPy's tokenizer fails
    header = header.ljust(118) + "\n"
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("X.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=1").exit_code == 0
    for args in (
        ("evaluate", bad),
        ("predict", out, bad),
        ("evaluate", out, "--data", bad),
        ("train", digits_config, "--out", tmp_path / "again", "--set", f"data.path={bad}", "--set", "data.name=null"),
    ):
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert f"{bad}: corrupt or not an .npz file (TokenError" in result.stderr, args


def test_corrupt_checkpoint_is_a_clear_error(digits_config, tmp_path):
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=1").exit_code == 0
    blob = bytearray((out / "model.npz").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (out / "model.npz").write_bytes(bytes(blob))
    result = run("evaluate", out)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "model.npz" in result.stderr and ("corrupt" in result.stderr or "checksum" in result.stderr)


def test_a_model_file_with_compressed_arrays_is_refused_before_decompressing(digits_config, tmp_path):
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=1").exit_code == 0
    for name in ("model.npz", "last.npz"):
        np.savez_compressed(out / name, **npz_arrays(out / name))  # same arrays, checksums valid
    result = run("evaluate", out)
    assert result.exit_code == 2
    assert (
        "model.npz: array" in result.stderr and "is compressed, but mlp writes its files uncompressed" in result.stderr
    )
    result = run("train", "--resume", out, "--set", "training.epochs=2")
    assert result.exit_code == 2 and "last.npz: array" in result.stderr


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda a, m: m.update(architecture=[]), "metadata 'architecture' is [], expected dict"),
        (lambda a, m: m["architecture"].update(hidden=["16"]), "architecture 'hidden' is ['16'], expected list[int]"),
        (lambda a, m: m["config"].pop("data"), "its stored config is invalid"),
        (lambda a, m: m["config"]["optimizer"].update(lr=-1), "its stored config is invalid (optimizer.lr"),
        (lambda a, m: m.update(class_names=["a", 1, "c"]), "metadata 'class_names' is ['a', 1, 'c']"),
        (lambda a, m: m.update(class_names=["a", "b"]), "class names ['a', 'b'] do not fit 10 outputs"),
        (lambda a, m: m.update(task="ranking"), "unknown task 'ranking'"),
        (lambda a, m: m["standardizer"].update(mean={"x": 1}), "standardizer 'mean' is {'x': 1}"),
        (lambda a, m: m.update(feature_names=["x"]), "1 feature names for 64 inputs"),
        (
            lambda a, m: m["architecture"].update(feature_scale={}),
            "architecture 'feature_scale' is {}, expected number",
        ),
    ],
)
def test_model_file_with_edited_metadata_is_a_clear_error(digits_config, tmp_path, edit, message):
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=1").exit_code == 0
    rewrite(out / "model.npz", edit)
    for args in (("evaluate", out), ("predict", out, tmp_path / "rows.csv")):
        result = run(*args)
        assert result.exit_code == 2, result.output
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda a, m: m.update(epoch="3"), "metadata 'epoch' is '3', expected int"),
        (lambda a, m: m.update(epoch=10**20), "metadata 'epoch' is 100000000000000000000, expected int"),
        (lambda a, m: m["sums"].update(rows=None), "sums 'rows' is None, expected int"),
        (lambda a, m: m.update(rng={"shuffle": {}, "dropout": {}}), "unusable shuffle generator state"),
        (lambda a, m: m.update(best_epoch=7), "early-stopping record is ahead of its epoch count"),
        (lambda a, m: a.update({"optimizer.t": np.zeros(3)}), "optimizer state 't' must be a step count"),
        (lambda a, m: m.update(batch=2) or a.update(order=np.arange(5)), "position inside the epoch"),
    ],
)
def test_checkpoint_with_edited_metadata_is_a_clear_error(digits_config, tmp_path, edit, message):
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=2").exit_code == 0
    rewrite(out / "last.npz", lambda arrays, metadata: (metadata.update(finished=False), edit(arrays, metadata)))
    result = run("train", "--resume", out)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_missing_files_exit_2(tmp_path):
    for args in (
        ("train", tmp_path / "nope.yaml"),
        ("evaluate", tmp_path / "nope.npz"),
        ("predict", tmp_path / "nope.npz", tmp_path / "x.csv"),
    ):
        result = run(*args)
        assert result.exit_code == 2 and "not found" in result.stderr and "Traceback" not in result.output


def test_a_pipe_or_a_device_given_as_a_file_is_refused_unread(digits_config, tmp_path):
    """Refused unread (a named pipe would block, /dev/zero never ends), and not called missing."""
    pipe, csv_pipe = tmp_path / "pipe", tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    os.mkfifo(csv_pipe)
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=1", "--quiet").exit_code == 0
    cases = [
        (("train", pipe), "config file"),
        (("summary", "/dev/zero"), "config file"),
        (("evaluate", pipe), "model file"),
        (("evaluate", out, "--data", csv_pipe), "data file"),
        (("predict", out, csv_pipe), "data file"),
        (("predict", out, "/dev/zero"), "data file"),
    ]
    for args, what in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr == f"error: {what} is not a regular file: {args[-1]}\n"
