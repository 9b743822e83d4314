import numpy as np
import pytest

from helpers import DIGITS, write_config
from mlp import kernels


@pytest.fixture(scope="session", autouse=True)
def selected_kernels():
    """The suite runs on the kernels a run chooses: numba's fused ones where installed, NumPy's with
    MLP_KERNELS=numpy (CI runs it both ways)."""
    kernels.use("auto")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def digits_config(tmp_path):
    return write_config(tmp_path / "digits.yaml", DIGITS)
