"""Writing files so that an interrupted write never leaves half a file behind."""

from __future__ import annotations

import contextlib
import errno
import os
import pathlib
import tempfile
from collections.abc import Callable, Iterator
from typing import BinaryIO


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, what: str = "") -> Iterator[pathlib.Path]:
    """Yield a temporary path next to ``path``; when the body succeeds, rename it over ``path``.

    For writers that want a file name (matplotlib, ffmpeg). A reader of ``path`` sees the old
    file or the new one, never a mix; if the body raises (Ctrl-C included) the temporary file is
    removed and ``path`` is left as it was. A missing parent directory is created; an
    unwritable location raises an OSError naming ``path`` and why. The file keeps the mode of
    the one it replaces (0644 for a new one).

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_path(target) as temp:
    ...     _ = temp.write_text("hi")
    >>> target.read_text()
    'hi'
    """
    path = pathlib.Path(path)
    label = f"{what} " if what else ""
    blocked = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        raise NotADirectoryError(
            errno.ENOTDIR, f"cannot write {label}{path}: {blocked} is a file, not a directory"
        )
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        mode = 0o644
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent
        )
        os.close(fd)
    except OSError as error:
        reason = error.strerror or str(error)
        raise type(error)(error.errno, f"cannot write {label}{path}: {reason}") from None
    temp_path = pathlib.Path(temp)
    try:
        yield temp_path
        os.chmod(temp_path, mode)
        os.replace(temp_path, path)
    except OSError as error:
        temp_path.unlink(missing_ok=True)
        reworded = _naming(error, label, path, temp_path)
        if reworded is error:
            raise
        raise reworded from error
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise


def _naming(error: OSError, label: str, path: pathlib.Path, temp: pathlib.Path) -> OSError:
    """``error`` reworded to name ``path`` (not the temporary file) and say it is left as it was.

    Only plain OSErrors with an errno (disk full, file too large, ...) about writing (no file
    name, or the temporary file's) are reworded; any other (about another file, a library's own
    OSError subclass, or one without an errno) is returned as it is.
    """
    if error.errno is None or not error.strerror:
        return error
    if error.filename is not None and pathlib.Path(error.filename) not in (temp, path):
        return error  # e.g. a missing input file: naming the output would mislead
    message = f"cannot write {label}{path}: {error.strerror}; {path} is left as it was"
    reworded = OSError(error.errno, message)
    return reworded if type(reworded) is type(error) else error


def atomic_write(
    path: str | os.PathLike, write: Callable[[BinaryIO], object], what: str = ""
) -> pathlib.Path:
    """Call ``write(file)`` on a binary temp file, flush it to disk, then rename it over ``path``.

    >>> import tempfile, pathlib
    >>> p = atomic_write(pathlib.Path(tempfile.mkdtemp()) / "a.txt", lambda f: f.write(b"hi"))
    >>> p.read_bytes()
    b'hi'
    """
    path = pathlib.Path(path)
    with atomic_path(path, what) as temp, open(temp, "wb") as file:
        write(file)
        file.flush()
        os.fsync(file.fileno())
    return path
