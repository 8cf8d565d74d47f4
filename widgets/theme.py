"""Themes of the views: ``light``, ``dark`` and ``presentation`` (large fonts for a projector).

They live in :mod:`explain.style` with the colour scales and glyphs, so exports take the same
themes (``theme="presentation"``); views accept a theme's name or a :class:`Theme`.

    >>> from widgets.theme import Theme
    >>> Theme.presentation(dark=True).font_size
    20
"""

from __future__ import annotations

from explain.style import DARK, LIGHT, PRESENTATION, THEMES, Theme, theme

__all__ = ["DARK", "LIGHT", "PRESENTATION", "THEMES", "Theme", "theme"]
