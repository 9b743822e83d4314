"""Shared helpers for the command-line tests."""
import textwrap

import numpy as np
from click.testing import CliRunner

from mlp.cli import main


def write_config(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def run(*args, catch=False):
    """Invoke ``mlp ARGS``; return the click Result."""
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=catch, prog_name="mlp")


def npz_arrays(path):
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}
