"""Which training steps get a snapshot: the schedule the Trainer asks at every step. No torch.

Dense early, where attention changes fastest, and log-spaced later, so each doubling of
training gets as many snapshots:

    >>> schedule = RecordSchedule(dense_until=4)
    >>> [s for s in range(20) if schedule(s)]
    [0, 1, 2, 3, 4, 6, 8, 12, 16]
    >>> [s for s in range(20) if RecordSchedule(every=5)(s)]
    [0, 5, 10, 15]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["RecordSchedule"]


@dataclass(frozen=True)
class RecordSchedule:
    """Which steps get a snapshot: every ``every`` steps, or dense early and log-spaced later.

    Without ``every``: each ``dense_every`` steps up to ``dense_until``, then the interval
    doubles each time the step doubles (so each doubling of training gets as many snapshots).
    """

    every: int | None = None
    dense_until: int = 64
    dense_every: int = 1

    def __post_init__(self) -> None:
        for name in ("dense_until", "dense_every"):
            if getattr(self, name) <= 0:
                value = getattr(self, name)
                raise ValueError(f"RecordSchedule.{name} must be positive; got {value}")
        if self.every is not None and self.every <= 0:
            raise ValueError(f"RecordSchedule.every must be positive or None; got {self.every}")

    def __call__(self, step: int) -> bool:
        if self.every is not None:
            return step % self.every == 0
        if step <= self.dense_until:
            return step % self.dense_every == 0
        interval = self.dense_every * 2 ** (int(math.log2(step / self.dense_until)) + 1)
        return step % interval == 0
