"""Benchmark: following one prediction, on the default induction model (seed 0).

    python bench/prediction.py [--repeat 5]

Trains ``explain.train("induction")`` (~20 s), then prints the median of ``--repeat`` calls
of each piece and its ratio to the target of issue "follow one prediction through the model":
``lab.attribute`` at one position (20 ms), head x position patching of the probe (1 s), path
patching of one receiver from every earlier head (1 s), ``lab.neurons`` over the validation
set (1 s); each new view opening from the recorded trace (300 ms) and a click in it (100 ms).
One torch thread, as the trainer and the lab use.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import median_s  # noqa: E402

import explain  # noqa: E402
from explain import lab  # noqa: E402

TARGETS_S = {
    "attribute (one position)": 0.020,
    "patch head x position": 1.0,
    "path_patch (one receiver)": 1.0,
    "neurons (validation set)": 1.0,
}
OPEN_TARGET_S = 0.300
CLICK_TARGET_S = 0.100


def _row(name: str, seconds: float, target: float) -> None:
    print(f"  {name:<34} {seconds * 1000:8.1f} ms  / target {target * 1000:6.0f} ms = "
          f"{seconds / target:.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed calls (median reported)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    run = explain.train("induction")
    print(f"trained induction (defaults) in {time.perf_counter() - start:.1f} s")
    model, task = run.model, run.task
    ids = task.probe().inputs[0]
    bad = lab.corrupt(task)
    position = int(task.probe().mask[0].nonzero()[0][0])

    pieces = {
        "attribute (one position)": lambda i: lab.attribute(model, ids, position),
        "patch head x position": lambda i: lab.patch(model, ids, bad, "head_pos", task=task),
        "path_patch (one receiver)": lambda i: lab.path_patch(
            model, ids, bad, receiver=(1, 0, "k"), task=task
        ),
        "neurons (validation set)": lambda i: lab.neurons(model, task),
    }
    print(f"median of {args.repeat}, torch {torch.__version__}, 1 thread")
    for name, action in pieces.items():
        action(-1)  # warm-up
        _row(name, median_s(action, args.repeat), TARGETS_S[name])

    start = time.perf_counter()
    lab.record(run)
    print(f"lab.record (heads, lens, attribution, patching, neurons): "
          f"{time.perf_counter() - start:.2f} s")  # fmt: skip

    import widgets
    from widgets import AttributionView, NeuronView, PatchingView, TokenLossView

    def clicked(view: object, plot: str, point: dict) -> None:
        message = {"event": "click", "points": [point]}
        getattr(view, plot).widget._handle_custom_msg(message, [])

    trace = run.trace
    views = {
        "TokenLossView": (lambda: TokenLossView(trace), None),
        "AttributionView": (
            lambda: AttributionView(trace),
            ("figure_plot", lambda i: {"curve": 0, "x": 0.1, "y": 0, "index": 2 + i % 4}),
        ),
        "PatchingView": (
            lambda: PatchingView(trace),
            ("heads_plot", lambda i: {"curve": 0, "x": i % 4, "y": 1, "index": [1, i % 4]}),
        ),
        "NeuronView": (
            lambda: NeuronView(trace),
            ("figure_plot", lambda i: {"curve": 0, "x": i % 8, "y": 1, "index": [1, i % 8]}),
        ),
    }
    widgets.LossView(trace)  # the first view of a process pays the imports: not any one view's
    for name, (make, click) in views.items():
        make()
        _row(f"{name} opens", median_s(lambda i, make=make: make(), args.repeat), OPEN_TARGET_S)
        if click is not None:
            # with the run: PatchingView measures a newly clicked receiver's path on the model
            view = PatchingView(run) if name == "PatchingView" else make()
            plot, point = click
            _row(
                f"{name} click",
                median_s(
                    lambda i, view=view, plot=plot, point=point: clicked(view, plot, point(i)),
                    args.repeat,
                ),
                CLICK_TARGET_S,
            )


if __name__ == "__main__":
    main()
