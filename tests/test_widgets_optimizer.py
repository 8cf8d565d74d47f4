"""OptimizerView and the playground: numbers from the trace; trajectories from the update rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _widget_traces import get_reverse_trace

from widgets import OptimizerPlayground, OptimizerView
from widgets.playground import SURFACES, trajectory

PARAM = "embed.W_E.weight"


def test_history_and_histogram_are_the_trace():
    reverse_trace = get_reverse_trace()
    view = OptimizerView(reverse_trace, parameter=PARAM, step=20, playground=False)
    # one figure: the histogram's bars, then the curves over steps
    bars, grad, applied, first, second, ratio = view.history.figure.data
    steps, norms = reverse_trace.scalar(f"grad_norm/{PARAM}")
    np.testing.assert_array_equal(grad.x, steps)
    np.testing.assert_array_equal(grad.y, norms)
    update = reverse_trace.tensor(f"update/{PARAM}").astype(np.float64)
    expected = [math.sqrt((u**2).sum()) for u in update]
    np.testing.assert_allclose(applied.y, expected, rtol=1e-10)
    m = reverse_trace.tensor(f"exp_avg/{PARAM}").astype(np.float64)
    v = reverse_trace.tensor(f"exp_avg_sq/{PARAM}").astype(np.float64)
    np.testing.assert_allclose(first.y, [math.sqrt((x**2).sum()) for x in m], rtol=1e-10)
    np.testing.assert_allclose(second.y, [math.sqrt(x.sum()) for x in v], rtol=1e-10)
    np.testing.assert_array_equal(ratio.y, reverse_trace.scalar(f"update_ratio/{PARAM}")[1])
    values = reverse_trace.tensor(f"update/{PARAM}", 20).ravel()
    reach = np.abs(values).max()
    counts, edges = np.histogram(values, bins=41, range=(-reach, reach))
    assert view.histogram.figure.data[0] is bars
    np.testing.assert_array_equal(bars.y, counts)
    np.testing.assert_allclose(bars.x, (edges[1:] + edges[:-1]) / 2, rtol=1e-5, atol=1e-9)
    assert view.history.figure.layout.shapes[0].x0 == 20


def test_parameter_switch_and_click():
    reverse_trace = get_reverse_trace()
    view = OptimizerView(reverse_trace, step=5, playground=False)
    other = "blocks.0.attn.W_o.weight"
    view.parameter_select.value = other
    values = reverse_trace.tensor(f"update/{other}", 5).ravel()
    assert view.histogram.figure.data[0].y.sum() == values.size
    view.history.widget._handle_custom_msg(  # trace 1: the gradient norm (0: the bars)
        {"event": "click", "points": [{"curve": 1, "x": 17.2, "y": 0.1, "index": 17}]}, []
    )
    assert view.step == 17
    view.history.widget._handle_custom_msg(  # a bar's x is an update size, not a step
        {"event": "click", "points": [{"curve": 0, "x": 1e-4, "y": 3, "index": 30}]}, []
    )
    assert view.step == 17
    with pytest.raises(ValueError, match=r"not in this trace \(tracked parameters\); available"):
        OptimizerView(reverse_trace, parameter="nope")


def reference(surface, optimizer, start, lr, steps, beta1=0.9, beta2=0.999, eps=1e-8):
    """Hand-written loops, scalar by scalar."""
    grad = SURFACES[surface].grad
    x, y = start
    mx = my = vx = vy = 0.0
    path = [(x, y)]
    for t in range(1, steps + 1):
        gx, gy = grad(x, y)
        if optimizer == "gd":
            x, y = x - lr * gx, y - lr * gy
        elif optimizer == "momentum":
            mx, my = beta1 * mx + gx, beta1 * my + gy
            x, y = x - lr * mx, y - lr * my
        else:
            mx, my = beta1 * mx + (1 - beta1) * gx, beta1 * my + (1 - beta1) * gy
            vx, vy = beta2 * vx + (1 - beta2) * gx * gx, beta2 * vy + (1 - beta2) * gy * gy
            cx, cy = mx / (1 - beta1**t), my / (1 - beta1**t)
            sx, sy = math.sqrt(vx / (1 - beta2**t)), math.sqrt(vy / (1 - beta2**t))
            x, y = x - lr * cx / (sx + eps), y - lr * cy / (sy + eps)
        path.append((x, y))
    return np.array(path)


@pytest.mark.parametrize("surface", ["bowl", "rosenbrock", "saddle"])
@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
def test_trajectories_match_hand_written_updates(surface, optimizer):
    spec = SURFACES[surface]
    got = trajectory(surface, optimizer, spec.start, spec.lr, 50, beta1=0.8, beta2=0.99)
    want = reference(surface, optimizer, spec.start, spec.lr, 50, beta1=0.8, beta2=0.99)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_gd_on_bowl_closed_form():
    # theta_t = (1 - lr * a)^t * theta_0 on f = (x^2 + 5 y^2) / 2
    path = trajectory("bowl", "gd", (2.0, 1.0), 0.1, 10)
    t = np.arange(11)
    np.testing.assert_allclose(path[:, 0], 2.0 * 0.9**t)
    np.testing.assert_allclose(path[:, 1], 1.0 * 0.5**t)


def test_divergence_stops_the_trajectory():
    path = trajectory("bowl", "gd", (1.0, 1.0), 1.0, 200)  # |1 - 5| = 4 per step in y
    assert len(path) < 201 and np.isfinite(path).all()


def test_playground_controls_rerun_the_optimizers():
    playground = OptimizerPlayground("rosenbrock")
    spec = SURFACES["rosenbrock"]
    lines = playground.plot.figure.data[1:4]
    np.testing.assert_allclose(
        lines[2].x, reference("rosenbrock", "adam", spec.start, spec.lr, 100)[:, 0]
    )
    playground.plot.widget._handle_custom_msg(
        {"event": "click", "points": [{"curve": 0, "x": 0.5, "y": -0.5, "index": [1, 2]}]}, []
    )
    assert (playground.x0.value, playground.y0.value) == (0.5, -0.5)
    playground.lr_slider.value = 0.0005
    playground.beta1_slider.value = 0.5
    lr = playground.lr_slider.value  # the log slider's own rounding of 0.0005
    want = reference("rosenbrock", "momentum", (0.5, -0.5), lr, 100, beta1=0.5)
    np.testing.assert_allclose(playground.paths["momentum"], want)
    np.testing.assert_allclose(playground.plot.figure.data[2].y, want[:, 1])
    playground.surface_select.value = "saddle"
    assert (playground.x0.value, playground.y0.value) == SURFACES["saddle"].start
    assert "x^2 - y^2" in playground.formulas.value


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"surface": "hill"}, "surface must be one of"),
        ({"optimizer": "sgd2"}, "optimizer must be one of"),
        ({"start": (1.0,)}, "two finite numbers"),
        ({"start": (np.nan, 1.0)}, "two finite numbers"),
        ({"lr": -1.0}, r"lr must be in \[0.0, 100.0\]"),
        ({"beta1": 1.0}, r"beta1 must be in \[0.0, 1.0\)"),
        ({"steps": 2.5}, "steps must be an integer"),
    ],
)
def test_playground_bad_input(kwargs, message):
    args = {"surface": "bowl", "optimizer": "gd", "start": (1.0, 1.0), "lr": 0.1, "steps": 5}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        trajectory(**args)


def test_the_default_playground_zig_zags_and_momentum_runs_ahead():
    # the lesson of notebook 4, computed from the playground's own trajectories
    playground = OptimizerPlayground()
    assert playground.surface_select.value == "valley"
    gd, momentum = playground.paths["gd"], playground.paths["momentum"]
    across = np.sign(gd[:21, 1])  # y: across the valley, whose floor is y = 0
    assert (across[1:] == -across[:-1]).all(), gd[:21, 1]
    start = gd[0, 0]
    gd_along, momentum_along = gd[10, 0] - start, momentum[10, 0] - start
    assert momentum_along > 3 * gd_along > 0, (gd_along, momentum_along)
    # the same numbers from the update rules written out by hand
    spec = SURFACES["valley"]
    np.testing.assert_allclose(gd, reference("valley", "gd", spec.start, spec.lr, 100))
    np.testing.assert_allclose(momentum, reference("valley", "momentum", spec.start, spec.lr, 100))


def test_a_click_anywhere_on_the_surface_moves_the_start():
    playground = OptimizerPlayground()
    contour = playground.plot.figure.data[0]
    assert contour.type == "contour" and contour.hoverinfo != "skip"  # plotly skips no clicks
    # what plot.js sends for a click on a contour cell: curve 0, the cell's x/y, [row, col]
    playground.plot.widget._handle_custom_msg(
        {"event": "click", "points": [{"curve": 0, "x": 6.5, "y": -2.25, "index": [6, 66]}]}, []
    )
    assert (playground.x0.value, playground.y0.value) == (6.5, -2.25)
    spec = SURFACES["valley"]
    want = reference("valley", "adam", (6.5, -2.25), spec.lr, 100)
    np.testing.assert_allclose(playground.paths["adam"], want)
    np.testing.assert_allclose(playground.plot.figure.data[-1].x, [6.5])  # the start marker


def test_the_optimizer_view_opens_at_the_first_update():
    reverse_trace = get_reverse_trace()
    view = OptimizerView(reverse_trace, parameter=PARAM, playground=False)
    updates = reverse_trace.tensor(f"update/{PARAM}")
    moved = [
        int(step)
        for step, update in zip(reverse_trace.snapshot_steps, updates, strict=True)
        if np.abs(update).max() > 0
    ]
    assert view.step == moved[0] > 0
    # Adam's first update moves every weight by about the same amount (the recorded update is a
    # float32 difference of weights, a few % off): the histogram's mass sits at its two ends
    values = np.abs(reverse_trace.tensor(f"update/{PARAM}", view.step)).ravel()
    assert np.quantile(values, 0.05) > 0.9 * values.max(), values
    counts = view.histogram.figure.data[0].y
    assert counts[:3].sum() + counts[-3:].sum() > 0.95 * counts.sum(), counts
    shared = OptimizerView(reverse_trace, playground=False, step=7)
    assert shared.step == 7  # a step asked for wins


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(300)
def test_plotly_reports_a_click_on_the_bare_surface(chromium, tmp_path):
    """In chromium, a click on the contour far from every trajectory gives plotly_click points
    with x and y, mapped as plot.js maps them; the playground then starts there."""
    import plotly.io
    from plotly.offline import get_plotlyjs

    playground = OptimizerPlayground()
    page_path = tmp_path / "surface.html"
    page_path.write_text(
        "<html><body><div id='plot'></div><script>"
        + get_plotlyjs()
        + "</script><script>const figure = "
        + plotly.io.to_json(playground.plot.figure)
        + """;
Plotly.newPlot('plot', figure.data, figure.layout).then((div) => {
  window.sent = [];
  div.on('plotly_click', (event) => { window.sent.push(event.points.map((p) => ({
    curve: p.curveNumber, x: p.x, y: p.y,
    index: Array.isArray(p.pointIndex) ? p.pointIndex : (p.pointIndex ?? p.pointNumber),
  }))); });
  window.ready = true;
});
</script></body></html>""",
        encoding="utf-8",
    )
    page = chromium.new_page(viewport={"width": 800, "height": 700})
    try:
        page.goto(page_path.as_uri(), wait_until="load", timeout=60_000)
        page.wait_for_function("window.ready === true", timeout=60_000)
        # the pixel of data point (6, 2): upper right, where no optimizer goes from (-9, 1.5)
        x, y = page.evaluate(
            """() => {
              const full = document.getElementById('plot')._fullLayout;
              const box = document.querySelector('#plot .nsewdrag').getBoundingClientRect();
              return [box.left + full.xaxis.l2p(6), box.top + full.yaxis.l2p(2)];
            }"""
        )
        page.mouse.move(x, y)
        page.mouse.click(x, y)
        page.wait_for_function("window.sent.length > 0", timeout=10_000)
        points = page.evaluate("window.sent[0]")
    finally:
        page.close()
    assert points[0]["curve"] == 0, points  # the contour, not a trajectory
    assert abs(points[0]["x"] - 6) < 0.3 and abs(points[0]["y"] - 2) < 0.1, points
    playground.plot.widget._handle_custom_msg({"event": "click", "points": points}, [])
    assert (playground.x0.value, playground.y0.value) == (points[0]["x"], points[0]["y"])
