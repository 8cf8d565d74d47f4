"""Themes of the views: ``light``, ``dark`` and ``presentation`` (large fonts for a projector).

They live in :mod:`explain.style` with the colour scales and glyphs, so exports take the same
themes (``theme="presentation"``); views accept a theme's name or a :class:`Theme`.

    >>> from widgets.theme import Theme
    >>> Theme.presentation(dark=True).font_size
    20
    >>> theme_classes(Theme.presentation(dark=True))
    ['explain-dark', 'explain-large']

A view's root box carries :func:`theme_classes`; :data:`VIEW_CSS` (loaded once per page with
the plot widget) paints a dark view dark, controls included, sets the controls' text to the
theme's smallest size, and lets rows of plots and controls wrap to the width they get.
"""

from __future__ import annotations

from collections.abc import Iterable

from explain.style import DARK, LIGHT, PRESENTATION, THEMES, Theme, theme

__all__ = ["DARK", "LIGHT", "PRESENTATION", "THEMES", "VIEW_CSS", "Theme", "theme", "theme_classes"]

THEME_CLASSES = ("explain-dark", "explain-large")
ROOTS = ".explain-view, .explain-dashboard"


def theme_classes(value: Theme) -> list[str]:
    """CSS classes of a view's root box in theme ``value``: dark colours, large text."""
    classes = ["explain-dark"] if value.dark else []
    return classes + (["explain-large"] if value.min_font_size >= 16 else [])


def restyle(widget: object, value: Theme) -> None:
    """Swap the theme classes of ``widget`` (an ipywidgets DOMWidget) for those of ``value``."""
    wanted = theme_classes(value)
    for name in THEME_CLASSES:
        if name in wanted:
            widget.add_class(name)  # type: ignore[attr-defined]
        else:
            widget.remove_class(name)  # type: ignore[attr-defined]


def _scoped(selectors: Iterable[str], scope: str) -> str:
    roots = scope.split(", ")
    return ", ".join(f"{root} {selector}" for root in roots for selector in selectors)


# JupyterLab's own theme variables, set inside a dark view: every ipywidget control (labels,
# dropdowns, buttons, sliders, text boxes) reads them, so the whole view turns dark.
_DARK_VARIABLES = {
    "--jp-layout-color0": DARK.background,
    "--jp-layout-color1": DARK.background,
    "--jp-layout-color2": "#2a2a2a",
    "--jp-layout-color3": "#444444",
    "--jp-border-color0": "#666666",
    "--jp-border-color1": "#555555",
    "--jp-border-color2": "#444444",
    "--jp-ui-font-color0": DARK.foreground,
    "--jp-ui-font-color1": DARK.foreground,
    "--jp-ui-font-color2": "#cccccc",
    "--jp-content-font-color0": DARK.foreground,
    "--jp-content-font-color1": DARK.foreground,
    "--jp-content-font-color2": "#cccccc",
    "--jp-widgets-color": DARK.foreground,
    "--jp-widgets-label-color": DARK.foreground,
    "--jp-widgets-readout-color": DARK.foreground,
    "--jp-widgets-input-color": DARK.foreground,
    "--jp-widgets-input-background-color": "#222222",
    "--jp-widgets-input-border-color": "#555555",
    "--jp-widgets-slider-handle-background-color": "#cccccc",
    "--jp-widgets-slider-active-handle-color": "#ffffff",
    "--jp-widgets-slider-handle-border-color": "#888888",
    "--jp-widgets-slider-border-color": "#555555",
    "--jp-layout-color4": "#666666",
}


def _block(selector: str, properties: dict[str, str]) -> str:
    body = " ".join(f"{name}: {value};" for name, value in properties.items())
    return f"{selector} {{ {body} }}"


VIEW_CSS = "\n".join(
    [
        # reflow: rows of plots and controls wrap; nothing is wider than the output area
        _block(ROOTS, {"max-width": "100%", "box-sizing": "border-box"}),
        _block(_scoped([".widget-hbox", ".widget-vbox", ".widget-box"], ROOTS),
               {"max-width": "100%", "flex-wrap": "wrap"}),  # fmt: skip
        _block(_scoped([".jupyter-widgets"], ROOTS), {"max-width": "calc(100% - 4px)"}),
        _block(
            ".explain-plot",
            {"flex": "0 1 auto", "min-width": "0", "max-width": "100%", "overflow": "hidden"},
        ),
        # dark: the view's own background between and around plots, and dark controls
        _block(".explain-dark", {
            **_DARK_VARIABLES,
            "color-scheme": "dark",
            "background-color": DARK.background,
            "color": DARK.foreground,
        }),  # fmt: skip
        _block(".explain-dark .widget-html-content, .explain-dark .widget-label",
               {"color": DARK.foreground}),  # fmt: skip
        # slider tracks: nouislider paints its own light grey
        _block(".explain-dark .noUi-target", {
            "background": "#333333", "border-color": "#555555", "box-shadow": "none",
        }),  # fmt: skip
        _block(".explain-dark .noUi-handle", {
            "background": "#777777", "border-color": "#cccccc", "box-shadow": "none",
        }),  # fmt: skip
        # matrices typed by hand: one row per line, never wrapped (a model's 8-wide rows broke
        # into 2-number lines); a long row scrolls sideways inside its box
        _block(
            ".explain-matrix-text textarea",
            {"white-space": "pre", "overflow-wrap": "normal", "overflow-x": "auto"},
        ),
        # presentation: controls' text as large as the figures' smallest text
        _block(".explain-large", {
            "--jp-widgets-font-size": f"{PRESENTATION.min_font_size + 2}px",
            "--jp-ui-font-size1": f"{PRESENTATION.min_font_size + 2}px",
            "--jp-content-font-size1": f"{PRESENTATION.min_font_size + 2}px",
            "--jp-code-font-size": f"{PRESENTATION.min_font_size + 2}px",
            "--jp-widgets-inline-height": "36px",
            "font-size": f"{PRESENTATION.min_font_size + 2}px",
        }),  # fmt: skip
        _block(".explain-large .widget-html-content, .explain-large textarea, "
               ".explain-large input, .explain-large select, .explain-large button, "
               ".explain-large .widget-label, .explain-large .widget-readout",
               {"font-size": f"{PRESENTATION.min_font_size + 2}px"}),  # fmt: skip
        # a control's label as wide as its text: ipywidgets' 80 px cut "explain row" and
        # "parameter" short at 18 px ("explai...")
        _block(".explain-large .widget-inline-hbox .widget-label",
               {"width": "auto", "min-width": "112px"}),  # fmt: skip
        # and a menu as wide as its longest choice: a 200 px dropdown showed "val_ac" for
        # "val_accuracy" at 18 px (CompareView)
        _block(".explain-large .widget-dropdown", {"width": "auto !important"}),
        _block(".explain-large .widget-dropdown > select",
               {"flex": "0 0 auto", "width": "auto", "max-width": "100%"}),  # fmt: skip
    ]
)
