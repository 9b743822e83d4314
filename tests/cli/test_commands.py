"""The command line itself: help, version, bad arguments, interrupts, internal errors, compare."""

import os
import signal
import subprocess
import sys

import pytest

import mlp
from helpers import run


@pytest.mark.parametrize(
    "option,value",
    [("--rows", "0"), ("--entries", "-1"), ("--tolerance", "0"), ("--tolerance", "nan"), ("--tolerance", "inf")],
)
def test_gradcheck_rejects_meaningless_options(digits_config, option, value):
    result = run("gradcheck", digits_config, option, value)
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.stderr
    assert "Traceback" not in result.output


def test_gradcheck_fails_on_a_wrong_gradient(digits_config, monkeypatch):
    from mlp.nn import layers

    original = layers.Linear.backward

    def broken(self, g, input_grad=True):
        out = original(self, g, input_grad)
        self.grads["b"] *= 1.5
        return out

    monkeypatch.setattr(layers.Linear, "backward", broken)
    result = run("gradcheck", digits_config, "--entries", "10")
    assert result.exit_code == 1 and "FAIL" in result.stdout


def test_version_help_and_python_m():
    assert mlp.__version__ in run("--version").stdout
    help_text = run("--help").stdout
    for command in ("train", "evaluate", "predict", "summary", "gradcheck", "compare"):
        assert command in help_text
    assert "--resume" in run("train", "--help").stdout
    result = subprocess.run([sys.executable, "-m", "mlp", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and mlp.__version__ in result.stdout


@pytest.mark.parametrize(
    "args,message,help_command",
    [
        (("train", "--bogus", "x.yaml"), "No such option '--bogus'", "mlp train --help"),
        (("trian",), "No such command 'trian'", "mlp --help"),
        (("--bogus", "train"), "No such option '--bogus'", "mlp --help"),
        (("evaluate",), "Missing argument 'MODEL'", "mlp evaluate --help"),
        (("train", "x.yaml", "--set"), "Option '--set' requires an argument", "mlp train --help"),
        (("gradcheck", "x.yaml", "--rows", "x"), "Invalid value for '--rows'", "mlp gradcheck --help"),
    ],
)
def test_a_bad_command_line_is_one_error_line(args, message, help_command):
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {message}") and f"(see '{help_command}')" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Usage:" not in result.output


def test_no_arguments_shows_the_help():
    result = run()
    assert result.output.startswith("Usage: mlp") and "Commands:" in result.output


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_command_exits_130_and_leaves_no_temporary_file(digits_config, tmp_path, monkeypatch, signum):
    from mlp.io import files

    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--set", "training.epochs=1").exit_code == 0
    run_files = {p.name: p.read_bytes() for p in out.iterdir() if p.name != ".lock"}
    original = files.os.fsync

    def fsync_then_signal(fd):  # the signal arrives while report.json's temporary copy is written
        original(fd)
        os.kill(os.getpid(), signum)

    monkeypatch.setattr(files.os, "fsync", fsync_then_signal)
    previous = signal.getsignal(signal.SIGTERM)
    # Ctrl-C as a terminal delivers it: a shell that started the tests in the background set SIGINT
    # to "ignored", which Python then keeps
    interactive = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        result = run("evaluate", out, "--out", out)
    finally:
        signal.signal(signal.SIGINT, interactive)
    assert result.exit_code == 130, result.output
    assert result.stderr.strip() == f"interrupted ({'Ctrl-C' if signum == signal.SIGINT else 'SIGTERM'})"
    assert signal.getsignal(signal.SIGTERM) is previous
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != ".lock"} == run_files


def test_an_internal_error_is_one_line_without_debug(digits_config, monkeypatch):
    import mlp.cli

    def broken(config):
        raise TypeError("something the code got wrong")

    monkeypatch.setattr(mlp.cli, "describe", broken)
    result = run("summary", digits_config)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "internal error: TypeError: something the code got wrong" in result.stderr


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("report.json", "{bad", "report.json: not a JSON report (Expecting property name"),
        ("report.json", "[1, 2]", "report.json: report is not a JSON object"),
        (
            "report.json",
            '{"metrics": 5, "training": null}',
            "report.json: report 'metrics' is 5, expected dict or none",
        ),
        (
            "report.json",
            '{"metrics": {"accuracy": "x"}, "training": null}',
            "metrics 'accuracy' is 'x', expected number",
        ),
        ("config.yaml", ": : :", "config.yaml: not valid YAML"),
        ("config.yaml", "- 1", "config.yaml: the config must be a mapping of keys, got list"),
        ("config.yaml", "name: [1]\ndata: {name: iris}", "config.yaml: name: must be a string, got [1]"),
    ],
)
def test_compare_names_a_damaged_run_file(digits_config, tmp_path, name, content, message):
    for run_name in ("a", "b"):
        assert run("train", digits_config, "--out", tmp_path / run_name, "--set", "training.epochs=1").exit_code == 0
    (tmp_path / "b" / name).write_text(content)
    result = run("compare", tmp_path / "a", tmp_path / "b")
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1
