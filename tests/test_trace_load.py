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


def _indices(steps: int, snapshots: int) -> dict[str, np.ndarray]:
    """The step arrays of a trace that logged ``steps`` steps and kept ``snapshots`` snapshots."""
    return {"steps": np.arange(steps), "snapshot_steps": np.arange(snapshots)}


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
    arrays = {**_indices(3, 2), "scalar/loss": np.zeros(2), "tensor/w": np.zeros((2, 5))}
    path = _write_npz(tmp_path / "m.npz", GOOD_META, **arrays)
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


# -- format version 2: bfloat16 entries; version 1 still loads -------------------------
DATA = pathlib.Path(__file__).parent / "data"


def test_a_version_1_file_still_loads_with_every_array_and_view(tmp_path):
    """tests/data/trace_v1.npz: 3 steps of `copy` (1 layer, 2 heads, d_model 16), written by
    explain's version-1 writer before bfloat16 entries existed."""
    import explain
    from explain import views

    path = DATA / "trace_v1.npz"
    with np.load(path, allow_pickle=False) as archive:  # read independently of explain
        raw = {key: archive[key] for key in archive.files}
    assert json.loads(raw.pop("meta.json").tobytes())["format_version"] == 1
    assert all(key.split("/")[0] in ("steps", "snapshot_steps", "scalar", "tensor") for key in raw)
    trace = load_trace(path)
    assert trace.snapshot_steps.tolist() == raw["snapshot_steps"].tolist() == [0, 1, 2, 3]
    tensors = trace.tensors
    assert {f"tensor/{name}" for name in tensors} == {k for k in raw if k.startswith("tensor/")}
    for name, array in tensors.items():
        assert array.dtype == np.float32 and np.array_equal(array, raw[f"tensor/{name}"]), name
    for name, values in trace.scalars.items():
        np.testing.assert_array_equal(values, raw[f"scalar/{name}"])
    pattern = tensors["blocks.0.attn.hook_pattern"]  # [snapshot, head, q, k], rows sum to 1
    np.testing.assert_allclose(pattern.sum(-1), 1.0, rtol=1e-6)
    optimizer = views.optimizer(trace)
    update = raw["tensor/update/embed.W_E.weight"].astype(np.float64)
    np.testing.assert_allclose(optimizer.norms["update"], np.sqrt((update**2).sum((1, 2))))
    # Saved again, it is a version-2 file with the same arrays.
    again = load_trace(trace.save(tmp_path / "again.npz"))
    assert json.loads((tmp_path / "again.json").read_text())["format_version"] == FORMAT_VERSION
    for name, array in tensors.items():
        assert np.array_equal(again.tensors[name], array), name
    assert explain.views.attention(again).task == "copy"


def _bfloat16(values: np.ndarray) -> np.ndarray:
    """``values`` rounded to bfloat16 (nearest, ties to even) by torch, back as float32."""
    import torch

    return torch.from_numpy(values).to(torch.bfloat16).float().numpy()


def test_bfloat16_values_take_half_the_bytes_and_read_back_bit_for_bit(tmp_path):
    from explain.trace import Trace

    rng = np.random.default_rng(0)
    full = rng.standard_normal((6, 64, 64)).astype(np.float32)
    full[0, 0, :4] = [0.0, -0.0, np.inf, 1e-30]
    rounded = _bfloat16(full * 1e-3)
    assert not np.array_equal(rounded, full * 1e-3)  # rounding changed values
    sizes = {}
    for name, array in (("full", full), ("rounded", rounded)):
        trace = Trace()
        for i, snapshot in enumerate(array):
            trace.add_snapshot(i, {"x": snapshot})
        path = trace.save(tmp_path / f"{name}.npz")
        sizes[name] = path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            entries = [n for n in archive.namelist() if n.endswith("x.npy")]
        assert entries == [f"{'tensor' if name == 'full' else 'bfloat16'}/x.npy"]
        loaded = load_trace(path).tensor("x")
        assert loaded.dtype == np.float32
        assert np.array_equal(loaded.view(np.uint32), array.view(np.uint32))  # -0.0, inf too
    assert 0.49 < sizes["rounded"] / sizes["full"] < 0.52


def test_a_bfloat16_entry_that_is_not_uint16_is_refused(tmp_path):
    arrays = {**_indices(1, 1), "bfloat16/x": np.zeros((1, 3), np.float32)}
    bad = _write_npz(tmp_path / "bad.npz", GOOD_META, **arrays)
    with pytest.raises(TraceError, match=r"bad.npz: entry 'bfloat16/x' has dtype float32; expe"):
        load_trace(bad)
