"""What the views of a trained run share: a Run or a Trace as their source, and the lab record
they read, measured again from the run's model when it is missing or older than the model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from explain.trace import Trace


def is_run(source: Any) -> bool:
    """A Run from ``explain.train`` (duck-typed: ``widgets`` never imports torch)."""
    return hasattr(source, "model") and hasattr(source, "trace") and hasattr(source, "task")


def run_and_trace(source: Any, view: str) -> tuple[Any | None, Trace]:
    """``(run, trace)`` of a view's source: a Run (and its trace) or a Trace (and None)."""
    run = source if is_run(source) else None
    trace = run.trace if run is not None else source
    if not isinstance(trace, Trace):
        raise ValueError(
            f"{view} needs a Run from explain.train(...) or a Trace; got {type(source).__name__}"
        )
    return run, trace


def measure_lab(run: Any, key: str, measure: Callable[[Any], dict]) -> None:
    """Store ``measure(run)`` as ``run.trace.meta["lab"][key]`` unless the record there was
    measured at the run's current step (``explain.lab.record`` first, with no lab record)."""
    from explain.lab import record  # needs torch, which a Run has already loaded

    if not isinstance(run.trace.meta.get("lab"), dict):
        record(run)
    lab = run.trace.meta["lab"]
    found = lab.get(key)
    step = getattr(getattr(run, "trainer", None), "step", None)
    if not isinstance(found, dict) or found.get("step") != step:
        lab[key] = measure(run)
