import numpy as np
import pytest

from helpers import DIGITS, write_config


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def digits_config(tmp_path):
    return write_config(tmp_path / "digits.yaml", DIGITS)
