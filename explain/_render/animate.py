"""Animations of a figure over training: render frames once, write them as GIF or MP4.

Matplotlib lays a figure out and draws what stays the same (labels, ticks, colour bar) once.
Where everything that changes is a heatmap or a text (attention), each frame is then made from
the arrays: the colour map looks the weights up and each cell is repeated over its pixels; only
the texts (the step in the title) are drawn per frame (`render_heatmaps`). Other figures are
drawn per frame by blitting their changing artists (`render`). Measured on the demo's 40
attention frames (2 busy cores, layout included): 1.6 s against 3.7 s blitting.
A GIF and an MP4 of the same view share one rendering. GIFs are written with Pillow, all frames
with one palette when the frames bring one; MP4s with the ffmpeg binary that the
``imageio-ffmpeg`` package ships (H.264, yuv420p, so browsers, slides and phones play it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

if TYPE_CHECKING:
    from matplotlib.image import AxesImage
    from matplotlib.text import Text

    from .matplotlib.common import Drawn

log = logging.getLogger(__name__)

HOLD_LAST_S = 1.5  # the final frame stays this long, so the learned state can be seen
SCALE_COLOURS = 160  # GIF palette entries given to the colour scales; the rest to the background


@dataclass
class Frames:
    """The RGB frames [height, width, 3] of one animation (all the same size), and the colours
    a GIF of them is drawn with ([colours <= 256, 3] uint8; None: chosen per frame)."""

    images: list[np.ndarray]
    palette: np.ndarray | None = field(default=None, repr=False)


def frames(drawn: Drawn, indices: Sequence[int], dpi: float = 80) -> Frames:
    """The frames of ``drawn`` at each of ``indices``: from the arrays where it can be
    (`render_heatmaps`), else by blitting (`render`)."""
    if _heatmaps_and_texts(drawn):
        return render_heatmaps(drawn, indices, dpi)
    return Frames(render(drawn, indices, dpi))


def render(drawn: Drawn, indices: Sequence[int], dpi: float = 80) -> list[np.ndarray]:
    """RGB frames [height, width, 3] of ``drawn`` at each of ``indices`` (same size each).

    The figure is drawn in full once, without the artists that change; each frame restores that
    background and draws only those (blitting): ticks and labels are not laid out again.
    """
    figure, canvas = drawn.figure, drawn.figure.canvas
    _lay_out(drawn, indices, dpi)
    for artist in drawn.artists:
        artist.set_animated(True)
    canvas.draw()
    background = canvas.copy_from_bbox(figure.bbox)
    images = []
    for index in indices:
        canvas.restore_region(background)
        drawn.update(int(index))
        for artist in drawn.artists:
            figure.draw_artist(artist)
        images.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())
    return images


def _lay_out(drawn: Drawn, indices: Sequence[int], dpi: float) -> None:
    """Lay the figure out once, for the final step's labels, then freeze it: frames align."""
    figure = drawn.figure
    figure.set_dpi(dpi)
    drawn.update(int(indices[-1]))
    engine = figure.get_layout_engine()
    if engine is not None:
        engine.execute(figure)  # what a draw would do first, without drawing
    figure.set_layout_engine("none")


def _heatmaps_and_texts(drawn: Drawn) -> bool:
    """Whether every changing artist is a nearest-neighbour heatmap, a text or a spine."""
    from matplotlib.image import AxesImage
    from matplotlib.spines import Spine
    from matplotlib.text import Text

    return any(isinstance(a, AxesImage) for a in drawn.artists) and all(
        isinstance(a, Text | Spine)
        or (isinstance(a, AxesImage) and a.get_interpolation() == "nearest")
        for a in drawn.artists
    )


class _Cells:
    """Where one heatmap's cells land in the frame: its pixel box and, for each pixel row and
    column of the box, the cell it shows (nearest neighbour, as matplotlib draws it). What the
    background draws over the box (spines) is put back on top after the cells."""

    def __init__(self, image: AxesImage, background: np.ndarray) -> None:
        height = background.shape[0]
        box = image.get_window_extent()  # display pixels, origin at the bottom left
        rows, columns = image.get_array().shape[:2]
        x0, x1 = round(box.x0), round(box.x1)
        y0, y1 = height - round(box.y1), height - round(box.y0)  # pixel rows from the top
        self.box = (slice(y0, y1), slice(x0, x1))
        self.columns = _nearest(np.arange(x0, x1) + 0.5, box.x0, box.width, columns)
        self.rows = _nearest(np.arange(y0, y1) + 0.5, height - box.y1, box.height, rows)
        if image.origin == "lower":
            self.rows = rows - 1 - self.rows
        self.image = image
        self.face = np.asarray(image.axes.get_facecolor()[:3])  # [3] in [0, 1]: under NaN cells
        under = background[self.box]  # [box height, box width, 3]
        self.over = np.nonzero((under != np.round(self.face * 255)).any(axis=-1))
        self.over_colours = under[self.over]  # [pixels, 3]

    def paint(self, frame: np.ndarray) -> None:
        """Draw the image's current array into ``frame`` [height, width, 3]."""
        rgba = self.image.to_rgba(self.image.get_array(), bytes=False)  # [rows, cols, 4]
        alpha = rgba[..., 3:]
        colours = np.round((rgba[..., :3] * alpha + self.face * (1 - alpha)) * 255)
        cells = colours.astype(np.uint8)
        region = frame[self.box]
        region[...] = np.take(np.take(cells, self.rows, axis=0), self.columns, axis=1)
        region[self.over] = self.over_colours


def _nearest(centres: np.ndarray, start: float, length: float, count: int) -> np.ndarray:
    """The cell (0..count-1) under each pixel centre, ``count`` cells over ``length`` pixels
    from ``start``."""
    return np.clip(((centres - start) / length * count).astype(int), 0, count - 1)


def _band(text: Text, height: int) -> slice:
    """The pixel rows (from the top) a text can ink whatever it says, with a margin."""
    box = text.get_window_extent()
    return slice(max(0, height - round(box.y1) - 3), min(height, height - round(box.y0) + 3))


def render_heatmaps(drawn: Drawn, indices: Sequence[int], dpi: float = 80) -> Frames:
    """Frames of a figure whose changing artists are heatmaps and texts, made from the arrays.

    Matplotlib draws the figure once without them (the background); per frame the heatmaps'
    colours are looked up in their colour maps and repeated over their cells' pixels, and only
    the texts are drawn by matplotlib, into their rows. Looks the same as `render` (a pixel
    may differ at a heatmap's edge).
    """
    from matplotlib.image import AxesImage
    from matplotlib.text import Text

    figure, canvas = drawn.figure, drawn.figure.canvas
    _lay_out(drawn, indices, dpi)
    changing = [a for a in drawn.artists if isinstance(a, AxesImage | Text)]
    for artist in changing:
        artist.set_visible(False)
    canvas.draw()
    for artist in changing:
        artist.set_visible(True)
    saved = canvas.copy_from_bbox(figure.bbox)
    background = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    heatmaps = [_Cells(a, background) for a in changing if isinstance(a, AxesImage)]
    texts = [(a, _band(a, background.shape[0])) for a in changing if isinstance(a, Text)]
    images = []
    for index in indices:
        drawn.update(int(index))
        frame = background.copy()
        for cells in heatmaps:
            cells.paint(frame)
        canvas.restore_region(saved)
        for text, rows in texts:
            figure.draw_artist(text)
            drawn_rows = np.asarray(canvas.buffer_rgba())[rows, :, :3]
            changed = (drawn_rows != background[rows]).any(axis=-1, keepdims=True)
            np.copyto(frame[rows], drawn_rows, where=changed)
        images.append(frame)
    scales = list({id(c.image.cmap): c.image.cmap for c in heatmaps}.values())
    return Frames(images, gif_palette(background, scales))


def gif_palette(background: np.ndarray, colormaps: Sequence) -> np.ndarray:
    """256 colours for a GIF: ``SCALE_COLOURS`` evenly along the colour maps (so cells keep
    their scale's colours), the rest the background's own (median cut: white stays white)."""
    from PIL import Image

    per_map = SCALE_COLOURS // max(1, len(colormaps))
    scales = [cmap(np.linspace(0, 1, per_map), bytes=True)[:, :3] for cmap in colormaps]
    rest = 256 - per_map * len(colormaps)
    quantized = Image.fromarray(background).quantize(rest, method=Image.Quantize.MEDIANCUT)
    own = np.asarray(quantized.getpalette()[: 3 * rest], np.uint8).reshape(-1, 3)
    return np.concatenate([*scales, own]).astype(np.uint8)


def _durations_ms(count: int, fps: float) -> list[int]:
    frame = max(20, int(round(1000 / fps)))  # GIF delays are in 10 ms units; 20 ms is the floor
    return [frame] * (count - 1) + [max(frame, int(HOLD_LAST_S * 1000))]


def _images(frames: Frames | Sequence[np.ndarray]) -> Sequence[np.ndarray]:
    return frames.images if isinstance(frames, Frames) else frames


class _Indexer:
    """Each colour's nearest palette entry (squared RGB distance; exact colours map to
    themselves), worked out once per colour over all frames. Pillow's own mapping to a given
    palette looks colours up by their high bits: white became (252, 252, 252)."""

    def __init__(self, palette: np.ndarray) -> None:
        self.palette = palette.astype(np.int32)  # [colours, 3]
        self.known = np.full(1 << 24, -1, np.int16)  # by 0xRRGGBB: palette index, -1 unknown

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """[height, width] palette indices of an RGB ``frame`` [height, width, 3]."""
        rgb = frame.astype(np.uint32)
        keys = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        found = self.known[keys]
        if (found < 0).any():
            new = np.unique(keys[found < 0])
            colours = np.stack([new >> 16, (new >> 8) & 255, new & 255], axis=-1).astype(np.int32)
            distances = ((colours[:, None, :] - self.palette[None]) ** 2).sum(axis=-1)
            self.known[new] = distances.argmin(axis=1)
            found = self.known[keys]
        return found.astype(np.uint8)


def write_gif(file: BinaryIO, frames: Frames | Sequence[np.ndarray], fps: float = 8) -> None:
    """An endlessly looping GIF of ``frames``; the last one is held ``HOLD_LAST_S`` seconds.

    With a palette (`Frames.palette`) every frame is drawn with it (~3 ms a frame); without,
    each frame gets its own by median cut (~50 ms a frame).
    """
    from PIL import Image

    palette = frames.palette if isinstance(frames, Frames) else None
    if palette is not None:
        indexer, flat = _Indexer(palette), palette.reshape(-1).tolist()
        images = []
        for frame in _images(frames):
            image = Image.frombytes("P", frame.shape[1::-1], indexer(frame).tobytes())
            image.putpalette(flat)
            images.append(image)
    else:
        images = [
            # median cut keeps white white and the colormap exact (fast octree tints the
            # background)
            Image.fromarray(frame).quantize(256, method=Image.Quantize.MEDIANCUT, dither=0)
            for frame in _images(frames)
        ]
    images[0].save(
        file,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=_durations_ms(len(images), fps),
        loop=0,
        disposal=1,
    )


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary from imageio-ffmpeg; a clear error when it is missing."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise RuntimeError(
            "writing MP4 needs the 'imageio-ffmpeg' package (it ships ffmpeg): "
            "pip install imageio-ffmpeg"
        ) from None
    return imageio_ffmpeg.get_ffmpeg_exe()


def write_mp4(path: Path, frames: Frames | Sequence[np.ndarray], fps: float = 8) -> None:
    """An H.264 MP4 of ``frames`` at ``path`` (whose suffix must be .mp4)."""
    ffmpeg_exe()
    import imageio_ffmpeg

    frames = _images(frames)
    height, width = frames[0].shape[:2]
    even_h, even_w = height + height % 2, width + width % 2  # yuv420p needs even sizes
    hold = max(1, int(round(HOLD_LAST_S * fps)))
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (even_w, even_h),
        fps=fps,
        codec="libx264",
        quality=None,
        macro_block_size=1,
        ffmpeg_log_level="error",
        output_params=["-crf", "23", "-preset", "veryfast", "-movflags", "+faststart"],
    )
    writer.send(None)  # start ffmpeg
    try:
        padded = np.full((even_h, even_w, 3), 255, np.uint8)
        for number, frame in enumerate(frames):
            padded[:height, :width] = frame
            for _ in range(hold if number == len(frames) - 1 else 1):
                writer.send(padded.tobytes())
    finally:
        writer.close()
