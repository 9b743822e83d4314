"""Config files through the command line: every error one clear line naming the key."""

import pytest

from helpers import run, write_config


@pytest.mark.parametrize(
    "text,message",
    [
        ("data: {name: iris}\noptimzer: {lr: 0.1}\n", "unknown key 'optimzer' (did you mean 'optimizer'?)"),
        ("data: {name: iris}\n[model]: 1\n", "config: a key must be a plain name, not a list (line 2)"),
        (
            "name: ../../elsewhere\ndata: {name: iris}\n",
            "name: must be a plain name (it names the run directory under runs/)",
        ),
        ("data: {name: iris, {a: 1}: 2}\n", "data: a key must be a plain name, not a mapping (line 1)"),
        ("data: {name: iris}\ntraining: {epochs: ten}\n", "training.epochs: must be a number, got 'ten'"),
        ("data: {name: iris}\noptimizer: {lr: 0}\n", "optimizer.lr: must be > 0, got 0"),
        ("data: {name: iris}\nmodel: {dropout: 1.0}\n", "model.dropout: must be >= 0 and < 1, got 1.0"),
        ("data: {name: iris}\nmodel: {hidden: [4, 0]}\n", "model.hidden[1]: must be an integer >= 1, got 0"),
        ("data: {name: iris}\nloss: {name: huber, delta: 0}\n", "loss.delta: must be > 0, got 0"),
        ("data: {name: iris}\nmodel: {activation: relu6}\n", "model.activation: unknown name"),
        ("data: {name: iris}\ndata: {name: wine}\n", "duplicate key 'data' (lines 1 and 2)"),
        ("data: {name: diabetes}\nloss: {name: cross_entropy}\n", "loss.name: cross_entropy needs class labels"),
        ("data: {name: iris}\nloss: {name: squared}\n", "set loss.target_encoding"),
        ("data: {name: iris}\nloss: {name: binary_cross_entropy}\n", "needs exactly 2 classes, the data has 3"),
        ("data: {name: irsi}\n", "data.name: unknown name (did you mean 'iris'?)"),
        ("model: {hidden: [4]}\n", "give exactly one of data.name"),
        ("data: {name: iris}\nmodel: [1, 2\n", "not valid YAML"),
    ],
)
def test_config_errors_are_one_clear_line(tmp_path, text, message):
    config = write_config(tmp_path / "bad.yaml", text)
    result = run("train", config, "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output and result.stderr.count("\n") == 1
    assert not (tmp_path / "run").exists()  # nothing written before validation passed


def test_a_billion_laughs_config_is_refused_with_a_short_message(tmp_path):
    # nine levels of nine aliases: 9⁹ ≈ 387 million strings once expanded (a full repr needs ~3 GB)
    anchors = ['&l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    anchors += [f"&l{k} [{', '.join([f'*l{k - 1}'] * 9)}]" for k in range(1, 9)]
    text = "data: {name: iris}\noptimizer:\n  betas:\n" + "".join(f"    - {a}\n" for a in anchors)
    config = write_config(tmp_path / "laughs.yaml", text + "seed: *l8\n")
    result = run("train", config, "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {config}: seed: must be a number, got [[[...], [...]")
    assert len(result.stderr) < 300 + len(str(config)) and result.stderr.count("\n") == 1


def test_numbers_like_1e_minus_3_are_numbers(tmp_path):
    config = write_config(tmp_path / "c.yaml", "data: {name: iris}\noptimizer: {lr: 1e-3}\ntraining: {epochs: 1}\n")
    out = tmp_path / "run"
    assert run("train", config, "--out", out, "--quiet").exit_code == 0
    assert "lr: 0.001" in (out / "config.yaml").read_text()


@pytest.mark.parametrize(
    "text,message",
    [
        ("data: {name: iris}\noptimizer: {lr: .inf}\n", "optimizer.lr: must be a finite number"),
        ("data: {name: iris}\ntraining: {epochs: .nan}\n", "training.epochs: must be a finite number"),
        ("a: &a [1, 2]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nd: [*c, *c, *c, *c]\n", "unknown key 'a'"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ],
)
def test_hostile_configs(tmp_path, text, message):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    result = run("train", config, "--out", tmp_path / "run")
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert "Traceback" not in result.output


def test_binary_config_file(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_bytes(b"\xff\xfe\x00binary")
    result = run("train", config)
    assert result.exit_code == 2 and "not a UTF-8 text file" in result.stderr
