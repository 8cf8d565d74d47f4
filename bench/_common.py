"""What the benchmark scripts share: timing a call, and the scalars of a synthetic run."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np


def median_s(action: Callable[[int], object], repeats: int) -> float:
    """Median wall time of ``action(i)`` for i in range(repeats), in seconds."""
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        action(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def training_scalars(
    steps: np.ndarray, loss: float, floor: float, decay_steps: float, eval_every: int
) -> dict[str, np.ndarray]:
    """The scalars of a run whose loss decays from ``loss + floor`` to ``floor`` (e-folding in
    ``decay_steps`` steps): loss and grad_norm at every step, val_loss 0.1 above the loss every
    ``eval_every`` steps (NaN between), a constant lr of 3e-3."""
    decay = np.exp(-steps / decay_steps)
    return {
        "loss": loss * decay + floor,
        "val_loss": np.where(steps % eval_every == 0, (loss + 0.1) * decay + floor, np.nan),
        "lr": np.full(len(steps), 3e-3),
        "grad_norm": decay,
    }
