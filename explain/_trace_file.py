"""The trace file format, written and read in one place: plain dicts and arrays, no Trace.

A trace file is one ``.npz`` (a zip of ``.npy`` arrays, loaded with ``allow_pickle=False``):

- ``steps``, ``snapshot_steps``: int64 [n_steps], [n_snapshots]
- ``scalar/<name>``: float64 [n_steps]; ``tensor/<name>``: [n_snapshots, ...]
- ``bfloat16/<name>`` (since version 2): a float32 tensor [n_snapshots, ...] whose values all
  fit in bfloat16 (the low 16 bits of every value are zero), stored as its high 16 bits
  (uint16), half the bytes. Lossless: it reads back bit for bit. The Recorder rounds the
  optimizer tensors to bfloat16, so they take this form; attention stays ``tensor/`` float32.
- ``meta.json``: the meta as UTF-8 JSON bytes (uint8), with ``format`` and ``format_version``

next to a readable ``<stem>.json`` copy of the meta. Both are written atomically.

    >>> import tempfile, pathlib, numpy as np
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> path = write(folder / "run", {"seed": 1}, np.arange(2), {"loss": [2.0, 1.0]}, [1], {})
    >>> meta, steps, scalars, snapshot_steps, tensors = read(path)
    >>> path.name, meta, scalars["loss"].tolist(), snapshot_steps.tolist()
    ('run.npz', {'seed': 1}, [2.0, 1.0], [1])
"""

from __future__ import annotations

import errno
import json
import logging
import os
import pathlib
from collections.abc import Mapping

import numpy as np

from ._files import atomic_write

log = logging.getLogger(__name__)

# Raise it when a reader of the old version would misread a new file. 2: bfloat16/ entries
# (a version-1 reader would skip them with a warning and lose the optimizer tensors).
FORMAT_VERSION = 2
FORMAT = "explain-trace"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with entries, an empty zip
_ARRAYS = ("steps", "snapshot_steps")


class TraceError(ValueError):
    """A trace file or set of arrays that cannot be read; the message says which and why."""


def npz_path(path: str | os.PathLike) -> pathlib.Path:
    """``path`` with ``.npz`` appended unless it already ends in it."""
    path = pathlib.Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def find(path: str | os.PathLike) -> pathlib.Path:
    """The trace file ``path`` names (``run`` finds ``run.npz``); FileNotFoundError if none."""
    path = pathlib.Path(path)
    if not path.exists() and path.suffix != ".npz" and npz_path(path).exists():
        path = npz_path(path)
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "no trace file at this path", str(path))
    return path


def write(
    path: str | os.PathLike,
    meta: Mapping,
    steps: np.ndarray,
    scalars: Mapping[str, np.ndarray],
    snapshot_steps: np.ndarray,
    tensors: Mapping[str, np.ndarray],
) -> pathlib.Path:
    """Write one ``.npz`` (``.npz`` is appended to ``path`` if missing) and its ``.json`` meta."""
    path = npz_path(path)
    meta = {**meta, "format": FORMAT, "format_version": FORMAT_VERSION}
    try:
        meta_text = json.dumps(meta, indent=1, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise TraceError(f"cannot save {path}: meta is not JSON-serialisable ({error})") from None
    arrays = {"steps": np.asarray(steps), "snapshot_steps": np.asarray(snapshot_steps)}
    arrays.update({f"scalar/{name}": np.asarray(values) for name, values in scalars.items()})
    arrays.update(_tensor_entries(tensors))
    arrays["meta.json"] = np.frombuffer(meta_text.encode("utf-8"), np.uint8)
    atomic_write(path, lambda file: np.savez(file, **arrays), what="trace")
    atomic_write(path.with_suffix(".json"), lambda f: f.write(meta_text.encode()), what="trace")
    return path


def read(
    path: str | os.PathLike,
) -> tuple[dict, np.ndarray, dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    """``(meta, steps, scalars, snapshot_steps, tensors)`` of a file written by :func:`write`.

    Checks the container, the meta and the format version; never unpickles or executes
    anything from the file. Whether the arrays fit together is for ``Trace.from_arrays``.
    """
    path = find(path)
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
    meta, version = _read_meta(path, arrays)
    for key in _ARRAYS:
        if key not in arrays:
            raise TraceError(f"{path} has no {key!r} entry; expected one in every trace")
    scalars, tensors = {}, {}
    for key, array in arrays.items():
        kind, _, name = key.partition("/")
        if kind == "scalar" and name:
            scalars[name] = array
        elif kind == "tensor" and name:
            tensors[name] = array
        elif kind == "bfloat16" and name and version >= 2:
            tensors[name] = _from_bfloat16(path, key, array)
        elif key not in _ARRAYS:
            log.warning("%s: ignoring unknown entry %r", path, key)
    return meta, arrays["steps"], scalars, arrays["snapshot_steps"], tensors


def _tensor_entries(tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The archive entries of ``tensors``: ``bfloat16/<name>`` where that loses nothing."""
    entries = {}
    for name, array in tensors.items():
        array = np.asarray(array)
        if array.dtype == np.float32 and array.size:
            bits = np.ascontiguousarray(array).view(np.uint32)
            if not np.any(bits & 0xFFFF):  # every value is a bfloat16: keep the high halves
                entries[f"bfloat16/{name}"] = (bits >> 16).astype(np.uint16)
                continue
        entries[f"tensor/{name}"] = array
    return entries


def _from_bfloat16(path: pathlib.Path, key: str, array: np.ndarray) -> np.ndarray:
    """float32 from the high halves written by :func:`_tensor_entries`, exactly."""
    if array.dtype != np.uint16:
        raise TraceError(f"{path}: entry {key!r} has dtype {array.dtype}; expected uint16")
    return (array.astype(np.uint32) << 16).view(np.float32)


def _read_meta(path: pathlib.Path, arrays: dict[str, np.ndarray]) -> tuple[dict, int]:
    """Pop and check ``meta.json``: the format, and a version this library can read."""
    if "meta.json" not in arrays:
        raise TraceError(f"{path} has no 'meta.json' entry; expected a trace saved by explain")
    try:
        meta = json.loads(arrays.pop("meta.json").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise TraceError(f"{path}: 'meta.json' is not valid UTF-8 JSON ({error})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise TraceError(f"{path} has format {found!r}; expected {FORMAT!r}")
    version = meta.pop("format_version", None)
    meta.pop("format")
    if not isinstance(version, int) or isinstance(version, bool):
        raise TraceError(f"{path} has format_version {version!r}; expected an integer")
    if version > FORMAT_VERSION:
        raise TraceError(
            f"{path} has format_version {version}; this library reads up to {FORMAT_VERSION}. "
            "Upgrade explain to load it."
        )
    return meta, version
