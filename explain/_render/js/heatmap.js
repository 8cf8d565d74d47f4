// Repainting a plotly heatmap's image without plotly: the one painter of the notebook widget
// (widgets/plot.js) and the report's timeline (report_timeline.js). Both get this file's text in
// front of their own (no bundler), in an ES module and in a classic <script>, so it defines one
// name, explainHeatmap, and imports nothing.
//
// Why: plotly redraws every axis on any data change (measured in JupyterLab, 2 layers x 4 heads x
// 12 tokens: ~35 % of a step draws axes, ~45 % is layout and paint; 7.3 fps). While a figure
// plays steps that change only heatmap z (same shape, fixed colour range), the title's text and
// the annotations, the image plotly drew is repainted here one pixel per cell, as plotly's own
// "fast" drawing paints it. Exactly: the same colour scale arithmetic as plotly.js 4.1.1
// (colour stops parsed as its culori parser does, d3 v3's clamped polylinear scale, channels
// rounded, src/traces/heatmap/plot.js), so tests compare pixels with plotly's. Whatever this
// cannot paint exactly (zsmooth "best", a colour range that follows the data, a category axis
// that reorders cells, text on cells, ...) it declines (null or false), and plotly draws.
//
//   explainHeatmap.rows(z)            z as rows (plotly's typed-array spec, arrays, typed rows)
//   explainHeatmap.painter(div, i)    paint(z) -> true once trace i's image shows z, or null
//   explainHeatmap.titleSetter(d, t)  set() writing title text t into the drawn title, or null
//   explainHeatmap.figure(div)        paint(Plotly, frame) of a whole frame; forget()
var explainHeatmap = (function () {
  "use strict";
  var XLINK = "http://www.w3.org/1999/xlink";

  // -- z: rows of numbers, as plotly cleans them ------------------------------------------------
  var DTYPES = {f8: Float64Array, f4: Float32Array, i4: Int32Array, u4: Uint32Array,
    i2: Int16Array, u2: Uint16Array, i1: Int8Array, u1: Uint8Array, u1c: Uint8ClampedArray};
  function isRow(row) {
    return Array.isArray(row) || (ArrayBuffer.isView(row) && !(row instanceof DataView));
  }
  function specRows(spec) {  // plotly's {dtype: "f4", bdata: base64, shape: "rows, cols"}
    var Type = DTYPES[spec.dtype];
    var shape = typeof spec.shape === "string" ? spec.shape.split(",").map(Number) : spec.shape;
    if (!Type || !Array.isArray(shape) || shape.length !== 2) return null;
    var rows = shape[0], cols = shape[1], bytes;
    if (!(Number.isInteger(rows) && Number.isInteger(cols) && rows >= 0 && cols >= 0)) return null;
    if (typeof spec.bdata === "string") {
      var text = atob(spec.bdata);
      bytes = new Uint8Array(text.length);
      for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    } else if (spec.bdata instanceof ArrayBuffer || ArrayBuffer.isView(spec.bdata)) {
      var from = ArrayBuffer.isView(spec.bdata) ? spec.bdata : new Uint8Array(spec.bdata);
      bytes = new Uint8Array(from.byteLength);  // a copy: aligned for any dtype
      bytes.set(new Uint8Array(from.buffer || from, from.byteOffset || 0, from.byteLength));
    } else {
      return null;
    }
    if (bytes.length !== rows * cols * Type.BYTES_PER_ELEMENT) return null;
    var flat = new Type(bytes.buffer), out = new Array(rows);
    for (var r = 0; r < rows; r++) out[r] = flat.subarray(r * cols, (r + 1) * cols);
    return out;
  }
  // z as an array of rows (views where it came as one buffer), or null where it is no 2-D z
  function rows(z) {
    if (z && typeof z === "object" && !isRow(z) && "dtype" in z && "bdata" in z) {
      return specRows(z);
    }
    if (!isRow(z) || !z.length) return null;
    for (var r = 0; r < z.length; r++) if (!isRow(z[r])) return null;  // 1-D z: no image
    return z;
  }
  function widest(grid) {  // plotly's maxRowLength: the image's width
    var cols = 0;
    for (var r = 0; r < grid.length; r++) cols = Math.max(cols, grid[r].length);
    return cols;
  }
  // A cell as plotly's clean2dArray keeps it: a finite number (numeric strings too), else
  // undefined (a gap: transparent). As fast-isnumeric decides.
  function clean(value) {
    if (typeof value === "number") return value - value < 1 ? value : undefined;
    if (typeof value !== "string" || !value.trim()) return undefined;
    var number = +value;
    return number - number < 1 ? number : undefined;
  }

  // -- colours: as plotly.js parses a colour scale's stops --------------------------------------
  var NUMBER = "([+-]?\\d*\\.?\\d+(?:[eE][+-]?\\d+)?)", COMMA = "\\s*,\\s*";
  var ALPHA = "\\s*(?:,\\s*(?:" + NUMBER + "%|" + NUMBER + ")\\s*)?\\)$";
  var RGB = new RegExp("^rgba?\\(\\s*" + [NUMBER, NUMBER, NUMBER].join(COMMA) + ALPHA);
  var PERCENT = NUMBER + "%";
  var RGB_PERCENT = new RegExp("^rgba?\\(\\s*" + [PERCENT, PERCENT, PERCENT].join(COMMA) + ALPHA);
  var HEX = /^#([0-9a-f]{8}|[0-9a-f]{6}|[0-9a-f]{4}|[0-9a-f]{3})$/;
  var probe = null;
  function unit(value) {  // plotly clamps each channel to [0, 1] (NaN: 0)
    return value > 0 ? (value > 1 ? 1 : value) : 0;
  }
  // [r, g, b] (0..255, not rounded) and alpha (0..1) as plotly's Color.rgbaArray gives them, or
  // null for a colour this does not parse as plotly does (hsl(), lab(), ...: plotly converts
  // those in floating point, which a canvas does not reproduce)
  function channels(colour) {
    if (typeof colour !== "string") return null;
    var text = colour.trim().toLowerCase(), match, rgb, alpha = 1;
    if (text === "transparent") return [0, 0, 0, 0];
    if (/^[a-z]+$/.test(text)) {  // a named colour: its #rrggbb, as the canvas knows it
      probe = probe || document.createElement("canvas").getContext("2d");
      probe.fillStyle = "#000001";
      probe.fillStyle = text;
      if (probe.fillStyle === "#000001" || !HEX.test(probe.fillStyle)) return null;
      text = probe.fillStyle;
    }
    if ((match = text.match(HEX))) {
      var hex = match[1], size = hex.length <= 4 ? 1 : 2, parts = [];
      for (var i = 0; i < hex.length; i += size) {
        parts.push(parseInt(size === 1 ? hex[i] + hex[i] : hex.slice(i, i + 2), 16) / 255);
      }
      rgb = parts.slice(0, 3);
      if (parts.length === 4) alpha = parts[3];
    } else if ((match = text.match(RGB) || text.match(RGB_PERCENT))) {
      var whole = RGB.test(text) ? 255 : 100;
      rgb = [match[1] / whole, match[2] / whole, match[3] / whole];
      if (match[4] !== undefined) alpha = Math.max(0, Math.min(1, match[4] / 100));
      else if (match[5] !== undefined) alpha = Math.max(0, Math.min(1, +match[5]));
    } else {
      return null;
    }
    return [unit(rgb[0]) * 255, unit(rgb[1]) * 255, unit(rgb[2]) * 255, unit(alpha)];
  }
  // colour(value, pixels, at) writing [r, g, b, a] (0..255) of a clean value as plotly paints it:
  // d3 v3's linear scale over the stops (reversed for reversescale), clamped; or null
  function colourScale(full) {
    var scale = full.colorscale;
    if (!Array.isArray(scale) || scale.length < 2) return null;
    if (full.reversescale) {  // plotly's flipScale
      scale = scale.slice().reverse().map(function (stop) { return [1 - stop[0], stop[1]]; });
    }
    var domain = scale.map(function (stop) {
      return full.zmin + stop[0] * (full.zmax - full.zmin);
    });
    var range = scale.map(function (stop) { return channels(stop[1]); });
    if (!range.every(Boolean)) return null;
    var last = scale.length - 1;
    if (domain[last] < domain[0]) {
      domain = domain.slice().reverse();
      range = range.slice().reverse();
    }
    var spans = [];
    for (var j = 1; j <= last; j++) {
      var span = domain[j] - domain[j - 1];
      spans.push(span || 1 / span);  // d3: a stop repeated gives t = 0
    }
    return function (value, out, at) {
      var lo = 1, hi = last;  // d3.bisect(domain, value, 1, last) - 1
      while (lo < hi) {
        var mid = (lo + hi) >>> 1;
        if (domain[mid] > value) hi = mid;
        else lo = mid + 1;
      }
      var segment = lo - 1, a = range[segment], b = range[segment + 1];
      var t = Math.max(0, Math.min(1, (value - domain[segment]) / spans[segment]));
      for (var c = 0; c < 3; c++) out[at + c] = Math.round(a[c] * (1 - t) + b[c] * t);
      out[at + 3] = Math.round((a[3] * (1 - t) + b[3] * t) * 255);
    };
  }

  // -- one heatmap ------------------------------------------------------------------------------
  function pngSize(href) {  // [width, height] of a PNG data URL, from its IHDR chunk
    var prefix = "data:image/png;base64,";
    if (typeof href !== "string" || href.indexOf(prefix) !== 0) return null;
    var head = atob(href.slice(prefix.length, prefix.length + 32));
    var number = function (at) {
      return ((head.charCodeAt(at) << 24) | (head.charCodeAt(at + 1) << 16) |
        (head.charCodeAt(at + 2) << 8) | head.charCodeAt(at + 3)) >>> 0;
    };
    return head.length >= 24 ? [number(16), number(20)] : null;
  }
  function sameCells(given, drawn, cols) {  // plotly drew z cell for cell as it was given
    if (!given || given.length !== drawn.length || widest(given) !== cols) return false;
    for (var r = 0; r < drawn.length; r++) {
      var row = given[r], cells = drawn[r] || [];
      for (var c = 0; c < cols; c++) if (clean(row[c]) !== cells[c]) return false;
    }
    return true;
  }
  function firstPixel(axis, positions, from, to, step) {  // as plotly finds the image's edges
    for (var i = from, p; p === undefined && i !== to; i += step) p = axis.c2p(positions[i]);
    return p;
  }
  // {accepts(z) -> rows or null, draw(rows)} for trace `index` of the drawn figure `div`, or
  // null where plotly did not draw it "fast" (one image pixel per cell) with a fixed colour range
  function prepare(div, index) {
    var full = div._fullData && div._fullData[index];
    var cd = div.calcdata && div.calcdata[index], brick = cd && cd[0];
    var group = brick && brick.node3, image = group && group.select("image").node();
    if (!full || full.type !== "heatmap" || !image || !Array.isArray(brick.z)) return null;
    // "fast": zsmooth "fast", or none on linear axes without gaps where the browser draws
    // pixelated images (plotly then styles the image so); "best" interpolates between cells
    var style = image.getAttribute("style") || "";
    var pixelated = /pixelated|crisp-edges|optimize-contrast/.test(style);
    var fast = full.zsmooth === "fast" ||
      (full.zsmooth === false && full._islinear && !full.xgap && !full.ygap && pixelated);
    // a range that follows the data, a shared colour axis, interpolated gaps, text on cells and
    // swapped axes all change more than the image's pixels
    if (!fast || full.zauto !== false || full.coloraxis || full.connectgaps || full.transpose ||
        full.texttemplate) {
      return null;
    }
    var drawn = brick.z, height = drawn.length, width = widest(drawn);
    var size = pngSize(image.getAttributeNS(XLINK, "href") || image.getAttribute("href"));
    if (!size || size[0] !== width || size[1] !== height) return null;
    if (!sameCells(rows(full.z), drawn, width)) return null;  // e.g. categories reordered
    var colour = colourScale(full);
    if (!colour) return null;
    var xa = div._fullLayout[full.xaxis.replace("x", "xaxis")];
    var ya = div._fullLayout[full.yaxis.replace("y", "yaxis")];
    var xs = brick.x, ys = brick.y;
    var flipX = firstPixel(xa, xs, xs.length - 1, 0, -1) < firstPixel(xa, xs, 0, xs.length - 1, 1);
    var flipY = firstPixel(ya, ys, ys.length - 1, 0, -1) < firstPixel(ya, ys, 0, ys.length - 1, 1);
    var canvas = document.createElement("canvas");
    var context = canvas.getContext("2d", {willReadFrequently: true});  // as plotly's
    canvas.width = width;
    canvas.height = height;
    return {
      accepts: function (z) {  // the same shape as drawn (the bricks stay where plotly put them)
        var grid = rows(z);
        return grid && grid.length === height && widest(grid) === width ? grid : null;
      },
      draw: function (grid) {
        var pixels = context.createImageData(width, height), data = pixels.data;  // gaps: 0
        for (var r = 0; r < height; r++) {
          var row = grid[r], start = (flipY ? height - 1 - r : r) * width;
          for (var c = 0; c < row.length; c++) {
            var value = clean(row[c]);
            if (value !== undefined) colour(value, data, (start + (flipX ? width - 1 - c : c)) * 4);
          }
        }
        context.putImageData(pixels, 0, 0);
        image.setAttributeNS(XLINK, "xlink:href", canvas.toDataURL("image/png"));  // as plotly
      },
    };
  }
  // paint(z) -> true once trace `index`'s image shows z (false: another shape), or null where
  // plotly must draw that trace
  function painter(div, index) {
    var prepared = prepare(div, index);
    if (!prepared) return null;
    return function (z) {
      var grid = prepared.accepts(z);
      if (grid) prepared.draw(grid);
      return Boolean(grid);
    };
  }

  // -- the title --------------------------------------------------------------------------------
  function titleText(layout) {
    var title = layout && layout.title;
    return (title && typeof title === "object" ? title.text : title) || "";
  }
  // set() replacing the drawn title's text (one text node, or one tspan per line), or null where
  // plotly must draw it (markup other than line breaks, another number of lines, no title)
  function titleSetter(div, text) {
    if (/<(?!br\s*\/?>)|&(?![#\w]+;)/i.test(text)) return null;
    var node = div.querySelector(".gtitle");
    if (!node || !text) return null;
    var decoder = document.createElement("textarea");  // entities as plotly shows them
    var lines = text.split(/<br\s*\/?>/i).map(function (line) {
      decoder.innerHTML = line;
      return decoder.value;
    });
    var spans = node.querySelectorAll("tspan.line");
    if (lines.length === 1 && spans.length === 0) {
      return function () { node.textContent = lines[0]; };
    }
    if (spans.length !== lines.length) return null;
    return function () {
      spans.forEach(function (span, i) { span.textContent = lines[i]; });
    };
  }

  // -- a whole frame ----------------------------------------------------------------------------
  // One figure's frames painted without a plotly draw: paint(Plotly, frame), frame being
  // {traces: [trace index], z: [its z], title: text, annotations: [...]} (title and annotations
  // may be left out: they stay as drawn). It answers true once painted; false where plotly must
  // draw the frame, having changed nothing; or, where the annotations change, a promise of either
  // (plotly lays them out with Plotly.relayout, which draws no axes). forget() once plotly has
  // drawn the figure itself.
  function figure(div) {
    var prepared = {};  // trace index -> prepare()'s answer for the figure as plotly last drew it
    var painted = {};  // trace index -> the z painted last, since plotly's last draw
    var title;  // the title text set last (undefined: as plotly drew it)
    function preparedFor(index) {
      if (!(index in prepared)) prepared[index] = prepare(div, index);
      return prepared[index];
    }
    function apply(z, text) {  // false, having changed nothing, where it cannot paint it all
      var jobs = [];
      for (var index in z) {
        var each = preparedFor(Number(index)), grid = each && each.accepts(z[index]);
        if (!grid) return false;
        jobs.push([each, grid]);
      }
      var shown = title !== undefined ? title : titleText(div.layout);
      var retitle = text === undefined || text === shown ? null : titleSetter(div, text);
      if (text !== undefined && text !== shown && !retitle) return false;
      jobs.forEach(function (job) { job[0].draw(job[1]); });
      for (index in z) painted[index] = z[index];
      if (retitle) {
        retitle();
        title = text;
      }
      return true;
    }
    function paint(Plotly, frame) {
      var z = {};
      frame.traces.forEach(function (index, j) { z[index] = frame.z[j]; });
      var held = (div.layout && div.layout.annotations) || [];
      if (frame.annotations === undefined ||
          JSON.stringify(frame.annotations) === JSON.stringify(held)) {
        return apply(z, frame.title);
      }
      // Plotly.relayout draws the traces and the title again from the data plotly holds (its
      // last draw), so everything painted since is painted again after it
      var again = {};
      for (var index in painted) again[index] = painted[index];
      for (index in z) again[index] = z[index];
      var text = frame.title !== undefined ? frame.title : title;
      forget();
      return Promise.resolve(Plotly.relayout(div, {annotations: frame.annotations}))
        .then(function () { return apply(again, text); });
    }
    function forget() {
      prepared = {};
      painted = {};
      title = undefined;
    }
    return {paint: paint, forget: forget};
  }

  // -- hover labels --------------------------------------------------------------------------
  // meta.hover_rows / meta.hover_cols: one label per row / column; plotly reads them per point
  // from customdata, built here so Python sends O(n) labels, not O(n^2) (the widget and pages).
  function hoverLabels(trace) {
    var meta = trace.meta;
    if (!meta || !meta.hover_rows || !meta.hover_cols) return trace;
    var cols = meta.hover_cols;
    trace.customdata = meta.hover_rows.map(function (r) {
      return cols.map(function (c) { return [r, c]; });
    });
    return trace;
  }
  // A page's plotly figure (div) given its hover labels: restyled once after it is drawn.
  function labelHover(Plotly, div) {
    var found = [], data = [];
    (div.data || []).forEach(function (trace, index) {
      if (trace.meta && trace.meta.hover_rows && trace.meta.hover_cols) {
        found.push(index);
        data.push(hoverLabels({meta: trace.meta}).customdata);
      }
    });
    return found.length ? Plotly.restyle(div, {customdata: data}, found) : null;
  }

  return {rows: rows, painter: painter, titleText: titleText, titleSetter: titleSetter,
    figure: figure, hoverLabels: hoverLabels, labelHover: labelHover};
})();
