"""Benchmark: Python-side time to open every view and to update it after a step (layer, head,
position...) change.

    python bench/widgets.py            # targets, then every view kind's cases
    python bench/widgets.py --quick    # the small trace's targets, then the cases
    python bench/widgets.py --open     # the one-snapshot from_attentions open only
    python bench/widgets.py --long     # 512 and 1,024 tokens: open, memory, window, exports
    python bench/widgets.py --against 34e7d0a --quick  # this tree vs 34e7d0a, side by side
    python bench/widgets.py --against 34e7d0a --rounds 7 --only attention,heads

Targets (issue 3): 4 layers x 4 heads x 32 tokens: updates <= 20 ms; 12 x 12 x 512 tokens:
opens <= 2 s, updates <= 100 ms. A GPT-2-small-shaped attention (12 x 12 x 512, one snapshot,
per-layer [1, heads, T, T] arrays as HuggingFace returns them) opened with
``AttentionView.from_attentions``, head-role badges included: <= 0.5 s (median of 5 opens).

Targets (issue 21, long inputs): the same at 512 and 1,024 tokens (151 and 604 MB of float32)
opens, its first figures built, in <= 0.5 s and <= 1 s (median of 5 opens, one untimed first),
with at most 1.5x the attention's bytes of extra memory at the peak (tracemalloc, which sees
numpy's buffers; the RSS growth is printed beside it). Also timed: a 64-token window shown and
moved, and the exports (PNG, HTML) of the whole map and of a window, with their sizes. For
comparison the issue quotes bertviz's head_view: ~287 MB of HTML in 10.7 s for 2 of 12
layers at 512 tokens (not run here).

The cases (``bench/_view_cases.py``) open each view kind and change it the way a user does;
heads, lens, compare and generate read a small run trained once per process (torch), the
others synthetic traces. ``--against REV`` runs them in fresh processes alternately in this
tree and in a ``git worktree`` of REV, and prints each case's new and old medians and the median
of the per-round ratios, flagging those over 1.10 (the issue: no view slower to open or to
change step than at 34e7d0a, within 10%). ``--only`` picks case groups (the functions of
``_view_cases``: attention, embeddings, positional, loss, optimizer, dashboard, by_hand,
playground, heads, lens, compare, generate, trained_dashboard, large_attention,
from_attentions, long_attention). The time is what the kernel spends (numpy, plotly
validation, encoding the synced state); the browser's drawing is not included.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from _synthetic import gpt2_attentions, synthetic_trace  # noqa: E402
from _view_cases import forget_grid, run_cases  # noqa: E402

from explain import export  # noqa: E402
from explain.adapters import from_attentions  # noqa: E402
from widgets import AttentionView, Dashboard  # noqa: E402

CPU_TIMES: list[float] = []  # CPU time of the last median_ms call, for the report


def median_ms(action: Callable[[int], None], repeats: int) -> float:
    """Median wall time of ``action(i)`` in ms (its median CPU time goes to CPU_TIMES)."""
    times, cpu = [], []
    for i in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        action(i)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    CPU_TIMES.append(1000 * statistics.median(cpu))
    return 1000 * statistics.median(times)


def report(name: str, value: float, target: float, unit: str = "ms") -> None:
    """One line: the median wall time, its ratio to the target, and the median CPU time."""
    ok = "ok" if value <= target else "OVER"
    cpu = f"  (cpu {CPU_TIMES.pop():6.1f} ms)" if CPU_TIMES else ""
    print(
        f"  {name:<44} {value:9.1f} {unit}  target {target:6.0f} {unit}  "
        f"ratio {value / target:5.2f}  {ok}{cpu}"
    )


def small(repeats: int) -> None:
    print("4 layers x 4 heads x 32 tokens, 50 snapshots")
    trace = synthetic_trace(4, 4, 32, 50, full=True)
    steps = trace.snapshot_steps.tolist()
    start = time.perf_counter()
    view = AttentionView(trace)
    report("AttentionView open", 1000 * (time.perf_counter() - start), 2000)
    report(
        "AttentionView step change",
        median_ms(lambda i: setattr(view, "step", steps[i % 50]), repeats),
        20,
    )
    report(
        "AttentionView layer change",
        median_ms(lambda i: view.open_head(i % 4, view.head), repeats),
        20,
    )
    report(
        "AttentionView head change",
        median_ms(lambda i: view.open_head(view.layer, i % 4), repeats),
        20,
    )
    start = time.perf_counter()
    dashboard = Dashboard(trace)
    report("Dashboard open (5 views)", 1000 * (time.perf_counter() - start), 2000)
    report(
        "Dashboard step change (all 5 views)",
        median_ms(lambda i: setattr(dashboard, "step", steps[(7 * i) % 50]), repeats),
        20,
    )
    attention = dashboard.attention
    report(
        "Dashboard head change",
        median_ms(lambda i: attention.open_head(attention.layer, i % 4), repeats),
        20,
    )


def large(repeats: int) -> None:
    print("12 layers x 12 heads x 512 tokens, 3 snapshots (synthetic, ~450 MB of patterns)")
    trace = synthetic_trace(12, 12, 512, 3, full=False)
    gc.collect()
    start = time.perf_counter()
    view = AttentionView(trace)
    report("AttentionView open", 1000 * (time.perf_counter() - start), 2000)
    sent = sum(len(view.heatmap.widget.fig_data[0]["z"]["buffer"].tobytes()) for _ in [0])
    grid = view.grid.widget.fig_data[0]["z"]["shape"]
    print(f"  sent: full head {sent / 1e6:.1f} MB, grid {grid[0]}x{grid[1]} thumbnails")
    steps = trace.snapshot_steps.tolist()

    def uncached_step(i: int) -> None:
        # first visit of a snapshot: all 144 thumbnails recomputed (the grid's memo forgotten)
        forget_grid(view)
        view.step = steps[i % 3]

    report("step change, thumbnails computed", median_ms(uncached_step, max(3, repeats // 4)), 100)
    report(
        "step change, thumbnails cached",
        median_ms(lambda i: setattr(view, "step", steps[i % 3]), repeats),
        100,
    )
    report("layer change", median_ms(lambda i: view.open_head(i % 12, view.head), repeats), 100)
    report("head change", median_ms(lambda i: view.open_head(view.layer, i % 12), repeats), 100)


def one_snapshot(repeats: int = 5) -> None:
    print("12 layers x 12 heads x 512 tokens, 1 snapshot, AttentionView.from_attentions")
    attentions = gpt2_attentions(12, 12, 512)
    tokens = [f"t{i % 64}" for i in range(512)]  # repeats: induction is scored too
    views: list[AttentionView] = []

    def open_view(i: int) -> None:
        views[:] = [AttentionView.from_attentions(attentions, tokens)]  # the last one kept

    gc.collect()
    report("from_attentions open, with badges", median_ms(open_view, repeats), 500)
    badges = len(views[0].grid.figure.layout.annotations)
    print(f"  badges on the grid: {badges} (3 heads per layer show a pattern)")


LONG_TARGETS_MS = {512: 500, 1024: 1000}  # issue 21: time to open, its first figures built
MEMORY_LIMIT = 1.5  # issue 21: peak extra memory while opening, x the attention's bytes


def rss_mb() -> float:
    """This process's resident memory now (Linux), MB; NaN where /proc is missing."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        return float("nan")


def long_inputs(opens: int = 5, repeats: int = 10) -> None:
    print("GPT-2-small-shaped attention: 12 layers x 12 heads, 1 snapshot, from_attentions")
    for length in (512, 1024):
        long_input(length, opens, repeats)
    print(
        "  for comparison (issue 21, not run here): bertviz head_view, 2 of 12 layers at 512 "
        "tokens: ~287 MB of HTML in 10.7 s"
    )


def long_input(length: int, opens: int, repeats: int) -> None:
    attentions = gpt2_attentions(12, 12, length)
    size_mb = sum(a.nbytes for a in attentions) / 1e6
    tokens = [f"t{i % 64}" for i in range(length)]
    shown: list[AttentionView] = []

    def open_view(i: int) -> None:
        shown[:] = [AttentionView.from_attentions(attentions, tokens)]  # the last one kept

    print(f" {length} tokens ({size_mb:.0f} MB of float32 attention)")
    open_view(0)  # untimed, as every view's first open in bench/_view_cases.py
    gc.collect()
    report("open (its first figures built)", median_ms(open_view, opens), LONG_TARGETS_MS[length])
    shown.clear()
    gc.collect()
    rss = rss_mb()
    tracemalloc.start()
    open_view(0)
    peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    grown = rss_mb() - rss
    report("peak extra memory while opening", peak_mb, MEMORY_LIMIT * size_mb, unit="MB")
    print(f"  {'':<44} (RSS grew {grown:.0f} MB; the attention is {size_mb:.0f} MB, not copied)")
    view = shown[0]
    starts = [int(s) for s in np.linspace(0, length - 64, repeats)]
    report(
        "64-token window shown (show_window)",
        median_ms(lambda i: view.show_window(64, starts[i]), repeats),
        100,
    )
    report(
        "window moved (the start slider)",
        median_ms(lambda i: setattr(view.start_slider, "value", starts[-1 - i]), repeats),
        100,
    )
    trace = from_attentions(attentions, tokens)
    with tempfile.TemporaryDirectory() as folder:
        for name, options in (
            ("png", {}),
            ("png", {"window": 64, "start": length // 2}),
            ("html", {}),
            ("html", {"window": 64, "start": length // 2}),
        ):
            path = os.path.join(folder, f"attention.{name}")
            start = time.perf_counter()
            export.save(trace, path, **options)
            took = time.perf_counter() - start
            what = "64-token window" if options else "whole map"
            written = os.path.getsize(path) / 1e6
            print(f"  export {name.upper():<4} {what:<34} {1000 * took:9.1f} ms  {written:6.2f} MB")


def cases(opens: int, repeats: int, only: set[str]) -> None:
    """Every view kind's cases in this tree (the 12 x 12 x 512 ones are the targets' above)."""
    print("every view kind: median ms of opens and changes (wall, CPU)")
    for name, (wall, cpu) in run_cases(opens, repeats, False, lambda g: not only or g in only):
        print(f"  {name:<44} {wall:9.1f} ms  (cpu {cpu:6.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="no 12 x 12 x 512 attention")
    parser.add_argument("--open", action="store_true", help="only the from_attentions open")
    parser.add_argument("--long", action="store_true", help="only the 512/1,024-token inputs")
    parser.add_argument("--repeats", type=int, help="changes timed (targets 30, cases 20)")
    parser.add_argument("--opens", type=int, default=5, help="opens timed per view kind")
    parser.add_argument("--against", metavar="REV", help="compare with this git revision")
    parser.add_argument("--rounds", type=int, default=5, help="worker pairs with --against")
    parser.add_argument("--only", default="", help="comma-separated case groups")
    args = parser.parse_args()
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    changes = args.repeats or 20
    if args.against:
        from _against import compare

        if args.open:
            args.quick, only = False, {"from_attentions"}
        options = [f"--opens={args.opens}", f"--repeats={changes}"]
        options += [] if args.quick else ["--large"]
        options += [f"--only={','.join(sorted(only))}"] if only else []
        compare(args.against, args.rounds, options)
        return
    repeats = args.repeats or 30
    if args.long:
        long_inputs(args.opens)
        return
    if not args.open:
        small(repeats)
    if not args.quick and not args.open:
        large(max(5, repeats // 3))
    if not args.quick:
        one_snapshot()
        long_inputs(args.opens)
    if not args.open:
        cases(args.opens, changes, only)


if __name__ == "__main__":
    main()
