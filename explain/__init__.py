"""explain: see how a small transformer works and learns.

The numpy side (``trace``, ``views``, ``style``, ``analysis``, ``export``, ``positional``,
``tasks``) never imports torch; the torch side (``TinyTransformer``, ``train``, ``Trainer``,
``Recorder``) is loaded on first use (PEP 562), so ``import explain`` and ``import widgets``
work without torch.

    >>> import explain
    >>> run = explain.train("reverse")  # doctest: +SKIP
    >>> run.trace.attention_names()[:1]  # doctest: +SKIP
    ['blocks.0.attn.hook_pattern']
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import positional, style, tasks, views
from ._version import __version__
from .config import ModelConfig, TrainConfig
from .trace import Trace, TraceError, load_trace

# public name -> module that defines it; imported on first attribute access
_LAZY = {
    "TinyTransformer": "model",
    "HookPoint": "hooks",
    "Trainer": "trainer",
    "TrainingDiverged": "trainer",
    "Run": "run",
    "train": "run",
    "distill": "lab.distillation",
    "Recorder": "record",
    "RecordSchedule": "schedule",
}

__all__ = [
    "ModelConfig",
    "TrainConfig",
    "Trace",
    "TraceError",
    "load_trace",
    *_LAZY,
]

if TYPE_CHECKING:
    from .hooks import HookPoint
    from .lab.distillation import distill
    from .model import TinyTransformer
    from .record import Recorder
    from .run import Run, train
    from .schedule import RecordSchedule
    from .trainer import Trainer, TrainingDiverged


# submodules reachable as attributes after a plain `import explain` (torch-free ones stay so)
_SUBMODULES = {
    "adapters", "analysis", "batches", "export", "generate", "hooks", "lab", "model", "record",
    "report", "run", "schedule", "trainer", "weights",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'explain' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
