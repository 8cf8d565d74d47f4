"""The Recorder: the one callback that turns training into a trace of numpy arrays.

Every step it logs loss, learning rate, the global and per-parameter gradient norm and the
per-parameter update/weight ratio. At snapshot steps (dense early, log-spaced later, by
default) it stores, for the task's probe sequence: every attention pattern, the logits, the
token-embedding and positional-encoding matrices, and for a few chosen parameters the gradient,
the optimizer's moments and the applied update. Those optimizer tensors are rounded to bfloat16
(8 significant bits, float32's range: each value within 0.4%, which no heatmap, histogram or
norm of the optimizer view shows), so a trace file stores them in half the bytes; they were
most of a trace (5.8 of 10.0 MB for 1000 steps of induction). Attention, logits and
embeddings stay float32. A memory cap thins older
snapshots instead of running out of memory. Which steps are snapshot steps is the Trainer's
``snapshot_schedule`` (:class:`explain.schedule.RecordSchedule` by default).

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
ROUNDED = torch.bfloat16  # the precision of the optimizer tensors (gradient, update, moments)


def _host_arrays(
    exact: dict[str, torch.Tensor], rounded: dict[str, torch.Tensor]
) -> dict[str, np.ndarray]:
    """float32 numpy copies of ``exact`` and of ``rounded`` (rounded to ``ROUNDED`` first), made
    with one device-to-host copy: a copy per tensor cost a sync each on a GPU."""
    parts = [t.detach().reshape(-1).float() for t in exact.values()]
    if rounded:
        together = torch.cat([t.detach().reshape(-1) for t in rounded.values()])
        parts.append(together.to(ROUNDED).float())
    flat = torch.cat(parts).cpu().numpy()  # a new buffer: nothing aliases the model
    arrays, offset = {}, 0
    for name, tensor in (*exact.items(), *rounded.items()):
        arrays[name] = flat[offset : offset + tensor.numel()].reshape(tensor.shape)
        offset += tensor.numel()
    return arrays


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
        self._zeros = {n: torch.zeros_like(named[n]) for n in self.tracked_names}  # no moment yet
        self._before: list[torch.Tensor] = []
        self._grad_names = [f"grad_norm/{p}" for p in self.param_names]
        self._ratio_names = [f"update_ratio/{p}" for p in self.param_names]
        self._probe = task.probe()
        # The probe's tensors, made once: every snapshot feeds the model the same sequence.
        self._probe_inputs = model_inputs(to_torch(self._probe, model.device, task))
        self._pattern_names = [n for n in model.hook_names() if is_attention(n)]
        self.trace.meta.update(self._meta(trainer))

    @torch.no_grad()
    def on_before_optimizer_step(self, trainer: Trainer, step: int) -> None:
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        # Gradient and weight norms in one call: [2 * n_params]
        self._norms = torch.stack(torch._foreach_norm([*grads, *self.params]))
        for name, i in self._tracked:
            self._last_grads[name].copy_(grads[i])
        if not self._before:  # one buffer per parameter, reused every step
            self._before = [torch.empty_like(p) for p in self.params]
        torch._foreach_copy_(self._before, self.params)

    @torch.no_grad()
    def on_step_end(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        n = len(self.params)
        grad_norms, weight_norms = self._norms[:n], self._norms[n:]
        clip = trainer.config.grad_clip
        if clip is not None:  # the gradients were read after clipping: undo its factor
            grad_norms = grad_norms / min(1.0, clip / (metrics["grad_norm"] + 1e-6))
        # In place, one pass: the buffers now hold before - after, the applied update negated.
        torch._foreach_sub_(self._before, self.params)
        update_norms = torch.stack(torch._foreach_norm(self._before))
        # One device-to-host copy for every per-parameter number of this step.
        # A weight that is all zeros (a fresh bias) has no ratio: NaN, "not logged".
        ratios = torch.where(weight_norms > 0, update_norms / weight_norms, torch.nan)
        values = torch.cat([grad_norms, ratios]).tolist()
        scalars = dict(metrics)
        scalars.update(zip(self._grad_names, values[:n], strict=True))
        scalars.update(zip(self._ratio_names, values[n:], strict=True))
        self.trace.log_scalars(self.step_offset + step, scalars)
        for name, i in self._tracked:
            torch.neg(self._before[i], out=self._updates[name])

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
        exact = self._probe_tensors(model)
        stacks = [""] if model.config.kind == "decoder" else ["encoder.", "decoder."]
        for stack in stacks:
            embed = model.get_submodule(f"{stack}embed")
            exact[f"{stack}embed.W_E"] = embed.W_E.weight  # [vocab, d_model]
        table = model.positional_table()
        if table is not None:
            exact["positional"] = table  # [pos, d_model], or [pos, d_head] for rope
        rounded: dict[str, torch.Tensor] = {}
        for name, i in self._tracked:
            rounded[f"grad/{name}"] = self._last_grads[name]
            rounded[f"update/{name}"] = self._updates[name]
            state = trainer.optimizer.state.get(self.params[i], {})
            for moment in self._moments:
                value = state.get(moment)
                rounded[f"{moment}/{name}"] = value if value is not None else self._zeros[name]
        return _host_arrays(exact, rounded)

    def _probe_tensors(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        """Every attention pattern [head, q_pos, k_pos] and the logits [pos, vocab] of the
        probe sequence, from one forward pass in eval mode.

        A pass of its own, not an extra row of the training batch that the loss ignores: on the
        default reverse model (1 thread, CPU time) a 65-row training step cost 1.5 ms more than
        a 64-row one, 3.3 ms with the pattern hook switching the batch to unfused attention,
        against ~1 ms for this pass; and its weights would be those before the step.
        """
        was_training = model.training
        model.eval()
        patterns: dict[str, torch.Tensor] = {}

        def keep(x: torch.Tensor, hook: Any) -> None:
            patterns[hook.name] = x[0]  # [head, q_pos, k_pos] of the one probe sequence

        with torch.inference_mode(), model.hooks(fwd=[(n, keep) for n in self._pattern_names]):
            logits = model(**self._probe_inputs)
        model.train(was_training)
        tensors = {name: patterns[name] for name in self._pattern_names}
        tensors["hook_logits"] = logits[0]  # [pos, vocab]
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
