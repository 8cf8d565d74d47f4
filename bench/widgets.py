"""Benchmark: Python-side time to update the views after a step, layer or head change.

    python bench/widgets.py            # every case
    python bench/widgets.py --quick    # the small trace only
    python bench/widgets.py --open     # the one-snapshot from_attentions open only

Targets (issue 3): 4 layers x 4 heads x 32 tokens: updates <= 20 ms; 12 x 12 x 512 tokens:
opens <= 2 s, updates <= 100 ms. A GPT-2-small-shaped attention (12 x 12 x 512, one snapshot,
per-layer [1, heads, T, T] arrays as HuggingFace returns them) opened with
``AttentionView.from_attentions``, head-role badges included: <= 0.5 s (median of 5 opens).
The time is what the kernel spends (numpy, plotly validation, encoding the synced state); the
browser's drawing is not included. Synthetic traces, no torch.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import training_scalars  # noqa: E402

from explain.trace import Trace  # noqa: E402
from widgets import AttentionView, Dashboard  # noqa: E402

PARAM = "blocks.0.attn.W_o.weight"


def synthetic_trace(layers: int, heads: int, tokens: int, snapshots: int, full: bool) -> Trace:
    """Row-normalised causal attention at ``snapshots`` steps; with ``full``, also everything
    else a recorded trace has (scalars, embeddings, positional table, optimizer tensors)."""
    rng = np.random.default_rng(0)
    snapshot_steps = np.arange(snapshots) * 10
    tensors: dict[str, np.ndarray] = {}
    mask = np.tril(np.ones((tokens, tokens), np.float32))
    for layer in range(layers):
        pattern = rng.random((snapshots, heads, tokens, tokens), dtype=np.float32) * mask
        pattern /= pattern.sum(-1, keepdims=True)
        tensors[f"blocks.{layer}.attn.hook_pattern"] = pattern
    vocab = [str(i) for i in range(16)]
    meta = {
        "model_config": {"n_layers": layers, "n_heads": heads, "positional": "learned"},
        "train_config": {"optimizer": "adam"},
        "probe": {"tokens": [vocab[i % 16] for i in range(tokens)]},
        "vocab": vocab,
        "task": {"name": "synthetic"},
    }
    steps = np.arange(snapshot_steps[-1] + 1)
    scalars: dict[str, np.ndarray] = {}
    if full:
        d_model = 64
        tensors["embed.W_E"] = rng.normal(size=(snapshots, 16, d_model)).astype(np.float32)
        tensors["positional"] = rng.normal(size=(snapshots, tokens, d_model)).astype(np.float32)
        for kind in ("grad", "update", "exp_avg"):
            tensors[f"{kind}/{PARAM}"] = rng.normal(size=(snapshots, d_model, d_model))
        tensors[f"exp_avg_sq/{PARAM}"] = rng.random((snapshots, d_model, d_model))
        scalars = training_scalars(steps, loss=2.5, floor=0.1, decay_steps=200, eval_every=50)
        decay = scalars["grad_norm"]
        scalars[f"grad_norm/{PARAM}"] = decay
        scalars[f"update_ratio/{PARAM}"] = 1e-3 * decay + 1e-5
    return Trace.from_arrays(meta, steps, scalars, snapshot_steps, tensors)


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
        view.data.cache.pop(("mosaics", view.data.layers, view.data.heads), None)
        view.step = steps[i % 3]

    report("step change, thumbnails computed", median_ms(uncached_step, max(3, repeats // 4)), 100)
    report(
        "step change, thumbnails cached",
        median_ms(lambda i: setattr(view, "step", steps[i % 3]), repeats),
        100,
    )
    report("layer change", median_ms(lambda i: view.open_head(i % 12, view.head), repeats), 100)
    report("head change", median_ms(lambda i: view.open_head(view.layer, i % 12), repeats), 100)


def gpt2_attentions(layers: int, heads: int, tokens: int) -> list[np.ndarray]:
    """Per-layer [1, heads, T, T] causal attention like ``output_attentions``: in every layer
    head 0 looks at the previous token, head 1 at the first and head 2 at itself (90% of each
    row, so they earn badges); the other heads are random."""
    rng = np.random.default_rng(0)
    mask = np.tril(np.ones((tokens, tokens), np.float32))
    query = np.arange(tokens)
    targets = [np.maximum(query - 1, 0), np.zeros(tokens, np.int64), query]  # key of each row
    attentions = []
    for _ in range(layers):
        pattern = rng.random((1, heads, tokens, tokens), dtype=np.float32) * mask
        pattern /= pattern.sum(-1, keepdims=True)
        for head, keys in enumerate(targets[:heads]):
            pattern[0, head] *= 0.1
            pattern[0, head, query, keys] += 0.9
        attentions.append(pattern)
    return attentions


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the small trace")
    parser.add_argument("--open", action="store_true", help="only the from_attentions open")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    if not args.open:
        small(args.repeats)
    if not args.quick and not args.open:
        large(max(5, args.repeats // 3))
    if not args.quick:
        one_snapshot()


if __name__ == "__main__":
    main()
