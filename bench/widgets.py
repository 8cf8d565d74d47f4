"""Benchmark: Python-side time to update the views after a step, layer or head change.

    python bench/widgets.py            # both sizes
    python bench/widgets.py --quick    # the small trace only

Targets (issue 3): 4 layers x 4 heads x 32 tokens: updates <= 20 ms; 12 x 12 x 512 tokens:
opens <= 2 s, updates <= 100 ms. The time is what the kernel spends (numpy, plotly validation,
encoding the synced state); the browser's drawing is not included. Synthetic traces, no torch.
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
        decay = np.exp(-steps / 200)
        scalars = {
            "loss": 2.5 * decay + 0.1,
            "val_loss": np.where(steps % 50 == 0, 2.6 * decay + 0.1, np.nan),
            "lr": np.full(len(steps), 3e-3),
            "grad_norm": decay,
            f"grad_norm/{PARAM}": decay,
            f"update_ratio/{PARAM}": 1e-3 * decay + 1e-5,
        }
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
        view._grids.clear()  # first visit of a snapshot: all 144 thumbnails recomputed
        view.step = steps[i % 3]

    report("step change, thumbnails computed", median_ms(uncached_step, max(3, repeats // 4)), 100)
    report(
        "step change, thumbnails cached",
        median_ms(lambda i: setattr(view, "step", steps[i % 3]), repeats),
        100,
    )
    report("layer change", median_ms(lambda i: view.open_head(i % 12, view.head), repeats), 100)
    report("head change", median_ms(lambda i: view.open_head(view.layer, i % 12), repeats), 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the small trace")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    small(args.repeats)
    if not args.quick:
        large(max(5, args.repeats // 3))


if __name__ == "__main__":
    main()
