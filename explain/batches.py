"""A task's numpy batch on the torch side: tensors, the model's inputs and the masked loss.

The trainer trains on these and the recorder feeds its probe through the same path, so a
snapshot sees exactly what training sees.

    >>> import numpy as np, torch
    >>> from explain import tasks
    >>> task = tasks.get("reverse")
    >>> batch = to_torch(task.batch(2, np.random.default_rng(0)), torch.device("cpu"), task)
    >>> sorted(batch), list(model_inputs(batch))
    (['inputs', 'mask', 'targets'], ['tokens'])
    >>> masked_loss(torch.zeros(*batch["inputs"].shape, task.vocab_size), batch).item() > 0
    True
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import tasks as tasks_module

__all__ = ["held_out_batches", "join_rows", "masked_loss", "model_inputs", "to_torch"]


def to_torch(
    batch: tasks_module.Batch, device: torch.device, task: tasks_module.Task | None = None
) -> dict[str, torch.Tensor]:
    """A task's numpy batch as tensors: inputs, targets, mask, and source(+mask) if any.

    The source mask is True on real tokens, False on the task's padding (``task.pad``).
    """
    out = {
        "inputs": torch.from_numpy(batch.inputs).to(device),
        "targets": torch.from_numpy(batch.targets).to(device),
        "mask": torch.from_numpy(batch.mask).to(device),
    }
    if batch.source is not None:
        out["source"] = torch.from_numpy(batch.source).to(device)
        pad = getattr(task, "pad", None)
        real = batch.source != pad if pad is not None else np.ones_like(batch.source, bool)
        out["source_mask"] = torch.from_numpy(real).to(device)
    return out


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keyword arguments of ``TinyTransformer.forward`` for a batch from :func:`to_torch`."""
    kwargs = {"tokens": batch["inputs"]}
    if "source" in batch:
        kwargs["source"], kwargs["source_mask"] = batch["source"], batch["source_mask"]
    return kwargs


def join_rows(
    inputs: dict[str, torch.Tensor], rows: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor] | None:
    """Model inputs with ``rows`` appended after ``inputs``' rows (batch axis 0); None when
    they do not fit: other keys, or other shapes, dtypes or devices beyond the batch axis."""
    if inputs.keys() != rows.keys():
        return None
    for name, tensor in inputs.items():
        extra = rows[name]
        if (tensor.shape[1:], tensor.dtype, tensor.device) != (
            extra.shape[1:],
            extra.dtype,
            extra.device,
        ):
            return None
    return {name: torch.cat([tensor, rows[name]]) for name, tensor in inputs.items()}


def masked_loss(logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy over the positions the task's mask marks."""
    targets = batch["targets"].masked_fill(~batch["mask"], -100)  # (B, T); -100 is ignored
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)


def held_out_batches(
    task: tasks_module.Task, count: int, seed: int, batch_size: int
) -> list[tasks_module.Batch]:
    """The "val" batches a model is scored on: the same ones for the same seed, so the
    trainer's evaluation, the lab's and distillation's agreement all see the same sequences."""
    rng = np.random.default_rng(10_000 + seed)
    return [task.batch(batch_size, rng, split="val") for _ in range(count)]
