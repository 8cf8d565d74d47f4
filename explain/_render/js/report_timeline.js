// The report's one timeline (explain/report.py): a slider, a play button and the step shown,
// sticky at the top. Every figure with step frames follows it; none has a slider of its own, so
// the header and the figures always show the same step.
//
// Why playing does not simply call Plotly.animate on every figure: any plotly data change
// redraws every axis of the figure (measured: 200-400 ms a step for 2 x 4 heads on a busy
// 2-core machine, 5 figures). While playing, only the figures in view are updated, and
// heatmaps whose frames change only z (with a fixed colour range) are repainted straight into
// the image plotly drew, one pixel per cell as plotly's own "fast" drawing does. When playback
// stops, and for every slider move, plotly draws the step in every figure itself, so hover
// values and downloads read the step shown.
//
// #timeline's data-step is the step the figures show; data-idle is "true" once plotly has
// drawn it in every figure and nothing is playing; data-painted counts the figures painted
// without plotly (tests and bench/playback.py read them).
(function () {
  var FRAME_MS = 35;  // at most ~28 steps a second while playing
  var NOW = {mode: "immediate", frame: {duration: 0, redraw: true}, transition: {duration: 0}};
  var data = JSON.parse(document.getElementById("timeline-data").textContent);
  var bar = document.getElementById("timeline");
  var slider = document.getElementById("timeline-step");
  var shown = document.getElementById("timeline-label");
  var button = document.getElementById("timeline-play");
  var playing = false, drawing = false, wanted = null, timer = null;
  var painters = {};  // figure id -> its fast painter, or null where plotly must draw
  var decoded = {};  // figure id + frame name -> the frame's z arrays, decoded once

  function plots() {
    return data.figures.map(function (id) { return document.getElementById(id); })
      .filter(function (div) { return div && div.data; });
  }
  function inView(div) {
    var box = div.getBoundingClientRect();
    return box.bottom > 0 && box.top < window.innerHeight;
  }
  function mark(name, idle) {
    shown.textContent = "step " + name;
    bar.dataset.step = name;
    bar.dataset.idle = idle ? "true" : "false";
  }

  // -- painting a heatmap's image without plotly --------------------------------------------
  var XLINK = "http://www.w3.org/1999/xlink";
  var probe = document.createElement("canvas").getContext("2d", {willReadFrequently: true});
  function rgba(colour) {
    probe.clearRect(0, 0, 1, 1);
    probe.fillStyle = colour;
    probe.fillRect(0, 0, 1, 1);
    return Array.from(probe.getImageData(0, 0, 1, 1).data);
  }
  function decode(z) {  // plotly's typed-array spec {dtype: "f4", bdata, shape: "rows, cols"}
    if (!z || z.dtype !== "f4" || typeof z.bdata !== "string") return null;
    var text = atob(z.bdata), bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return {values: new Float32Array(bytes.buffer), shape: String(z.shape).split(",").map(Number)};
  }
  // A function painting one frame entry's z into trace `index`, or null if it cannot.
  function heatmapPainter(div, index) {
    var full = div._fullData[index], cd = div.calcdata && div.calcdata[index];
    var group = cd && cd[0] && cd[0].node3;
    var image = group && group.select("image").node();
    if (!full || full.type !== "heatmap" || full.zauto !== false || !image) return null;
    if (!/pixelated|crisp-edges|optimize/.test(image.getAttribute("style") || "")) return null;
    var xa = div._fullLayout[full.xaxis.replace("x", "xaxis")];
    var ya = div._fullLayout[full.yaxis.replace("y", "yaxis")];
    var xs = cd[0].x, ys = cd[0].y;
    var flipX = xa.c2p(xs[xs.length - 1]) < xa.c2p(xs[0]);
    var flipY = ya.c2p(ys[ys.length - 1]) < ya.c2p(ys[0]);
    var stops = full.colorscale.map(function (s) {
      return {at: full.zmin + s[0] * (full.zmax - full.zmin), rgba: rgba(s[1])};
    });
    var canvas = document.createElement("canvas"), context = canvas.getContext("2d");
    function colour(value, out, at) {
      var i = 1;
      while (i < stops.length - 1 && value > stops[i].at) i++;
      var lo = stops[i - 1], hi = stops[i], span = hi.at - lo.at;
      var t = span > 0 ? Math.min(1, Math.max(0, (value - lo.at) / span)) : 0;
      for (var c = 0; c < 3; c++) out[at + c] = Math.round(lo.rgba[c] + t * (hi.rgba[c] - lo.rgba[c]));
      out[at + 3] = isFinite(value) ? Math.round(lo.rgba[3] + t * (hi.rgba[3] - lo.rgba[3])) : 0;
    }
    return function (z) {
      var rows = z.shape[0], cols = z.shape[1];
      if (canvas.width !== cols || canvas.height !== rows) {
        canvas.width = cols;
        canvas.height = rows;
      }
      var pixels = context.createImageData(cols, rows);
      for (var r = 0; r < rows; r++) {
        for (var c = 0; c < cols; c++) {
          var at = ((flipY ? rows - 1 - r : r) * cols + (flipX ? cols - 1 - c : c)) * 4;
          colour(z.values[r * cols + c], pixels.data, at);
        }
      }
      context.putImageData(pixels, 0, 0);
      image.setAttributeNS(XLINK, "xlink:href", canvas.toDataURL("image/png"));  // as plotly does
    };
  }
  // The figure's painter: frames -> paint, where every frame entry is a heatmap's z alone.
  function painter(div) {
    if (painters[div.id] !== undefined) return painters[div.id];
    var frames = div._transitionData && div._transitionData._frameHash, paint = null;
    var first = frames && frames[String(data.steps[0])];
    var each = first && first.data.every(function (entry) {
      return Object.keys(entry).join() === "z";
    }) && first.traces.map(function (index) { return heatmapPainter(div, index); });
    if (each && each.every(Boolean)) {
      paint = function (name) {
        var frame = frames[name], key = div.id + " " + name;
        if (!frame) return false;
        var zs = decoded[key] || (decoded[key] = frame.data.map(function (e) { return decode(e.z); }));
        if (!zs.every(Boolean)) return false;
        zs.forEach(function (z, j) { each[j](z); });
        return true;
      };
    }
    painters[div.id] = paint;
    return paint;
  }

  // -- drawing a step -----------------------------------------------------------------------
  // Through plotly, in every figure: resolves when all have drawn.
  function drawAll(i) {
    var name = String(data.steps[i]);
    painters = {};  // plotly may draw new images or axes: look again before the next paint
    return Promise.all(plots().map(function (div) { return Plotly.animate(div, [name], NOW); }))
      .then(function () { mark(name, !playing); });
  }
  // While playing: the figures in view only, painted where possible.
  function drawInView(i) {
    var name = String(data.steps[i]);
    return Promise.all(plots().filter(inView).map(function (div) {
      var paint = painter(div);
      if (paint && paint(name)) {
        bar.dataset.painted = String(Number(bar.dataset.painted || 0) + 1);
        return null;
      }
      return Plotly.animate(div, [name], NOW);
    })).then(function () { mark(name, false); });
  }
  function show(i) {
    wanted = i;
    if (drawing) return;
    drawing = true;
    var started = performance.now();
    var next = wanted;
    wanted = null;
    bar.dataset.idle = "false";
    (playing ? drawInView : drawAll)(next).catch(function (error) { console.warn(error); })
      .then(function () {
        drawing = false;
        if (wanted !== null) { show(wanted); return; }
        if (playing) {
          timer = setTimeout(tick, Math.max(0, FRAME_MS - (performance.now() - started)));
        }
      });
  }
  function tick() {
    timer = null;
    if (!playing) return;
    var next = Number(slider.value) + 1;
    if (next >= data.steps.length) { stop(); return; }
    slider.value = next;
    show(next);
  }
  function stop() {
    playing = false;
    clearTimeout(timer);
    timer = null;
    button.textContent = "\u25B6";
    bar.dataset.playing = "false";
    show(Number(slider.value));  // every figure through plotly, at the step shown
  }
  function play() {
    playing = true;
    button.textContent = "\u275A\u275A";
    bar.dataset.playing = "true";
    if (Number(slider.value) >= data.steps.length - 1) {
      slider.value = 0;
      show(0);
    } else if (!drawing) {
      tick();
    }
  }
  slider.addEventListener("input", function () {
    if (playing) {
      playing = false;
      clearTimeout(timer);
      button.textContent = "\u25B6";
      bar.dataset.playing = "false";
    }
    show(Number(slider.value));
  });
  button.addEventListener("click", function () { if (playing) { stop(); } else { play(); } });
  bar.dataset.playing = "false";
  mark(String(data.steps[Number(slider.value)]), true);
})();
