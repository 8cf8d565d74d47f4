"""Named hook points: read or edit any intermediate tensor of a model.

Every intermediate tensor of :class:`~explain.model.TinyTransformer` passes through an identity
:class:`HookPoint`. Its full name comes from the module path (``blocks.0.attn.hook_pattern``),
set in one place by :meth:`HookedModule.setup_hooks`. Hooks are temporary: the
:meth:`HookedModule.hooks` context manager always removes what it added, even when the forward
pass raises::

    >>> from explain import ModelConfig, TinyTransformer
    >>> import torch
    >>> model = TinyTransformer(ModelConfig(vocab_size=10, d_model=16, n_heads=2))
    >>> logits, cache = model.run_with_cache(torch.tensor([[1, 2, 3]]), names=["hook_logits"])
    >>> torch.equal(logits, cache["hook_logits"])
    True
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

# fn(tensor, hook) -> replacement tensor, or None to keep the tensor as it is.
HookFn = Callable[[torch.Tensor, "HookPoint"], torch.Tensor | None]
NameFilter = str | Callable[[str], bool]


class HookPoint(nn.Module):
    """Identity module that calls the functions hooked on it, in order.

    A function may return a tensor, which replaces the value flowing on (used for ablation).
    """

    def __init__(self) -> None:
        super().__init__()
        self.name = ""  # full dotted name, set by HookedModule.setup_hooks
        self.fns: list[HookFn] = []

    @property
    def active(self) -> bool:
        return bool(self.fns)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        # Fast path: most hook points have nothing hooked, and nn.Module.__call__'s own
        # bookkeeping would cost more than the rest of an idle hook (~25 per forward pass).
        # torch's register_forward_hook does not apply to HookPoints; use HookedModule.hooks.
        return self.forward(x) if self.fns else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for fn in self.fns:
            out = fn(x, self)
            if out is not None:
                if not isinstance(out, torch.Tensor) or out.shape != x.shape:
                    got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                    raise ValueError(
                        f"hook on {self.name} must return None or a tensor of shape "
                        f"{tuple(x.shape)}; got {got}"
                    )
                x = out
        return x

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


class HookedModule(nn.Module):
    """Mixin for a root module: names its hook points and adds, runs and removes hooks."""

    hook_dict: dict[str, HookPoint]

    def setup_hooks(self) -> None:
        """Name every HookPoint after its module path. Call at the end of ``__init__``."""
        self.hook_dict = {}
        for name, module in self.named_modules():
            if isinstance(module, HookPoint):
                module.name = name
                self.hook_dict[name] = module

    def hook_names(self) -> list[str]:
        """Every hook point's name, in the order the forward pass reaches them."""
        return list(self.hook_dict)

    def _match(self, name: NameFilter) -> list[HookPoint]:
        if callable(name):
            return [hp for n, hp in self.hook_dict.items() if name(n)]
        if name not in self.hook_dict:
            raise ValueError(f"unknown hook name {name!r}; expected one of {self.hook_names()}")
        return [self.hook_dict[name]]

    @contextlib.contextmanager
    def hooks(self, fwd: Iterable[tuple[NameFilter, HookFn]] = ()) -> Iterator[HookedModule]:
        """Add forward hooks for the duration of a ``with`` block; always removes them.

        ``fwd`` holds ``(name, fn)`` pairs; ``name`` is a hook name or a predicate on names.
        ``fn(tensor, hook)`` may return a replacement tensor::

            with model.hooks(fwd=[("blocks.0.attn.hook_pattern", zero_head_1)]):
                logits = model(tokens)
        """
        pairs = [(hp, fn) for name, fn in fwd for hp in self._match(name)]
        try:
            for hp, fn in pairs:
                hp.fns.append(fn)
            yield self
        finally:
            for hp, fn in pairs:
                # Remove by identity, so a function hooked twice leaves no stray copy behind.
                for i in range(len(hp.fns) - 1, -1, -1):
                    if hp.fns[i] is fn:
                        del hp.fns[i]
                        break

    def reset_hooks(self) -> None:
        """Remove every hook (for a model left hooked by code outside ``hooks()``)."""
        for hp in self.hook_dict.values():
            hp.fns.clear()

    def run_with_cache(
        self,
        *args: Any,
        names: str | Sequence[str] | Callable[[str], bool] | None = None,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Run forward and return ``(logits, cache)`` with the hooked tensors, detached.

        ``names`` selects hook points: a name, a list of names, a predicate, or None for all.
        """
        if isinstance(names, str):
            names = [names]
        if names is None:
            selected: list[str] = self.hook_names()
        elif callable(names):
            selected = [n for n in self.hook_dict if names(n)]
        else:
            selected = list(names)
            for n in selected:
                self._match(n)  # raises on an unknown name
        cache: dict[str, torch.Tensor] = {}

        def save(x: torch.Tensor, hook: HookPoint) -> None:
            cache[hook.name] = x.detach()

        with self.hooks(fwd=[(n, save) for n in selected]):
            logits = self(*args, **kwargs)
        return logits, cache
