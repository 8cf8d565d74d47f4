"""Loading trace files: broken, hostile or from the future ones fail clearly and run nothing."""

from __future__ import annotations

import json
import pathlib
import zipfile

import numpy as np
import pytest
from test_trace import make_trace

from explain.trace import FORMAT_VERSION, TraceError, load_trace


# -- loading hostile or broken files ---------------------------------------------------
def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        load_trace(tmp_path / "nothing-here.npz")


def test_truncated_file(tmp_path):
    path = make_trace().save(tmp_path / "t.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TraceError, match="t.npz"):
        load_trace(path)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.npz"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(TraceError, match="noise.npz.*zip"):
        load_trace(path)
    path.write_bytes(b"PK\x03\x04" + np.random.default_rng(1).bytes(4096))
    with pytest.raises(TraceError, match="noise.npz"):
        load_trace(path)


def _write_npz(path: pathlib.Path, meta: dict | None, **arrays) -> pathlib.Path:
    if meta is not None:
        arrays["meta.json"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **arrays)
    return path


GOOD_META = {"format": "explain-trace", "format_version": FORMAT_VERSION}
EMPTY = {"steps": np.zeros(0, np.int64), "snapshot_steps": np.zeros(0, np.int64)}


def test_npz_without_meta_or_with_wrong_format_or_future_version(tmp_path):
    with pytest.raises(TraceError, match="meta.json"):
        load_trace(_write_npz(tmp_path / "a.npz", None, **EMPTY))
    with pytest.raises(TraceError, match="'other'.*'explain-trace'"):
        load_trace(_write_npz(tmp_path / "b.npz", {**GOOD_META, "format": "other"}, **EMPTY))
    future = {**GOOD_META, "format_version": FORMAT_VERSION + 1}
    with pytest.raises(TraceError, match=f"format_version {FORMAT_VERSION + 1}.*{FORMAT_VERSION}"):
        load_trace(_write_npz(tmp_path / "c.npz", future, **EMPTY))
    np.savez(tmp_path / "d.npz", **EMPTY, **{"meta.json": np.frombuffer(b"{not json", np.uint8)})
    with pytest.raises(TraceError, match="JSON"):
        load_trace(tmp_path / "d.npz")
    with pytest.raises(TraceError, match="'steps'"):
        load_trace(_write_npz(tmp_path / "e.npz", GOOD_META, snapshot_steps=EMPTY["steps"]))
    with zipfile.ZipFile(tmp_path / "f.npz", "w") as archive:
        archive.writestr("meta.json", json.dumps(GOOD_META))  # raw bytes, not an .npy
    with pytest.raises(TraceError, match="not .npy arrays"):
        load_trace(tmp_path / "f.npz")


def test_misaligned_lengths(tmp_path):
    path = _write_npz(
        tmp_path / "m.npz",
        GOOD_META,
        steps=np.arange(3),
        snapshot_steps=np.arange(2),
        **{"scalar/loss": np.zeros(2), "tensor/w": np.zeros((2, 5))},
    )
    with pytest.raises(TraceError, match="m.npz.*'loss'"):
        load_trace(path)


class _Payload:
    """Unpickling this creates `marker`: proof that code from the file ran."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_object_arrays_are_refused_without_running_anything(tmp_path):
    marker, control = tmp_path / "ran", tmp_path / "control-ran"
    arrays = {**EMPTY, "x": np.array([_Payload(marker)], dtype=object)}
    path = _write_npz(tmp_path / "evil.npz", GOOD_META, **arrays)
    with pytest.raises(TraceError, match="evil.npz contains pickled objects; refusing to load"):
        load_trace(path)
    assert not marker.exists()
    # The payload is live: loading it the unsafe way would have run it.
    np.savez(tmp_path / "control.npz", x=np.array([_Payload(control)], dtype=object))
    with np.load(tmp_path / "control.npz", allow_pickle=True) as archive:
        archive["x"]
    assert control.exists()
    plain = _write_npz(tmp_path / "plain.npz", GOOD_META, **EMPTY, **{"scalar/x": arrays["x"]})
    with pytest.raises(TraceError, match="pickled"):
        load_trace(plain)
    assert not marker.exists()
