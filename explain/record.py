"""The Recorder: the one callback that turns training into a trace of numpy arrays.

Every step it logs loss, learning rate, the global and per-parameter gradient norm and the
per-parameter update/weight ratio. At snapshot steps (dense early, log-spaced later, by
default) it stores, for the task's probe sequence: every attention pattern, the logits, the
token-embedding and positional-encoding matrices, and for a few chosen parameters the gradient,
the optimizer's moments and the applied update. A memory cap thins older snapshots instead of
running out of memory. Which steps are snapshot steps is the Trainer's ``snapshot_schedule``
(:class:`explain.schedule.RecordSchedule` by default).

    >>> import explain
    >>> recorder = explain.Recorder()
    >>> run = explain.train("reverse", train_config=explain.TrainConfig(steps=3), recorder=recorder)
    >>> recorder.trace is run.trace, run.trace.snapshot_steps.tolist()
    (True, [0, 1, 2, 3])
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ._version import __version__
from .batches import model_inputs, to_torch
from .names import is_attention
from .trace import Trace

if TYPE_CHECKING:  # the recorder reads the trainer it is given; the trainer never imports this
    from .trainer import Trainer

__all__ = ["DEFAULT_MAX_BYTES", "Recorder"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 256 * 2**20


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).numpy()


class Recorder:
    """Trainer callback writing ``self.trace``; see the module docstring for what it records.

    ``parameters`` names the parameter tensors whose gradient, optimizer moments and update are
    stored at each snapshot (default: the token embedding and the first block's output
    projection). ``max_bytes`` caps the trace's memory. ``step_offset`` continues ``trace`` (a
    fine-tuning run after its pre-training): the trainer's step ``s`` is recorded at
    ``step_offset + s``, and step 0 is not recorded again, as the trace holds those weights.
    """

    def __init__(
        self,
        parameters: Sequence[str] | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        trace: Trace | None = None,
        step_offset: int = 0,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive; got {max_bytes}")
        if step_offset < 0:
            raise ValueError(f"step_offset must be >= 0; got {step_offset}")
        self.step_offset = step_offset
        self.tracked_names = list(parameters) if parameters is not None else None
        self.max_bytes = max_bytes
        self.trace = trace if trace is not None else Trace()
        self._warned_cap = False

    # -- events ------------------------------------------------------------------------------
    def on_train_begin(self, trainer: Trainer) -> None:
        model, task = trainer.model, trainer.task
        named = dict(model.named_parameters())
        self.param_names = list(named)
        self.params = list(named.values())
        prefix = "" if model.config.kind == "decoder" else "decoder."
        if self.tracked_names is None:
            self.tracked_names = [f"{prefix}embed.W_E.weight", f"{prefix}blocks.0.attn.W_o.weight"]
        unknown = [n for n in self.tracked_names if n not in named]
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown}; expected some of {self.param_names}")
        self._moments = {
            "adam": ("exp_avg", "exp_avg_sq"),
            "adamw": ("exp_avg", "exp_avg_sq"),
            "momentum": ("momentum_buffer",),
            "sgd": (),
        }[trainer.config.optimizer]
        self._tracked = [(n, self.param_names.index(n)) for n in self.tracked_names]
        # Gradient and update of the tracked parameters at the latest step (zeros before any).
        self._last_grads = {n: torch.zeros_like(named[n]) for n in self.tracked_names}
        self._updates = {n: torch.zeros_like(named[n]) for n in self.tracked_names}
        self._before: list[torch.Tensor] = []
        self._grad_names = [f"grad_norm/{p}" for p in self.param_names]
        self._ratio_names = [f"update_ratio/{p}" for p in self.param_names]
        self._probe = task.probe()
        # The probe's tensors, made once: every snapshot feeds the model the same sequence.
        self._probe_inputs = model_inputs(to_torch(self._probe, model.device, task))
        self._pattern_names = [n for n in model.hook_names() if is_attention(n)]
        self.trace.meta.update(self._meta(trainer))

    def on_before_optimizer_step(self, trainer: Trainer, step: int) -> None:
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        self._grad_norms = torch.stack(torch._foreach_norm(grads))  # [n_params]
        for name, i in self._tracked:
            self._last_grads[name].copy_(grads[i])
        if not self._before:  # one buffer per parameter, reused every step
            self._before = [torch.empty_like(p) for p in self.params]
        torch._foreach_copy_(self._before, [p.detach() for p in self.params])

    def on_step_end(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        clip = trainer.config.grad_clip
        if clip is not None:  # the gradients were read after clipping: undo its factor
            self._grad_norms /= min(1.0, clip / (metrics["grad_norm"] + 1e-6))
        weight_norms = torch.stack(torch._foreach_norm(self._before))
        # In place: the buffers now hold what the optimizer applied, after - before.
        torch._foreach_neg_(self._before)
        torch._foreach_add_(self._before, [p.detach() for p in self.params])
        update_norms = torch.stack(torch._foreach_norm(self._before))
        # One device-to-host copy for every per-parameter number of this step.
        # A weight that is all zeros (a fresh bias) has no ratio: NaN, "not logged".
        ratios = torch.where(weight_norms > 0, update_norms / weight_norms, torch.nan)
        values = torch.cat([self._grad_norms, ratios]).tolist()
        n = len(self.params)
        scalars = dict(metrics)
        scalars.update(zip(self._grad_names, values[:n], strict=True))
        scalars.update(zip(self._ratio_names, values[n:], strict=True))
        self.trace.log_scalars(self.step_offset + step, scalars)
        for name, i in self._tracked:
            self._updates[name].copy_(self._before[i])

    def _recorded_already(self, step: int) -> bool:
        return self.step_offset > 0 and step == 0

    def on_eval(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        if not self._recorded_already(step):
            self.trace.log_scalars(self.step_offset + step, metrics)

    def on_snapshot(self, trainer: Trainer, step: int) -> None:
        if self._recorded_already(step):
            return
        tensors = self.snapshot(trainer)
        if len(self.trace) == 0:
            size = sum(a.nbytes for a in tensors.values())
            if size * 4 > self.max_bytes:
                raise ValueError(
                    f"one snapshot takes {size} bytes; max_bytes={self.max_bytes} must hold at "
                    f"least 4 of them (raise max_bytes or track fewer parameters)"
                )
            self.trace.meta["dims"] = self._dims(tensors)
        self.trace.add_snapshot(self.step_offset + step, tensors)
        self._enforce_cap()

    def on_train_end(self, trainer: Trainer, status: str) -> None:
        self.trace.meta["status"] = status
        self.trace.meta["last_step"] = self.step_offset + trainer.step

    # -- what a snapshot holds -----------------------------------------------------------------
    def snapshot(self, trainer: Trainer) -> dict[str, np.ndarray]:
        """The arrays of one snapshot, each without the snapshot axis."""
        model = trainer.model
        was_training = model.training
        model.eval()
        patterns: dict[str, torch.Tensor] = {}

        def keep(x: torch.Tensor, hook: Any) -> None:
            patterns[hook.name] = x[0]  # [head, q_pos, k_pos] of the one probe sequence

        with torch.inference_mode(), model.hooks(fwd=[(n, keep) for n in self._pattern_names]):
            logits = model(**self._probe_inputs)
        model.train(was_training)
        tensors = {name: _numpy(patterns[name]) for name in self._pattern_names}
        tensors["hook_logits"] = _numpy(logits[0])  # [pos, vocab]
        stacks = [""] if model.config.kind == "decoder" else ["encoder.", "decoder."]
        for stack in stacks:
            embed = model.get_submodule(f"{stack}embed")
            tensors[f"{stack}embed.W_E"] = _numpy(embed.W_E.weight)  # [vocab, d_model]
        table = model.positional_table()
        if table is not None:
            tensors["positional"] = _numpy(table)  # [pos, d_model], or [pos, d_head] for rope
        for name, i in self._tracked:
            tensors[f"grad/{name}"] = _numpy(self._last_grads[name])
            tensors[f"update/{name}"] = _numpy(self._updates[name])
            state = trainer.optimizer.state.get(self.params[i], {})
            for moment in self._moments:
                value = state.get(moment)
                tensors[f"{moment}/{name}"] = (
                    _numpy(value)
                    if value is not None
                    else np.zeros(self.params[i].shape, np.float32)
                )
        return tensors

    def _dims(self, tensors: dict[str, np.ndarray]) -> dict[str, list[str]]:
        dims: dict[str, list[str]] = {}
        for name, array in tensors.items():
            if is_attention(name):
                dims[name] = ["snapshot", "head", "q_pos", "k_pos"]
            elif name == "hook_logits":
                dims[name] = ["snapshot", "pos", "vocab"]
            elif name.endswith("W_E"):
                dims[name] = ["snapshot", "vocab", "d_model"]
            elif name == "positional":
                width = "d_head" if self._positional == "rope" else "d_model"
                dims[name] = ["snapshot", "pos", width]
            else:
                dims[name] = ["snapshot", *(f"dim{i}" for i in range(array.ndim))]
        return dims

    def _meta(self, trainer: Trainer) -> dict[str, Any]:
        model, task = trainer.model, trainer.task
        self._positional = model.config.positional
        probe = self._probe
        tok = task.tokenizer
        meta: dict[str, Any] = {
            "model_config": model.config.to_dict(),
            "train_config": trainer.config.to_dict(),
            "task": {"name": task.name, "kind": task.kind, "description": task.description},
            "vocab": list(task.vocab),
            "probe": {
                "ids": probe.inputs[0].tolist(),
                "tokens": [tok.vocab[i] for i in probe.inputs[0]],
                "target_ids": probe.targets[0].tolist(),
                "target_tokens": [tok.vocab[i] for i in probe.targets[0]],
                "mask": probe.mask[0].tolist(),
            },
            "seed": trainer.config.seed,
            "tracked_parameters": list(self.tracked_names or []),
            "parameters": {
                n: list(p.shape) for n, p in zip(self.param_names, self.params, strict=True)
            },
            "versions": {
                "explain": __version__,
                "torch": torch.__version__,
                "numpy": np.__version__,
                "python": platform.python_version(),
            },
            "status": "running",
        }
        if probe.source is not None:
            meta["probe"]["source_ids"] = probe.source[0].tolist()
            meta["probe"]["source_tokens"] = [tok.vocab[i] for i in probe.source[0]]
        return meta

    def _enforce_cap(self) -> None:
        """Drop every other snapshot in the older half until the trace fits in max_bytes."""
        while self.trace.nbytes > self.max_bytes:
            n = len(self.trace)
            older = [i for i in range(1, n // 2) if i % 2 == 1]  # keeps step 0 and the newest half
            if not older:
                if not self._warned_cap:
                    log.warning("trace is over max_bytes=%d with %d snapshots", self.max_bytes, n)
                    self._warned_cap = True
                return
            self.trace.drop_snapshots(older)
