function waitForPlotly(timeoutMs = 60000) {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    (function poll() {
      if (globalThis.__explainPlotly) return resolve(globalThis.__explainPlotly);
      if (Date.now() - start > timeoutMs) return reject(new Error("explain: plotly.js not loaded"));
      setTimeout(poll, 25);
    })();
  });
}
const TYPED = {float32: Float32Array, float64: Float64Array, int8: Int8Array, int16: Int16Array,
  int32: Int32Array, uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array};
function decode(value) {
  if (Array.isArray(value)) return value.map(decode);
  if (value === null || typeof value !== "object") return value;
  if (value.__ndarray__) {
    const view = value.buffer;  // DataView (binary buffer) from the widget manager
    const bytes = view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength);
    const flat = new TYPED[value.dtype](bytes);
    if (value.shape.length === 1) return flat;
    const [rows, cols] = value.shape;
    const out = new Array(rows);  // 2-D: an array of row views, as plotly takes for z
    for (let i = 0; i < rows; i++) out[i] = flat.subarray(i * cols, (i + 1) * cols);
    return out;
  }
  const out = {};
  for (const key of Object.keys(value)) out[key] = decode(value[key]);
  return out;
}
// -- fitting the figure to the width it gets ------------------------------------------------
const TOOLBAR_PX = 30;  // plotly's toolbar (shown on hover) sits in the top 30 px: titles below
const PLOTLY_FONT = '"Open Sans", verdana, arial, sans-serif';  // plotly's default family
let canvas = null;
function textWidth(text, size, family) {
  canvas = canvas || document.createElement("canvas");
  const context = canvas.getContext("2d");
  context.font = `${size}px ${family}`;
  // as drawn: tags are markup, an entity is one character
  return context.measureText(text.replace(/<[^>]*>/g, "").replace(/&[#\w]+;/g, "x")).width;
}
function wrap(text, size, family, width) {
  // break at spaces (keeping the lines the title already has) so no line is wider than width
  const lines = [];
  for (const part of String(text).split(/<br\s*\/?>/i)) {
    let line = "";
    for (const word of part.split(" ")) {
      const longer = line ? `${line} ${word}` : word;
      if (line && textWidth(longer, size, family) > width) {
        lines.push(line);
        line = word;
      } else {
        line = longer;
      }
    }
    lines.push(line);
  }
  return lines;
}
function atLeast(value, minimum) {
  // raise every font size below minimum (titles, ticks, annotations, text on traces)
  if (Array.isArray(value)) return value.forEach((item) => atLeast(item, minimum));
  if (value === null || typeof value !== "object" || ArrayBuffer.isView(value)) return;
  for (const [key, item] of Object.entries(value)) {
    if (/font$/.test(key) && item && typeof item === "object" && typeof item.size === "number") {
      item.size = Math.max(item.size, minimum);
    }
    atLeast(item, minimum);
  }
}
function topAxesHeight(layout, fontSize) {
  // tick labels (and titles) of x axes drawn above the plot take room under the title
  let height = 0;
  for (const [key, axis] of Object.entries(layout)) {
    if (!/^xaxis\d*$/.test(key) || !axis || axis.side !== "top") continue;
    const title = axis.title && (typeof axis.title === "string" ? axis.title : axis.title.text);
    const ticks = axis.showticklabels === false ? 0 : fontSize * 1.6;
    height = Math.max(height, ticks + (title ? fontSize * 1.5 : 0));
  }
  return Math.ceil(height);
}
function tallEnough(layout, fontSize, family) {
  // stacked subplots: each tall enough for three tick labels and its (turned) axis title, and
  // the gaps between them for a tick label; the figure grows when they are not
  const domains = [];
  for (const [key, axis] of Object.entries(layout)) {
    if (!/^yaxis\d*$/.test(key) || !axis || axis.overlaying || !Array.isArray(axis.domain)) continue;
    const title = axis.title && (typeof axis.title === "string" ? axis.title : axis.title.text);
    domains.push({ domain: axis.domain, title: title ? textWidth(String(title), fontSize, family) : 0 });
  }
  if (domains.length < 2) return;
  domains.sort((a, b) => a.domain[0] - b.domain[0]);
  let needed = 0;
  domains.forEach(({ domain, title }, i) => {
    const share = Math.max(domain[1] - domain[0], 0.01);
    needed = Math.max(needed, Math.max(4.5 * fontSize, title + fontSize) / share);
    const next = domains[i + 1];
    if (next && next.domain[0] > domain[1]) needed = Math.max(needed, 1.5 * fontSize / (next.domain[0] - domain[1]));
  });
  const margin = layout.margin || {};
  const plot = (layout.height || 450) - (margin.t ?? 80) - (margin.b ?? 80);
  if (needed > plot) layout.height = Math.ceil((layout.height || 450) + needed - plot);
}
function fit(layout, data, width, minimum, legendHeight, titleShift) {
  // layout at the width the widget gets: from the top, the toolbar's strip, the title wrapped
  // to fit, the legend in rows (legendHeight: its height as last drawn), axes drawn on top,
  // then the plot; the figure grows by what this adds above the plot
  layout.width = width;
  if (minimum > 0) {
    atLeast(layout, minimum);
    atLeast(data, minimum);
    for (const [key, axis] of Object.entries(layout)) {  // log axes: no small "2" and "5" labels
      if (/^[xy]axis\d*$/.test(key) && axis && axis.type === "log") axis.minorloglabels = "none";
    }
  }
  const font = layout.font || {};
  const fontSize = font.size || 12;
  const family = font.family || PLOTLY_FONT;
  const legendGap = legendHeight > 0 ? legendHeight + 4 : 0;
  const margin = { ...(layout.margin || {}) };
  const top = margin.t ?? 80;
  const axesGap = topAxesHeight(layout, fontSize);
  const title = typeof layout.title === "string" ? { text: layout.title } : layout.title;
  let needed = legendGap + axesGap > 0 ? TOOLBAR_PX + legendGap + axesGap : 0;
  if (title && title.text) {
    const size = (title.font && title.font.size) || Math.round(fontSize * 1.4);
    const lines = wrap(title.text, size, (title.font && title.font.family) || family, width - 24);
    // just below the toolbar's strip; where plotly puts the box for an anchor depends on the
    // number of lines, so titleShift (measured after a draw) moves its top onto TOOLBAR_PX;
    // then the gap (clear of the top tick label's upper half), the legend, any axis on top
    const gap = Math.round(size * 0.3 + fontSize * 0.6);
    const below = Math.ceil((lines.length - 1) * size * 1.3);
    layout.title = { ...title, text: lines.join("<br>"), x: 0.5, xanchor: "center",
      xref: "container", yref: "container", yanchor: "top", automargin: false,
      pad: { t: 0, b: 0 } };
    needed = TOOLBAR_PX + Math.ceil(size * 1.2) + below + gap + legendGap + axesGap;
  }
  if (needed > top) {
    margin.t = needed;
    layout.height = (layout.height || 450) + needed - top;
  }
  layout.margin = margin;
  tallEnough(layout, fontSize, family);
  if (layout.title && layout.title.yref === "container" && title && title.text) {
    layout.title.y = 1 - (TOOLBAR_PX + titleShift) / layout.height;  // at the final height
  }
  if (layout.showlegend !== false) {  // in rows between the title and the plot (or top axes)
    const legendTop = (margin.t ?? 80) - axesGap - legendGap;
    layout.legend = { ...(layout.legend || {}), orientation: "h", x: 0, xanchor: "left",
      xref: "paper", y: 1 - legendTop / layout.height, yanchor: "top", yref: "container" };
  }
  return layout;
}
// -- playing: repaint heatmap images instead of redrawing the figure -------------------------
// When a figure differs from the one drawn only in heatmap z (same shape), the title's text and
// annotations (a step of a time-lapse), the painter this module is concatenated behind
// (explain/_render/js/heatmap.js, shared with the report; widgets/_plot.py joins them) repaints
// the images plotly drew and sets the title's text; new annotations are laid out by
// Plotly.relayout (no axes drawn). Plotly draws the whole figure once updates stop (SETTLE_MS),
// so hover values and downloads are plotly's own again. Measured by bench/playback.py;
// tests/browser/test_playback.py checks the pixels drawn against the trace.
const SETTLE_MS = 200;
function bytesOf(view) {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}
function signature(data, layout, extra) {
  // what a repaint keeps: the whole figure but heatmap z values, the title's text, annotations
  const { annotations, ...rest } = layout;
  const title = rest.title && typeof rest.title === "object" ? { ...rest.title } : {};
  delete title.text;
  rest.title = title;
  return JSON.stringify([data, rest, extra], (key, value) => {
    if (value instanceof DataView) return bytesOf(value).join();
    if (key === "z" && value && value.__ndarray__) return `${value.dtype} ${value.shape}`;
    return value;
  });
}
function sameValues(a, b) {
  if (a === b) return true;
  if (!a || !b || !a.__ndarray__ || !b.__ndarray__) {
    return JSON.stringify(a) === JSON.stringify(b);
  }
  const x = bytesOf(a.buffer), y = bytesOf(b.buffer);
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}
function fastPath(div) {
  // memo(...) before a full draw, remember(memo) once it is drawn; update(...) repaints or
  // answers null (then plotly must draw)
  let drawn = null;
  const figure = explainHeatmap.figure(div);
  const memo = (key, data) => ({ key, z: data.map((trace) => trace.z) });
  const remember = (state) => { drawn = state; figure.forget(); };
  const update = (Plotly, key, data, layout) => {
    // a promise of true once repainted (false: plotly must draw after all), or null if it cannot
    if (!drawn || key !== drawn.key || data.length !== drawn.z.length) return null;
    const next = memo(key, data);
    const traces = data.map((_, i) => i).filter((i) => !sameValues(data[i].z, drawn.z[i]));
    const painted = figure.paint(Plotly, { traces, z: traces.map((i) => decode(data[i].z)),
      title: explainHeatmap.titleText(layout), annotations: layout.annotations || [] });
    if (painted === false) return null;
    if (painted === true) {
      drawn = next;
      return Promise.resolve(true);
    }
    drawn = null;  // plotly lays the new annotations out first
    return painted.then((done) => {
      if (done) drawn = next;
      return done;
    });
  };
  return { memo, remember, update, forget: () => remember(null) };
}
// -- playing in the browser: every frame sent once, painted at each step of the play button --
// The kernel sends a plot's frames (widgets/_plot.py, Plot.set_frames) when the page asks, which
// it does when the play button starts; the play button's position and state reach the plot as
// its "frame" and "playing" (linked in the page). A frame is the figure as the kernel last sent
// it with the frame's heatmap z, title text and annotations: the repaint above draws it. The
// frames stay with the model (for every view of it) until the figure needs others (frames_key).
const STORES = new WeakMap();  // model -> the frames held
function storeOf(model) {
  let store = STORES.get(model);
  if (!store) {
    store = { key: null, n: 0, z: {}, titles: null, annotations: null, asked: new Set() };
    STORES.set(model, store);
  }
  return store;
}
function asView(buffer) {
  if (buffer instanceof DataView) return buffer;
  if (ArrayBuffer.isView(buffer)) {
    return new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }
  return new DataView(buffer);
}
function keepFrames(model, content, buffers) {
  // z of frame f of trace i: an encoded array (as fig_data holds) over that frame's bytes
  const z = {};
  (content.traces || []).forEach((trace, i) => {
    const whole = asView(buffers[i]);
    const size = trace.shape.reduce((a, b) => a * b, 1) * TYPED[trace.dtype].BYTES_PER_ELEMENT;
    z[trace.index] = Array.from({ length: content.n }, (_, f) => ({
      __ndarray__: true, dtype: trace.dtype, shape: trace.shape,
      buffer: new DataView(whole.buffer, whole.byteOffset + f * size, size) }));
  });
  Object.assign(storeOf(model), { key: content.key, n: content.n, z,
    titles: content.titles || null, annotations: content.annotations || null });
}
function frameSource(model, frame) {
  // the figure at frame (fig_data and fig_layout, encoded), or null where no frames fit it
  const store = STORES.get(model);
  if (!store || store.key !== model.get("frames_key") || !(frame >= 0 && frame < store.n)) {
    return null;
  }
  const raw = model.get("fig_data").map(
    (trace, i) => (store.z[i] ? { ...trace, z: store.z[i][frame] } : trace));
  const layout = { ...model.get("fig_layout") };
  if (store.titles) {
    const title = layout.title && typeof layout.title === "object" ? layout.title : {};
    layout.title = { ...title, text: store.titles[frame] };
  }
  if (store.annotations) layout.annotations = store.annotations[frame];
  return { raw, layout };
}
// Playing with the step control's slider (widgets/step.js moves it with the play button): a plot
// that asked for its frames is in the play model's "waiting" set until they come; until that set
// is empty no plot draws a frame and the slider stays, then "explain:ready" moves them all in one
// task (the first steps of a play otherwise showed the kernel's title, a step or two behind).
// A plot whose frames are over the budget is in its "kernel" set: the kernel moves the slider.
const WAIT_MS = 5000;  // frames that never come: play through the kernel
function waitingOf(play) {
  if (!play) return null;
  play.explainWaiting = play.explainWaiting || new Set();
  return play.explainWaiting;
}
function doneWaiting(play, model) {
  const waiting = waitingOf(play);
  if (!waiting || !waiting.delete(model)) return false;
  if (!waiting.size) play.trigger("explain:ready");
  return true;
}
async function playOf(model) {
  const ref = model.get("play"), manager = model.widget_manager;
  if (typeof ref !== "string" || !ref.startsWith("IPY_MODEL_") || !manager) return null;
  return manager.get_model(ref.slice("IPY_MODEL_".length));
}
// -- the model's messages ----------------------------------------------------------------------
// anywidget (0.9.14 and later) holds a model's kernel messages until its module has loaded, and
// drops every one of them, for good, when that took over 2 s: a page busy drawing other plots
// (Run All of a notebook with a dashboard) opened blank plots that never followed their view.
// The module runs here, so nothing needs holding: the model's messages go straight to the
// handler of ipywidgets' own model class. What was dropped comes again: render then tells the
// kernel which revision it holds (widgets/_plot.py, Plot._resend_if_behind). Where a later
// anywidget or ipywidgets has no such parts, the model stays as anywidget made it.
const TAKEN = Symbol("explain: messages taken");
async function takeMessages(model) {
  const manager = model.widget_manager, id = model.get("own_id");
  if (!id || !manager || typeof manager.get_model !== "function") return;
  const own = await manager.get_model(id);
  if (!own || own[TAKEN] || !own.comm || typeof own.comm.on_msg !== "function") return;
  let base = Object.getPrototypeOf(own);
  while (base && base._handle_comm_msg === own._handle_comm_msg) base = Object.getPrototypeOf(base);
  if (!base || typeof base._handle_comm_msg !== "function") return;
  own[TAKEN] = true;
  own.comm.on_msg((message) => base._handle_comm_msg.call(own, message));
}
// -- the page's look ------------------------------------------------------------------------
// Views made without a theme follow JupyterLab's dark theme and its Presentation Mode (View →
// Appearance) until the notebook calls widgets.set_theme (widgets/_base.py, follow_page): each plot
// tells its kernel how the page looks when it is drawn, and again whenever that changes.
function pageLook() {
  const shell = document.querySelector(".jp-LabShell");
  return {
    dark: document.body.dataset.jpThemeLight === "false",
    presentation: !!shell && shell.classList.contains("jp-mod-presentationMode"),
  };
}
const lookWatchers = new Set();
let lookObserver = null, lastLook = "";
function watchLook(tell) {
  lookWatchers.add(tell);
  if (!lookObserver) {
    lastLook = JSON.stringify(pageLook());
    lookObserver = new MutationObserver(() => {
      const look = pageLook(), key = JSON.stringify(look);
      if (key === lastLook) return;
      lastLook = key;
      for (const watcher of lookWatchers) watcher(look);
    });
    lookObserver.observe(document.body,
      { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name"] });
    const shell = document.querySelector(".jp-LabShell");
    if (shell) lookObserver.observe(shell, { attributes: true, attributeFilter: ["class"] });
  }
  tell(pageLook());
  return () => lookWatchers.delete(tell);
}
function render({ model, el }) {
  el.classList.add("explain-plot");
  el.style.maxWidth = "100%";
  const div = document.createElement("div");
  el.appendChild(div);
  // the width drawn at, and the legend's height as last drawn (fit makes room for it)
  let drawnWidth = 0, legendHeight = 0, refits = 0, titleShift = 0;
  // One draw at a time, always of the model's latest state: a change that arrives while plotly
  // draws is drawn after it; a draw that fails starts over from a clean div (a half-built plot
  // breaks every later react); a detached element waits until it is in the page.
  let Plotly = null, pending = false, drawing = false, again = false, failures = 0, alive = true;
  // playing: repaint where only heatmap z, title text and annotations changed; plotly draws the
  // whole figure SETTLE_MS after the last repaint (settle), or on any other change
  const fast = fastPath(div);
  let settle = null, settling = false;
  // the frame to draw instead of the model's figure, while the model's revision is frameOf
  let frameShown = null, frameOf = null;
  let play = null;  // the play button's model (its waiting set), once found
  let decodedFrom = null, decodedMin = null, decodedData = null;  // the last fig_data drawn
  const showFrame = () => {
    const key = model.get("frames_key"), store = storeOf(model);
    if (!key || globalThis.__explainFullDraws) return;
    if (store.key !== key) {  // ask once per key, when the play button starts
      if (model.get("playing") && !store.asked.has(key)) {
        store.asked.add(key);
        const waiting = waitingOf(play);
        if (waiting) {
          waiting.add(model);
          setTimeout(() => doneWaiting(play, model), WAIT_MS);
        }
        try {
          model.send({ event: "frames", key });
        } catch (error) {  // a saved notebook's widgets, no kernel: play what the state shows
          console.warn("explain: no kernel to ask for the frames", error);
          doneWaiting(play, model);
        }
      }
      return;
    }
    if (play && waitingOf(play).size) return;  // another plot of this play waits for its frames
    const frame = model.get("frame");
    if (!(frame >= 0 && frame < store.n)) return;
    frameShown = frame;
    frameOf = model.get("revision");
    // Drawn now, in the task that moved the play button, where step.js moves the slider too:
    // a frame drawn at the next animation frame left an instant where the slider's readout
    // named a step the title did not yet (a repaint is ~1 ms; plotly's own draw still waits)
    if (Plotly && !drawing && !globalThis.__explainFullDraws) {
      el.dataset.busy = "1";
      draw();
    } else {
      schedule();
    }
  };
  const framesCame = (content, buffers) => {
    if (!content || content.event !== "frames") return;
    if (storeOf(model).key !== content.key) keepFrames(model, content, buffers || []);
    el.dataset.frames = String(storeOf(model).n);  // how many this page holds (tests read it)
    if (play) {  // none (over the budget): the kernel moves the slider with this plot
      play.explainKernel = play.explainKernel || new Set();
      if (content.n > 0) play.explainKernel.delete(model);
      else play.explainKernel.add(model);
    }
    if (!doneWaiting(play, model)) showFrame();  // else "explain:ready" draws every plot
  };
  const draw = () => {
    pending = false;
    if (!alive || !Plotly) return;
    if (!div.isConnected) {
      pending = true;
      setTimeout(draw, 100);
      return;
    }
    if (drawing) {
      again = true;
      return;
    }
    drawing = true;
    const revision = model.get("revision");
    let done, memo = null, painted = null;
    const frame = frameShown !== null && frameOf === revision ? frameShown : null;
    try {
      const source = frame !== null ? frameSource(model, frame) : null;
      const raw = source ? source.raw : model.get("fig_data");
      const rawLayout = source ? source.layout : model.get("fig_layout");
      const layout = decode(rawLayout);
      const wanted = layout.width || 700;
      el.style.width = `${wanted}px`;  // max-width 100%: narrower when the output is
      drawnWidth = Math.min(wanted, el.clientWidth || wanted);
      const key = signature(raw, rawLayout,
        [drawnWidth, model.get("min_font"), legendHeight, titleShift, model.get("fig_config")]);
      // (globalThis.__explainFullDraws: plotly draws every update; bench/playback.py compares)
      if (!settling && !globalThis.__explainFullDraws) {  // fit's layout: the same for any data
        const fitted = fit(decode(rawLayout), [], drawnWidth,
          model.get("min_font") || 0, legendHeight, titleShift);
        painted = fast.update(Plotly, key, raw, fitted);
      }
      settling = false;
      clearTimeout(settle);
      settle = null;
      if (painted) {
        done = painted;
      } else {
        // the traces the kernel did not change (a cursor moved, a layout-only update) stay the
        // same objects, so plotly only lays the figure out again instead of recomputing them
        // (fit raises their fonts to min_font in place: another min_font decodes them again)
        if (raw !== decodedFrom || model.get("min_font") !== decodedMin) {
          decodedFrom = raw;
          decodedMin = model.get("min_font");
          decodedData = decode(raw).map(explainHeatmap.hoverLabels);
        }
        const data = decodedData;
        fit(layout, data, drawnWidth, model.get("min_font") || 0, legendHeight, titleShift);
        memo = fast.memo(key, raw);
        done = Promise.resolve(Plotly.react(div, data, layout, model.get("fig_config")));
      }
    } catch (error) {
      done = Promise.reject(error);
    }
    done.then(
      (result) => {
        failures = 0;
        if (painted && !result) {  // could not repaint after plotly laid out annotations
          settling = again = true;
          return;
        }
        if (frame !== null) el.dataset.frame = String(frame);  // drawn from the frames held
        else delete el.dataset.frame;
        if (painted) {  // plotly draws it all once the updates stop
          el.dataset.painted = String(revision);
          settle = setTimeout(() => { settle = null; settling = true; schedule(); }, SETTLE_MS);
          return;
        }
        fast.remember(memo);
        el.dataset.revision = String(revision);
        listenForClicks();
        const full = div._fullLayout;
        const shown = full && full.showlegend && full.legend ? Math.ceil(full.legend._height || 0) : 0;
        if (Math.abs(shown - legendHeight) > 1 && refits < 3) {  // room for the legend as drawn
          refits += 1;
          legendHeight = shown;
          again = true;
        }
        const title = div.querySelector(".gtitle");
        if (title && title.textContent && refits < 4) {  // the title's top onto the strip's end
          const top = title.getBoundingClientRect().top - div.getBoundingClientRect().top;
          if (Math.abs(top - TOOLBAR_PX) > 1) {
            refits += 1;
            titleShift += Math.round(TOOLBAR_PX - top);
            again = true;
          }
        }
      },
      (error) => {
        failures += 1;
        console.error("explain: drawing the plot failed", error);
        try { Plotly.purge(div); } catch (_) { div.replaceChildren(); }
        listening = false;  // purge dropped the click listener with the plot
        fast.forget();
        decodedFrom = null;
        again = again || failures <= 3;
      },
    ).finally(() => {
      drawing = false;
      if (again || (alive && model.get("revision") !== revision)) {
        again = false;
        schedule();
      } else if (!pending && !settle) {  // busy until plotly drew the latest state itself
        delete el.dataset.busy;
      }
    });
  };
  const schedule = () => {  // coalesce data+layout changes into one draw per frame
    el.dataset.busy = "1";  // until drawn (tests wait for no busy plot)
    if (pending) return;
    pending = true;
    requestAnimationFrame(draw);
  };
  const changed = () => { refits = 0; schedule(); };
  const listeners = [["change:fig_data", changed], ["change:fig_layout", changed],
    ["change:revision", changed], ["change:min_font", changed], ["change:frame", showFrame],
    ["change:playing", showFrame], ["msg:custom", framesCame]];
  for (const [event, listener] of listeners) model.on(event, listener);
  const unwatch = watchLook((look) => {
    try {
      model.send({ event: "page", dark: look.dark, presentation: look.presentation });
    } catch (_) {}  // a saved notebook's widgets: no kernel to tell
  });
  playOf(model).then((found) => {
    if (!alive || !found) return;
    play = found;
    play.on("explain:ready", showFrame);
  }).catch((error) => console.warn("explain: no play button found", error));
  const resized = new ResizeObserver(() => {  // the output got narrower or wider: fit again
    const width = Math.min(el.clientWidth, model.get("fig_layout").width || 700);
    if (el.clientWidth > 0 && Math.abs(width - drawnWidth) > 1) schedule();
  });
  resized.observe(el);
  // Tell the kernel which revision this view holds: if the kernel holds a later one whose
  // update this page missed, it sends its whole figure again (widgets/_plot.py, Plot).
  const tellRevision = () => {
    if (!alive) return;
    try {
      model.send({ event: "view", revision: model.get("revision") });
    } catch (error) {
      console.warn("explain: no kernel to ask for the figure's state", error);
    }
  };
  takeMessages(model).catch((error) => {
    console.warn("explain: the model's messages stay with anywidget", error);
  }).finally(tellRevision);
  let listening = false;
  function listenForClicks() {  // plotly gives the div its .on() when it first draws into it
    if (listening || typeof div.on !== "function") return;
    listening = true;
    div.on("plotly_click", (event) => {
      const points = event.points.map((p) => ({
        curve: p.curveNumber, x: p.x, y: p.y,
        index: Array.isArray(p.pointIndex) ? p.pointIndex : (p.pointIndex ?? p.pointNumber),
      }));
      model.send({ event: "click", points });
    });
  }
  waitForPlotly().then((lib) => {
    Plotly = lib;
    draw();
  }).catch((error) => { el.textContent = String(error); });
  return () => {
    alive = false;
    clearTimeout(settle);
    resized.disconnect();
    for (const [event, listener] of listeners) model.off(event, listener);
    unwatch();
    if (play) play.off("explain:ready", showFrame);
    if (Plotly) Plotly.purge(div);
  };
}
export default { render };
