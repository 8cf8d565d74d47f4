"""Tests for explain/hooks.py on a real TinyTransformer: names, caching, editing, clean-up."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from explain.hooks import HookPoint
from explain.model import TinyTransformer

MakeModel = Callable[..., TinyTransformer]
ATTN = ("hook_q", "hook_k", "hook_v", "hook_scores", "hook_pattern", "hook_z", "hook_out")
TOKENS = torch.tensor([[1, 4, 2, 8, 5, 7], [3, 3, 0, 9, 10, 6]])
SOURCE = torch.tensor([[2, 5, 7, 1], [6, 6, 9, 0]])


def _expected_names(n_layers: int, additive: bool, prefix: str = "", cross: bool = False) -> list:
    """The DESIGN.md hook names, in forward order, written out independently of the model."""
    names = [f"{prefix}embed.hook_tokens"]
    if additive:
        names.append(f"{prefix}embed.hook_positions")
    names.append(f"{prefix}embed.hook_sum")
    for i in range(n_layers):
        block = f"{prefix}blocks.{i}."
        names += [f"{block}attn.{hook}" for hook in ATTN] + [f"{block}hook_resid_mid"]
        if cross:
            names += [f"{block}cross.{hook}" for hook in ATTN] + [f"{block}hook_resid_cross"]
        names += [f"{block}mlp.hook_pre", f"{block}mlp.hook_post", f"{block}hook_resid_post"]
    return names


def _no_fns_left(model: TinyTransformer) -> bool:
    return all(not m.fns for m in model.modules() if isinstance(m, HookPoint))


@pytest.mark.parametrize("pos_kind", ["sinusoidal", "learned", "rope", "none"])
def test_hook_names_decoder(make_model: MakeModel, pos_kind: str) -> None:
    model = make_model(positional=pos_kind)
    additive = pos_kind in ("sinusoidal", "learned")
    assert model.hook_names() == _expected_names(2, additive) + ["hook_logits"]


@pytest.mark.parametrize("pos_kind", ["sinusoidal", "rope"])
def test_hook_names_encoder_decoder(make_model: MakeModel, pos_kind: str) -> None:
    model = make_model(positional=pos_kind, kind="encoder-decoder", n_layers=1)
    additive = pos_kind == "sinusoidal"
    expected = (
        _expected_names(1, additive, "encoder.")
        + _expected_names(1, additive, "decoder.", cross=True)
        + ["hook_logits"]
    )
    assert model.hook_names() == expected
    assert "decoder.blocks.0.cross.hook_pattern" in expected  # the name DESIGN.md promises


@pytest.mark.parametrize("kind", ["decoder", "encoder-decoder"])
def test_hook_names_are_in_firing_order_and_all_fire(make_model: MakeModel, kind: str) -> None:
    model = make_model(kind=kind)
    fired: list[str] = []
    extra = {"source": SOURCE} if kind == "encoder-decoder" else {}
    with model.hooks(fwd=[(lambda name: True, lambda x, hook: fired.append(hook.name))]):
        model(TOKENS, **extra)
    assert fired == model.hook_names()
    assert _no_fns_left(model)


def test_run_with_cache_all(make_model: MakeModel) -> None:
    model = make_model()
    logits, cache = model.run_with_cache(TOKENS)
    assert list(cache) == model.hook_names()
    torch.testing.assert_close(logits, model(TOKENS), atol=1e-5, rtol=0)
    assert all(not t.requires_grad for t in cache.values())
    assert cache["embed.hook_positions"].shape == (6, 16)
    assert cache["blocks.1.attn.hook_pattern"].shape == (2, 2, 6, 6)
    assert cache["blocks.1.attn.hook_q"].shape == (2, 2, 6, 8)
    assert cache["blocks.0.mlp.hook_pre"].shape == (2, 6, 32)
    assert cache["blocks.0.hook_resid_mid"].shape == (2, 6, 16)
    assert cache["hook_logits"].shape == (2, 6, 11)
    assert _no_fns_left(model)


def test_run_with_cache_selects_by_list_and_predicate(make_model: MakeModel) -> None:
    model = make_model()
    wanted = ["blocks.1.hook_resid_post", "embed.hook_sum"]
    logits, cache = model.run_with_cache(TOKENS, names=wanted)
    assert set(cache) == set(wanted)
    torch.testing.assert_close(logits, model(TOKENS))  # fused path when the pattern isn't asked
    _, cache = model.run_with_cache(TOKENS, names=lambda name: name.endswith("hook_pattern"))
    assert list(cache) == ["blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"]
    _, cache = model.run_with_cache(TOKENS, names=[])
    assert cache == {}


def test_run_with_cache_unknown_name_lists_the_names(make_model: MakeModel) -> None:
    model = make_model()
    with pytest.raises(ValueError, match=r"unknown hook name 'blocks\.0\.attn\.hook_attn'") as err:
        model.run_with_cache(TOKENS, names=["hook_logits", "blocks.0.attn.hook_attn"])
    assert "blocks.0.attn.hook_pattern" in str(err.value)
    assert "embed.hook_tokens" in str(err.value)
    assert _no_fns_left(model)


def test_hooks_unknown_name_adds_nothing(make_model: MakeModel) -> None:
    model = make_model()
    with pytest.raises(ValueError, match="hook_nope"):
        with model.hooks(fwd=[("hook_logits", lambda x, h: None), ("hook_nope", print)]):
            pass
    assert _no_fns_left(model)


def test_hooks_are_removed_after_the_block(make_model: MakeModel) -> None:
    model = make_model()
    seen: list[str] = []
    with model.hooks(fwd=[("blocks.0.attn.hook_pattern", lambda x, h: seen.append(h.name))]):
        assert model.blocks[0].attn.hook_pattern.active
        model(TOKENS)
    assert seen == ["blocks.0.attn.hook_pattern"]
    assert _no_fns_left(model)
    model(TOKENS)
    assert len(seen) == 1


def test_hooks_are_removed_when_forward_raises(make_model: MakeModel) -> None:
    model = make_model()

    def explode(x: torch.Tensor, hook: HookPoint) -> None:
        raise RuntimeError("boom")

    keep = [("embed.hook_sum", lambda x, h: None), ("blocks.1.mlp.hook_post", explode)]
    with pytest.raises(RuntimeError, match="boom"):
        with model.hooks(fwd=keep):
            model(TOKENS)
    assert _no_fns_left(model)
    with pytest.raises(ValueError, match="ids in"):
        with model.hooks(fwd=[(lambda name: True, lambda x, h: None)]):
            model(TOKENS + 100)
    assert _no_fns_left(model)


def test_wrong_shaped_replacement_names_the_hook(make_model: MakeModel) -> None:
    model = make_model()
    with pytest.raises(ValueError, match=r"blocks\.1\.attn\.hook_pattern") as err:
        with model.hooks(fwd=[("blocks.1.attn.hook_pattern", lambda x, h: x[:, :1])]):
            model(TOKENS)
    assert "(2, 2, 6, 6)" in str(err.value) and "(2, 1, 6, 6)" in str(err.value)
    with pytest.raises(ValueError, match=r"hook_logits.*got list"):
        with model.hooks(fwd=[("hook_logits", lambda x, h: [1.0])]):
            model(TOKENS)
    assert _no_fns_left(model)


def test_same_hook_twice_runs_twice_and_removes_cleanly(make_model: MakeModel) -> None:
    model = make_model()
    calls: list[int] = []

    def count(x: torch.Tensor, hook: HookPoint) -> None:
        calls.append(1)

    outer = ("hook_logits", count)
    with model.hooks(fwd=[outer]):
        with model.hooks(fwd=[outer, outer]):
            model(TOKENS)
            assert len(calls) == 3
        assert model.hook_logits.fns == [count]
        model(TOKENS)
    assert len(calls) == 4
    assert _no_fns_left(model)


def test_reset_hooks(make_model: MakeModel) -> None:
    model = make_model()
    model.blocks[0].attn.hook_z.fns.append(lambda x, h: None)
    model.reset_hooks()
    assert _no_fns_left(model)


def _replace_head(head: int, value: Callable[[torch.Tensor], torch.Tensor]) -> Callable:
    def hook(x: torch.Tensor, hp: HookPoint) -> torch.Tensor:
        x = x.clone()
        x[:, head] = value(x[:, head])
        return x

    return hook


def test_zero_ablating_a_head_pattern_equals_zeroing_its_z(make_model: MakeModel) -> None:
    model = make_model()
    clean, clean_cache = model.run_with_cache(TOKENS)
    zero = _replace_head(1, torch.zeros_like)
    with model.hooks(fwd=[("blocks.0.attn.hook_pattern", zero)]):
        by_pattern, cache = model.run_with_cache(TOKENS)
    assert torch.all(cache["blocks.0.attn.hook_pattern"][:, 1] == 0)  # the cache sees the edit
    assert torch.all(cache["blocks.0.attn.hook_z"][:, 1] == 0)
    torch.testing.assert_close(
        cache["blocks.0.attn.hook_z"][:, 0], clean_cache["blocks.0.attn.hook_z"][:, 0]
    )
    assert (by_pattern - clean).abs().max() > 1e-4
    with model.hooks(fwd=[("blocks.0.attn.hook_z", zero)]):
        by_z, cache = model.run_with_cache(TOKENS, names=["blocks.0.attn.hook_out"])
    torch.testing.assert_close(by_z, by_pattern, atol=1e-5, rtol=0)
    # hook_out is W_o applied to the edited heads: only head 0's columns of W_o contribute.
    attn = model.blocks[0].attn
    z0 = clean_cache["blocks.0.attn.hook_z"][:, 0]  # (B, T, d_head)
    expected = z0 @ attn.W_o.weight[:, :8].T + attn.W_o.bias
    torch.testing.assert_close(cache["blocks.0.attn.hook_out"], expected, atol=1e-6, rtol=0)


def test_uniform_pattern_three_ways(make_model: MakeModel) -> None:
    """Uniform causal attention in head 1, set on the scores, the pattern, or z, agrees."""
    model = make_model()
    _, clean = model.run_with_cache(TOKENS)
    T = TOKENS.shape[1]
    uniform = torch.ones(T, T).tril()
    uniform = uniform / uniform.sum(-1, keepdim=True)  # (T, T), rows sum to 1
    v = clean["blocks.0.attn.hook_v"][:, 1]  # (B, T, d_head), not changed by this layer's pattern
    causal = torch.zeros(T, T).masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), -torch.inf)
    results = []
    for name, value in [
        ("hook_scores", lambda s: causal.expand_as(s)),  # equal scores where allowed
        ("hook_pattern", lambda p: uniform.expand_as(p)),
        ("hook_z", lambda z: uniform @ v),
    ]:
        with model.hooks(fwd=[(f"blocks.0.attn.{name}", _replace_head(1, value))]):
            results.append(model(TOKENS))
    torch.testing.assert_close(results[0], results[1], atol=1e-5, rtol=0)
    torch.testing.assert_close(results[2], results[1], atol=1e-5, rtol=0)
    assert (results[1] - clean["hook_logits"]).abs().max() > 1e-5


def test_patching_resid_post_sets_the_logits(make_model: MakeModel) -> None:
    model = make_model()
    _, donor = model.run_with_cache(TOKENS.flip(0), names=["blocks.1.hook_resid_post"])
    patch = donor["blocks.1.hook_resid_post"]
    with model.hooks(fwd=[("blocks.1.hook_resid_post", lambda x, h: patch)]):
        patched = model(TOKENS)
    torch.testing.assert_close(patched, model.unembed(model.ln_final(patch)), atol=1e-6, rtol=0)
    torch.testing.assert_close(patched, model(TOKENS.flip(0)), atol=1e-5, rtol=0)
