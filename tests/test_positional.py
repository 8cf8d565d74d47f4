"""Tests for explain/positional.py and the model's use of it (rotary inside attention)."""

from __future__ import annotations

import cmath
import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from explain import positional
from explain.model import TinyTransformer, apply_rope

MakeModel = Callable[..., TinyTransformer]


def _sinusoidal_by_hand(context_length: int, d_model: int, base: float = 10000.0) -> np.ndarray:
    """Vaswani et al. 2017, section 3.5, one entry at a time."""
    table = np.zeros((context_length, d_model))
    for pos in range(context_length):
        for i in range(0, d_model, 2):
            angle = pos / math.pow(base, i / d_model)
            table[pos, i] = math.sin(angle)
            if i + 1 < d_model:
                table[pos, i + 1] = math.cos(angle)
    return table


@pytest.mark.parametrize(("context_length", "d_model"), [(1, 2), (7, 16), (50, 64), (9, 5)])
def test_sinusoidal_matches_the_paper(context_length: int, d_model: int) -> None:
    got = positional.sinusoidal(context_length, d_model)
    assert got.shape == (context_length, d_model) and got.dtype == np.float64
    np.testing.assert_allclose(got, _sinusoidal_by_hand(context_length, d_model), atol=1e-12)


def test_sinusoidal_odd_d_model_keeps_last_sine_column() -> None:
    got = positional.sinusoidal(6, 7)
    assert got.shape == (6, 7)
    # Column 6 is the sine of pair 3; there is no cosine partner.
    expected = [math.sin(p / 10000.0 ** (6 / 7)) for p in range(6)]
    np.testing.assert_allclose(got[:, 6], expected, atol=1e-12)
    np.testing.assert_allclose(got[:, :6], _sinusoidal_by_hand(6, 7)[:, :6], atol=1e-12)


def test_sinusoidal_other_base() -> None:
    np.testing.assert_allclose(
        positional.sinusoidal(5, 8, base=100.0), _sinusoidal_by_hand(5, 8, 100.0), atol=1e-12
    )


@pytest.mark.parametrize(("context_length", "d_model"), [(0, 4), (4, 0), (-1, 4)])
def test_sinusoidal_rejects_non_positive(context_length: int, d_model: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        positional.sinusoidal(context_length, d_model)


def test_rope_table_layout() -> None:
    context_length, d_head = 6, 8
    table = positional.rope_table(context_length, d_head)
    assert table.shape == (context_length, d_head)
    for p in range(context_length):
        for i in range(d_head // 2):
            theta = p * 10000.0 ** (-2 * i / d_head)
            assert table[p, 2 * i] == pytest.approx(math.cos(theta), abs=1e-12)
            assert table[p, 2 * i + 1] == pytest.approx(math.sin(theta), abs=1e-12)
    np.testing.assert_allclose(table[0, 0::2], 1.0)
    np.testing.assert_allclose(table[0, 1::2], 0.0)


def test_rope_rejects_odd_d_head() -> None:
    with pytest.raises(ValueError, match="even d_head; got 5"):
        positional.rope_angles(4, 5)
    with pytest.raises(ValueError, match="even"):
        positional.rope_table(4, 3)


def _rope_model(make_model: MakeModel) -> TinyTransformer:
    return make_model(positional="rope", d_model=32, n_heads=2, context_length=16)


def _rotate(x: torch.Tensor, model: TinyTransformer, position: int) -> torch.Tensor:
    """x: (d_head,) placed alone at ``position`` and rotated with the model's tables."""
    cos, sin = model.rope_cos[position : position + 1], model.rope_sin[position : position + 1]
    return apply_rope(x[None, None, None, :], cos, sin)[0, 0, 0]  # (d_head,)


def test_rope_dot_product_depends_only_on_offset(make_model: MakeModel) -> None:
    model = _rope_model(make_model)
    d_head = model.config.d_head
    generator = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, d_head, generator=generator, dtype=torch.float64).float()

    def score(m: int, n: int) -> float:
        return float(_rotate(q, model, m) @ _rotate(k, model, n))

    by_offset = {}
    for offset in (-5, -1, 0, 2, 7):
        pairs = [(m, m - offset) for m in range(16) if 0 <= m - offset < 16]
        scores = [score(m, n) for m, n in pairs[:4]]
        assert max(scores) - min(scores) < 1e-5, (offset, scores)
        by_offset[offset] = scores[0]
    values = sorted(by_offset.values())
    assert min(b - a for a, b in zip(values, values[1:], strict=False)) > 1e-3
    # Offset 0 is the unrotated dot product.
    assert by_offset[0] == pytest.approx(float(q @ k), abs=1e-5)


def test_rope_preserves_norms(make_model: MakeModel) -> None:
    model = _rope_model(make_model)
    x = torch.randn(3, 2, 16, model.config.d_head, generator=torch.Generator().manual_seed(1))
    rotated = apply_rope(x, model.rope_cos, model.rope_sin)
    torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(rotated[:, :, 0], x[:, :, 0])  # position 0 is not rotated


def _rope_by_complex(x: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """x: (B, nh, T, hs); pair (2i, 2i+1) read as x_2i + j x_2i+1, times e^{j p θ_i}."""
    out = torch.empty_like(x)
    d_head = x.shape[-1]
    for p in range(x.shape[2]):
        for i in range(d_head // 2):
            turn = cmath.exp(1j * p * base ** (-2 * i / d_head))
            z = torch.complex(x[:, :, p, 2 * i].double(), x[:, :, p, 2 * i + 1].double()) * turn
            out[:, :, p, 2 * i], out[:, :, p, 2 * i + 1] = z.real.float(), z.imag.float()
    return out


def test_model_rotates_q_and_k_by_position(make_model: MakeModel) -> None:
    model = _rope_model(make_model)
    tokens = torch.tensor([[1, 5, 2, 9, 3, 3, 0]])
    _, cache = model.run_with_cache(tokens)
    block = model.blocks[0]
    x = block.ln1(cache["embed.hook_sum"])  # rope adds nothing to the residual stream
    torch.testing.assert_close(cache["embed.hook_sum"], cache["embed.hook_tokens"])
    q, k, _ = block.attn.W_qkv(x).split(model.config.d_model, dim=2)
    heads = (1, 7, model.config.n_heads, model.config.d_head)
    q = q.view(heads).transpose(1, 2)
    k = k.view(heads).transpose(1, 2)
    torch.testing.assert_close(
        cache["blocks.0.attn.hook_q"], _rope_by_complex(q), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(
        cache["blocks.0.attn.hook_k"], _rope_by_complex(k), atol=1e-5, rtol=0
    )


def test_model_positional_table(make_model: MakeModel) -> None:
    rope = _rope_model(make_model)
    np.testing.assert_allclose(
        rope.positional_table().numpy(), positional.rope_table(16, rope.config.d_head), atol=1e-6
    )
    sinusoidal = make_model(positional="sinusoidal")
    np.testing.assert_allclose(
        sinusoidal.positional_table().numpy(), _sinusoidal_by_hand(12, 16), atol=1e-6
    )
    assert make_model(positional="none").positional_table() is None
    learned = make_model(positional="learned")
    assert learned.positional_table().shape == (12, 16)
    assert not learned.positional_table().requires_grad
    encdec = make_model(positional="learned", kind="encoder-decoder")
    assert encdec.positional_table().data_ptr() == encdec.decoder.embed.W_pos.data_ptr()
