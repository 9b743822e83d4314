"""ONNX export, verified by ONNX Runtime: every kind of shipped model gives mlp's own predictions."""

import csv
import io
import json

import numpy as np
import pytest

import mlp
from helpers import CONFIGS_DIR, Softsign, run
from mlp.data.datasets import read_feature_rows
from mlp.data.encoding import DataWarning
from mlp.export.onnx_graph import FEATURES, OPSET, onnx_inputs
from mlp.nn import Linear, ReLU, Sequential
from mlp.training.experiment import held_out_rows

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# (shipped config, overrides): one of each kind a config can train
KINDS = {
    "classification": ("iris.yaml", []),
    "binary": ("breast_cancer.yaml", []),
    "regression": ("diabetes_squared.yaml", []),
    "hinge": ("digits.yaml", ["loss.name=multiclass_hinge"]),
    "categories and missing cells": ("penguins.yaml", []),
    "indicators, categories, regression": ("cars.yaml", []),
    "rows of numbers": ("xor_hidden.yaml", []),
}


def trained(tmp_path, config, overrides=(), epochs=3):
    out = tmp_path / "run"
    settings = [f"--set=training.epochs={epochs}", *(f"--set={o}" for o in overrides)]
    result = run("train", CONFIGS_DIR / config, "--out", out, "--quiet", *settings)
    assert result.exit_code == 0, result.output
    return out


def runtime_outputs(path, inputs):
    session = ort.InferenceSession(str(path))
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, inputs)))


def assert_same_predictions(model, got, rows):
    outputs = model.outputs(rows)
    if model.task == "regression":
        expected = model.predict(rows)
        assert got["values"].dtype == np.float64
        # the float32 network outputs agree to 1e-5 in the standardized units the network predicts in
        spread = 1.0 if model.target_scaler is None else model.target_scaler.std
        assert np.max(np.abs(got["values"] - expected) / spread) <= 1e-5
        return
    np.testing.assert_array_equal(got["label"], model.predict(rows))
    probabilities = model.probabilities(outputs)
    if probabilities is not None:
        assert np.max(np.abs(got["probabilities"] - probabilities)) <= 1e-5
        np.testing.assert_allclose(got["probabilities"].sum(axis=1), 1, atol=1e-5)
    else:
        assert np.max(np.abs(got["scores"] - outputs)) <= 1e-4  # raw margins, not probabilities


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_onnx_runtime_predicts_what_mlp_predicts(kind, tmp_path):
    config, overrides = KINDS[kind]
    run_dir = trained(tmp_path, config, overrides)
    result = run("export", run_dir, "--format", "onnx")
    assert result.exit_code == 0, result.output
    path = run_dir / "model.onnx"
    assert f"wrote {path}" in result.output
    model = mlp.load(run_dir)
    rows = held_out_rows(model.config)
    assert_same_predictions(model, runtime_outputs(path, onnx_inputs(model, rows)), rows)

    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert {o.domain: o.version for o in proto.opset_import}[""] == OPSET
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["mlp_version"] == mlp.__version__ and json.loads(meta["class_names"]) == model.class_names
    inputs = [i.name for i in proto.graph.input]
    if model.transform.encoding is None:
        assert inputs == [FEATURES]
    else:  # a table's model takes its columns by name
        assert inputs == model.transform.encoding.names


def test_missing_and_unseen_cells_are_treated_as_mlp_treats_them(tmp_path):
    run_dir = trained(tmp_path, "penguins.yaml")
    model = mlp.load(run_dir)
    table = tmp_path / "odd.csv"
    table.write_text(
        "island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year\n"
        "Biscoe,NA,17.1,,4000,female,2008\n"  # missing numbers
        "Atlantis,40.1,18.0,190,3900,NA,2009\n"  # an island never seen, a missing category
        "Dream,45.0,15.2,210,?,male,2007\n"
    )
    with pytest.warns(DataWarning, match="never had"):
        rows = read_feature_rows(table, model.transform)
        expected_labels, expected_probabilities = model.predict(rows), model.predict_proba(rows)
    model.save(tmp_path / "m.onnx")
    got = runtime_outputs(tmp_path / "m.onnx", onnx_inputs(model, rows))
    np.testing.assert_array_equal(got["label"], expected_labels)
    assert np.max(np.abs(got["probabilities"] - expected_probabilities)) <= 1e-5
    predicted = run("predict", run_dir, table)  # and the command line agrees
    labels = [line["predicted"] for line in csv.DictReader(io.StringIO(predicted.stdout))]
    assert labels == list(got["label"])


@pytest.mark.slow
def test_mnist_pixels_scaled_as_in_training(tmp_path):
    run_dir = trained(tmp_path, "mnist_homework.yaml", ["model.hidden=[16]"], epochs=1)
    model = mlp.load(run_dir)
    rows = held_out_rows(model.config)
    model.save(run_dir / "model.onnx")
    assert_same_predictions(model, runtime_outputs(run_dir / "model.onnx", onnx_inputs(model, rows)), rows)


def test_a_network_of_mlp_layers_exports_and_one_with_an_own_layer_is_refused(tmp_path):
    raw = {"data": {"name": "iris"}, "training": {"epochs": 2}}
    built = mlp.train(raw, network=Sequential([Linear(4, 5), ReLU(), Linear(5, 3)]))
    built.model.save(tmp_path / "mine.onnx")
    rows = held_out_rows(built.model.config)
    got = runtime_outputs(tmp_path / "mine.onnx", onnx_inputs(built.model, rows))
    np.testing.assert_array_equal(got["label"], built.model.predict(rows))

    own = mlp.train(raw, network=Sequential([Linear(4, 5), Softsign(), Linear(5, 3)]))
    with pytest.raises(mlp.errors.MlpError, match=r"layer 1 \(Softsign\(\)\) has no ONNX equivalent"):
        own.model.save(tmp_path / "own.onnx")
    assert not (tmp_path / "own.onnx").exists()


def test_export_refuses_links_and_the_model_file_and_leaves_nothing_half_written(tmp_path):
    run_dir = trained(tmp_path, "iris.yaml", epochs=1)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "link.onnx"
    link.symlink_to(victim)
    result = run("export", run_dir, "--format", "onnx", "--out", link)
    assert result.exit_code == 2 and "symbolic link" in result.output and "Traceback" not in result.output
    assert victim.read_text() == "keep me"
    result = run("export", run_dir / "model.npz", "--format", "safetensors", "--out", run_dir / "model.npz")
    assert result.exit_code == 2 and "the model file itself" in result.output
    assert mlp.load(run_dir).task == "classification"  # untouched
    result = run("export", tmp_path / "nowhere", "--format", "onnx")
    assert result.exit_code == 2 and "nowhere" in result.output
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]  # no temporaries left


def test_export_without_the_extra_says_how_to_install_it(tmp_path, monkeypatch):
    import builtins

    run_dir = trained(tmp_path, "iris.yaml", epochs=1)
    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    result = run("export", run_dir, "--format", "onnx")
    assert result.exit_code == 2 and 'pip install -e ".[onnx]"' in result.output
    assert not (run_dir / "model.onnx").exists()


def test_format_follows_the_suffix_and_a_bad_one_is_named(tmp_path):
    model = mlp.train({"data": {"name": "iris"}, "training": {"epochs": 1}}).model
    assert model.save(tmp_path / "m.onnx").read_bytes()[:2] != b"PK"  # protobuf, not a zip
    assert model.save(tmp_path / "m.npz").read_bytes()[:2] == b"PK"
    with pytest.raises(mlp.errors.ArgumentError, match="format 'pickle': choose one of npz, onnx, safetensors"):
        model.save(tmp_path / "m.pkl", format="pickle")
