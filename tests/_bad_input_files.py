"""Files and objects for tests/test_bad_input.py: broken traces, pickled payloads, bad weights.

Built once per module by the ``env`` fixture there. Nothing here ever loads a pickle: the
payloads are written so that a loader which did would create ``Env.marker``.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _export_traces import synthetic_trace

from explain.config import ModelConfig

# Small enough to build in milliseconds (as tests/conftest.py's SMALL).
SMALL = dict(vocab_size=11, d_model=16, n_layers=2, n_heads=2, d_mlp=32, context_length=12)


class Payload:
    """Pickles to "open(marker, 'w')": whoever unpickles it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


@dataclass
class Env:
    """The files and objects the rows use (built once per module)."""

    tmp: Path
    trace: Any  # a synthetic Trace: 2 layers x 2 heads, snapshots 0, 2, 4, 8, 16
    files: dict[str, Path]
    marker: Path

    def __getattr__(self, name: str) -> str:
        files = self.__dict__.get("files", {})
        if name in files:
            return str(files[name])
        raise AttributeError(name)


def _rewrite(source: Path, target: Path, change: Callable[[dict[str, bytes]], None]) -> Path:
    """A copy of the .npz `source` with its zip members changed by `change`."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    change(members)
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _newer_format(members: dict[str, bytes]) -> None:
    meta = json.loads(np.load(io.BytesIO(members["meta.json.npy"])).tobytes())
    meta["format_version"] = 99
    members["meta.json.npy"] = _npy(np.frombuffer(json.dumps(meta).encode(), np.uint8))


def _middle_of_largest_member(path: Path) -> int:
    """The byte offset of the middle of the largest member's (stored) data in the zip."""
    with zipfile.ZipFile(path) as archive:
        info = max(archive.infolist(), key=lambda i: i.compress_size)
    header = path.read_bytes()[info.header_offset : info.header_offset + 30]
    name_length, extra_length = (int.from_bytes(header[i : i + 2], "little") for i in (26, 28))
    return info.header_offset + 30 + name_length + extra_length + info.compress_size // 2


def _trace_files(tmp: Path, good: Path, marker: Path) -> dict[str, Path]:
    data = good.read_bytes()
    truncated, corrupted = tmp / "truncated.npz", tmp / "corrupted.npz"
    truncated.write_bytes(data[: len(data) // 2])  # the zip's directory at the end is lost
    middle = _middle_of_largest_member(good)
    corrupted.write_bytes(data[:middle] + b"\0" * 64 + data[middle + 64 :])  # its CRC fails
    not_zip = tmp / "notes.npz"
    not_zip.write_text("my trace, as text")
    evil = np.array([Payload(marker)], dtype=object)
    return {
        "truncated": truncated,
        "corrupted": corrupted,
        "not_zip": not_zip,
        "newer": _rewrite(good, tmp / "newer.npz", _newer_format),
        "no_steps": _rewrite(good, tmp / "no_steps.npz", lambda m: m.pop("steps.npy")),
        "no_meta": _rewrite(good, tmp / "no_meta.npz", lambda m: m.pop("meta.json.npy")),
        "pickled": _rewrite(
            good, tmp / "pickled.npz", lambda m: m.update({"tensor/evil.npy": _npy(evil)})
        ),
    }


def _weights_files(tmp: Path, marker: Path) -> dict[str, Path]:
    import torch
    from safetensors.torch import save_file

    from explain.model import TinyTransformer
    from explain.weights import save_weights

    model = TinyTransformer(ModelConfig(**SMALL))
    good = save_weights(model, tmp / "good" / "model.safetensors")
    pickled = tmp / "pickled.safetensors"
    torch.save({"embed.W_E.weight": Payload(marker)}, pickled)  # what torch.load would run
    state = {name: t.contiguous() for name, t in model.state_dict().items()}
    state["embed.W_E.weight"] = torch.zeros(5, SMALL["d_model"])  # 5 token ids, config says 11
    wrong = tmp / "wrong_shape.safetensors"
    meta = {"format": "explain-weights", "model_config": json.dumps(model.config.to_dict())}
    save_file(state, wrong, metadata=meta)
    return {"weights_dir": good.parent, "pickled_weights": pickled, "wrong_shape": wrong}


def build_env(tmp: Path) -> Env:
    """Every file the rows read, under ``tmp``."""
    marker = tmp / "PAYLOAD-RAN"
    trace = synthetic_trace()
    good = trace.save(tmp / "trace.npz")
    blocker = tmp / "blocker"
    blocker.write_text("a regular file where a directory is expected")
    files = {"good": good, "blocker": blocker, "missing": tmp / "missing.npz"}
    files.update(_trace_files(tmp, good, marker))
    files.update(_weights_files(tmp, marker))
    return Env(tmp=tmp, trace=trace, files=files, marker=marker)
