"""Weights as a safetensors file, and safetensors files (mlp's or PyTorch's) as a state dict.

safetensors is the pickle-free format PyTorch, Hugging Face and skorch users share: a JSON header
of tensor names, dtypes and shapes, then the raw bytes; nothing in it can execute code. mlp writes
the network's state dict under its own names (``0.W`` of shape ``(d_out, d_in)``, ``0.b``, …, the
layout of ``torch.nn.Linear``'s ``weight`` and ``bias``) and, as the header's string metadata, the
architecture, the feature transform, the task, the class names and the ``mlp`` version (JSON
strings). Reading maps PyTorch's ``nn.Sequential`` names (``<i>.weight``, ``<i>.bias``) to mlp's
(``<i>.W``, ``<i>.b``): the layer indices agree when the two networks are built the same way.
"""

from __future__ import annotations

import json
import re

import numpy as np

from ..errors import CheckpointError, MlpError, clipped
from ..io.files import read_bytes
from ..version import __version__

TORCH_NAME = re.compile(r"^(\d+)\.(weight|bias)$")
MLP_NAME = {"weight": "W", "bias": "b"}


def _safetensors_numpy():
    try:
        import safetensors.numpy
    except ImportError:
        raise MlpError('safetensors files need the safetensors package: pip install -e ".[safetensors]"') from None
    return safetensors.numpy


def to_safetensors(model) -> bytes:
    """The file's bytes: the state dict and the model's description as string metadata."""
    architecture = None if model.architecture is None else model.architecture.to_dict()
    metadata = {
        "format": "mlp",
        "mlp_version": __version__,
        "architecture": json.dumps(architecture),
        "transform": json.dumps(model.transform.to_metadata()),
        "task": model.task,
        "loss": model.loss_name,
        "class_names": json.dumps(model.class_names),
        "target_scaler": json.dumps(None if model.target_scaler is None else model.target_scaler.to_json()),
        "target_names": json.dumps(model.target_names),
    }
    tensors = {key: np.ascontiguousarray(value) for key, value in model.network.state_dict().items()}
    return _safetensors_numpy().save(tensors, metadata=metadata)


def read_state_dict(path) -> dict[str, np.ndarray]:
    """The ``"<i>.<name>"`` arrays of a safetensors file, PyTorch's names mapped to mlp's;
    ``CheckpointError`` for a file that is not safetensors, or holds a non-float or non-finite tensor."""
    reader = _safetensors_numpy()
    raw = read_bytes(path, CheckpointError, "safetensors file")
    try:
        tensors = reader.load(raw)
    except Exception as exc:  # the library raises its own SafetensorError, and others on garbage
        raise CheckpointError(f"{path}: not a readable safetensors file ({clipped(str(exc))})") from None
    state = {}
    for key, array in tensors.items():
        match = TORCH_NAME.match(key)
        name = f"{match[1]}.{MLP_NAME[match[2]]}" if match else key
        if array.dtype.kind != "f" or not np.all(np.isfinite(array)):
            raise CheckpointError(f"{path}: tensor {key!r} is not a finite float tensor ({array.dtype})")
        state[name] = array
    return state
