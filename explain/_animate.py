"""Animations of a figure over training: render frames once, write them as GIF or MP4.

Frames are drawn by mutating one figure (see `_figures.Drawn`) and grabbed from its Agg
canvas, so a GIF and an MP4 of the same view can share one rendering. GIFs are written with
Pillow; MP4s with the ffmpeg binary that the ``imageio-ffmpeg`` package ships (H.264, yuv420p,
so browsers, slides and phones play it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ._figures import Drawn

log = logging.getLogger(__name__)

HOLD_LAST_S = 1.5  # the final frame stays this long, so the learned state can be seen


def render(drawn: Drawn, indices: Sequence[int], dpi: float = 80) -> list[np.ndarray]:
    """RGB frames [height, width, 3] of ``drawn`` at each of ``indices`` (same size each).

    The figure is drawn in full once, without the artists that change; each frame restores that
    background and draws only those (blitting): ticks and labels are not laid out again.
    """
    figure, canvas = drawn.figure, drawn.figure.canvas
    figure.set_dpi(dpi)
    drawn.update(int(indices[-1]))  # lay out for the final step's labels
    for artist in drawn.artists:
        artist.set_animated(True)
    canvas.draw()
    figure.set_layout_engine("none")  # freeze the layout: frames align
    background = canvas.copy_from_bbox(figure.bbox)
    frames = []
    for index in indices:
        canvas.restore_region(background)
        drawn.update(int(index))
        for artist in drawn.artists:
            figure.draw_artist(artist)
        frames.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())
    return frames


def _durations_ms(count: int, fps: float) -> list[int]:
    frame = max(20, int(round(1000 / fps)))  # GIF delays are in 10 ms units; 20 ms is the floor
    return [frame] * (count - 1) + [max(frame, int(HOLD_LAST_S * 1000))]


def write_gif(file: BinaryIO, frames: Sequence[np.ndarray], fps: float = 8) -> None:
    """An endlessly looping GIF of ``frames``; the last one is held ``HOLD_LAST_S`` seconds."""
    from PIL import Image

    images = [
        # median cut keeps white white and the colormap exact (fast octree tints the
        # background); ~20 ms a frame
        Image.fromarray(frame).quantize(256, method=Image.Quantize.MEDIANCUT, dither=0)
        for frame in frames
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


def write_mp4(path: Path, frames: Sequence[np.ndarray], fps: float = 8) -> None:
    """An H.264 MP4 of ``frames`` at ``path`` (whose suffix must be .mp4)."""
    import imageio_ffmpeg

    ffmpeg_exe()
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
