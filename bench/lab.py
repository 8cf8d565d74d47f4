"""Benchmark: which heads matter, on the default reverse model.

    python bench/lab.py [--repeat 3]

Trains ``explain.train("reverse")`` with the defaults (seed 0, ~5-10 s), then times
``explain.lab.head_importance`` (gradient, 8 held-out batches of 64) followed by
``explain.lab.prune_curve`` (no retraining, the order from those scores: 9 evaluations of
8 batches). Prints the median of ``--repeat`` runs of each and of both together, and the ratio
of the total to the target of 3 s, plus the Spearman correlation of the gradient and ablation
importances and the curve itself.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import median_s  # noqa: E402

import explain  # noqa: E402

TARGET_S = 3.0
CLICK_TARGET_S = 0.3  # a HeadsView click: ablate + evaluate + redraw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (median reported)")
    args = parser.parse_args()

    import torch

    # The Trainer trains on TrainConfig.threads (1) threads; tiny models gain nothing from more.
    torch.set_num_threads(1)
    start = time.perf_counter()
    run = explain.train("reverse")
    seconds = time.perf_counter() - start
    print(f"trained reverse (defaults) in {seconds:.1f} s: {run.trainer.evaluate()}")
    model, task = run.model, run.task

    times: dict[str, list[float]] = {"head_importance": [], "prune_curve": [], "total": []}
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        scores = explain.lab.head_importance(model, task)
        t1 = time.perf_counter()
        curve = explain.lab.prune_curve(model, task, order=explain.lab.rank_heads(scores))
        t2 = time.perf_counter()
        times["head_importance"].append(t1 - t0)
        times["prune_curve"].append(t2 - t1)
        times["total"].append(t2 - t0)

    print(f"median of {args.repeat}, torch {torch.__version__}, {torch.get_num_threads()} thread")
    for name, values in times.items():
        print(f"  {name:<16} {statistics.median(values):6.3f} s")
    total = statistics.median(times["total"])
    print(f"  total / target ({TARGET_S:.0f} s) = {total / TARGET_S:.3f}")

    ablation = explain.lab.head_importance(model, task, "ablation")
    print(f"Spearman(gradient, ablation) = {explain.lab.spearman(scores, ablation):.3f}")
    print("prune curve (fraction of heads off: loss, accuracy):")
    for fraction, loss, accuracy in zip(curve.fractions, curve.loss, curve.accuracy, strict=True):
        print(f"  {fraction:5.3f}: {loss:8.4f}  {accuracy:6.3f}")
    print(f"order (least important first): {list(curve.order)}")

    import widgets

    view = widgets.HeadsView(run)
    clicks = [(1, 0), (1, 0), (0, 2), (0, 2), (1, 3), (1, 3)]  # (layer, head)

    def click_head(i: int) -> None:
        layer, head = clicks[i]
        view.grid.widget._handle_custom_msg(
            {"event": "click", "points": [{"curve": 0, "x": head, "y": layer, "index": 0}]}, []
        )

    click = median_s(click_head, len(clicks))
    print(
        f"HeadsView click (ablate + evaluate + redraw), median of {len(clicks)}: "
        f"{click * 1000:.0f} ms; / target ({CLICK_TARGET_S * 1000:.0f} ms) = "
        f"{click / CLICK_TARGET_S:.3f}"
    )


if __name__ == "__main__":
    main()
