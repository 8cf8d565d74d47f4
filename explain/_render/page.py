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
        # hover labels from meta.hover_rows/cols, as the widget fills them (js/heatmap.js);
        # then the page's own room (FIT_JS)
        post_script=(
            "explainHeatmap.labelHover(Plotly, document.getElementById('{plot_id}'));"
            "explainPage.fit(Plotly, document.getElementById('{plot_id}'));"
        ),
    )


# What a page adds to a figure once plotly has drawn it, measured there: the room its slider
# needs (the widget has no slider, and shares the figure, so the builders leave none), the
# width of a title longer than the figure and rows above the plot for a legend that lies over
# it (the widget wraps the title and lays the legend out itself, widgets/plot.js). The step
# slider and play buttons hang under the plot area, ``pad.t`` pixels down; at the builders'
# 36 px they lay over the x axis's tick labels and title wherever those reach deeper (69 px
# in the presentation theme's attention grid, 74 px under the optimizer's legend in the light
# one). So they move below the deepest text under the plot area, and the figure grows by as
# much: the plot keeps its size and the slider its own room.
FIT_JS = """
var explainPage = (function () {
  var GAP = 8;  // px from the lowest text under the plot to the slider
  function depth(div) {  // px from the plot area's bottom to the lowest text or legend under it
    var full = div._fullLayout, size = full._size;
    var bottom = div.getBoundingClientRect().top + size.t + size.h, deepest = 0;
    // a legend held at the figure's bottom edge (yref "container") moves down as it grows
    var pinned = full.legend && full.legend.yref === "container" && full.legend.y < 0.5;
    div.querySelectorAll(".main-svg text, .main-svg g.legend").forEach(function (el) {
      if (el.closest(".slider-container, .updatemenu-container")) return;
      if (pinned && el.closest("g.legend")) return;
      var box = el.getBoundingClientRect();
      if (box.height > 0 && box.top >= bottom - 1) deepest = Math.max(deepest, box.bottom - bottom);
    });
    return Math.ceil(deepest);
  }
  function relayout(Plotly, div, update) {
    if (!Object.keys(update).length) return Promise.resolve();
    // the div and the box plotly.io wraps it in (its inline size: the figure's) grow with it
    ["height", "width"].forEach(function (side) {
      if (!update[side]) return;
      div.style[side] = update[side] + "px";
      if (div.parentElement.style[side]) div.parentElement.style[side] = update[side] + "px";
    });
    return Plotly.relayout(div, update);
  }
  function widen(Plotly, div) {  // the whole title shown: the figure as wide as it needs
    var title = div.querySelector(".gtitle"), full = div._fullLayout;
    var wide = title ? Math.ceil(title.getBoundingClientRect().width) + 48 : 0;
    return relayout(Plotly, div, wide > full.width ? {width: wide} : {});
  }
  function lower(Plotly, div) {  // the slider and play buttons under the axes' text
    var layout = div.layout, update = {}, grow = 0, pad = depth(div) + GAP;
    [["sliders", 0], ["updatemenus", 6]].forEach(function (kind) {
      (layout[kind[0]] || []).forEach(function (control, i) {
        var was = (control.pad && control.pad.t) || 0, want = pad + kind[1];
        if (want > was) {
          update[kind[0] + "[" + i + "].pad.t"] = want;
          grow = Math.max(grow, want - was);
        }
      });
    });
    if (grow) update.height = div._fullLayout.height + grow;
    return relayout(Plotly, div, update);
  }
  function lift(Plotly, div) {  // a legend lying over the plot: in rows under the title
    var full = div._fullLayout, legend = div.querySelector(".main-svg g.legend");
    if (!legend || full.showlegend === false) return Promise.resolve();
    var top = div.getBoundingClientRect().top, box = legend.getBoundingClientRect();
    var size = full._size, plotTop = top + size.t;
    var overlaps = box.bottom > plotTop + 1 && box.top < plotTop + size.h &&
      box.left < div.getBoundingClientRect().left + size.l + size.w && box.right > size.l;
    if (!overlaps) return Promise.resolve();
    var title = div.querySelector(".gtitle");
    var from = title ? title.getBoundingClientRect().bottom - top + 4 : 4;
    var margin = Math.ceil(from + box.height + 8), grow = Math.max(0, margin - size.t);
    var height = full.height + grow;
    return relayout(Plotly, div, {"margin.t": Math.max(margin, size.t), height: height,
      "legend.x": 0, "legend.xanchor": "left", "legend.xref": "paper",
      "legend.y": 1 - from / height, "legend.yanchor": "top", "legend.yref": "container"});
  }
  // A title anchored at the top: plotly puts its first line's baseline there, so that line sat
  // above the figure (3 px of every title; the heads grid's two-line title's first line, 13 px,
  // out of sight in every page). It moves down into the figure, the plot with it if needed.
  function drop(Plotly, div) {
    var title = div.querySelector(".gtitle"), full = div._fullLayout;
    if (!title || full.title.yref !== "container") return Promise.resolve();
    var top = div.getBoundingClientRect().top, box = title.getBoundingClientRect();
    var down = Math.ceil(GAP / 2 - (box.top - top));  // px the title must move down
    if (down <= 0) return Promise.resolve();
    var size = full._size, below = box.bottom - top + down + GAP / 2;  // px its bottom needs
    var grow = Math.max(0, Math.ceil(below - size.t)), height = full.height + grow;
    var y = typeof full.title.y === "number" ? full.title.y : 1;  // "auto": the top
    var anchor = (1 - y) * full.height + down;  // px from the top, at the new height
    var update = {"title.y": 1 - anchor / height};
    if (grow) {
      update["margin.t"] = size.t + grow;
      update.height = height;
    }
    return relayout(Plotly, div, update);
  }
  function fit(Plotly, div) {
    return widen(Plotly, div)
      .then(function () { return drop(Plotly, div); })
      .then(function () { return lift(Plotly, div); })
      .then(function () { return lower(Plotly, div); });
  }
  return {fit: fit, depth: depth};
})();
"""


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
    """A complete offline HTML page: plotly.js (``bundle``, see `plotly_js`), the page's
    heatmap script (hover labels, fast repaints: ``js/heatmap.js``) and its fitting script
    (`FIT_JS`, which `div` calls) inlined once in <head>, then ``body``.

    ``title`` is escaped here; ``body`` must already be safe HTML.
    """
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{PAGE_CSS}{css}</style>\n"
        '<script>window.PlotlyConfig = {MathJaxConfig: "local"};</script>\n'
        f"<script>{plotly_js(bundle)}</script>\n<script>{_script('heatmap.js')}</script>\n"
        f"<script>{FIT_JS}</script>\n"
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _script(name: str) -> str:
    """One of the page scripts shipped in ``explain/_render/js/``."""
    return (importlib.resources.files("explain") / "_render" / "js" / name).read_text("utf-8")
