"""The Recorder: the one callback that turns training into a trace of numpy arrays.

Every step it logs loss, learning rate, the global and per-parameter gradient norm and the
per-parameter update/weight ratio. At snapshot steps (dense early, log-spaced later, by
default) it stores, for the task's probe sequence: every attention pattern, the logits, the
token-embedding and positional-encoding matrices, and for a few chosen parameters the gradient,
the optimizer's moments and the applied update. Those optimizer tensors are rounded to bfloat16
(8 significant bits, float32's range: each value within 0.4%, which no heatmap, histogram or
norm of the optimizer view shows), so a trace file stores them in half the bytes; they were
most of a trace (5.8 of 10.0 MB for 1000 steps of induction). Attention, logits and
embeddings stay float32. From the probe's logits it also keeps, per target token, the
cross-entropy, the probability of the right token and the five most likely tokens
(:data:`explain.trace.TOKEN_TENSORS`: 48 bytes a position, 960 bytes a snapshot of the
20-token induction probe), so the token-loss view needs no softmax over the logits. A memory
cap thins older snapshots instead of running out of memory. Which steps are snapshot steps is
the Trainer's ``snapshot_schedule`` (:class:`explain.schedule.RecordSchedule` by default).

The probe's patterns and logits are those of an eval-mode pass on the weights after the
snapshot step. Without dropout, the probe rides the next update's training batch as one extra
row (see :mod:`explain.trainer`) instead of running a pass of its own: on the default reverse
model (1 thread, CPU time, in the training loop) the extra row cost ~2.5% of a step, a pass of
its own ~6.5%. At the last step, with dropout or hooks on the model, or when the row does not
fit the batch, it runs its own pass.

    >>> import explain
    >>> recorder = explain.Recorder()
    >>> run = explain.train("reverse", train_config=explain.TrainConfig(steps=3), recorder=recorder)
    >>> recorder.trace is run.trace, run.trace.snapshot_steps.tolist()
    (True, [0, 1, 2, 3])
"""

from __future__ import annotations

import logging
import math
import platform
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from ._version import __version__
from .batches import model_inputs, to_torch
from .names import is_attention
from .trace import TOKEN_TENSORS, TOKEN_TOP_K, Trace

if TYPE_CHECKING:  # the recorder reads the trainer it is given; the trainer never imports this
    from .trainer import Trainer

__all__ = ["DEFAULT_MAX_BYTES", "Recorder"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 256 * 2**20
ROUNDED = torch.bfloat16  # the precision of the optimizer tensors (gradient, update, moments)


class _FlatUpdates:
    """Every parameter's weights before an update and the update itself, in one flat buffer.

    The parameters are laid out grouped by size, so that a group is one ``[count, size]``
    block and the per-parameter norms take one reduction per group (7 on the default model)
    instead of one per parameter (28): on a CPU each torch call costs microseconds.
    """

    def __init__(self, params: list[torch.Tensor]) -> None:
        self.params = params
        order = sorted(range(len(params)), key=lambda i: params[i].numel())  # stable
        self._order = order
        device, dtype = params[0].device, params[0].dtype
        total = sum(p.numel() for p in params)
        self.flat = torch.empty(2, total, device=device, dtype=dtype)  # [before | update, all]
        self.norms = torch.empty(2 * len(params), device=device, dtype=dtype)
        self._offsets = [0] * len(params)  # where each parameter starts in a row of flat
        self.weight_at = [0] * len(params)  # where its weight norm lands in norms
        self.update_at = [0] * len(params)
        self._groups: list[tuple[torch.Tensor, torch.Tensor]] = []  # (flat block, norms out)
        start = done = 0
        while done < len(order):
            size = params[order[done]].numel()
            members = [i for i in order[done:] if params[i].numel() == size]
            count = len(members)
            block = self.flat[:, start : start + count * size].view(2, count, size)
            out = self.norms[2 * done : 2 * (done + count)].view(2, count)
            self._groups.append((block, out))
            for j, i in enumerate(members):
                self._offsets[i] = start + j * size
                self.weight_at[i], self.update_at[i] = 2 * done + j, 2 * done + count + j
            start, done = start + count * size, done + count
        self._views: list[torch.Tensor] = []
        self._pointers: list[int] = []

    def _flat_views(self) -> list[torch.Tensor]:
        """1-D views of the parameters in layout order, remade if one's storage was replaced."""
        pointers = [self.params[i].data_ptr() for i in self._order]
        if pointers != self._pointers:
            self._views = [self.params[i].detach().reshape(-1) for i in self._order]
            self._pointers = pointers
            if any(v.data_ptr() != p for v, p in zip(self._views, pointers, strict=True)):
                self._pointers = []  # a parameter that is not contiguous: copies, redo each time
        return self._views

    def before(self) -> None:
        """Keep the weights as they are now, before the update."""
        torch.cat(self._flat_views(), out=self.flat[0])

    def after(self) -> list[float]:
        """Take the update since ``before``; returns every weight and update norm (read them at
        ``weight_at[i]`` and ``update_at[i]``), in one device-to-host copy."""
        torch.cat(self._views, out=self.flat[1])  # the views ``before`` checked
        self.flat[1].sub_(self.flat[0])  # after - before: the applied update
        for block, out in self._groups:
            torch.linalg.vector_norm(block, dim=-1, out=out)
        return self.norms.tolist()

    def update(self, i: int) -> torch.Tensor:
        """The latest update of parameter ``i`` (a view of the buffer, shaped like it)."""
        param = self.params[i]
        return self.flat[1, self._offsets[i] : self._offsets[i] + param.numel()].view(param.shape)


def _host_arrays(
    exact: dict[str, torch.Tensor], rounded: dict[str, torch.Tensor]
) -> dict[str, np.ndarray]:
    """float32 numpy copies of ``exact`` and of ``rounded`` (rounded to ``ROUNDED``), made with
    one concatenation and one device-to-host copy: a copy per tensor cost a sync each on a GPU,
    and each torch call costs microseconds on a CPU. Call without autograd recording."""
    tensors = [*exact.values(), *rounded.values()]
    flat = torch.cat([t.reshape(-1) for t in tensors]).float()  # a new buffer: no aliases
    if rounded:
        tail = flat[sum(t.numel() for t in exact.values()) :]
        tail.copy_(tail.to(ROUNDED))  # to bfloat16 and back, in place
    host = flat.cpu().numpy()
    arrays, offset = {}, 0
    for name, tensor in zip((*exact, *rounded), tensors, strict=True):
        arrays[name] = host[offset : offset + tensor.numel()].reshape(tensor.shape)
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
        self._armed = False  # the attention modules keep the last row's pattern
        self._riding: int | None = None  # the snapshot step whose probe row rides a pass
        self._ridden: tuple[int, dict[str, torch.Tensor]] | None = None  # its tensors
        self._last_snapshot: int | None = None

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
        self._zeros = {n: torch.zeros_like(named[n]) for n in self.tracked_names}  # none yet
        self._flat = _FlatUpdates(self.params)
        self._tracked_updates = {n: self._flat.update(i) for n, i in self._tracked}  # views
        stacks = [""] if model.config.kind == "decoder" else ["encoder.", "decoder."]
        self._embeds = {f"{s}embed.W_E": model.get_submodule(f"{s}embed").W_E for s in stacks}
        self._update_step: int | None = None  # the step whose gradients and update are held
        self._grad_names = [f"grad_norm/{p}" for p in self.param_names]
        self._ratio_names = [f"update_ratio/{p}" for p in self.param_names]
        self._probe = task.probe()
        # The probe's tensors, made once: every snapshot feeds the model the same sequence.
        probe_tensors = to_torch(self._probe, model.device, task)
        self._probe_inputs = model_inputs(probe_tensors)
        self._probe_targets = probe_tensors["targets"][0].long()  # (T,)
        self._pattern_names = [n for n in model.hook_names() if is_attention(n)]
        # hook name -> the Attention module computing it ("blocks.0.attn.hook_pattern")
        self._attention = {
            n: model.get_submodule(n.rpartition(".")[0]) for n in self._pattern_names
        }
        self.trace.meta.update(self._meta(trainer))

    @torch.no_grad()
    def on_before_optimizer_step(self, trainer: Trainer, step: int) -> None:
        self._flat.before()

    @torch.no_grad()
    def on_step_end(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        norms = self._flat.after()
        # The trainer's per-parameter norms of the gradients before clipping: they add up to
        # metrics["grad_norm"]. One device-to-host copy for them, one for the weight norms.
        assert trainer.grad_norms is not None  # set by train_step before this event
        scalars = dict(metrics)
        scalars.update(zip(self._grad_names, trainer.grad_norms.tolist(), strict=True))
        # A weight that is all zeros (a fresh bias) has no ratio: NaN, "not logged".
        ratios = [
            norms[u] / norms[w] if norms[w] > 0 else math.nan
            for w, u in zip(self._flat.weight_at, self._flat.update_at, strict=True)
        ]
        scalars.update(zip(self._ratio_names, ratios, strict=True))
        self.trace.log_scalars(self.step_offset + step, scalars)
        self._update_step = step

    def _recorded_already(self, step: int) -> bool:
        return self.step_offset > 0 and step == 0

    def on_eval(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        if not self._recorded_already(step):
            self.trace.log_scalars(self.step_offset + step, metrics)

    def snapshot_rows(
        self, trainer: Trainer, step: int
    ) -> tuple[dict[str, torch.Tensor], Callable[[torch.Tensor], None]] | None:
        """The probe as an extra row of the training pass after snapshot ``step`` (see
        :mod:`explain.trainer`), and the function that takes its logits. None when that row
        would not compute what an eval-mode pass computes: with dropout, or with hooks on the
        model (they may act differently in training).

        Offered even when the snapshot was taken already (at a pause), so that the batch has
        the same rows, and training the same numbers, in bursts as in one run.
        """
        model = trainer.model
        hooked = any(hook.fns for hook in model.hook_dict.values())
        if model.config.dropout > 0 or hooked or self._recorded_already(step):
            return None
        if step == self._last_snapshot:
            return self._probe_inputs, self._ignore
        for module in self._attention.values():
            module.keep_last_pattern = True
        self._armed, self._riding = True, step
        return self._probe_inputs, self._receive

    def _receive(self, logits: torch.Tensor) -> None:
        """Keep the riding probe's patterns and logits [1, pos, vocab] for its snapshot."""
        attention = self._attention.items()
        tensors = {name: getattr(module, "last_pattern", None) for name, module in attention}
        self._disarm()
        if self._riding is not None and all(t is not None for t in tensors.values()):
            tensors["hook_logits"] = logits[0]  # [pos, vocab]
            self._ridden = (self._riding, tensors)  # type: ignore[assignment]

    @staticmethod
    def _ignore(logits: torch.Tensor) -> None:
        """The logits of a probe row riding after a snapshot that was taken already."""

    def _disarm(self) -> None:
        if self._armed:
            for module in self._attention.values():
                module.keep_last_pattern, module.last_pattern = False, None
            self._armed = False

    def on_snapshot(self, trainer: Trainer, step: int) -> None:
        ridden, self._ridden, self._riding = self._ridden, None, None
        self._disarm()  # a ride that did not happen (rows that did not fit the batch)
        if self._recorded_already(step):
            return
        probe = ridden[1] if ridden is not None and ridden[0] == step else None
        tensors = self.snapshot(trainer, step, probe)
        if len(self.trace) == 0:
            size = sum(a.nbytes for a in tensors.values())
            if size * 4 > self.max_bytes:
                raise ValueError(
                    f"one snapshot takes {size} bytes; max_bytes={self.max_bytes} must hold at "
                    f"least 4 of them (raise max_bytes or track fewer parameters)"
                )
            self.trace.meta["dims"] = self._dims(tensors)
        self.trace.add_snapshot(self.step_offset + step, tensors)
        self._last_snapshot = step
        self._enforce_cap()

    def on_train_end(self, trainer: Trainer, status: str) -> None:
        self._disarm()
        self.trace.meta["status"] = status
        self.trace.meta["last_step"] = self.step_offset + trainer.step

    # -- what a snapshot holds -----------------------------------------------------------------
    @torch.no_grad()
    def snapshot(
        self,
        trainer: Trainer,
        step: int | None = None,
        probe: dict[str, torch.Tensor] | None = None,
    ) -> dict[str, np.ndarray]:
        """The arrays of the snapshot at ``step`` (default: the trainer's), each without the
        snapshot axis; ``probe``: its patterns and logits, if a riding row computed them."""
        step = trainer.step if step is None else step
        model = trainer.model
        exact = self._probe_tensors(model) if probe is None else dict(probe)
        exact.update(self._token_loss(exact["hook_logits"]))
        for name, embedding in self._embeds.items():
            exact[name] = embedding.weight  # [vocab, d_model]
        table = model.positional_table()
        if table is not None:
            exact["positional"] = table  # [pos, d_model], or [pos, d_head] for rope
        # The gradients (as clipped, still on the parameters) and the update of this step;
        # zeros at a step that had no update (step 0).
        fresh = self._update_step == step
        rounded: dict[str, torch.Tensor] = {}
        for name, i in self._tracked:
            grad = self.params[i].grad
            rounded[f"grad/{name}"] = grad if fresh and grad is not None else self._zeros[name]
            rounded[f"update/{name}"] = self._tracked_updates[name] if fresh else self._zeros[name]
            state = trainer.optimizer.state.get(self.params[i], {})
            for moment in self._moments:
                value = state.get(moment)
                rounded[f"{moment}/{name}"] = value if value is not None else self._zeros[name]
        arrays = _host_arrays(exact, rounded)
        arrays["token_top_ids"] = arrays["token_top_ids"].astype(np.int32)  # exact: ids < 2**24
        return arrays

    def _token_loss(self, logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """The probe's per-token loss, the probability of each target token and the most likely
        tokens (:data:`explain.trace.TOKEN_TENSORS`), from its logits (T, V). The top ids ride
        the one float32 copy to the host (:func:`_host_arrays`) and become int32 there."""
        logits = logits.float()  # (T, V)
        loss = F.cross_entropy(logits, self._probe_targets, reduction="none")  # (T,)
        probs = logits.softmax(dim=-1)  # (T, V)
        right = probs.gather(-1, self._probe_targets[:, None])[:, 0]  # (T,)
        top = probs.topk(min(TOKEN_TOP_K, probs.shape[-1]), dim=-1)  # (T, k), best first
        return {
            "token_loss": loss,
            "token_prob": right,
            "token_top_ids": top.indices.float(),
            "token_top_probs": top.values,
        }

    def _probe_tensors(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        """Every attention pattern [head, q_pos, k_pos] and the logits [pos, vocab] of the
        probe sequence, from a forward pass of its own in eval mode."""
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
            elif name in TOKEN_TENSORS:
                dims[name] = list(TOKEN_TENSORS[name])
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
            "task": task.trace_meta(),
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
