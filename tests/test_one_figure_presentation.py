"""Figures on a projector (issue 19): in the presentation theme no text is under 16 px in any
builder's figure (the page and the report draw them without the widget's font floor), and the
matplotlib pictures a notebook shows keep their text apart and readable at the notebook's width.

The run is notebook 08's (``reverse``, 400 steps, seed 0: mirror heads appear, so the loss has
event labels and the heads grid badges); the browser checks of the same views are in
tests/browser/test_layout.py (``test_notebook_views_fit_in_presentation``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator

import numpy as np
import pytest

from explain import export, views

MIN_PX = 16
NOTEBOOK_PX = 1100  # the notebook area at 1280 x 720 with the file browser open
# notebook 09's longest event label, to stand in for any long one
LONG_LABEL = "previous-token head appears: L0H1 (+2 more by step 296)"


@functools.cache
def notebook_08_run():
    import explain
    from explain import lab

    run = explain.train("reverse", train_config=explain.TrainConfig(steps=400, seed=0))
    lab.record(run)
    return run


def fonts(value: object, where: str = "") -> Iterator[tuple[str, float]]:
    """(where, size) of every font a figure dict sets, less transparent ones (a slider's
    hidden step labels)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("font") and isinstance(item, dict) and "size" in item:
                if "rgba(0,0,0,0)" not in str(item.get("color", "")).replace(" ", ""):
                    for size in np.ravel(item["size"]):
                        yield f"{where}.{key}", float(size)
            yield from fonts(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from fonts(item, f"{where}[{i}]")


@pytest.mark.parametrize(
    "what", ["attention", "loss", "positional", "embeddings", "heads", "scores", "lens"]
)
def test_no_text_under_16_px_in_presentation(what):
    trace = notebook_08_run().trace
    shown = export.interactive(trace, what, theme="presentation")
    figures = shown if isinstance(shown, list) else [shown]
    small = [
        (where, size)
        for figure in figures
        for where, size in fonts(figure)
        if size < MIN_PX and "frames" not in where.split("[")[0]
    ]
    small += [(f"frames{w}", s) for f in figures for w, s in fonts(f.get("frames", [])) if s < 16]
    assert not small, f"{what}: text under {MIN_PX} px: {small[:10]}"


def loss_with_long_label() -> views.LossData:
    view = views.view(notebook_08_run().trace, "loss")
    assert view.events, "the run has no event to label"
    first = dataclasses.replace(view.events[0], label=LONG_LABEL)
    return dataclasses.replace(view, events=[first, *view.events[1:]])


@pytest.mark.parametrize("theme", ["light", "presentation"])
def test_event_labels_stay_on_the_loss_panel(theme):
    from explain._render import matplotlib as mpl
    from explain.style import theme as as_theme

    view = loss_with_long_label()
    with mpl.style(as_theme(theme)):
        drawn = mpl.draw(view, len(view.steps) - 1, theme=as_theme(theme))
        figure = drawn.figure
        renderer = figure.canvas.get_renderer()
        figure.draw(renderer)
        loss_ax = next(ax for ax in figure.axes if ax.get_ylabel() == "loss")
        panel = loss_ax.get_window_extent(renderer)
        labels = [t for t in loss_ax.texts if t.get_rotation() == 90]
        assert labels
        boxes = [t.get_window_extent(renderer) for t in labels]
    for label, box in zip(labels, boxes, strict=True):
        assert box.y0 >= panel.y0 - 1 and box.y1 <= panel.y1 + 1, (
            f"{label.get_text()!r} runs off the loss panel ({box.y0:.0f}..{box.y1:.0f} px, "
            f"the panel {panel.y0:.0f}..{panel.y1:.0f})"
        )
    assert not overlapping(labels, boxes)

    layout = export.interactive(view, "loss", theme=theme)["layout"]
    low, high = layout["yaxis"]["domain"]
    room = (layout["height"] - layout["margin"]["t"] - layout["margin"]["b"]) * (high - low)
    for note in layout["annotations"]:
        longest = max(len(line) for line in note["text"].split("<br>"))
        # 0.48 em a character measured in chromium for these labels
        assert longest * 0.5 * note["font"]["size"] <= room, (note["text"], room)


def overlapping(texts: list, boxes: list) -> list[tuple[str, str]]:
    """Pairs of texts whose drawn boxes overlap by more than a pixel each way."""
    pairs = []
    for i, a in enumerate(boxes):
        for j in range(i + 1, len(boxes)):
            b = boxes[j]
            if min(a.x1, b.x1) - max(a.x0, b.x0) > 1 and min(a.y1, b.y1) - max(a.y0, b.y0) > 1:
                pairs.append((texts[i].get_text(), texts[j].get_text()))
    return pairs


@pytest.mark.parametrize("theme", ["light", "presentation"])
def test_scores_picture_is_readable_in_a_notebook(theme):
    """Notebook 09's ``export.figure(run.trace, "scores")``: five panels side by side were a
    2160 px picture shown at ~1/2 of its size; its text must show at least as large as drawn,
    and no two texts (titles, labels, ticks, legends) overlap."""
    figure = export.figure(notebook_08_run().trace, "scores", theme=theme)
    width_px = figure.get_figwidth() * figure.dpi
    assert width_px <= NOTEBOOK_PX, f"{width_px:.0f} px: shown shrunk to {NOTEBOOK_PX} px"
    renderer = figure.canvas.get_renderer()
    figure.draw(renderer)
    for ax in figure.axes:
        if not ax.get_visible() or not ax.axison:
            continue
        texts = [ax.title, ax.xaxis.label, ax.yaxis.label]
        texts += [t.label1 for t in ax.xaxis.get_major_ticks() if t.label1.get_visible()]
        texts += [t.label1 for t in ax.yaxis.get_major_ticks() if t.label1.get_visible()]
        legend = ax.get_legend() or next(iter(figure.legends), None)
        texts += list(legend.get_texts()) if legend else []
        texts = [t for t in texts if t.get_text() and t.get_visible()]
        boxes = [t.get_window_extent(renderer) for t in texts]
        inside = [b for b in boxes if b.x1 <= 1 + figure.bbox.x1 and b.x0 >= -1]
        assert len(inside) == len(boxes), "a text is cut off by the picture's edge"
        pairs = overlapping(texts, boxes)
        assert not pairs, f"overlapping text in {ax.get_title()!r}: {pairs[:5]}"


@functools.cache
def text_run():
    """The character-level ``text`` task: a probe of 64 characters (what a prompt of notebook
    06 is); 20 steps are enough for its tokens."""
    import explain
    from explain import lab

    run = explain.train("text", train_config=explain.TrainConfig(steps=20))
    lab.record(run)
    return run


@pytest.mark.parametrize("theme", ["light", "presentation"])
@pytest.mark.parametrize("what", ["lens", "attention"])
def test_character_tokens_keep_their_tick_labels_apart(what, theme):
    """The exported picture of a 64-character probe labels only as many tokens as its axes
    hold: no two tick labels of one axis overlap (the widget's are measured in the browser)."""
    figure = export.figure(text_run().trace, what, theme=theme)
    renderer = figure.canvas.get_renderer()
    figure.draw(renderer)
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
            boxes = [t.get_window_extent(renderer) for t in labels]
            pairs = overlapping(labels, boxes)
            assert not pairs, f"{what}: tick labels run together: {pairs[:5]}"


@pytest.mark.parametrize("theme", ["light", "presentation"])
def test_by_hand_numbers_only_where_they_fit(theme):
    """Notebook 01's model view (12 tokens, 8 dimensions) left 19 px cells, where plotly shrank
    "-11.30" to 4 px; its three-token example keeps its numbers. Hover shows them either way."""
    from explain._render.plotly import by_hand
    from explain.style import theme as named

    rng = np.random.default_rng(0)
    model_like = views.by_hand(*(rng.normal(0, 3, (12, 8)) for _ in range(3)))
    q = [[1, 0, 0, 1], [1, 0, 1, 1], [1, 2, 1, 0]]
    k = [[2, 3, 1, 0], [0.6, 1, 2, 1], [1, 1, 2, 1]]
    classic = views.by_hand(q, k, np.eye(3, 4), tokens="I love pizza")
    for view, shown in ((model_like, False), (classic, True)):
        for figure in by_hand.figures(view, 0, named(theme)):
            trace = figure["data"][0]
            assert (trace["texttemplate"] == "%{text}") is shown, (len(view.tokens), theme)
            assert "%{text}" in trace["hovertemplate"]


def test_a_twelve_digit_probe_keeps_every_token_label_in_presentation():
    """Notebook 03-05's probes are 12 one-character tokens: the presentation theme labelled
    every other one, reserving eight characters of room for the labels of a one-character
    probe; the longest label decides."""
    from _widget_traces import synthetic_attention_trace

    from explain._render.plotly.attention import heatmap
    from explain.style import PRESENTATION

    trace = synthetic_attention_trace(tokens=12)
    trace.meta["probe"]["tokens"] = list("3141592>9514")
    view = views.attention(trace)
    layout = heatmap(view, 0, PRESENTATION, 0, 0)["layout"]
    assert len(layout["yaxis"]["ticktext"]) == 12 and len(layout["xaxis"]["ticktext"]) == 12
