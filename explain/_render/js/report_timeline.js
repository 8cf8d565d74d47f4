// The report's one timeline (explain/report.py): a slider, a play button and the step shown,
// sticky at the top. Every figure with step frames follows it; none has a slider of its own, so
// the header and the figures always show the same step.
//
// Why playing does not simply call Plotly.animate on every figure: any plotly data change
// redraws every axis of the figure (measured: 200-400 ms a step for 2 x 4 heads on a busy
// 2-core machine, 5 figures). While playing, only the figures in view are updated, and those
// whose frames change only heatmap z (with a fixed colour range), the title's text and the
// annotations are painted by heatmap.js (in front of this script; the notebook widget paints
// with it too): straight into the images plotly drew, one pixel per cell as plotly's own "fast"
// drawing does. When playback stops, and for every slider move, plotly draws the step in every
// figure itself, so hover values and downloads read the step shown.
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
  var figures = {};  // figure id -> its painter (heatmap.js) since plotly last drew it
  var decoded = {};  // figure id + frame name -> the frame as the painter takes it, or null

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

  // -- painting a step without plotly ------------------------------------------------------
  // The figure's painter (heatmap.js, in front of this script), made afresh after plotly draws.
  function figureOf(div) {
    if (!figures[div.id]) figures[div.id] = explainHeatmap.figure(div);
    return figures[div.id];
  }
  function onlyKeys(value, keys) {
    return Object.keys(value).every(function (key) { return keys.indexOf(key) >= 0; });
  }
  // Frame `name` of a figure as the painter takes it ({traces, z, title, annotations}), decoded
  // once; null where it sets anything but heatmap z, the title's text and the annotations.
  function paintable(div, name) {
    var key = div.id + " " + name;
    if (key in decoded) return decoded[key];
    var frames = div._transitionData && div._transitionData._frameHash;
    var frame = frames && frames[name], layout = (frame && frame.layout) || {}, out = null;
    var title = layout.title;
    var simple = frame && frame.data.every(function (entry) { return onlyKeys(entry, ["z"]); }) &&
      onlyKeys(layout, ["title", "annotations"]) &&
      (title === undefined || typeof title === "string" || onlyKeys(title, ["text"]));
    if (simple) {
      var z = frame.data.map(function (entry) { return explainHeatmap.rows(entry.z); });
      if (z.every(Boolean)) {
        out = {traces: frame.traces || z.map(function (_, i) { return i; }), z: z,
          title: title === undefined ? undefined : explainHeatmap.titleText(layout),
          annotations: layout.annotations};
      }
    }
    decoded[key] = out;
    return out;
  }

  // -- drawing a step -----------------------------------------------------------------------
  // Through plotly, in every figure: resolves when all have drawn.
  function drawAll(i) {
    var name = String(data.steps[i]);
    figures = {};  // plotly draws new images, axes and titles: look again before the next paint
    return Promise.all(plots().map(function (div) { return Plotly.animate(div, [name], NOW); }))
      .then(function () { mark(name, !playing); });
  }
  // While playing: the figures in view only, painted where possible.
  function drawInView(i) {
    var name = String(data.steps[i]);
    return Promise.all(plots().filter(inView).map(function (div) {
      var frame = paintable(div, name);
      return Promise.resolve(frame ? figureOf(div).paint(Plotly, frame) : false)
        .then(function (painted) {
          if (painted) {
            bar.dataset.painted = String(Number(bar.dataset.painted || 0) + 1);
            return null;
          }
          delete figures[div.id];  // plotly draws it
          return Plotly.animate(div, [name], NOW);
        });
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
