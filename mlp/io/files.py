"""Files written whole or not at all, and archives read without trusting them.

A crash, a kill or a full disk never leaves half of a file mlp writes: every file (checkpoints,
model files, reports, plots, configs, predictions) goes to a temporary file in the same folder,
which is flushed, fsynced and renamed over the target with ``os.replace``; the folder is then
fsynced so the rename itself survives a power cut. Until the rename, the old file (if any) is
untouched; on any failure the temporary file is removed.
"""

import os
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import clipped

# Files get the permissions an ordinary open() would give (mkstemp alone makes them owner-only).
_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomic(path, write):
    """Replace ``path`` by what ``write(file)`` writes to a binary file object.

    An ``OSError`` (a full disk, a missing folder, no permission) names ``path``.
    """
    path = Path(path)
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~_UMASK)
        os.replace(temporary, path)
    except BaseException as exc:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno is not None and exc.filename is None:
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def remove_temporaries(folder, names):
    """Delete what :func:`write_atomic` left of ``folder/name`` for each name when a process was
    killed mid-write (SIGKILL, a power cut). Only for a folder no other writer is using."""
    for name in names:
        for temporary in Path(folder).glob(f".{name}.*.tmp"):
            temporary.unlink(missing_ok=True)


def write_text_atomic(path, text):
    """Replace ``path`` by ``text`` in UTF-8."""
    write_atomic(path, lambda file: file.write(text.encode("utf-8")))


def regular_file(path, error, what):
    """``path`` as a ``Path`` if it names a regular file; else ``error`` (an exception class) saying
    that the ``what`` is not found, or is not a regular file (a folder, a device, a pipe)."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {'is not a regular file' if path.exists() else 'not found'}: {path}")
    return path


def read_npz(path, error, what, stored_only=False):
    """Every array of the ``.npz`` file ``path``, read with ``allow_pickle=False``.

    A missing file, or bytes that NumPy cannot parse (whatever it raises: the content is not
    trusted), raise ``error`` (an exception class) with a message naming ``what`` and ``path``.
    Before anything is decompressed, the sizes the archive declares for its members (which bound
    what reading them can produce) must fit in the machine's memory, so a small compressed file
    cannot expand into gigabytes (a "zip bomb"); with ``stored_only`` (mlp writes its own files
    uncompressed) a compressed member is refused outright.
    """
    path = regular_file(path, error, what)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
        packed = [m.filename for m in members if m.compress_type != zipfile.ZIP_STORED]
        if stored_only and packed:
            raise error(
                f"{path}: array {packed[0]!r} is compressed, but mlp writes its files uncompressed: "
                f"not a file written by mlp"
            )
        declared, memory = sum(m.file_size for m in members), _physical_memory()
        if memory is not None and declared > memory:
            raise error(
                f"{path}: its arrays would take {_size(declared)}, more than this machine's {_size(memory)} of memory"
            )
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except error:
        raise
    except Exception as exc:
        raise error(f"{path}: corrupt or not an .npz file ({type(exc).__name__}: {clipped(exc)})") from None


def gunzip(raw, path, error):
    """The bytes a gzip file ``raw`` holds (every member), refusing with ``error`` data that is
    truncated or corrupt, or that would expand beyond the machine's memory, which is checked as it
    decompresses: a small file cannot expand into gigabytes (a "gzip bomb")."""
    limit = _physical_memory()
    parts, total = [], 0
    try:
        while raw:
            member = zlib.decompressobj(16 + zlib.MAX_WBITS)
            part = member.decompress(raw, 0 if limit is None else limit - total + 1)
            total += len(part)
            if limit is not None and total > limit:
                raise error(f"{path}: its gzip data expands to more than this machine's {_size(limit)} of memory")
            if not member.eof:
                raise EOFError("compressed file ended before the end-of-stream marker was reached")
            parts.append(part)
            raw = member.unused_data.lstrip(b"\x00")  # the next member; zero padding ends the file
    except (EOFError, zlib.error) as exc:
        raise error(f"{path}: truncated or corrupt gzip data ({clipped(exc)})") from None
    return b"".join(parts)


def _size(n_bytes):
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.2f} MiB"


def _physical_memory():
    """Bytes of physical memory, or None where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
