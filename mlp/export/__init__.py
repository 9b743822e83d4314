"""Models that leave mlp: an ONNX graph (:mod:`.onnx_graph`) or a safetensors file of the weights
(:mod:`.safetensors_file`), each through its maintained library (optional extras ``onnx`` and
``safetensors``), written atomically and never through a link."""

from __future__ import annotations

from pathlib import Path

from ..errors import ArgumentError
from ..io.files import write_atomic

FORMATS = ("npz", "onnx", "safetensors")


def format_for(path, format: str | None) -> str:
    """``format``, or the one ``path``'s suffix names (``.onnx``, ``.safetensors``; else ``npz``)."""
    if format is None:
        suffix = Path(path).suffix.lower().lstrip(".")
        return suffix if suffix in FORMATS else "npz"
    if format not in FORMATS:
        raise ArgumentError(f"format {format!r}: choose one of {', '.join(FORMATS)}")
    return format


def encode(model, format: str) -> bytes:
    """The model as the bytes of an ``onnx`` or ``safetensors`` file."""
    if format == "onnx":
        from .onnx_graph import to_onnx

        return to_onnx(model).SerializeToString()
    from .safetensors_file import to_safetensors

    return to_safetensors(model)


def write(model, path, format: str) -> Path:
    """Write ``model`` as ``format`` (``onnx`` or ``safetensors``) to ``path``, whole or not at all."""
    data = encode(model, format)
    write_atomic(path, lambda file: file.write(data))
    return Path(path)
