"""Hook names: the one place that formats, parses and orders them. No torch.

Every intermediate tensor of a model has a dotted name made of an optional stack
(``encoder.`` / ``decoder.``), a block, a module and a hook: ``blocks.0.attn.hook_pattern``,
``decoder.blocks.1.cross.hook_pattern``. Code that needs to know which attention a name holds
asks :func:`parse_attention`; code that needs a name asks :func:`attention_name`.

An attention *part* is what a person picks in a view: ``"self"`` (a decoder-only model),
``"encoder"``, ``"decoder"`` (its self-attention) or ``"cross"`` (the decoder looking at the
encoder).

    >>> attention_name(1, "cross")
    'decoder.blocks.1.cross.hook_pattern'
    >>> parse_attention("encoder.blocks.0.attn.hook_pattern")
    ('encoder', 0)
    >>> parse_attention("blocks.0.mlp.hook_post") is None
    True
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "PARTS",
    "PART_TITLES",
    "attention_name",
    "attention_order",
    "attention_parts",
    "default_part",
    "is_attention",
    "parse_attention",
    "z_name",
]

# The order parts are listed in: a decoder-only model's one part, then encoder-decoder ones.
PARTS = ("self", "encoder", "decoder", "cross")
PART_TITLES = {
    "self": "self-attention",
    "encoder": "encoder self-attention",
    "decoder": "decoder self-attention",
    "cross": "cross-attention (decoder looks at encoder)",
}
_STACK = {"self": "", "encoder": "encoder.", "decoder": "decoder.", "cross": "decoder."}
_ATTENTION = re.compile(r"^(?:(encoder|decoder)\.)?blocks\.(\d+)\.(attn|cross)\.hook_pattern$")


def attention_name(layer: int, part: str = "self") -> str:
    """The hook name of the attention pattern of block ``layer`` of ``part``."""
    if part not in _STACK:
        raise ValueError(f"part must be one of {', '.join(PARTS)}; got {part!r}")
    if isinstance(layer, bool) or not isinstance(layer, int) or layer < 0:
        raise ValueError(f"layer must be a non-negative integer; got {layer!r}")
    module = "cross" if part == "cross" else "attn"
    return f"{_STACK[part]}blocks.{layer}.{module}.hook_pattern"


def z_name(layer: int, part: str = "self") -> str:
    """The per-head output hook ``[batch, head, q_pos, d_head]`` of ``part``'s block ``layer``
    (what the attention's output projection reads): the pattern's module with ``hook_z``.

    >>> z_name(1, "cross")
    'decoder.blocks.1.cross.hook_z'
    """
    module = attention_name(layer, part).rsplit(".", 1)[0]
    return f"{module}.hook_z"


def parse_attention(name: str) -> tuple[str, int] | None:
    """``(part, layer)`` of an attention-pattern hook name, or None for any other name."""
    match = _ATTENTION.match(name)
    if match is None:
        return None
    stack, block, module = match.groups()
    if module == "cross":
        return ("cross", int(block)) if stack == "decoder" else None
    return (stack or "self", int(block))


def is_attention(name: str) -> bool:
    """Whether ``name`` is an attention pattern (of any part)."""
    return parse_attention(name) is not None


def attention_order(name: str) -> tuple:
    """Sort key in forward-pass order: encoder blocks, then each decoder block's self- before
    its cross-attention; names that are no attention pattern come last."""
    parsed = parse_attention(name)
    if parsed is None:
        return (1, 0, 0, 0, name)
    part, layer = parsed
    return (0, part in ("decoder", "cross"), layer, part == "cross", name)


def attention_parts(names: Iterable[str]) -> dict[str, list[str]]:
    """Part -> its attention-pattern names by layer, in ``PARTS`` order.

    Layers must be numbered 0..n-1 within a part; a gap is a ValueError naming it.

    >>> names = ["decoder.blocks.0.cross.hook_pattern", "blocks.0.attn.hook_pattern"]
    >>> parts = attention_parts(names)
    >>> {part: len(names) for part, names in parts.items()}
    {'self': 1, 'cross': 1}
    """
    found: dict[str, dict[int, str]] = {}
    for name in names:
        parsed = parse_attention(name)
        if parsed is not None:
            found.setdefault(parsed[0], {})[parsed[1]] = name
    parts: dict[str, list[str]] = {}
    for part in PARTS:
        if part not in found:
            continue
        layers = sorted(found[part])
        if layers != list(range(len(layers))):
            raise ValueError(f"{part} attention has blocks {layers}; expected 0..{len(layers) - 1}")
        parts[part] = [found[part][i] for i in layers]
    return parts


def default_part(parts: Iterable[str]) -> str:
    """The part a view opens on: self, else cross (what a translation teaches), decoder, encoder."""
    parts = list(parts)
    if not parts:
        raise ValueError("there are no attention parts to choose from")
    return next((p for p in ("self", "cross", "decoder", "encoder") if p in parts), parts[0])
