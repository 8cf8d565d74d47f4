"""Writing files so that an interrupted write never leaves half a file behind."""

from __future__ import annotations

import os
import pathlib
import tempfile
from collections.abc import Callable
from typing import BinaryIO


def atomic_write(
    path: str | os.PathLike, write: Callable[[BinaryIO], object], what: str = "file"
) -> pathlib.Path:
    """Call ``write(file)`` on a temp file in ``path``'s directory, then rename it over ``path``.

    A reader of ``path`` sees the old file or the new one, never a mix; on any error (Ctrl-C
    included) the temp file is removed and ``path`` is untouched. An unwritable directory raises
    an OSError naming ``path``.

    >>> import tempfile, pathlib
    >>> p = atomic_write(pathlib.Path(tempfile.mkdtemp()) / "a.txt", lambda f: f.write(b"hi"))
    >>> p.read_bytes()
    b'hi'
    """
    path = pathlib.Path(path)
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        mode = 0o644
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise type(error)(error.errno, f"cannot save {what}: {error.strerror}", str(path)) from None
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        pathlib.Path(temp).unlink(missing_ok=True)
        raise
    return path
