"""Files written whole or not at all, never through a link, and archives read without trusting them.

A crash, a kill or a full disk never leaves half of a file mlp writes: every file (checkpoints,
model files, reports, plots, configs, predictions) goes to a temporary file in the same folder,
which is flushed, fsynced and renamed over the target with ``os.replace``; the folder is then
fsynced so the rename itself survives a power cut. Until the rename, the old file (if any) is
untouched; on any failure the temporary file is removed. Temporary files carry the writer's
process id (``.<name>.<pid>.<random>.tmp``), so what a killed writer left is recognised later.

Nothing mlp writes goes through a symbolic link or into a special file: a link, a named pipe, a
device or a folder standing where mlp would write (an output, a lock file, a log) is refused with
one clear error (:func:`refuse_special`, :func:`open_regular`), and files mlp opens for writing are
opened with ``O_NOFOLLOW`` and ``O_NONBLOCK`` (a pipe cannot make it hang).
"""

import errno
import json
import os
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import MlpError, NonFiniteError, clipped

_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFDIR: "a folder",
    stat.S_IFSOCK: "a socket",
}


class SpecialFileError(MlpError):
    """Something other than a regular file stands where mlp would write one."""

    def __init__(self, path, kind):
        super().__init__(
            f"{path}: is {kind}, not a regular file; mlp writes only regular files and never "
            f"through a link: remove it or choose another path"
        )


def refuse_special(path):
    """``SpecialFileError`` if ``path`` exists and is not a regular file (a link is not followed)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise SpecialFileError(path, _KINDS.get(stat.S_IFMT(mode), "not a regular file"))


def open_regular(path, mode="a"):
    """``path`` opened for writing (``"a"``: appending, ``"w"``: truncated) as a text file, created if
    missing — refused unless it is a regular file: never through a link, never blocking on a pipe."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    flags |= os.O_APPEND if mode == "a" else 0
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR, errno.EWOULDBLOCK):
            refuse_special(path)
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            refuse_special(path)
        os.set_blocking(fd, True)
        if mode == "w":
            os.ftruncate(fd, 0)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, mode, encoding="utf-8")


# Files get the permissions an ordinary open() would give (mkstemp alone makes them owner-only).
_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomic(path, write):
    """Replace ``path`` by what ``write(file)`` writes to a binary file object.

    An ``OSError`` (a full disk, a missing folder, no permission) names ``path``; a link or a special
    file at ``path`` is refused before anything is written.
    """
    path = Path(path)
    if not path.name:
        raise MlpError(f"{str(path)!r}: not a file name")
    refuse_special(path)
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
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


def remove_stale_temporaries(path):
    """Delete the temporary copies of ``path`` that writers which have since died left behind (their
    process id is in the name and no longer runs); a live writer's copy is left alone."""
    path = Path(path)
    for temporary in path.parent.glob(f".{path.name}.*.tmp"):
        pid = temporary.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)) and stat.S_ISREG(os.lstat(temporary).st_mode):
            temporary.unlink(missing_ok=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def write_text_atomic(path, text):
    """Replace ``path`` by ``text`` in UTF-8."""
    write_atomic(path, lambda file: file.write(text.encode("utf-8")))


def write_json_atomic(path, value):
    """Replace ``path`` by ``value`` as indented JSON; a NaN or an infinity in it (which JSON cannot
    hold) is refused as :class:`~mlp.errors.NonFiniteError` and nothing is written."""
    try:
        text = json.dumps(value, indent=2, allow_nan=False)
    except ValueError:
        raise NonFiniteError(f"{path}: a NaN or infinite number in what would be written: not written") from None
    write_text_atomic(path, text + "\n")


def regular_file(path, error, what):
    """``path`` as a ``Path`` if it names a regular file; else ``error`` (an exception class) saying
    that the ``what`` is not found, or is not a regular file (a folder, a device, a pipe)."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {'is not a regular file' if path.exists() else 'not found'}: {path}")
    return path


def read_bytes(path, error, what):
    """The contents of the regular file ``path``, gunzipped when they start with the gzip magic bytes;
    ``error`` (an exception class) names the ``what`` when it is missing or not a regular file."""
    path = regular_file(path, error, what)
    raw = path.read_bytes()
    return gunzip(raw, path, error) if raw[:2] == b"\x1f\x8b" else raw


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
                f"{path}: its arrays would take {human_size(declared)}, more than this machine's {human_size(memory)} of memory"
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
                raise error(f"{path}: its gzip data expands to more than this machine's {human_size(limit)} of memory")
            if not member.eof:
                raise EOFError("compressed file ended before the end-of-stream marker was reached")
            parts.append(part)
            raw = member.unused_data.lstrip(b"\x00")  # the next member; zero padding ends the file
    except (EOFError, zlib.error) as exc:
        raise error(f"{path}: truncated or corrupt gzip data ({clipped(exc)})") from None
    return b"".join(parts)


def human_size(n_bytes):
    """``1.5 GiB`` or ``12.00 MiB``."""
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.2f} MiB"


def available_memory():
    """Bytes of memory the system can give now without swapping (``MemAvailable``), else the
    physical memory, or None where the system says neither."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return _physical_memory()


def _physical_memory():
    """Bytes of physical memory, or None where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
