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
function withHoverLabels(trace) {
  // meta.hover_rows / meta.hover_cols: one label per row / column; plotly reads them per
  // point from customdata, which is built here so Python sends O(n) labels, not O(n^2).
  const meta = trace.meta;
  if (!meta || !meta.hover_rows || !meta.hover_cols) return trace;
  const rows = meta.hover_rows, cols = meta.hover_cols;
  trace.customdata = rows.map((r) => cols.map((c) => [r, c]));
  return trace;
}
function render({ model, el }) {
  el.classList.add("explain-plot");
  const div = document.createElement("div");
  el.appendChild(div);
  let Plotly = null, pending = false, alive = true;
  const draw = () => {
    pending = false;
    if (!alive || !Plotly) return;
    const data = decode(model.get("fig_data")).map(withHoverLabels);
    const layout = decode(model.get("fig_layout"));
    const revision = model.get("revision");
    Plotly.react(div, data, layout, model.get("fig_config")).then(() => {
      el.dataset.revision = String(revision);
    });
  };
  const schedule = () => {  // coalesce data+layout changes into one draw per frame
    if (pending) return;
    pending = true;
    requestAnimationFrame(draw);
  };
  model.on("change:fig_data", schedule);
  model.on("change:fig_layout", schedule);
  model.on("change:revision", schedule);
  waitForPlotly().then((lib) => {
    Plotly = lib;
    draw();
    div.on("plotly_click", (event) => {
      const points = event.points.map((p) => ({
        curve: p.curveNumber, x: p.x, y: p.y,
        index: Array.isArray(p.pointIndex) ? p.pointIndex : (p.pointIndex ?? p.pointNumber),
      }));
      model.send({ event: "click", points });
    });
  }).catch((error) => { el.textContent = String(error); });
  return () => {
    alive = false;
    model.off("change:fig_data", schedule);
    model.off("change:fig_layout", schedule);
    model.off("change:revision", schedule);
    if (Plotly) Plotly.purge(div);
  };
}
export default { render };
