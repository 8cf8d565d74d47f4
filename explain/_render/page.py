"""Offline HTML pages of plotly figures: plotly.js inlined once, nothing fetched.

Pages work offline and from ``file://``: the exports' page, the report and the handouts.
"""

from __future__ import annotations

import html
import importlib.resources

CONFIG = {"displaylogo": False, "responsive": True, "toImageButtonOptions": {"scale": 2}}


def div(figure: dict, div_id: str) -> str:
    """One figure as a <div> and its script; plotly.js must be on the page already. Float
    arrays travel as typed arrays (base64 float32), which the page's painters read."""
    import plotly.io

    from .plotly.blocks import typed_arrays

    figure = typed_arrays(figure)  # type: ignore[assignment]
    if isinstance(figure["layout"].get("template"), str):  # "none": plotly.js has no names,
        figure["layout"] = {k: v for k, v in figure["layout"].items() if k != "template"}
    height = figure["layout"].get("height", 500)
    return plotly.io.to_html(
        figure,
        config=CONFIG,
        auto_play=False,
        include_plotlyjs=False,
        include_mathjax=False,
        full_html=False,
        validate=False,
        div_id=div_id,
        default_height=f"{height}px",
        # hover labels from meta.hover_rows/cols, as the widget fills them (js/heatmap.js)
        post_script="explainHeatmap.labelHover(Plotly, document.getElementById('{plot_id}'));",
    )


# plotly.js's cartesian bundle (heatmap, scatter, bar, ... but no 3-D, maps or WebGL traces), the
# same version as the plotly package's full bundle: 1.5 MB instead of 4.8 MB (explain/_vendor).
CARTESIAN_JS = "plotly-cartesian.min.js"
BUNDLES = ("full", "cartesian")


def plotly_js(bundle: str = "full") -> str:
    """plotly.js itself, to inline once per page: the plotly package's ``"full"`` bundle (about
    4.8 MB) or the vendored ``"cartesian"`` one (about 1.5 MB; enough for every figure here)."""
    if bundle == "cartesian":
        source = importlib.resources.files("explain") / "_vendor" / CARTESIAN_JS
        return source.read_text(encoding="utf-8")
    if bundle != "full":
        raise ValueError(f"bundle must be one of {BUNDLES}; got {bundle!r}")
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


PAGE_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 1200px; padding: 16px 24px 48px; color: #222; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 18px; margin: 28px 0 6px; }
p.note { color: #555; margin: 4px 0 8px; max-width: 900px; line-height: 1.45; }
.figure { border: 1px solid #e4e4e4; border-radius: 6px; margin: 8px 0 16px; }
"""


def page(title: str, body: str, css: str = "", bundle: str = "full") -> str:
    """A complete offline HTML page: plotly.js (``bundle``, see `plotly_js`) and the page's
    heatmap script (hover labels, fast repaints: ``js/heatmap.js``) inlined once in <head>,
    then ``body``.

    ``title`` is escaped here; ``body`` must already be safe HTML.
    """
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{PAGE_CSS}{css}</style>\n"
        '<script>window.PlotlyConfig = {MathJaxConfig: "local"};</script>\n'
        f"<script>{plotly_js(bundle)}</script>\n<script>{_script('heatmap.js')}</script>\n"
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _script(name: str) -> str:
    """One of the page scripts shipped in ``explain/_render/js/``."""
    return (importlib.resources.files("explain") / "_render" / "js" / name).read_text("utf-8")
