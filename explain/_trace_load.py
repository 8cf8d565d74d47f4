"""Reading a trace file: validate everything, unpickle and execute nothing."""

from __future__ import annotations

import errno
import json
import logging
import os
import pathlib

import numpy as np

from .trace import _FORMAT, FORMAT_VERSION, Trace, TraceError, _npz_path

log = logging.getLogger(__name__)

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with entries, an empty zip


def load_trace(path: str | os.PathLike) -> Trace:
    """Read a trace written by `Trace.save`; never unpickles or executes anything from the file.

    >>> import tempfile, pathlib
    >>> path = Trace({"seed": 1}).save(pathlib.Path(tempfile.mkdtemp()) / "run.npz")
    >>> load_trace(path).meta["seed"]
    1
    """
    path = pathlib.Path(path)
    if not path.exists() and path.suffix != ".npz" and _npz_path(path).exists():
        path = _npz_path(path)
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "no trace file at this path", str(path))
    with open(path, "rb") as file:
        if file.read(4) not in _ZIP_MAGIC:
            raise TraceError(f"{path} is not a trace: expected an .npz (zip) archive")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        odd = [key for key, array in arrays.items() if not isinstance(array, np.ndarray)]
    except ValueError as error:
        if "pickle" in str(error):
            raise TraceError(f"{path} contains pickled objects; refusing to load") from None
        raise TraceError(f"{path} is corrupted or truncated: {error}") from None
    except Exception as error:  # BadZipFile, EOFError, OSError, zlib.error, ...
        raise TraceError(
            f"{path} is corrupted or truncated ({type(error).__name__}: {error})"
        ) from None
    if odd:  # np.load hands back raw bytes for zip members that are not .npy files
        raise TraceError(f"{path}: entries {odd} are not .npy arrays; expected only arrays")
    if "meta.json" not in arrays:
        raise TraceError(f"{path} has no 'meta.json' entry; expected a trace saved by explain")
    try:
        meta = json.loads(arrays.pop("meta.json").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise TraceError(f"{path}: 'meta.json' is not valid UTF-8 JSON ({error})") from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise TraceError(f"{path} has format {found!r}; expected {_FORMAT!r}")
    version = meta.pop("format_version", None)
    meta.pop("format")
    if not isinstance(version, int) or isinstance(version, bool):
        raise TraceError(f"{path} has format_version {version!r}; expected an integer")
    if version > FORMAT_VERSION:
        raise TraceError(
            f"{path} has format_version {version}; this library reads up to {FORMAT_VERSION}. "
            "Upgrade explain to load it."
        )
    for key in ("steps", "snapshot_steps"):
        if key not in arrays:
            raise TraceError(f"{path} has no {key!r} entry; expected one in every trace")
    scalars, tensors = {}, {}
    for key, array in arrays.items():
        kind, _, name = key.partition("/")
        if kind == "scalar" and name:
            scalars[name] = array
        elif kind == "tensor" and name:
            tensors[name] = array
        elif key not in ("steps", "snapshot_steps"):
            log.warning("%s: ignoring unknown entry %r", path, key)
    try:
        return Trace.from_arrays(meta, arrays["steps"], scalars, arrays["snapshot_steps"], tensors)
    except ValueError as error:
        raise TraceError(f"{path}: {error}") from None
