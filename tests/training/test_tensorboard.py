"""TensorBoard logs: event files with the epoch scalars and the diagnostics, read back here with
the writer's own protocol buffers (tensorboardX's Event) over TFRecord framing."""

import struct

import pytest

from helpers import CONFIGS_DIR, run

tensorboardX = pytest.importorskip("tensorboardX")


def read_events(path):
    """Every Event in a TFRecord file: u64 length, u32 crc, payload, u32 crc."""
    from tensorboardX.proto.event_pb2 import Event

    data, events, offset = path.read_bytes(), [], 0
    while offset < len(data):
        (length,) = struct.unpack_from("<Q", data, offset)
        payload = data[offset + 12 : offset + 12 + length]
        events.append(Event.FromString(payload))
        offset += 12 + length + 4
    return events


def test_a_run_writes_its_scalars_and_diagnostics_for_tensorboard(tmp_path):
    out = tmp_path / "run"
    args = (
        "--set",
        "logging.tensorboard=true",
        "--set",
        "training.epochs=4",
        "--set",
        "training.early_stopping.patience=null",
    )
    result = run("train", CONFIGS_DIR / "iris.yaml", "--out", out, "--quiet", *args)
    assert result.exit_code == 0, result.output
    (path,) = (out / "tensorboard").glob("events.out.tfevents.*")
    scalars = {}
    for event in read_events(path):
        for value in event.summary.value:
            scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    assert {"loss/train", "loss/validation", "validation/accuracy", "lr"} <= set(scalars)
    assert {"layer_1/grad_norm", "layer_1/update_ratio", "layer_1/saturated", "layer_2/activation_std"} <= set(scalars)
    assert [step for step, _ in scalars["loss/train"]] == [1, 2, 3, 4]
    import json

    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [v for _, v in scalars["loss/train"]] == pytest.approx([r["train_loss"] for r in records], rel=1e-6)
    again = run("train", CONFIGS_DIR / "iris.yaml", "--out", out, "--quiet", "--overwrite", *args)
    assert again.exit_code == 0
    assert len(list((out / "tensorboard").glob("events.out.tfevents.*"))) == 1  # the earlier run's events removed
