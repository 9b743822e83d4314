"""Model files and checkpoints: NumPy ``.npz`` archives, written atomically, read as plain arrays.

An archive holds named arrays and one JSON string under ``"metadata"`` (format version, a SHA-256
checksum per array, and whatever the caller adds). Writing is atomic (:mod:`mlp.files`): a crash at
any moment leaves either the old file or the new one, never a mix. Reading uses
``np.load(allow_pickle=False)``, verifies every checksum, and :func:`require` checks the metadata's
fields before anything uses them.
"""

import hashlib
import json
from collections.abc import Callable

import numpy as np

from ..errors import CheckpointError, shown
from .files import read_npz, write_atomic

FORMAT_VERSION = 1
METADATA_KEY = "metadata"


def checksum(array):
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(array.tobytes())
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    return digest.hexdigest()


def write_archive(file, arrays, metadata):
    """Write ``arrays`` and the JSON ``metadata`` to an open binary file (the slow part)."""
    np.savez(file, **{METADATA_KEY: np.array(json.dumps(metadata, allow_nan=False))}, **arrays)


def save_atomic(path, arrays, metadata):
    """Save ``arrays`` (name → ndarray) and ``metadata`` (JSON-able) to ``path`` atomically."""
    metadata = {
        **metadata,
        "format_version": FORMAT_VERSION,
        "checksums": {key: checksum(value) for key, value in arrays.items()},
    }
    write_atomic(path, lambda file: write_archive(file, arrays, metadata))


def read_arrays(path, what="model file", stored_only=False):
    """Every array of an ``.npz`` file; ``CheckpointError`` if it is missing or unreadable."""
    return read_npz(path, CheckpointError, what, stored_only)


def _verified(path, arrays):
    """``(arrays, metadata)`` after checking the metadata and every checksum."""
    if METADATA_KEY not in arrays:
        raise CheckpointError(f"{path}: no metadata; not a file written by mlp")
    arrays = dict(arrays)
    try:
        metadata = json.loads(str(arrays.pop(METADATA_KEY)))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: unreadable metadata ({exc})") from None
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path}: metadata is not a JSON object")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format version {metadata.get('format_version')!r}, this mlp reads {FORMAT_VERSION}"
        )
    expected = metadata.get("checksums")
    if not isinstance(expected, dict) or set(expected) != set(arrays):
        raise CheckpointError(f"{path}: the arrays do not match the metadata's list of arrays")
    for key, value in arrays.items():
        if checksum(value) != expected[key]:
            raise CheckpointError(f"{path}: checksum mismatch for array {key!r} (the file is corrupt)")
    return arrays, metadata


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_KINDS: dict[str, Callable[[object], bool]] = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**53,
    "number": _is_number,
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "none": lambda v: v is None,
    "dict": lambda v: isinstance(v, dict),
    "list[int]": lambda v: isinstance(v, list) and all(_KINDS["int"](x) for x in v),
    "list[number]": lambda v: isinstance(v, list) and all(_is_number(x) for x in v),
    "list[str]": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "list[dict]": lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v),
}


def require(metadata, fields, path, where="metadata"):
    """Check that ``metadata[key]`` has one of the kinds ``fields[key]`` names, for every key.

    Kinds: ``int`` (0 <= n < 2⁵³), ``number``, ``str``, ``bool``, ``none``, ``dict``, ``list[int]``,
    ``list[number]``, ``list[str]``. A missing key or a value of another kind raises
    ``CheckpointError`` naming the file and the key: a file whose checksums hold but whose metadata
    was edited or written by something else must not get further than this.
    """
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path}: {where} is not a JSON object")
    for key, kinds in fields.items():
        if key not in metadata:
            raise CheckpointError(f"{path}: {where} lacks {key!r}")
        if not any(_KINDS[kind](metadata[key]) for kind in kinds):
            raise CheckpointError(f"{path}: {where} {key!r} is {shown(metadata[key])}, expected {' or '.join(kinds)}")


def load_checked(path):
    """``(arrays, metadata)`` from an archive written by :func:`save_atomic`, checksums verified."""
    return _verified(path, read_arrays(path, stored_only=True))


def load_state_dict(path):
    """The ``"<i>.<name>"`` arrays of an mlp model file or of a plain ``np.savez`` state dict."""
    arrays = read_arrays(path, "state dict file")
    return _verified(path, arrays)[0] if METADATA_KEY in arrays else arrays
