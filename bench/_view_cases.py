"""Every view kind of ``widgets``, opened and changed the way a user does, timed.

One case is "<view> open" (constructing the widget) or "<view> <change>" (what a user does most:
a step, a layer or head, a position, a row, a token, a slider). Only public calls that both the
current tree and the one before the renderer refactor (34e7d0a) have, so ``bench/widgets.py
--against`` runs these cases in both trees and compares them.

The same work in both trees:
- each view kind is opened once untimed (what a process does once: lazy imports, torch's
  first run, a Run's lab record); every timed open builds a new view model, and the current
  tree's memo (``explain.views.memo``) lives with its view model, so every open is a first
  open of that view;
- step changes visit snapshots not visited before (:func:`first_visits`): each view computes
  what it memoises per step (the attention grid's mosaic, the heads' badges) once, as a user's
  first pass over the steps does; the 3-snapshot 12 x 12 x 512 case forgets the grid's mosaics
  instead (:func:`forget_grid`) and times cached steps separately.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from _common import medians_ms
from _synthetic import gpt2_attentions, synthetic_trace

import explain
from widgets import (
    AttentionView,
    ByHandView,
    CompareView,
    Dashboard,
    EmbeddingView,
    GenerateView,
    HeadsView,
    LensView,
    LossView,
    OptimizerPlayground,
    OptimizerView,
    PositionalView,
)

Results = dict[str, tuple[float, float]]  # case -> (median wall ms, median CPU ms)


# -- the same work in both trees --------------------------------------------------------------
def forget_grid(view: AttentionView) -> None:
    """Forget the attention grid's mosaics: the old tree keeps them on the view (``_grids``),
    the current one in its view model's memo (``explain.views.memo``, key "mosaics")."""
    grids = getattr(view, "_grids", None)
    if grids is not None:
        grids.clear()
    memo = getattr(explain.views, "memo", None)
    if memo is not None:
        memo(view.data, "mosaics", dict).clear()


def first_visits(steps: list[int], shown: int, stride: int = 1) -> list[int]:
    """The snapshot steps other than ``shown``, ``stride`` apart (wrapping): each is a first
    visit for a view that has shown only ``shown``."""
    others = [s for s in steps if s != shown]
    return [others[(i * stride) % len(others)] for i in range(len(others))]


# -- timing ------------------------------------------------------------------------------------
class Timer:
    """Times opens (one untimed, then ``opens`` fresh views, the last one kept) and changes
    (``repeats`` each; a step change at most once per snapshot), collecting medians in
    ``results``."""

    def __init__(self, opens: int, repeats: int) -> None:
        self.opens, self.repeats = opens, repeats
        self.results: Results = {}

    def open(self, name: str, make: Callable[[], Any]) -> Any:
        views: list[Any] = [make()]

        def before(_: int) -> None:
            views.clear()  # the memo of its view model goes with it
            gc.collect()

        self.results[f"{name} open"] = medians_ms(
            lambda _: views.append(make()), self.opens, before
        )
        return views[-1]

    def change(
        self,
        name: str,
        action: Callable[[int], object],
        before: Callable[[int], object] | None = None,
        repeats: int | None = None,
    ) -> None:
        self.results[name] = medians_ms(action, repeats or self.repeats, before)

    def steps(self, name: str, view: Any, stride: int = 1) -> None:
        """``view.step`` set to steps it has not shown yet."""
        steps = first_visits(view.step_control.steps, view.step, stride)[: self.repeats]
        self.change(f"{name} step", lambda i: setattr(view, "step", steps[i]), repeats=len(steps))


# -- views of a synthetic trace ----------------------------------------------------------------
def attention(timer: Timer, trace: explain.Trace) -> None:
    view = timer.open("AttentionView", lambda: AttentionView(trace))
    timer.steps("AttentionView", view)
    layers, heads = len(view.data.layers), len(view.data.heads)
    timer.change(
        "AttentionView layer", lambda i: view.open_head((view.layer + 1) % layers, view.head)
    )
    timer.change(
        "AttentionView head", lambda i: view.open_head(view.layer, (view.head + 1) % heads)
    )


def embeddings(timer: Timer, trace: explain.Trace) -> None:
    # Trails: on by default in the current tree, off in the old one; the opens keep each
    # tree's default, the step changes run with them on in both (the same work).
    view = timer.open("EmbeddingView", lambda: EmbeddingView(trace))
    view.trails.value = True
    timer.steps("EmbeddingView", view)


def positional(timer: Timer, trace: explain.Trace) -> None:
    timer.steps("PositionalView", timer.open("PositionalView", lambda: PositionalView(trace)))


def loss(timer: Timer, trace: explain.Trace) -> None:
    timer.steps("LossView", timer.open("LossView", lambda: LossView(trace)))


def optimizer(timer: Timer, trace: explain.Trace) -> None:
    view = timer.open("OptimizerView", lambda: OptimizerView(trace, playground=False))
    timer.steps("OptimizerView", view)


def dashboard(timer: Timer, trace: explain.Trace, name: str = "Dashboard") -> None:
    board = timer.open(name, lambda: Dashboard(trace))
    timer.steps(name, board, stride=7)
    attention = board.attention
    heads = len(attention.data.heads)
    timer.change(
        f"{name} head",
        lambda i: attention.open_head(attention.layer, (attention.head + 1) % heads),
    )


# -- views with no trace -----------------------------------------------------------------------
def by_hand(timer: Timer) -> None:
    view = timer.open("ByHandView", ByHandView)
    rows = len(view.result.q)
    timer.change("ByHandView query", lambda i: setattr(view, "query", (view.query + 1) % rows))
    rng = np.random.default_rng(0)
    edits = [rng.normal(size=(3, 6, 4)).round(2) for _ in range(2)]  # (q k v, token, dim)
    timer.change("ByHandView edit", lambda i: view.set_vectors(*edits[i % 2]))


def playground(timer: Timer) -> None:
    view = timer.open("OptimizerPlayground", OptimizerPlayground)
    rates = [view.lr_slider.value / 2, view.lr_slider.value]
    starts = [(-8.0, 1.0), (float(view.x0.value), float(view.y0.value))]
    timer.change("OptimizerPlayground lr", lambda i: setattr(view.lr_slider, "value", rates[i % 2]))
    timer.change("OptimizerPlayground start", lambda i: view.set_start(*starts[i % 2]))


# -- views of a trained run --------------------------------------------------------------------
def trained_run() -> Any:
    """A small run with 41 snapshots (steps 0-40), trained in this process (outside the timing;
    training is the same code in both trees)."""
    model = explain.ModelConfig(
        vocab_size=11, d_model=16, n_layers=2, n_heads=4, d_mlp=32, context_length=12
    )
    return explain.train("reverse", model, explain.TrainConfig(steps=40))


def heads(timer: Timer, run: Any) -> None:
    view = timer.open("HeadsView", lambda: HeadsView(run))
    timer.steps("HeadsView", view)
    n_heads = view.data.heads
    # a click on a head: the first n_heads switch heads off, the next n_heads back on
    timer.change("HeadsView toggle", lambda i: view.toggle(0, i % n_heads))


def lens(timer: Timer, run: Any) -> None:
    view = timer.open("LensView", lambda: LensView(run))
    positions = len(view.data.tokens)
    timer.change(
        "LensView position", lambda i: setattr(view, "position", (view.position + 1) % positions)
    )


def compare(timer: Timer, run: Any) -> None:
    # the run against itself: two panels of the same shape as two runs' (no second training)
    view = timer.open("CompareView", lambda: CompareView(run, run))
    timer.steps("CompareView", view)
    n_heads = view.parts[view.part][1]
    timer.change("CompareView head", lambda i: view.select(view.layer, (view.head + 1) % n_heads))


def generate(timer: Timer, run: Any) -> None:
    view = timer.open("GenerateView", lambda: GenerateView(run))

    def restart(i: int) -> None:  # every fourth token starts again from the prompt
        if i % 4 == 0:
            view.reset()

    timer.change("GenerateView token", lambda i: view.step(), before=restart)
    view.reset()
    temperatures = [0.5, 1.0]
    timer.change(
        "GenerateView temperature",
        lambda i: setattr(view, "temperature", temperatures[i % 2]),
    )


def trained_dashboard(timer: Timer, run: Any) -> None:
    HeadsView(run)  # records the lab into the trace if no case did yet: the heads view shows
    dashboard(timer, run.trace, "Dashboard (trained, 6 views)")


# -- the 12 x 12 x 512 attention ---------------------------------------------------------------
def large_attention(timer: Timer) -> None:
    trace = synthetic_trace(12, 12, 512, 3, full=False)  # ~450 MB of patterns
    gc.collect()
    view = timer.open("AttentionView 12x12x512", lambda: AttentionView(trace))
    steps = view.step_control.steps

    def forget(i: int) -> None:
        forget_grid(view)

    timer.change(
        "AttentionView 12x12x512 step, grid computed",
        lambda i: setattr(view, "step", steps[i % 3]),
        before=forget,
    )
    timer.change(
        "AttentionView 12x12x512 step, grid cached", lambda i: setattr(view, "step", steps[i % 3])
    )
    timer.change(
        "AttentionView 12x12x512 layer", lambda i: view.open_head((view.layer + 1) % 12, view.head)
    )
    timer.change(
        "AttentionView 12x12x512 head", lambda i: view.open_head(view.layer, (view.head + 1) % 12)
    )


def from_attentions(timer: Timer) -> None:
    attentions = gpt2_attentions(12, 12, 512)
    tokens = [f"t{i % 64}" for i in range(512)]  # repeats: induction is scored too
    timer.open(
        "AttentionView.from_attentions 12x12x512",
        lambda: AttentionView.from_attentions(attentions, tokens),
    )


def long_attention(timer: Timer) -> None:
    """GPT-2-small-shaped attention at 512 and 1,024 tokens (issue 21): the open, and in a tree
    with windows (``show_window``) a 64-token window moved down the diagonal."""
    for length in (512, 1024):  # 151 MB, 604 MB of float32
        _long_attention(timer, length)
        gc.collect()


def _long_attention(timer: Timer, length: int) -> None:
    attentions = gpt2_attentions(12, 12, length)
    tokens = [f"t{i % 64}" for i in range(length)]
    gc.collect()
    name = f"AttentionView.from_attentions 12x12x{length}"
    view = timer.open(name, lambda: AttentionView.from_attentions(attentions, tokens))
    if hasattr(view, "show_window"):
        starts = np.linspace(0, length - 64, timer.repeats).astype(int)
        timer.change(f"{name} 64-token window", lambda i: view.show_window(64, int(starts[i])))


# -- every case --------------------------------------------------------------------------------
SMALL = (attention, embeddings, positional, loss, optimizer, dashboard)  # (timer, trace)
FREE = (by_hand, playground)  # (timer)
TRAINED = (heads, lens, compare, generate, trained_dashboard)  # (timer, run)
LARGE = (large_attention, from_attentions, long_attention)  # (timer)


def run_cases(
    opens: int, repeats: int, large: bool, only: Callable[[str], bool] = lambda name: True
) -> Iterator[tuple[str, tuple[float, float]]]:
    """Every case (the 12 x 12 x 512 ones with ``large``), as (name, (wall ms, CPU ms)) while
    they finish; ``only(group)`` picks groups by function name (``attention``, ``heads``...)."""
    timer = Timer(opens, repeats)

    def chosen(groups: tuple[Callable[..., None], ...]) -> list[Callable[..., None]]:
        return [group for group in groups if only(group.__name__)]

    cases: list[Callable[[], None]] = []
    if small := chosen(SMALL):
        trace = synthetic_trace(4, 4, 32, 50, full=True)
        cases += [lambda group=group: group(timer, trace) for group in small]
    cases += [lambda group=group: group(timer) for group in chosen(FREE)]
    if large:
        cases += [lambda group=group: group(timer) for group in chosen(LARGE)]
    runs: list[Any] = []  # trained when the first case needs it: no torch threads before

    def trained(group: Callable[[Timer, Any], None]) -> None:
        runs[:] = runs or [trained_run()]
        group(timer, runs[0])

    cases += [lambda group=group: trained(group) for group in chosen(TRAINED)]
    for case in cases:
        case()
        yield from timer.results.items()
        timer.results.clear()
