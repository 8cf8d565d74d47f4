"""Themes: light, dark, and a presentation option for lectures (larger fonts).

Every theme uses colour-blind-safe scales: viridis or cividis for weights, a purple-orange
diverging scale for signed values, and the Okabe-Ito palette for lines.

    >>> from widgets.theme import Theme
    >>> Theme.presentation(dark=True).font_size
    20
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import plotly.graph_objects as go

__all__ = ["DARK", "LIGHT", "PRESENTATION", "Theme"]

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour
# vision deficiency.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
SEQUENTIAL = ("viridis", "cividis")


@dataclass(frozen=True)
class Theme:
    """Fonts and colours applied to every figure of a view."""

    name: str = "light"
    font_size: int = 12
    colorscale: str = "viridis"  # sequential scale for weights and similarities (SEQUENTIAL)
    diverging: str = "puor"  # signed values (positional encodings, cosine similarity)
    background: str = "#ffffff"
    foreground: str = "#222222"
    grid: str = "#e5e5e5"
    colorway: tuple[str, ...] = OKABE_ITO
    line_width: float = 2.0

    def __post_init__(self) -> None:
        if self.colorscale not in SEQUENTIAL:
            raise ValueError(
                f"Theme.colorscale must be one of {list(SEQUENTIAL)} (colour-blind safe); "
                f"got {self.colorscale!r}"
            )
        if not isinstance(self.font_size, int) or not 6 <= self.font_size <= 48:
            raise ValueError(f"Theme.font_size must be an int in [6, 48]; got {self.font_size!r}")

    @classmethod
    def presentation(cls, dark: bool = False) -> Theme:
        """Large fonts and thick lines for a projector; cividis for weights."""
        base = DARK if dark else LIGHT
        return replace(
            base,
            name=f"presentation-{base.name}",
            font_size=20,
            colorscale="cividis",
            line_width=3.5,
        )

    def layout(self) -> dict[str, Any]:
        """Layout properties this theme sets on a figure."""
        axis = {"gridcolor": self.grid, "zerolinecolor": self.grid, "linecolor": self.foreground}
        return {
            "font": {"size": self.font_size, "color": self.foreground},
            "paper_bgcolor": self.background,
            "plot_bgcolor": self.background,
            "colorway": list(self.colorway),
            "hoverlabel": {"font": {"size": self.font_size}},
            "xaxis": axis,
            "yaxis": axis,
        }

    def apply(self, figure: go.Figure) -> None:
        """Set this theme's fonts, colours and scales on ``figure`` (in place).

        Heatmaps get ``colorscale`` unless they show signed values (``zmid`` set: ``diverging``).
        """
        figure.update_layout(**self.layout())
        figure.update_xaxes(**self.layout()["xaxis"])
        figure.update_yaxes(**self.layout()["yaxis"])
        for trace in figure.data:
            if trace.type in ("heatmap", "contour"):
                trace.colorscale = self.diverging if trace.zmid is not None else self.colorscale
            elif trace.type in ("scatter", "scattergl") and trace.mode and "lines" in trace.mode:
                trace.line.width = self.line_width


LIGHT = Theme()
DARK = Theme(
    name="dark", background="#111111", foreground="#eeeeee", grid="#333333", colorscale="viridis"
)
PRESENTATION = Theme.presentation()
