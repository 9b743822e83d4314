"""A short, seeded run of ``scripts/fuzz.py``: damaged configs, data files, model files and
checkpoints must each fail with one clear line (or work), never with an internal error."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "fuzz.py"
spec = importlib.util.spec_from_file_location("fuzz", SCRIPT)
fuzz = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fuzz)


@pytest.mark.parametrize("target", fuzz.TARGETS)
@pytest.mark.slow
def test_damaged_input_fails_cleanly(target, tmp_path):
    fuzzer = fuzz.Fuzzer(seed=7, workdir=tmp_path)
    with np.errstate(all="ignore"):
        for _ in range(25):
            getattr(fuzzer, target)()
    assert fuzzer.runs > 25
    assert fuzzer.violations == []


def test_the_fuzzer_reports_a_violation(tmp_path, monkeypatch):
    from mlp import api

    def broken(*args, **kwargs):
        raise KeyError("a bug")

    fuzzer = fuzz.Fuzzer(seed=0, workdir=tmp_path)
    monkeypatch.setattr(api, "build_report", broken)
    fuzzer.invoke("probe", ["evaluate", str(fuzzer.base)])
    assert len(fuzzer.violations) == 1 and "internal error: KeyError" in fuzzer.violations[0]
