"""Benchmark: what the static pictures add to displaying a view (``_repr_mimebundle_``).

    python bench/static.py             # trains "reverse" for 60 steps first (a few seconds)
    python bench/static.py --trace run.npz

For each view: the milliseconds a ``_repr_mimebundle_`` call adds over the widget's own bundle
(median of 5, after one warm-up call that pays matplotlib's import and font cache), the pictures
drawn, and the kB of the output's ``text/html``. Target (issue: static pictures): under ~150 ms
and ~60 kB a picture for a 2-layer x 4-head x 12-token attention view.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import explain  # noqa: E402
import widgets  # noqa: E402

VIEWS = ("AttentionView", "LossView", "EmbeddingView", "PositionalView", "OptimizerView")


def median_ms(call, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", type=Path, help="a saved trace (default: train reverse)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.trace is not None:
        trace = explain.load_trace(args.trace)
    else:
        import torch

        torch.set_num_threads(1)  # tiny model: one thread is fastest (see tests/conftest.py)
        trace = explain.train("reverse", train_config=explain.TrainConfig(steps=60)).trace
    objects = {name: getattr(widgets, name)(trace) for name in VIEWS}
    objects["Dashboard"] = widgets.Dashboard(trace)
    print(f"trace: {trace.n_layers} layers x {trace.n_heads} heads, steps 0..{trace.steps[-1]}")
    print("bundle: what _repr_mimebundle_ adds (the view's own pictures);")
    print("generic: widgets._static.figure_png of every shown plotly figure (View's default)")
    print(
        f"{'view':<15}{'pictures':>9}{'added ms':>9}{'ms/pic':>8}{'kB':>7}{'max kB/pic':>11}"
        f"{'generic: pictures':>18}{'ms':>6}{'kB':>6}"
    )
    for name, view in objects.items():
        view._repr_mimebundle_()  # warm-up: imports, font cache
        widget_ms = median_ms(lambda view=view: view.widget._repr_mimebundle_(), args.repeat)
        total_ms = median_ms(lambda view=view: view._repr_mimebundle_(), args.repeat)
        html = view._repr_mimebundle_().get("text/html", "")
        sizes = [len(p) * 3 / 4 / 1000 for p in re.findall(r"base64,([^\"]+)", html)]
        added = total_ms - widget_ms
        per_picture = added / len(sizes) if sizes else float("nan")
        generic_views = list(view.views.values()) if name == "Dashboard" else [view]

        def generic(views=generic_views) -> list:
            return [p for v in views for p in widgets.View._static_images(v)]

        generic_ms = median_ms(generic, args.repeat)
        generic_kb = sum(len(png) for png, _ in generic()) / 1000
        print(
            f"{name:<15}{len(sizes):>9}{added:>9.0f}{per_picture:>8.0f}{len(html) / 1000:>7.1f}"
            f"{max(sizes, default=0):>11.1f}{len(generic()):>18}{generic_ms:>6.0f}"
            f"{generic_kb:>6.1f}"
        )


if __name__ == "__main__":
    main()
