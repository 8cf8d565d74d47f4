"""What the lab's record functions share: a run's model, task and trace, and the torch threads
they measure with. Its own module so that :mod:`explain.lab.study` and the measurements it
records (attribution, patching, neurons) import it without importing each other."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def parts(run: Any) -> tuple[Any, Any, Any]:
    model, task, trace = (getattr(run, name, None) for name in ("model", "task", "trace"))
    if model is None or task is None or trace is None:
        raise ValueError(
            "expected a Run from explain.train(...) (it holds the model, its task and its "
            f"trace); got {type(run).__name__}"
        )
    return model, task, trace


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run with ``count`` torch threads (None: leave them), restored after. Tiny models are
    several times slower on 2 threads than on 1 on a 2-core machine (see TrainConfig.threads)."""
    import torch

    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
