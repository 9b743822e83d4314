"""Model files on their own: what a model saves loads back as the same model."""

import json

import numpy as np
import pytest

import mlp
from mlp.errors import CheckpointError
from mlp.io.archive import load_checked, save_atomic
from mlp.model import load_model


def test_save_and_load_round_trip(tmp_path):
    result = mlp.train(
        {"data": {"name": "diabetes"}, "model": {"hidden": [8]}, "loss": {"name": "huber"}, "training": {"epochs": 2}}
    )
    path = result.model.save(tmp_path / "model.npz")
    loaded = load_model(path)
    X = np.random.default_rng(0).standard_normal((4, 10))
    assert np.array_equal(loaded.predict(X), result.model.predict(X))
    assert loaded.config == result.model.config and loaded.architecture == result.model.architecture
    assert loaded.transform.feature_names == result.model.transform.feature_names
    assert np.array_equal(loaded.transform.standardizer.mean, result.model.transform.standardizer.mean)
    assert np.array_equal(loaded.target_scaler.std, result.model.target_scaler.std)
    metadata = json.loads(str(np.load(path, allow_pickle=False)["metadata"]))
    assert metadata["rows_from"] == "config" and metadata["architecture"]["feature_scale"] == 1.0


def test_a_config_that_lost_its_data_source_is_refused(tmp_path):
    path = mlp.train({"data": {"name": "iris"}, "training": {"epochs": 1}}).model.save(tmp_path / "m.npz")
    arrays, metadata = load_checked(path)
    for key in ("checksums", "format_version"):
        metadata.pop(key)
    metadata["config"]["data"]["name"] = None
    save_atomic(path, arrays, metadata)
    with pytest.raises(CheckpointError, match="its stored config is invalid"):
        load_model(path)
