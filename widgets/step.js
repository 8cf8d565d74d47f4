// The play button's pace and the slider's place, kept in the page (widgets/_base.py, PlayPace).
//
// While the play button plays, every step it reaches moves the slider here, in the same task:
// the slider's handle and readout, and the title a page-played plot draws from the same play
// value (plot.js), change together, with no kernel round trip between them (a teacher saw the
// readout trail the title by 7 steps when the slider followed the play through the kernel).
// The slider then tells the kernel, which moves its views. The wait before the next step is
// intervals[step] (the speed, and slower around emergence), set before the play button's
// model reads it to schedule that step.
async function modelOf(model, name) {
  const ref = model.get(name);
  if (typeof ref !== "string" || !ref.startsWith("IPY_MODEL_")) return null;
  return model.widget_manager.get_model(ref.slice("IPY_MODEL_".length));
}
// The play button waits its interval after the page handled a step (drew it), so a step takes
// that handling longer than the wait asked for (~40 ms a step at 1x on a 2-core machine, which
// played 1x at half the speed asked and 0.25x at 3/4); the wait given is what is left of it.
const MIN_WAIT_MS = 4;
function follow(model, play, slider) {
  let last = null, extra = 0;  // the last step's time and wait; the handling a step adds (ms)
  const stepped = () => {
    if (!play.get("playing")) {  // a stop, or the kernel placing the play: it moves both
      last = null;
      return;
    }
    const index = play.get("value");
    const intervals = model.get("intervals") || [];
    if (index >= 0 && index < intervals.length) {
      const now = performance.now();
      if (last && last.index === index - 1) {  // smoothed: one slow step is no trend
        extra = 0.5 * extra + 0.5 * Math.max(0, now - last.at - last.wait);
      }
      // (not where a plot plays through the kernel: its round trips fall behind a faster play)
      const through = play.explainKernel && play.explainKernel.size;
      const wait = Math.max(MIN_WAIT_MS, Math.round(intervals[index] - (through ? 0 : extra)));
      play.set("interval", wait);
      last = { index, at: now, wait };
    }
    // plots wait for their frames, or play through the kernel, which then moves it (plot.js)
    if (play.explainWaiting && play.explainWaiting.size) return;
    if (play.explainKernel && play.explainKernel.size) return;
    if (slider.get("index") !== index) {
      slider.set("index", index);
      slider.save_changes();  // before the play's own save: the kernel hears the slider first
    }
  };
  play.on("change:value", stepped);
  play.on("change:playing", stepped);  // the first step's wait
  play.on("explain:ready", stepped);  // the plots got their frames: move with them
  return () => {
    play.off("change:value", stepped);
    play.off("change:playing", stepped);
    play.off("explain:ready", stepped);
  };
}
function initialize({ model }) {
  // not awaited: anywidget gives initialize 2 s, and a busy page (Voila loading a dashboard)
  // may create the play button and the slider later than that
  let stop = null, gone = false;
  Promise.all([modelOf(model, "play"), modelOf(model, "slider")]).then(([play, slider]) => {
    if (!gone && play && slider) stop = follow(model, play, slider);
  }).catch((error) => console.warn("explain: the step control's pace found no play", error));
  return () => {
    gone = true;
    if (stop) stop();
  };
}
export default { initialize, render({ el }) { el.style.display = "none"; } };
