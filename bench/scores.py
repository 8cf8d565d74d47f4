"""How long do head pattern scores and their emergence take on a long trace? Target: 1 s.

A synthetic trace with the default model's shapes (2 layers x 4 heads, the 12-token ``reverse``
probe) and a snapshot at every one of 1000 steps (the worst case; the default record schedule
keeps ~190 of them). We time ``analysis.head_scores`` plus ``analysis.emergence`` together and
print the median of ``--repeats`` runs and its ratio to the target. No torch.

    python bench/scores.py [--steps 1000] [--repeats 3] [--schedule]
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import median_s

from explain import analysis, tasks
from explain.schedule import RecordSchedule
from explain.trace import Trace

TARGET_S = 1.0


def synthetic_trace(steps: list[int], layers: int = 2, heads: int = 4, seed: int = 0) -> Trace:
    """Causal, row-normalised random attention at ``steps`` on the reverse probe."""
    tokens = tasks.get("reverse").probe_tokens()
    size = len(tokens)
    rng = np.random.default_rng(seed)
    tensors = {}
    for layer in range(layers):
        raw = np.tril(rng.random((len(steps), heads, size, size)) + 1e-3)  # [snap, head, q, k]
        tensors[f"blocks.{layer}.attn.hook_pattern"] = raw / raw.sum(axis=-1, keepdims=True)
    meta = {"probe": {"tokens": tokens}, "model_config": {"n_layers": layers, "n_heads": heads}}
    return Trace.from_arrays(meta, steps, {}, steps, tensors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="training steps of the trace")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--schedule", action="store_true", help="snapshots on the default record schedule"
    )
    args = parser.parse_args()
    schedule = RecordSchedule() if args.schedule else RecordSchedule(every=1)
    steps = [step for step in range(args.steps + 1) if schedule(step)]
    trace = synthetic_trace(steps)

    def score(i: int) -> None:
        analysis.head_scores(trace)
        analysis.emergence(trace)

    median = median_s(score, args.repeats)
    print(
        f"head_scores + emergence, {len(steps)} snapshots x 2 layers x 4 heads x "
        f"{len(trace.probe_tokens)} tokens: median {median * 1e3:.1f} ms of {args.repeats}; "
        f"{median / TARGET_S:.3f} x the {TARGET_S:.0f} s target"
    )


if __name__ == "__main__":
    main()
