"""Configuration dataclasses for the model and the trainer.

Both validate themselves in ``__post_init__`` and round-trip through plain dicts, so a
trace can carry them as JSON::

    >>> cfg = ModelConfig(vocab_size=12, d_model=32, n_layers=1, n_heads=2)
    >>> ModelConfig.from_dict(cfg.to_dict()) == cfg
    True
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, TypeVar

POSITIONAL_KINDS = ("sinusoidal", "learned", "rope", "none")
MODEL_KINDS = ("decoder", "encoder-decoder")
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
SCHEDULES = ("constant", "cosine")

_Config = TypeVar("_Config", bound="_DictMixin")


class _DictMixin:
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[_Config], data: dict[str, Any]) -> _Config:
        """Build from :meth:`to_dict` output; unknown keys are an error, not silently dropped."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(
                f"{cls.__name__} got unknown field(s) {unknown}; expected some of {sorted(names)}"
            )
        return cls(**data)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _positive(owner: str, **values: int | float) -> None:
    for name, value in values.items():
        if not _is_number(value) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{owner}.{name} must be a positive number; got {value!r}")


def _integers(owner: str, obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{owner}.{name} must be an int; got {value!r}")


def _in_range(owner: str, name: str, value: object, low: float, high: float, rule: str) -> None:
    """``low <= value < high`` (``rule`` says it in words for the error)."""
    if not _is_number(value) or not low <= value < high:
        raise ValueError(f"{owner}.{name} must be {rule}; got {value!r}")


def _one_of(owner: str, name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{owner}.{name} must be one of {list(allowed)}; got {value!r}")


def _json_notes(owner: str, name: str, value: object) -> None:
    """A dict with string keys that JSON can hold: it travels in the trace's metadata."""
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise ValueError(
            f"{owner}.{name} must be a dict with string keys (notes kept in the trace); "
            f"got {value!r}"
        )
    try:
        json.dumps(value)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{owner}.{name} must hold only JSON values (str, number, bool, None, list, dict), "
            f"as it is saved in the trace; {error}"
        ) from None


@dataclass(frozen=True)
class ModelConfig(_DictMixin):
    """Shape of a :class:`~explain.model.TinyTransformer`."""

    vocab_size: int = 16  # number of token ids
    d_model: int = 64  # width of the residual stream
    n_layers: int = 2  # transformer blocks (per stack for encoder-decoder)
    n_heads: int = 4  # attention heads per block; d_head = d_model // n_heads
    d_mlp: int = 256  # hidden width of each MLP
    context_length: int = 32  # longest sequence the model accepts
    positional: str = "sinusoidal"  # one of POSITIONAL_KINDS
    kind: str = "decoder"  # one of MODEL_KINDS
    dropout: float = 0.0  # dropout on attention weights and residual branches
    seed: int = 0  # seed for weight initialisation

    def __post_init__(self) -> None:
        _positive(
            "ModelConfig",
            vocab_size=self.vocab_size,
            d_model=self.d_model,
            n_layers=self.n_layers,
            n_heads=self.n_heads,
            d_mlp=self.d_mlp,
            context_length=self.context_length,
        )
        _integers(
            "ModelConfig",
            self,
            "vocab_size",
            "d_model",
            "n_layers",
            "n_heads",
            "d_mlp",
            "context_length",
            "seed",
        )
        if self.d_model % self.n_heads:
            nearest = self.n_heads * max(1, self.d_model // self.n_heads)
            raise ValueError(
                f"ModelConfig.d_model ({self.d_model}) must be divisible by n_heads "
                f"({self.n_heads}); try d_model={nearest}"
            )
        _one_of("ModelConfig", "positional", self.positional, POSITIONAL_KINDS)
        _one_of("ModelConfig", "kind", self.kind, MODEL_KINDS)
        if self.positional == "rope" and self.d_head % 2:
            raise ValueError(
                f"ModelConfig.positional='rope' needs an even d_head; got d_head={self.d_head}"
            )
        _in_range("ModelConfig", "dropout", self.dropout, 0.0, 1.0, "a number in [0, 1)")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads


@dataclass(frozen=True)
class TrainConfig(_DictMixin):
    """How :class:`~explain.trainer.Trainer` trains."""

    steps: int = 400  # optimizer steps
    batch_size: int = 64  # sequences per step
    lr: float = 3e-3  # peak learning rate
    optimizer: str = "adamw"  # one of OPTIMIZERS
    seed: int = 0  # seeds data order and dropout
    weight_decay: float = 0.01  # AdamW only
    momentum: float = 0.9  # "momentum" optimizer only
    betas: tuple[float, float] = (0.9, 0.98)  # Adam/AdamW
    warmup_steps: int = 20  # linear warm-up before the schedule
    schedule: str = "cosine"  # one of SCHEDULES, after warm-up
    min_lr_ratio: float = 0.1  # cosine floor as a fraction of lr
    grad_clip: float | None = 1.0  # max global gradient norm; None disables clipping
    eval_every: int = 50  # steps between validation evaluations
    eval_batches: int = 4  # validation batches per evaluation
    # stop once validation exact match is 1.0 at two evaluations in a row (steps is the cap)
    stop_when_solved: bool = False
    device: str = "cpu"  # "cpu", "cuda", or "auto" (CUDA when present)
    threads: int | None = 1  # torch CPU threads while training; None keeps torch's setting
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes carried in the trace

    def __post_init__(self) -> None:
        _positive(
            "TrainConfig",
            steps=self.steps,
            batch_size=self.batch_size,
            lr=self.lr,
            eval_every=self.eval_every,
            eval_batches=self.eval_batches,
        )
        _integers(
            "TrainConfig",
            self,
            "steps",
            "batch_size",
            "seed",
            "warmup_steps",
            "eval_every",
            "eval_batches",
        )
        if not isinstance(self.stop_when_solved, bool):
            raise ValueError(
                f"TrainConfig.stop_when_solved must be True or False; got {self.stop_when_solved!r}"
            )
        _one_of("TrainConfig", "optimizer", self.optimizer, OPTIMIZERS)
        _one_of("TrainConfig", "schedule", self.schedule, SCHEDULES)
        if self.threads is not None:
            _integers("TrainConfig", self, "threads")
            _positive("TrainConfig", threads=self.threads)
        if self.warmup_steps < 0:
            raise ValueError(f"TrainConfig.warmup_steps must be >= 0; got {self.warmup_steps}")
        if self.grad_clip is not None:
            _positive("TrainConfig", grad_clip=self.grad_clip)
        if (
            not isinstance(self.betas, tuple | list)
            or len(self.betas) != 2
            or not all(_is_number(b) and 0.0 <= b < 1.0 for b in self.betas)
        ):
            raise ValueError(f"TrainConfig.betas must be two numbers in [0, 1); got {self.betas!r}")
        _in_range("TrainConfig", "momentum", self.momentum, 0.0, 1.0, "a number in [0, 1)")
        _in_range("TrainConfig", "weight_decay", self.weight_decay, 0.0, math.inf, ">= 0")
        _in_range("TrainConfig", "min_lr_ratio", self.min_lr_ratio, 0.0, 1.0 + 1e-12, "in [0, 1]")
        if not isinstance(self.device, str) or not re.fullmatch(
            r"cpu|cuda|auto|cuda:\d+", self.device
        ):
            raise ValueError(
                f"TrainConfig.device must be 'cpu', 'cuda', 'cuda:N' or 'auto'; got {self.device!r}"
            )
        _json_notes("TrainConfig", "extra", self.extra)
        object.__setattr__(self, "betas", tuple(self.betas))
