"""Tests for explain/trace.py: recording, lookup, thread safety, and safe save/load."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import threading
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explain.trace import FORMAT_VERSION, Snapshot, Trace, TraceError, load_trace

ROOT = pathlib.Path(__file__).resolve().parents[1]

PATTERN = "blocks.0.attn.hook_pattern"


def make_trace(n_steps: int = 10, snapshot_every: int = 3) -> Trace:
    """Scalars every step (val_loss every 4th), snapshots every `snapshot_every` steps."""
    meta = {
        "model_config": {"n_layers": 2, "n_heads": 4},
        "vocab": ["<pad>", "a", "é", "日本"],
        "probe": {"tokens": ["a", "é"]},
        "seed": 7,
        "dims": {PATTERN: ["head", "q_pos", "k_pos"]},
        "status": "running",
    }
    trace = Trace(meta)
    for step in range(n_steps):
        values = {"loss": 1.0 / (step + 1), "lr": 1e-3}
        if step % 4 == 0:
            values["val_loss"] = 2.0 / (step + 1)
        trace.log_scalars(step, values)
        if step % snapshot_every == 0:
            trace.add_snapshot(
                step,
                {
                    PATTERN: np.full((4, 3, 3), step, np.float64),
                    "embed.W_E": np.arange(8, dtype=np.float32).reshape(4, 2) * step,
                    "tokens": np.arange(3, dtype=np.int64) + step,
                    "mask": np.eye(3, dtype=bool),
                },
            )
    return trace


def assert_same(a: Trace, b: Trace) -> None:
    np.testing.assert_array_equal(a.steps, b.steps)  # NaNs compare equal position by position
    np.testing.assert_array_equal(a.snapshot_steps, b.snapshot_steps)
    assert a.scalars.keys() == b.scalars.keys() and a.tensors.keys() == b.tensors.keys()
    for name, values in a.scalars.items():
        np.testing.assert_array_equal(values, b.scalars[name])
        assert b.scalars[name].dtype == np.float64
    for name, array in a.tensors.items():
        np.testing.assert_array_equal(array, b.tensors[name])
        assert array.dtype == b.tensors[name].dtype
    assert a.meta == b.meta


# -- save / load round trip ---------------------------------------------------------------
def test_round_trip_keeps_every_array_meta_and_nan_position(tmp_path):
    trace = make_trace()
    path = trace.save(tmp_path / "run")
    assert path == tmp_path / "run.npz"
    loaded = load_trace(path)
    assert_same(trace, loaded)
    assert np.isnan(loaded.scalars["val_loss"]).tolist() == [s % 4 != 0 for s in range(10)]
    assert loaded.tensors[PATTERN].dtype == np.float32  # float64 input stored as float32
    assert loaded.tensors["tokens"].dtype == np.int64 and loaded.tensors["mask"].dtype == bool
    sidecar = json.loads((tmp_path / "run.json").read_text("utf-8"))
    assert sidecar == {**trace.meta, "format": "explain-trace", "format_version": FORMAT_VERSION}
    assert_same(trace, load_trace(tmp_path / "run"))  # the suffix is optional on load too
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
    assert {"steps.npy", "snapshot_steps.npy", "meta.json.npy", "scalar/val_loss.npy"} <= names
    # Whole numbers fit in bfloat16, so they are stored as its 16 bits (tests in test_trace_load)
    assert f"bfloat16/{PATTERN}.npy" in names and "tensor/tokens.npy" in names


def test_round_trip_of_an_empty_trace(tmp_path):
    loaded = load_trace(Trace().save(tmp_path / "empty.npz"))
    assert len(loaded) == 0 and loaded.steps.shape == (0,) and loaded.meta == {}


@settings(max_examples=30, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 3),  # step increment (0 merges into the previous row)
            st.dictionaries(
                st.sampled_from(["loss", "acc", "grad/norm"]),
                st.floats(allow_nan=True, allow_infinity=True),
                max_size=3,
            ),
        ),
        max_size=20,
    )
)
def test_round_trip_property(tmp_path_factory, rows):
    trace, step = Trace({"rows": len(rows)}), 0
    for increment, values in rows:
        step += increment
        trace.log_scalars(step, values)
        if increment:
            trace.add_snapshot(step, {"w": np.full(2, step, np.float32)})
    loaded = load_trace(trace.save(tmp_path_factory.mktemp("prop") / "t.npz"))
    assert_same(trace, loaded)
    assert len(loaded.steps) == len(np.unique(loaded.steps))


# -- lookup ----------------------------------------------------------------------------
def test_at_picks_nearest_snapshot_with_ties_going_earlier():
    trace = Trace()
    for step in (0, 10, 20, 25):
        trace.add_snapshot(step, {"w": np.array([step])})
    assert [trace.at(s).step for s in (0, 4, 5, 6, 10, 22, 23, 25)] == [0, 0, 0, 10, 10, 20, 25, 25]
    snapshot = trace.at(6)
    assert isinstance(snapshot, Snapshot) and snapshot.index == 1
    assert snapshot.tensors["w"].tolist() == [10]
    assert trace.tensor("w", 24).tolist() == [25]
    assert trace.tensor("w").shape == (4, 1)
    for outside in (-1, 26):
        with pytest.raises(ValueError, match=rf"{outside}.*\[0, 25\]"):
            trace.at(outside)
    with pytest.raises(ValueError, match="no snapshots"):
        Trace().at(0)


def test_unknown_names_list_what_is_available():
    trace = make_trace()
    with pytest.raises(KeyError, match="val_loss"):
        trace.scalar("nope")
    with pytest.raises(KeyError, match="embed.W_E"):
        trace.tensor("nope")
    steps, values = trace.scalar("val_loss")
    assert steps.tolist() == [0, 4, 8] and not np.isnan(values).any()


def test_read_arrays_are_copies_or_read_only():
    trace = make_trace()
    trace.steps[0] = 99
    trace.scalars["loss"][0] = 99
    assert trace.steps[0] == 0 and trace.scalars["loss"][0] == 1.0
    with pytest.raises(ValueError):
        trace.tensors[PATTERN][0] = 1
    with pytest.raises(ValueError):
        trace.at(0).tensors[PATTERN][0] = 1


# -- writing ---------------------------------------------------------------------------
def test_log_scalars_backfills_new_names_and_merges_equal_steps():
    trace = Trace()
    trace.log_scalars(0, {"loss": 3.0})
    trace.log_scalars(1, {"loss": 2.0})
    trace.log_scalars(1, {"val_loss": 2.5})  # same step: same row
    trace.log_scalars(4, {"loss": 1.0})
    assert trace.steps.tolist() == [0, 1, 4]
    np.testing.assert_array_equal(trace.scalars["loss"], [3.0, 2.0, 1.0])
    np.testing.assert_array_equal(trace.scalars["val_loss"], [np.nan, 2.5, np.nan])
    trace.log_scalars(4, {})  # nothing to record: no new row
    assert len(trace.steps) == 3
    with pytest.raises(ValueError, match="step 3 .* 4"):
        trace.log_scalars(3, {"loss": 0.0})
    with pytest.raises(ValueError, match="'loss'.*'x'"):
        trace.log_scalars(5, {"loss": "x"})
    with pytest.raises(TypeError, match="integer"):
        trace.log_scalars(5.5, {"loss": 1.0})
    assert trace.steps.tolist() == [0, 1, 4]


def test_bad_snapshot_raises_and_leaves_trace_unchanged():
    trace = make_trace()
    before = {name: array.copy() for name, array in trace.tensors.items()}
    steps_before, good = trace.snapshot_steps, {k: v[0] for k, v in before.items()}
    with pytest.raises(ValueError, match=r"'embed.W_E'.*\(4, 3\).*expected \(4, 2\)"):
        trace.add_snapshot(100, {**good, "embed.W_E": np.zeros((4, 3))})
    with pytest.raises(ValueError, match="expected exactly"):
        trace.add_snapshot(100, {k: v for k, v in good.items() if k != "mask"})
    with pytest.raises(ValueError, match="after the last snapshot step 9"):
        trace.add_snapshot(9, good)
    with pytest.raises(ValueError, match="dtype"):
        trace.add_snapshot(100, {**good, "mask": np.array(["a"] * 9).reshape(3, 3)})
    np.testing.assert_array_equal(trace.snapshot_steps, steps_before)
    for name, array in trace.tensors.items():
        np.testing.assert_array_equal(array, before[name])
    trace.add_snapshot(100, good)  # and it still accepts a good one
    assert trace.snapshot_steps[-1] == 100


def test_add_snapshot_copies_its_input():
    trace, array = Trace(), np.zeros(3)
    trace.add_snapshot(0, {"w": array})
    array[:] = 5
    assert trace.tensor("w", 0).tolist() == [0, 0, 0]


def test_drop_snapshots_keeps_the_rest_aligned():
    trace = make_trace()  # snapshots at 0, 3, 6, 9
    held = trace.tensors[PATTERN]  # a view handed out before the drop stays intact
    trace.drop_snapshots([1, -1])
    assert trace.snapshot_steps.tolist() == [0, 6] and len(trace) == 2
    assert trace.tensor(PATTERN)[:, 0, 0, 0].tolist() == [0, 6]
    assert held[:, 0, 0, 0].tolist() == [0, 3, 6, 9]
    with pytest.raises(IndexError, match="5"):
        trace.drop_snapshots([5])
    trace.add_snapshot(12, {k: v[0] for k, v in trace.tensors.items()})
    assert trace.snapshot_steps.tolist() == [0, 6, 12]


def test_select_keeps_steps_and_snapshots_in_range():
    trace = make_trace()
    part = trace.select(2, 6)
    assert part.steps.tolist() == [2, 3, 4, 5, 6] and part.snapshot_steps.tolist() == [3, 6]
    np.testing.assert_array_equal(part.scalars["loss"], trace.scalars["loss"][2:7])
    assert part.tensor(PATTERN, 6)[0, 0, 0] == 6 and part.meta == trace.meta
    assert trace.select(stop=3).steps.tolist() == [0, 1, 2, 3]
    assert len(trace.select(start=7)) == 1
    part.meta["seed"] = 0
    assert trace.meta["seed"] == 7


def test_from_arrays_validates():
    trace = Trace.from_arrays({}, [0, 2], {"loss": [1.0, 0.5]}, [2], {"w": np.ones((1, 3))})
    assert trace.tensor("w", 2).dtype == np.float32
    with pytest.raises(TraceError, match="'loss'"):
        Trace.from_arrays({}, [0, 2], {"loss": [1.0]}, [], {})
    with pytest.raises(TraceError, match="leading axis of 1"):
        Trace.from_arrays({}, [], {}, [0], {"w": np.ones((2, 3))})
    with pytest.raises(TraceError, match="increasing"):
        Trace.from_arrays({}, [0, 0], {}, [], {})
    with pytest.raises(TraceError, match="integer"):
        Trace.from_arrays({}, [0.5], {}, [], {})


def test_widget_conveniences_and_attention_order():
    trace = make_trace()
    assert (trace.n_layers, trace.n_heads) == (2, 4)
    assert trace.vocab == ["<pad>", "a", "é", "日本"] and trace.probe_tokens == ["a", "é"]
    with pytest.raises(ValueError, match="model_config"):
        _ = Trace().n_layers
    names = [
        "decoder.blocks.0.cross.hook_pattern",
        "decoder.blocks.10.attn.hook_pattern",
        "decoder.blocks.0.attn.hook_pattern",
        "encoder.blocks.2.attn.hook_pattern",
        "encoder.blocks.11.attn.hook_pattern",
        "decoder.blocks.2.attn.hook_q",
    ]
    t = Trace()
    t.add_snapshot(0, {name: np.zeros(1) for name in names})
    assert t.attention_names() == [
        "encoder.blocks.2.attn.hook_pattern",
        "encoder.blocks.11.attn.hook_pattern",
        "decoder.blocks.0.attn.hook_pattern",
        "decoder.blocks.0.cross.hook_pattern",
        "decoder.blocks.10.attn.hook_pattern",
    ]


def test_len_repr_nbytes():
    trace = make_trace()
    assert len(trace) == 4
    expected = sum(a.nbytes for a in trace.tensors.values()) + 10 * 8 * 4 + 4 * 8
    assert trace.nbytes == expected
    text = repr(trace)
    assert "0..9" in text and "4 snapshots" in text and "4 tensors" in text


# -- threads ---------------------------------------------------------------------------
@pytest.fixture
def eager_thread_switching():
    """Switch threads far more often than usual so interleaving bugs show up reliably."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def test_reader_never_sees_a_half_appended_row(eager_thread_switching):
    trace, n_rows, errors = Trace(), 2000, []
    done = threading.Event()

    def write() -> None:
        for step in range(n_rows):
            values = {"loss": step * 0.5}
            if step >= n_rows // 2:
                values["late"] = 1.0  # a name that appears midway
            trace.log_scalars(step, values)
            trace.add_snapshot(step, {"a": np.full(3, step), "b": np.full((2, 2), -step)})
        done.set()

    def check_scalars() -> None:
        steps = trace.steps
        assert (steps == np.arange(len(steps))).all()  # no unwritten row at the end
        lengths = {len(values) for values in trace.scalars.values()}
        assert len(lengths) <= 1 and all(n >= len(steps) for n in lengths)
        if lengths:
            logged_steps, values = trace.scalar("loss")
            np.testing.assert_array_equal(values, logged_steps * 0.5)

    def check_snapshots() -> None:
        snapshot_steps = trace.snapshot_steps
        assert (snapshot_steps == np.arange(len(snapshot_steps))).all()
        tensors = trace.tensors
        assert len({len(array) for array in tensors.values()}) <= 1
        if tensors:
            assert (tensors["a"][:, 0] == np.arange(len(tensors["a"]))).all()
            assert len(tensors["a"]) >= len(snapshot_steps)
        if len(snapshot_steps):
            snap = trace.at(int(snapshot_steps[-1]))
            assert (snap.tensors["a"] == snap.step).all()
            assert (snap.tensors["b"] == -snap.step).all()

    def read(check) -> None:
        try:
            while not done.is_set():
                check()
        except Exception as error:  # surfaced in the main thread below
            errors.append(error)
            done.set()

    readers = [threading.Thread(target=read, args=(c,)) for c in (check_scalars, check_snapshots)]
    writer = threading.Thread(target=write)
    for thread in (*readers, writer):
        thread.start()
    for thread in (writer, *readers):
        thread.join(timeout=60)
    assert not errors, errors[0]
    assert len(trace.steps) == len(trace) == n_rows
    assert np.isnan(trace.scalars["late"][: n_rows // 2]).all()


def test_save_while_appending_gives_consistent_files(tmp_path, eager_thread_switching):
    trace, done, paths = Trace({"live": True}), threading.Event(), []

    def write() -> None:
        for step in range(1500):
            trace.log_scalars(step, {"loss": float(step)})
            trace.add_snapshot(step, {"a": np.full(4, step)})
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    while not done.is_set() or len(paths) < 3:
        paths.append(trace.save(tmp_path / "live.npz"))
        loaded = load_trace(paths[-1])
        # (a save before the writer's first step holds no scalar yet: empty, and consistent)
        loss = loaded.scalars.get("loss", np.zeros(0))
        np.testing.assert_array_equal(loss, loaded.steps.astype(float))
        assert len(loaded.tensors.get("a", [])) == len(loaded.snapshot_steps)
    writer.join()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.json", "live.npz"]


# -- atomic save -----------------------------------------------------------------------
def test_failed_save_leaves_the_old_file_and_no_temp_files(tmp_path, monkeypatch):
    trace = make_trace()
    path = trace.save(tmp_path / "run.npz")
    original = path.read_bytes()

    def broken_savez(file, **arrays):
        file.write(b"PK\x03\x04 half a file")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(np, "savez", broken_savez)
    trace.log_scalars(100, {"loss": 0.0})
    with pytest.raises(RuntimeError, match="disk on fire"):
        trace.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json", "run.npz"]
    assert load_trace(path).steps[-1] == 9


def test_unwritable_path_and_unserialisable_meta(tmp_path):
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(OSError, match="a-file"):
        Trace().save(tmp_path / "a-file" / "t.npz")
    with pytest.raises(TraceError, match="JSON"):
        Trace({"bad": object()}).save(tmp_path / "t.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]


def test_save_creates_missing_directories(tmp_path):
    path = Trace({"seed": 3}).save(tmp_path / "new" / "dir" / "t.npz")
    assert load_trace(path).meta == {"seed": 3}


def test_concurrent_reader_of_the_path_sees_whole_files(tmp_path):
    path, errors, done = tmp_path / "t.npz", [], threading.Event()
    make_trace(5).save(path)

    def read() -> None:
        while not done.is_set():
            try:
                assert len(load_trace(path).steps) in (5, 50)
            except Exception as error:
                errors.append(error)
                return

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(20):
        make_trace(5 if i % 2 else 50).save(path)
    done.set()
    reader.join()
    assert not errors, errors[0]


# -- no torch --------------------------------------------------------------------------
def test_importing_trace_does_not_need_torch():
    code = """
import sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
import explain
from explain.trace import Trace, load_trace
t = Trace()
t.add_snapshot(0, {"w": [1.0]})
assert sys.modules["torch"] is None
print("ok", len(t))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok 1"
