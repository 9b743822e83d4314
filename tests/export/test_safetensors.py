"""safetensors export and import, verified by the safetensors library and by PyTorch itself."""

import json

import numpy as np
import pytest

import mlp
from helpers import run, write_config
from mlp.training.trainer import Callback

safetensors_numpy = pytest.importorskip("safetensors.numpy")

IRIS = "seed: 1\ndata: {name: iris}\nmodel: {hidden: [16, 8], activation: tanh}\ntraining: {epochs: 3}\n"


@pytest.fixture
def iris_run(tmp_path):
    out = tmp_path / "run"
    assert run("train", write_config(tmp_path / "iris.yaml", IRIS), "--out", out, "--quiet").exit_code == 0
    return out


def test_the_file_holds_the_state_dict_and_the_models_description(iris_run):
    result = run("export", iris_run, "--format", "safetensors")
    assert result.exit_code == 0, result.output
    path = iris_run / "model.safetensors"
    model = mlp.load(iris_run)
    tensors = safetensors_numpy.load_file(str(path))
    state = model.network.state_dict()
    assert sorted(tensors) == sorted(state) == ["0.W", "0.b", "2.W", "2.b", "4.W", "4.b"]
    for key, value in state.items():
        np.testing.assert_array_equal(tensors[key], value)
    from safetensors import safe_open

    with safe_open(str(path), "np") as file:
        meta = file.metadata()
    assert meta["format"] == "mlp" and meta["mlp_version"] == mlp.__version__
    assert json.loads(meta["architecture"])["hidden"] == [16, 8]
    assert json.loads(meta["class_names"]) == model.class_names
    assert json.loads(meta["transform"])["feature_names"] == model.feature_names


def test_pytorch_loads_the_weights_and_computes_mlps_outputs(iris_run):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    model = mlp.load(iris_run)
    model.save(iris_run / "weights.safetensors")
    network = torch.nn.Sequential(
        torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)
    )
    state = {
        key.replace(".W", ".weight").replace(".b", ".bias"): t
        for key, t in load_file(iris_run / "weights.safetensors").items()
    }
    network.load_state_dict(state)
    rows = np.random.default_rng(0).normal(5, 2, (50, 4))
    inputs = model.transform.apply(rows, np.float32)
    with torch.no_grad():
        theirs = network(torch.from_numpy(inputs)).numpy()
    np.testing.assert_allclose(theirs, model.outputs(rows), rtol=1e-5, atol=1e-6)


class FirstWeights(Callback):
    def on_train_begin(self, trainer):
        self.state = trainer.experiment.network.state_dict()


def test_a_torch_trained_file_starts_an_mlp_run(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    network = torch.nn.Sequential(
        torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)
    )
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1)
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    for _ in range(5):  # trained elsewhere, a little
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(network(x), y).backward()
        optimizer.step()
    path = tmp_path / "torch.safetensors"
    save_file(network.state_dict(), str(path))
    seen = FirstWeights()
    config = {
        "seed": 1,
        "data": {"name": "iris"},
        "model": {"hidden": [16, 8], "activation": "tanh", "init_from": str(path)},
    }
    mlp.train({**config, "training": {"epochs": 1}}, callbacks=[seen])
    for index in (0, 2, 4):
        np.testing.assert_array_equal(seen.state[f"{index}.W"], network[index].weight.detach().numpy())
        np.testing.assert_array_equal(seen.state[f"{index}.b"], network[index].bias.detach().numpy())


def test_mlps_own_file_starts_a_run_through_the_command_line(iris_run, tmp_path):
    mlp.load(iris_run).save(tmp_path / "start.safetensors")
    config = write_config(
        tmp_path / "again.yaml", IRIS.replace("tanh}", f"tanh, init_from: {tmp_path / 'start.safetensors'}}}")
    )
    result = run("train", config, "--out", tmp_path / "again", "--quiet", "--set", "training.epochs=1")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x10\x00\x00\x00\x00\x00\x00\x00not json header!", "not a readable safetensors file"),
        (b"", "not a readable safetensors file"),
    ],
)
def test_a_corrupt_or_mismatched_file_is_one_clear_error(tmp_path, content, message):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(content)
    config = write_config(tmp_path / "c.yaml", f"data: {{name: iris}}\nmodel: {{hidden: [4], init_from: {bad}}}\n")
    result = run("train", config, "--out", tmp_path / "run")
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run" / "model.npz").exists()


def test_a_file_of_another_shape_names_the_tensor(tmp_path):
    path = tmp_path / "other.safetensors"
    tensors = {"0.weight": np.zeros((5, 4), np.float32), "0.bias": np.zeros(5, np.float32)}
    tensors.update({"2.weight": np.zeros((3, 4), np.float32), "2.bias": np.zeros(3, np.float32)})
    safetensors_numpy.save_file(tensors, str(path))
    config = write_config(tmp_path / "c.yaml", f"data: {{name: iris}}\nmodel: {{hidden: [4], init_from: {path}}}\n")
    result = run("train", config, "--out", tmp_path / "run")
    assert result.exit_code == 2 and "model.init_from" in result.output
    assert "key '0.W' has shape (5, 4) in the state dict, but the model expects shape (4, 4)" in result.output
