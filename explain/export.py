"""Files for lectures and papers from a trace: images, animations, interactive HTML, data.

One entry point, :func:`save`, writes any view in any format (the ``explain export`` command
calls it); :func:`figure`, :func:`interactive` and :func:`data` give the same views as objects
to tweak. Reads traces only: no torch.

    >>> import numpy as np, tempfile, pathlib
    >>> from explain.trace import Trace
    >>> pattern = np.tril(np.ones((3, 3))) / np.arange(1, 4)[:, None]  # [q_pos, k_pos]
    >>> meta = {"probe": {"tokens": ["a", "b", "c"]}}
    >>> tensors = {"blocks.0.attn.hook_pattern": pattern[None, None]}  # [snap, head, q, k]
    >>> trace = Trace.from_arrays(meta, [0], {}, [0], tensors)
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> save(trace, out / "attention.csv").name
    'attention.csv'
    >>> data(trace, "attention")["patterns"][0][0][0][2]  # step 0, layer 0, head 0, row 2
    [0.333333343, 0.333333343, 0.333333343]

Formats: ``png``, ``svg``, ``pdf`` (one step, matplotlib, no browser), ``gif``, ``mp4``
(training as an animation), ``html`` (interactive plotly with a step slider, works offline),
``json``, ``csv`` (the numbers). Views (``what``): ``attention`` (``part``, ``layer``,
``head``), ``embeddings`` (``part``), ``positional``, ``loss``, ``optimizer`` (``parameter``).

Every format draws the view model of :mod:`explain.views` (the one a widget shows as
``view.data``), with the figures the widget shows: the HTML is the widget's plotly figures
(:func:`interactive`), the images and animations their matplotlib picture (the same panels,
colours and titles); JSON is exactly the view model's fields. ``theme`` is ``"light"``,
``"dark"`` or ``"presentation"`` (larger text), as in the widgets; colour scales never change
with it.
"""

from __future__ import annotations

import errno
import html
import json
import logging
import math
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import views
from ._files import atomic_path
from .style import Theme
from .style import theme as as_theme
from .trace import Trace
from .views import WHATS, ViewData

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ._render.animate import Frames

__all__ = [
    "ANIMATED",
    "FORMATS",
    "STATIC",
    "WHATS",
    "atomic_path",
    "data",
    "figure",
    "image",
    "interactive",
    "save",
    "save_animation",
]

log = logging.getLogger(__name__)

STATIC = ("png", "svg", "pdf")
ANIMATED = ("gif", "mp4")
FORMATS = (*STATIC, *ANIMATED, "html", "json", "csv")
MAX_FRAMES = 40  # GIF/MP4 frames: enough to see attention form, small enough to write fast
MAX_HTML_FRAMES = 120  # slider positions in interactive HTML


def _format(path: Path, format: str | None) -> str:
    if format is None:
        format = path.suffix.lstrip(".").lower()
        if format not in FORMATS:
            raise ValueError(
                f"cannot tell the format from {path.name!r}; name the file with one of the "
                f"suffixes {', '.join('.' + f for f in FORMATS)}, or give the format "
                "(format=... in Python, --format on the command line)"
            )
    format = format.lower()
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    return format


# every selection keyword of a view (explain.views.SELECTIONS): part, layer, head, parameter
_SELECTION = tuple(sorted({key for keys in views.SELECTIONS.values() for key in keys}))


def _view(trace: Trace | ViewData, what: str, options: dict[str, Any]) -> ViewData:
    """The view model of ``what`` in ``trace``, or ``trace`` itself if it is a view model."""
    from ._render import REGISTRY

    unknown = sorted(set(options) - set(_SELECTION))
    if unknown:
        raise TypeError(
            f"unexpected keyword {', '.join(unknown)}; a view's selection is one of "
            f"{', '.join(_SELECTION)} (explain.views.view)"
        )
    if type(trace) in REGISTRY:
        given = [name for name, value in options.items() if value is not None]
        if given:
            raise ValueError(
                f"{', '.join(given)} cannot be used with a view model: it holds its selection"
            )
        return trace  # type: ignore[return-value]
    if not isinstance(trace, Trace):
        raise ValueError(
            f"trace must be an explain.Trace or a view model; got {type(trace).__name__}"
        )
    return views.view(trace, what, **options)


def _shown(
    trace: Trace | ViewData, what: str, options: dict[str, Any]
) -> tuple[ViewData, dict[str, Any]]:
    """The view model a figure of ``what`` draws and the selection it shows (its builder's
    state): for attention, every layer and head, the head drawn picked by ``layer``/``head``,
    and the part of its map drawn by ``window``/``start``/``key_start`` (checked by the
    builder: :meth:`explain.views.AttentionData.window`)."""
    from ._render import SHOWN, WINDOW_KEYS

    kind = what if isinstance(trace, Trace) else getattr(trace, "what", "")
    window = {key: options.pop(key) for key in WINDOW_KEYS if key in options}
    window = {key: value for key, value in window.items() if value is not None}
    if window and kind != "attention":
        raise ValueError(
            f"{', '.join(window)} draw a window of an attention map; {kind!r} has none"
        )
    if not isinstance(trace, Trace):  # a view model: the keywords it shows are its state
        keys = SHOWN.get(kind, ())
        state = {key: options.pop(key) for key in keys if options.get(key) is not None}
        return _view(trace, what, options), {**state, **window}
    view = _view(trace, what, options)  # checks every choice, naming what the trace holds
    keys = SHOWN.get(what, ())
    state = {key: options[key] for key in keys if options.get(key) is not None}
    if keys:
        rest = {key: value for key, value in options.items() if key not in keys}
        view = views.view(trace, what, **rest)  # type: ignore[arg-type]
    return view, {**state, **window}


def figure(
    trace: Trace,
    what: str = "attention",
    *,
    step: int | None = None,
    theme: Theme | str = "light",
    **selection: str | int | None,
) -> Figure:
    """A matplotlib Figure of ``what`` at ``step`` (default: the last snapshot).

    ``selection``: the keywords of :func:`explain.views.view` (``part``, ``layer``, ``head``,
    ``parameter``). For ``loss`` and ``optimizer`` a given ``step`` is marked on the curves.
    """
    from ._render import matplotlib as mpl

    theme = as_theme(theme)
    view, state = _shown(trace, what, dict(selection))
    with mpl.style(theme):
        index = views.step_index(view.steps, step)
        return mpl.draw(view, index, marker=step is not None, theme=theme, **state).figure


def image(
    data: ViewData,
    step: int | None = None,
    *,
    format: str = "png",
    dpi: float = 72,
    theme: Theme | str = "light",
    marker: bool = False,
    **state: Any,
) -> bytes:
    """The picture of a view model at ``step`` as ``png`` or ``svg`` bytes: what a widget's
    saved output shows where no widget can run (GitHub, nbviewer, ``nbconvert --to html``).

    ``marker`` marks the step on curves (loss, optimizer); ``state`` is the widget's selection
    its builder takes, as for :func:`interactive`.
    """
    import io

    import numpy as np
    from PIL import Image

    from ._render import matplotlib as mpl

    if format not in ("png", "svg"):
        raise ValueError(f"format must be 'png' or 'svg'; got {format!r}")
    theme = as_theme(theme)
    buffer = io.BytesIO()
    with mpl.style(theme):
        drawn = mpl.draw(data, data.index(step), marker=marker, theme=theme, **state)
        if format == "svg":
            drawn.figure.savefig(buffer, format="svg", dpi=dpi, metadata=_metadata("svg"))
        else:
            drawn.figure.canvas.draw()
            rgb = np.asarray(drawn.figure.canvas.buffer_rgba())[..., :3]
            # 256 colours (median cut keeps the colour scales exact): a third of the bytes
            palette = Image.fromarray(rgb).quantize(256, method=Image.Quantize.MEDIANCUT)
            palette.save(buffer, format="PNG", optimize=True)
    drawn.figure.clear()
    return buffer.getvalue()


def interactive(
    trace: Trace | ViewData,
    what: str = "attention",
    *,
    step: int | None = None,
    max_frames: int = MAX_HTML_FRAMES,
    theme: Theme | str = "light",
    **options: Any,
) -> dict | list[dict]:
    """The plotly figure the view's widget shows at ``step`` (as a dict;
    ``plotly.graph_objects.Figure(d)`` makes it an object), with a step slider over at most
    ``max_frames`` snapshots; a list of figures for a view that shows several.

    ``trace`` may be a view model (``view.data`` of a widget) instead of a trace. ``options``
    are the selection keywords of :func:`explain.views.view` (``part``, ``layer``, ``head``,
    ``parameter``) and the widget's state its builder takes (e.g. ``position`` of the lens).
    For views drawn by one builder, ``widget.figures()`` equals this less the slider
    (``frames``, ``layout.sliders``, ``layout.updatemenus``).
    """
    selection = {key: value for key, value in options.items() if key in _SELECTION}
    state = {key: value for key, value in options.items() if key not in _SELECTION}
    view, shown = _shown(trace, what, selection)
    return _interactive(view, step, max_frames, as_theme(theme), {**shown, **state})


def _interactive(
    view: ViewData, step: int | None, max_frames: int, theme: Theme, state: dict[str, Any]
) -> dict | list[dict]:
    from ._render import plotly

    index = views.step_index(view.steps, step)
    frames = views.frame_indices(len(view.steps), max_frames)
    shown = [_plain(f) for f in plotly.page_figures(view, frames, index, theme, **state)]
    return shown[0] if len(shown) == 1 else shown


def _plain(figure: dict) -> dict:
    """A builder's figure as plotly.js JSON (``go.Figure(figure)``'s, as the widget holds it:
    the template spelled out), its frames kept as built."""
    import plotly.graph_objects as go

    plain = go.Figure({k: v for k, v in figure.items() if k != "frames"}).to_plotly_json()
    if "frames" in figure:
        plain["frames"] = figure["frames"]
    return plain


def data(
    trace: Trace, what: str = "attention", *, step: int | None = None, **selection: str | int | None
) -> dict:
    """The numbers of ``what`` as a JSON-able dict: at every snapshot, or only at ``step``.

    ``selection``: the keywords of :func:`explain.views.view` (``part``, ``layer``, ``head``,
    ``parameter``). Curves (``loss``, the optimizer's per-step scalars) always cover every step.
    """
    from ._render import tables

    view = _view(trace, what, dict(selection))
    return tables.data(view, _indices(view, step))


def _indices(view: ViewData, step: int | None) -> list[int]:
    if step is None:
        return list(range(len(view.steps)))
    return [views.step_index(view.steps, step)]


def _html_page(figures: dict | list[dict], title: str, theme: Theme) -> str:
    from ._render import page

    shown = figures if isinstance(figures, list) else [figures]
    divs = "".join(
        f'<div class="figure">{page.div(f, f"explain-figure-{i}" if i else "explain-figure")}</div>'
        for i, f in enumerate(shown)
    )
    body = f"<h1>{html.escape(title)}</h1>\n{divs}"
    css = f"body {{ background: {theme.background}; color: {theme.foreground}; }}"
    return page.page(title, body, css, bundle="cartesian")  # heatmap, scatter, bar


def save(
    trace: Trace,
    path: str | os.PathLike,
    what: str = "attention",
    layer: int | None = None,
    head: int | None = None,
    step: int | None = None,
    format: str | None = None,
    *,
    part: str | None = None,
    parameter: str | None = None,
    max_frames: int | None = None,
    fps: float = 8,
    dpi: float | None = None,
    theme: Theme | str = "light",
    window: int | None = None,
    start: int | None = None,
    key_start: int | None = None,
) -> Path:
    """Write ``what`` from ``trace`` to ``path`` as ``format`` (default: from the suffix).

    - ``layer``/``head`` pick the attention head drawn beside the grid of every head, as
      the widget shows it (default layer 0, head 0); JSON/CSV hold that head's numbers only
      (default: every head). ``part`` picks ``self`` or, in encoder-decoder traces,
      ``encoder``/``decoder``/``cross`` (default ``cross``) attention, or
      ``encoder``/``decoder`` embeddings.
    - ``window``: the attention figures draw ``window`` tokens a side of that head's map, from
      query ``start`` (default 0) and key ``key_start`` (default: ``start``), each token
      labelled, as the widget's window does; default: the whole map, its labels thinned to
      those that fit (of a 604 MB GPT-2-small trace at 1,024 tokens: a 0.1 MB PNG in ~2 s,
      an 8 MB HTML page with the head's 4 MB map as float32 binary; with a 64-token window
      2.4 MB). JSON/CSV always hold the whole map.
    - ``step``: the snapshot shown by images, the first one shown by HTML, the only one in
      JSON/CSV (default: the last snapshot; JSON/CSV: all). Animations show all snapshots, so
      ``step`` is an error there.
    - ``max_frames``: snapshots in a GIF/MP4 (default 40) or in the HTML slider (default 120),
      spread evenly. ``fps``: frames per second of animations. ``dpi``: of raster images.
    - ``theme``: ``"light"``, ``"dark"`` or ``"presentation"`` (or a Theme), as in the widgets.

    Writes through a temporary file and a rename: an error or Ctrl-C leaves no partial file.
    Returns the path written. Bad choices raise ValueError listing what the trace holds.
    """
    path = Path(path)
    format = _format(path, format)
    theme = as_theme(theme)
    _check_options(max_frames, fps, dpi)
    options = dict(part=part, layer=layer, head=head, parameter=parameter)
    drawn = dict(window=window, start=start, key_start=key_start)  # the figure's, not the data's
    if any(value is not None for value in drawn.values()):
        if format in ("json", "csv"):
            raise ValueError(
                f"window, start and key_start pick what a figure draws; {format} holds the "
                "whole map (use png, svg, pdf, gif, mp4 or html)"
            )
        options.update(drawn)
    if format in ANIMATED:
        if step is not None:
            raise ValueError(
                f"step={step} cannot be used with {format}: an animation shows every snapshot "
                "(use png, svg, pdf or html for one step)"
            )
        files = [(path, format)]
        return _save_animations(trace, files, what, options, max_frames, fps, dpi, theme)[0]
    if format in ("json", "csv"):  # the numbers of what was chosen
        view, state = _view(trace, what, options), {}
    else:  # the figure a widget shows with that choice
        view, state = _shown(trace, what, options)
    index = views.step_index(view.steps, step)
    writer = _writer(view, what, format, index, step, max_frames, fps, dpi, theme, state)
    with atomic_path(path) as temp:
        writer(temp)
    log.info("wrote %s", path)
    return path


def _check_options(max_frames: object, fps: object, dpi: object) -> None:
    """ValueError naming a frame count, frame rate or resolution that cannot be drawn."""

    def positive(value: object) -> bool:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return number and math.isfinite(value) and value > 0  # type: ignore[arg-type]

    if max_frames is not None and (
        isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 2
    ):
        raise ValueError(f"max_frames must be None or an int >= 2; got {max_frames!r}")
    if not positive(fps):
        raise ValueError(f"fps must be a positive number of frames per second; got {fps!r}")
    if dpi is not None and not positive(dpi):
        raise ValueError(f"dpi must be None or a positive number of dots per inch; got {dpi!r}")


def _writer(
    view: ViewData,
    what: str,
    format: str,
    index: int,
    step: int | None,
    max_frames: int | None,
    fps: float,
    dpi: float | None,
    theme: Theme,
    state: dict[str, Any],
) -> Callable[[Path], None]:
    if format in ("json", "csv"):
        from ._render import tables

        indices = _indices(view, step)
        if format == "json":
            text = json.dumps(tables.data(view, indices), ensure_ascii=False, allow_nan=False)
        else:
            text = tables.csv_text(view, indices)
        return lambda temp: temp.write_text(text, encoding="utf-8")
    if format == "html":
        figures = _interactive(view, step, max_frames or MAX_HTML_FRAMES, theme, state)
        title = f"{what} · task {view.task}" if view.task else what
        text = _html_page(figures, title, theme)
        return lambda temp: temp.write_text(text, encoding="utf-8")
    from ._render import matplotlib as mpl

    def write_static(temp: Path) -> None:
        import io

        # A PDF is drawn in memory, then written: matplotlib's PDF writer hides a failed
        # write (a full disk) behind an AttributeError from its own clean-up.
        target = io.BytesIO() if format == "pdf" else temp
        with mpl.style(theme):
            drawn = mpl.draw(view, index, marker=step is not None, theme=theme, **state)
            drawn.figure.savefig(target, format=format, dpi=dpi or 150, metadata=_metadata(format))
        if isinstance(target, io.BytesIO):
            temp.write_bytes(target.getvalue())

    return write_static


def _render(
    view: ViewData,
    max_frames: int | None,
    dpi: float | None,
    theme: Theme,
    state: dict[str, Any],
) -> Frames:
    """The animation's frames, drawn once for every file written."""
    from ._render import animate
    from ._render import matplotlib as mpl

    frames = views.frame_indices(len(view.steps), max_frames or MAX_FRAMES)
    with mpl.style(theme):
        drawn = mpl.draw(view, int(frames[-1]), marker=True, theme=theme, **state)
        images = animate.frames(drawn, frames, dpi=dpi or 80)
    drawn.figure.clear()
    return images


def _write_frames(temp: Path, format: str, images: Frames, fps: float) -> None:
    from ._render import animate

    if format == "gif":
        with open(temp, "wb") as file:
            animate.write_gif(file, images, fps)
    else:
        animate.write_mp4(temp, images, fps)
        _check_mp4(temp)


def _check_mp4(path: Path) -> None:
    """OSError unless ``path`` is a whole MP4: its top-level boxes fill the file exactly and
    include ``ftyp``, ``mdat`` and ``moov``.

    imageio-ffmpeg does not report an ffmpeg that stopped part way (disk full, a file-size
    limit: it inherits ours and dies of SIGXFSZ), so without this check a truncated video would
    replace the previous file. ffmpeg writes ``moov`` last (faststart then moves it first).
    """
    size, offset, kinds = path.stat().st_size, 0, set()
    with open(path, "rb") as file:
        while offset < size:
            file.seek(offset)
            head = file.read(16)
            length = int.from_bytes(head[:4], "big") if len(head) >= 8 else -1
            if length == 1 and len(head) == 16:  # a 64-bit size follows the type
                length = int.from_bytes(head[8:16], "big")
            elif length == 0:  # "to the end of the file": an mdat ffmpeg never finished
                length = size - offset
            if length < 8:
                break
            kinds.add(head[4:8])
            offset += length
    if offset != size or not {b"ftyp", b"mdat", b"moov"} <= kinds:
        raise OSError(
            errno.EIO,
            f"ffmpeg stopped before the MP4 was complete ({size} bytes, expected whole ftyp, "
            "mdat and moov boxes): out of disk space or over a file-size limit?",
        )


def save_animation(
    trace: Trace, paths: Sequence[str | os.PathLike], what: str = "attention", **options: Any
) -> list[Path]:
    """Render ``what`` over training once and write it to each of ``paths`` (.gif or .mp4).

    The same as :func:`save` for each path, at the cost of one rendering; ``options`` are
    :func:`save`'s keywords but ``step`` and ``format`` (``part``, ``layer``, ``head``,
    ``parameter``, ``max_frames``, ``fps``, ``dpi``, ``theme``).
    """
    unknown = sorted(set(options) - set(_ANIMATION_OPTIONS))
    if unknown:
        raise TypeError(
            f"save_animation() got unexpected keyword(s) {', '.join(unknown)}; it takes "
            f"{', '.join(_ANIMATION_OPTIONS)}"
        )
    files = [(Path(p), _format(Path(p), None)) for p in paths]
    wrong = [str(path) for path, format in files if format not in ANIMATED]
    if wrong:
        raise ValueError(f"save_animation writes .gif or .mp4 files; got {', '.join(wrong)}")
    chosen = {**_ANIMATION_OPTIONS, **options}
    _check_options(chosen["max_frames"], chosen["fps"], chosen["dpi"])
    selection = {key: chosen[key] for key in ("part", "layer", "head", "parameter")}
    return _save_animations(
        trace,
        files,
        what,
        selection,
        chosen["max_frames"],
        chosen["fps"],
        chosen["dpi"],
        as_theme(chosen["theme"]),
    )


# save_animation's keywords and their defaults (save's)
_ANIMATION_OPTIONS: dict[str, Any] = dict(
    part=None,
    layer=None,
    head=None,
    parameter=None,
    max_frames=None,
    fps=8,
    dpi=None,
    theme="light",
)


def _save_animations(
    trace: Trace | ViewData,
    files: list[tuple[Path, str]],
    what: str,
    selection: dict[str, Any],
    max_frames: int | None,
    fps: float,
    dpi: float | None,
    theme: Theme,
) -> list[Path]:
    """Draw the frames once and encode each of ``files`` ((path, "gif" or "mp4")) from them."""
    view, state = _shown(trace, what, selection)
    images = _render(view, max_frames, dpi, theme, state)

    abandon = threading.Event()  # set when the caller is interrupted or a sibling fails

    def write(path: Path, format: str) -> None:
        with atomic_path(path) as temp:
            _write_frames(temp, format, images, fps)
            if abandon.is_set():  # no file appears after a Ctrl-C: the old one stays
                raise _Abandoned(path)
        log.info("wrote %s", path)

    # Side by side: ffmpeg encodes the MP4 in its own process while Pillow encodes the GIF
    # (its encoder lets go of the GIL). Demo, 2 cores, 5 runs under load: 2.6 s one after
    # the other, 1.4 s side by side.
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=max(1, len(files)))
    try:  # submitting inside: a Ctrl-C may arrive as soon as the first writer starts
        writing = [pool.submit(write, path, format) for path, format in files]
        for future in writing:
            future.result()
    except BaseException:  # KeyboardInterrupt reaches this thread only: tell the writers
        abandon.set()
        raise
    finally:
        pool.shutdown(wait=True)  # a writer still running removes its temporary file
    return [path for path, _ in files]


class _Abandoned(Exception):
    """A writer stopped before its rename because the call was interrupted or failed."""


def _metadata(format: str) -> dict | None:
    """Drop timestamps so the same trace gives the same bytes."""
    if format == "svg":
        return {"Date": None}
    if format == "pdf":
        return {"CreationDate": None, "ModDate": None}
    return None
