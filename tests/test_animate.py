"""Tests for explain/_render/animate.py: animation frames made from the arrays, and GIF/MP4 of them.

Colours are checked against the colour scale's stops in `explain.style.COLORSCALES`,
interpolated here with numpy (not matplotlib's colour map); cell positions come from
matplotlib's own data-to-pixel transform; whole frames are compared with matplotlib drawing
the same figure per frame.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from explain import export, views
from explain._render import animate as _animate
from explain._render import matplotlib as _draw
from explain._render.matplotlib import common as _figures
from explain.style import COLORSCALES
from explain.style import theme as as_theme
from explain.trace import Trace

TOKENS = ["a", "b", "<c>", "$d$"]
STEPS = [0, 5, 10]


def weights() -> np.ndarray:
    """[snapshot, layer, head, q, k]: every cell a different weight in [0, 1], per snapshot."""
    count = len(STEPS) * 2 * 2 * len(TOKENS) ** 2
    values = (np.arange(count) * 37 % count) / (count - 1)  # spread, not in reading order
    return values.reshape(len(STEPS), 2, 2, len(TOKENS), len(TOKENS)).astype(np.float32)


@pytest.fixture(scope="module")
def trace() -> Trace:
    tensors = {f"blocks.{layer}.attn.hook_pattern": weights()[:, layer] for layer in range(2)}
    meta = {"probe": {"tokens": TOKENS}, "task": {"name": "test"}}
    return Trace.from_arrays(meta, STEPS, {}, STEPS, tensors)


def scale_colour(weight: float, name: str = "viridis") -> np.ndarray:
    """RGB (0-255) of ``weight`` on scale ``name``: linear between its stops."""

    def rgb(colour: str) -> list[int]:
        if colour.startswith("rgb("):
            return [int(v) for v in colour[4:-1].split(",")]
        return [int(colour[i : i + 2], 16) for i in (1, 3, 5)]

    positions = [position for position, _ in COLORSCALES[name]]
    stops = np.array([rgb(colour) for _, colour in COLORSCALES[name]], float)
    return np.array([np.interp(weight, positions, stops[:, ch]) for ch in range(3)])


def drawn_view(trace: Trace, what: str = "attention"):
    view = views.view(trace, what)
    return view, _draw.draw(view, len(view.steps) - 1, marker=True)


def cell_pixel(axes, row: int, column: int, height: int) -> tuple[int, int]:
    """(pixel row from the top, pixel column) of the centre of a heatmap cell."""
    x, y = axes.transData.transform((column, row))
    return int(height - y), int(x)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_each_cell_shows_the_colour_scale_at_its_weight(trace, theme):
    indices = list(range(len(STEPS)))
    with _figures.style(as_theme(theme)):
        view, drawn = drawn_view(trace)
        frames = _animate.frames(drawn, indices, dpi=80)
    assert frames.palette is not None  # drawn from the arrays, not per frame by matplotlib
    head, grid = [axes for axes in drawn.figure.axes if axes.images][:2]
    expected = weights()
    cell = len(TOKENS) + 1  # the grid: a thumbnail per head (whole under 32 tokens), a gap
    for index, frame in zip(indices, frames.images, strict=True):
        for row in range(len(TOKENS)):
            for column in range(len(TOKENS)):
                y, x = cell_pixel(head, row, column, frame.shape[0])  # layer 0, head 0
                want = scale_colour(expected[index, 0, 0, row, column])
                assert np.abs(frame[y, x] - want).max() <= 3, (index, row, column)
                for layer, h in np.ndindex(2, 2):
                    y, x = cell_pixel(grid, layer * cell + row, h * cell + column, frame.shape[0])
                    want = scale_colour(expected[index, layer, h, row, column])
                    assert np.abs(frame[y, x] - want).max() <= 3, (index, layer, h, row, column)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_frames_look_like_matplotlib_drawing_each_one(trace, theme):
    indices = list(range(len(STEPS)))
    with _figures.style(as_theme(theme)):
        fast = _animate.frames(drawn_view(trace)[1], indices, dpi=80).images
        slow = _animate.render(drawn_view(trace)[1], indices, dpi=80)
    assert not np.array_equal(fast[0], fast[-1])  # the frames move
    for ours, theirs in zip(fast, slow, strict=True):
        assert ours.shape == theirs.shape
        off = np.abs(ours.astype(int) - theirs.astype(int)).max(axis=-1) > 8
        assert off.mean() < 0.01  # at most a heatmap's edge, where the spine lies


def test_gif_and_mp4_show_the_same_frames(trace, tmp_path):
    import imageio_ffmpeg

    fps, snapshots = 8, len(STEPS)
    gif, mp4 = export.save_animation(trace, [tmp_path / "a.gif", tmp_path / "a.mp4"], fps=fps)
    with Image.open(gif) as image:
        gif_frames, durations = [], []
        for number in range(image.n_frames):
            image.seek(number)
            gif_frames.append(np.asarray(image.convert("RGB")).astype(int))
            durations.append(image.info["duration"])
    hold = round(_animate.HOLD_LAST_S * fps)  # the MP4 repeats the last frame, the GIF waits
    assert len(gif_frames) == snapshots
    assert all(abs(d - 1000 / fps) < 10 for d in durations[:-1])  # GIF counts 10 ms units
    assert durations[-1] == _animate.HOLD_LAST_S * 1000
    count, seconds = imageio_ffmpeg.count_frames_and_secs(str(mp4))
    assert count == snapshots - 1 + hold
    assert seconds == pytest.approx(sum(durations) / 1000, abs=1 / fps)
    reader = imageio_ffmpeg.read_frames(str(mp4))
    size = next(reader)["size"]  # (width, height), padded to even sizes
    mp4_frames = [np.frombuffer(f, np.uint8).reshape(size[1], size[0], 3) for f in reader]
    height, width = gif_frames[0].shape[:2]
    for number, frame in enumerate(mp4_frames):
        same = gif_frames[min(number, snapshots - 1)]
        assert np.abs(frame[:height, :width] - same).mean() < 3, number  # H.264 is lossy
    # the GIF's palette keeps the scale's colours
    with _figures.style():
        drawn = drawn_view(trace)[1]
        _animate.frames(drawn, [snapshots - 1])  # lays it out as the export did
    first = drawn.figure.axes[0]
    for row in range(len(TOKENS)):
        y, x = cell_pixel(first, row, row, height)
        want = scale_colour(weights()[-1, 0, 0, row, row])
        assert np.abs(gif_frames[-1][y, x] - want).max() <= 5


def test_views_that_are_not_heatmaps_are_drawn_per_frame(trace):
    loss = Trace.from_arrays(
        {"task": {"name": "test"}}, [0, 1, 2, 3], {"loss": [np.nan, 2.0, 1.5, 1.0]}, [], {}
    )
    with _figures.style():
        frames = _animate.frames(drawn_view(loss, "loss")[1], [0, 2, 3])
        again = _animate.render(drawn_view(loss, "loss")[1], [0, 2, 3])
    assert frames.palette is None
    assert all(np.array_equal(a, b) for a, b in zip(frames.images, again, strict=True))


def test_a_failing_writer_fails_the_call_and_leaves_only_whole_files(trace, tmp_path, monkeypatch):
    def no_ffmpeg(path, frames, fps=8):
        path.write_bytes(b"\x00\x00\x00\x18ftyp half")
        raise RuntimeError("ffmpeg died")

    monkeypatch.setattr(_animate, "write_mp4", no_ffmpeg)
    with pytest.raises(RuntimeError, match="ffmpeg died"):
        export.save_animation(trace, [tmp_path / "a.gif", tmp_path / "a.mp4"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif"]  # written beside it, whole
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == len(STEPS)
