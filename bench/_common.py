"""What the benchmark scripts share: timing a call, the scalars of a synthetic run, and
importing the library from another checkout."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def median_s(action: Callable[[int], object], repeats: int) -> float:
    """Median wall time of ``action(i)`` for i in range(repeats), in seconds."""
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        action(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def medians_ms(
    action: Callable[[int], object],
    repeats: int,
    before: Callable[[int], object] | None = None,
) -> tuple[float, float]:
    """Median wall time and median CPU time (``time.process_time``) of ``action(i)`` for i in
    range(repeats), in ms; ``before(i)``, if given, runs first and is not timed."""
    wall, cpu = [], []
    for i in range(repeats):
        if before is not None:
            before(i)
        start, start_cpu = time.perf_counter(), time.process_time()
        action(i)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return 1000 * statistics.median(wall), 1000 * statistics.median(cpu)


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


def use_tree(tree: Path) -> None:
    """Import ``explain`` and ``widgets`` from the checkout at ``tree`` (call before importing
    them): it goes first on ``sys.path``, and the editable install's finder goes, which would
    take any module the tree lacks (``explain._render`` in an old one) from the checkout it was
    installed from."""
    sys.path.insert(0, str(tree))  # ahead of bench/, which holds a widgets.py
    sys.meta_path[:] = [
        finder
        for finder in sys.meta_path
        if not getattr(finder, "__module__", "").startswith("__editable__")
    ]
