"""How things look, in one place: colour scales, token glyphs and themes. No torch, no plotly.

Widgets (plotly) and exports (matplotlib, plotly HTML, GIF/MP4) both read these, so a slide
looks like what the class saw:

- **One colour scale per quantity.** Weights in [0, 1] (attention) and other non-negative
  magnitudes use ``"viridis"``; signed values (positional encodings, cosine similarity,
  gradients) use the diverging ``"puor"`` centred on zero. Both are colour-blind safe. A view
  model names its scale; :data:`COLORSCALES` holds the stops every renderer draws with.
- **One set of glyphs** for tokens that would be invisible: :func:`visible`.
- **One theme list**: ``light``, ``dark`` and ``presentation`` (large fonts and thick lines for
  a projector), accepted by name by every view and export.

    >>> visible(" "), visible("a\\nb")
    ('␣', 'a↵b')
    >>> theme("presentation").font_size
    20
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "COLORSCALES",
    "DARK",
    "LIGHT",
    "PRESENTATION",
    "THEMES",
    "Theme",
    "colorscale",
    "short",
    "theme",
    "visible",
]

# Stops of each scale as [position, colour]: plotly's own Viridis and PuOr (ColorBrewer), so the
# widgets' and the exports' colours are the same numbers.
COLORSCALES: dict[str, tuple[tuple[float, str], ...]] = {
    "viridis": tuple(
        (i / 9, c)
        for i, c in enumerate(
            (
                "#440154",
                "#482878",
                "#3e4989",
                "#31688e",
                "#26828e",
                "#1f9e89",
                "#35b779",
                "#6ece58",
                "#b5de2b",
                "#fde725",
            )
        )
    ),  # fmt: skip
    "puor": tuple(
        (i / 10, c)
        for i, c in enumerate(
            (
                "rgb(127,59,8)",
                "rgb(179,88,6)",
                "rgb(224,130,20)",
                "rgb(253,184,99)",
                "rgb(254,224,182)",
                "rgb(247,247,247)",
                "rgb(216,218,235)",
                "rgb(178,171,210)",
                "rgb(128,115,172)",
                "rgb(84,39,136)",
                "rgb(45,0,75)",
            )
        )
    ),  # fmt: skip
}
WEIGHT = "viridis"  # attention weights and other values in [0, max]
SIGNED = "puor"  # values centred on zero


def colorscale(name: str) -> list[list[Any]]:
    """The stops of scale ``name`` as plotly takes them: ``[[0.0, "#440154"], ...]``."""
    if name not in COLORSCALES:
        raise ValueError(f"unknown colour scale {name!r}; expected one of {list(COLORSCALES)}")
    return [[position, color] for position, color in COLORSCALES[name]]


_GLYPHS = {" ": "␣", "\n": "↵", "\t": "⇥", "": "∅"}
# Other control characters (NUL makes an SVG invalid XML) as their Unicode control pictures
# (U+2400..U+241F, ␡); the non-characters U+FFFE/U+FFFF as the replacement character.
_PICTURES = {**{c: 0x2400 + c for c in range(0x20)}, 0x7F: 0x2421, 0xFFFE: 0xFFFD, 0xFFFF: 0xFFFD}


def visible(token: object) -> str:
    """A token as a label: blanks made visible (not escaped: escaping is the writer's job)."""
    token = str(token)
    shown = _GLYPHS.get(token, token.replace("\n", "↵").replace("\t", "⇥"))
    return shown.translate(_PICTURES)


SHORT_LABEL = 8  # characters of a tick label; longer tokens end in "…" (hover shows them whole)


def short(label: object, limit: int = SHORT_LABEL) -> str:
    """``label`` cut to ``limit`` characters, the last one "…", so a tick label stays narrow.

    Give the full text where the label is hovered. Not escaped (escaping is the writer's job).

    >>> short("chases"), short("supercalifragilistic")
    ('chases', 'superca…')
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 2:
        raise ValueError(f"limit must be an int >= 2; got {limit!r}")
    label = str(label)
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _rgb(colour: str) -> tuple[float, float, float]:
    """``colour`` (hex, a CSS name, or ``rgb()``/``rgba()``) as red, green, blue in [0, 1]."""
    text = str(colour).strip()
    if text.lower().startswith(("rgb(", "rgba(")):
        parts = text[text.index("(") + 1 : text.rindex(")")].split(",")
        try:
            return tuple(float(part) / 255 for part in parts[:3])  # type: ignore[return-value]
        except ValueError:
            pass
    else:
        from matplotlib.colors import to_rgb

        try:
            return to_rgb(text)
        except ValueError:
            pass
    raise ValueError(f"colour {colour!r} is not one of hex, a CSS name or rgb(r, g, b)")


# Okabe & Ito (2008), "Color Universal Design": lines distinguishable with every common colour
# vision deficiency.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")


@dataclass(frozen=True)
class Theme:
    """Fonts, background and line widths of every figure; the colour scales never change."""

    name: str = "light"
    font_size: int = 12
    background: str = "#ffffff"
    foreground: str = "#222222"
    grid: str = "#e5e5e5"
    colorway: tuple[str, ...] = OKABE_ITO
    line_width: float = 2.0

    def __post_init__(self) -> None:
        if not isinstance(self.font_size, int) or not 6 <= self.font_size <= 48:
            raise ValueError(f"Theme.font_size must be an int in [6, 48]; got {self.font_size!r}")

    @classmethod
    def presentation(cls, dark: bool = False) -> Theme:
        """Large fonts and thick lines for a projector."""
        base = DARK if dark else LIGHT
        name = "presentation-dark" if dark else "presentation"
        return replace(base, name=name, font_size=20, line_width=3.5)

    @property
    def min_font_size(self) -> int:
        """The smallest text a figure may show: 16 px in the presentation theme (the back row
        of a classroom), 10 px otherwise."""
        return 16 if self.font_size >= 16 else 10

    @property
    def dark(self) -> bool:
        """Whether the background is dark (light text). Any colour plotly takes: "#fff",
        "#1e1e1e", "white", "rgb(30, 30, 30)".

        >>> replace(LIGHT, background="rgb(20, 20, 20)").dark
        True
        >>> replace(LIGHT, background="#fff").dark, replace(LIGHT, background="white").dark
        (False, False)
        """
        red, green, blue = _rgb(self.background)
        return 0.2126 * red + 0.7152 * green + 0.0722 * blue < 0.5

    def layout(self) -> dict[str, Any]:
        """Plotly layout properties this theme sets on a figure.

        Axes make room for their tick labels and keep their titles clear of them (automargin,
        standoff); the title makes room for itself above the plot.
        """
        axis = {
            "gridcolor": self.grid,
            "zerolinecolor": self.grid,
            "linecolor": self.foreground,
            "automargin": True,
            "title": {"standoff": max(4, self.font_size // 3)},
        }
        return {
            "title": {"automargin": True, "font": {"size": round(self.font_size * 1.2)}},
            "font": {"size": self.font_size, "color": self.foreground},
            "paper_bgcolor": self.background,
            "plot_bgcolor": self.background,
            "colorway": list(self.colorway),
            "hoverlabel": {"font": {"size": self.font_size}},
            "xaxis": axis,
            "yaxis": axis,
        }

    def apply(self, figure: Any) -> None:
        """Set this theme on a plotly figure (in place): fonts, colours, line widths.

        Heatmaps keep the scale of their quantity: ``"puor"`` when centred (``zmid`` set),
        ``"viridis"`` otherwise.
        """
        layout = self.layout()
        figure.update_layout(**layout)
        # x tick labels a little below the axis, clear of the y axis's lowest label
        figure.update_xaxes(**layout["xaxis"], ticklabelstandoff=max(2, self.font_size // 4))
        figure.update_yaxes(**layout["yaxis"])
        for trace in figure.data:
            if trace.type in ("heatmap", "contour"):
                trace.colorscale = colorscale(SIGNED if trace.zmid is not None else WEIGHT)
                # beside the bar, turned, so a long title never lies over the top tick
                trace.colorbar.title.side = "right"
            elif trace.type in ("scatter", "scattergl") and trace.mode and "lines" in trace.mode:
                trace.line.width = self.line_width


LIGHT = Theme()
DARK = Theme(name="dark", background="#111111", foreground="#eeeeee", grid="#333333")
PRESENTATION = Theme.presentation()
THEMES = {"light": LIGHT, "dark": DARK, "presentation": PRESENTATION}


def theme(value: str | Theme) -> Theme:
    """A Theme from its name (``"light"``, ``"dark"``, ``"presentation"``) or itself."""
    if isinstance(value, Theme):
        return value
    if isinstance(value, str) and value in THEMES:
        return THEMES[value]
    raise ValueError(
        f"theme must be one of {', '.join(map(repr, THEMES))} or an explain.style.Theme; "
        f"got {value!r}"
    )
