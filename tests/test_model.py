"""Tests for explain/model.py: shapes, fused vs hand-written attention, masks, checks, seeds."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest
import torch
import torch.nn.functional as F

from explain import positional
from explain.config import POSITIONAL_KINDS, ModelConfig
from explain.model import TinyTransformer, resolve_device

MakeModel = Callable[..., TinyTransformer]
ENC_DEC = dict(kind="encoder-decoder")


def _tokens(batch: int, length: int, vocab: int = 11, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(seed))


def _source() -> tuple[torch.Tensor, torch.Tensor]:
    """Two source rows of 7 positions; the second has 3 padding positions at the end."""
    source = _tokens(2, 7, seed=1)
    source[1, 4:] = 0
    mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    return source, mask


def _perturb_learned(model: TinyTransformer) -> None:
    """Learned tables start at zero; give them values so position actually matters."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("W_pos"):
                p.normal_(generator=torch.Generator().manual_seed(3))


@pytest.fixture
def sdpa_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts calls of the fused kernel, so a test knows which path actually ran."""
    calls: list[int] = []
    real = F.scaled_dot_product_attention

    def counting(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", counting)
    yield calls


def _hand_path(model: TinyTransformer) -> AbstractContextManager[object]:
    """A no-op hook on every pattern forces the hand-written attention."""
    return model.hooks(fwd=[(lambda n: n.endswith("hook_pattern"), lambda x, hook: None)])


@pytest.mark.parametrize("pos_kind", POSITIONAL_KINDS)
def test_logits_shape(make_model: MakeModel, pos_kind: str) -> None:
    decoder = make_model(positional=pos_kind)
    assert decoder(_tokens(3, 5)).shape == (3, 5, 11)
    encdec = make_model(positional=pos_kind, **ENC_DEC)
    source, mask = _source()
    assert encdec(_tokens(2, 5), source=source, source_mask=mask).shape == (2, 5, 11)
    assert encdec(_tokens(2, 12), source=_tokens(2, 3)).shape == (2, 12, 11)


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("pos_kind", POSITIONAL_KINDS)
def test_fused_and_hand_written_agree_decoder(
    make_model: MakeModel, sdpa_calls: list[int], pos_kind: str, train: bool
) -> None:
    model = make_model(positional=pos_kind).train(train)
    _perturb_learned(model)
    tokens = _tokens(3, 9)
    fused = model(tokens)
    assert len(sdpa_calls) == model.config.n_layers
    sdpa_calls.clear()
    with _hand_path(model):
        hand = model(tokens)
    assert sdpa_calls == []
    torch.testing.assert_close(hand, fused, atol=1e-5, rtol=0)


def test_fused_and_hand_written_gradients_agree(make_model: MakeModel) -> None:
    model = make_model(positional="rope").train()
    tokens = _tokens(2, 8)
    grads = []
    for hooked in (False, True):
        model.zero_grad()
        if hooked:
            with _hand_path(model):
                model(tokens).square().mean().backward()
        else:
            model(tokens).square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("pos_kind", POSITIONAL_KINDS)
def test_fused_and_hand_written_agree_encoder_decoder(
    make_model: MakeModel, sdpa_calls: list[int], pos_kind: str
) -> None:
    model = make_model(positional=pos_kind, **ENC_DEC)
    _perturb_learned(model)
    source, mask = _source()
    tokens = _tokens(2, 6)
    fused = model(tokens, source=source, source_mask=mask)
    assert len(sdpa_calls) == 3 * model.config.n_layers  # encoder self, decoder self + cross
    sdpa_calls.clear()
    with _hand_path(model):
        hand = model(tokens, source=source, source_mask=mask)
    assert sdpa_calls == []
    torch.testing.assert_close(hand, fused, atol=1e-5, rtol=0)
    # Padding is hidden: what sits in the padded positions changes nothing, on either path.
    other = source.clone()
    other[1, 4:] = torch.tensor([5, 9, 2])
    torch.testing.assert_close(model(tokens, source=other, source_mask=mask), fused)
    with _hand_path(model):
        torch.testing.assert_close(model(tokens, source=other, source_mask=mask), fused)
    assert not torch.allclose(model(tokens, source=other), model(tokens, source=source))


def test_dropout_only_in_train_mode(make_model: MakeModel) -> None:
    model = make_model(dropout=0.5)
    tokens = _tokens(2, 8)
    torch.testing.assert_close(model(tokens), model(tokens))
    with _hand_path(model):
        torch.testing.assert_close(model(tokens), model(tokens), atol=1e-5, rtol=0)
    model.train()
    assert not torch.allclose(model(tokens), model(tokens))


def _causal_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """q kᵀ/√d_head with -inf where key position > query position, mask built entry by entry."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    mask = torch.zeros(q.shape[2], k.shape[2])
    for i in range(q.shape[2]):
        for j in range(i + 1, k.shape[2]):
            mask[i, j] = float("-inf")
    return scores + mask


@pytest.mark.parametrize("pos_kind", POSITIONAL_KINDS)
def test_attention_by_hand_from_captured_qkv(make_model: MakeModel, pos_kind: str) -> None:
    model = make_model(positional=pos_kind)
    _perturb_learned(model)
    _, cache = model.run_with_cache(_tokens(3, 10))
    for layer in range(model.config.n_layers):
        prefix = f"blocks.{layer}.attn."
        q, k, v = (cache[prefix + name] for name in ("hook_q", "hook_k", "hook_v"))
        assert q.shape == k.shape == v.shape == (3, 2, 10, 8)
        scores = _causal_scores(q, k)
        torch.testing.assert_close(cache[prefix + "hook_scores"], scores, atol=1e-5, rtol=0)
        pattern = torch.softmax(scores, dim=-1)
        torch.testing.assert_close(cache[prefix + "hook_pattern"], pattern, atol=1e-6, rtol=0)
        z = cache[prefix + "hook_z"]
        torch.testing.assert_close(z, pattern @ v, atol=1e-6, rtol=0)
        fused = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        torch.testing.assert_close(z, fused, atol=1e-6, rtol=0)
        got = cache[prefix + "hook_pattern"]
        torch.testing.assert_close(got.sum(-1), torch.ones(3, 2, 10), atol=1e-6, rtol=0)
        below = torch.ones(10, 10, dtype=torch.bool).tril()
        assert torch.all(got[..., ~below] == 0)  # exactly zero above the diagonal
        assert torch.all(got[..., below] > 0)
        # hook_out is W_o applied to the heads laid side by side.
        attn = model.blocks[layer].attn
        flat = z.transpose(1, 2).reshape(3, 10, 16)  # (B, T, nh * hs)
        expected = flat @ attn.W_o.weight.T + attn.W_o.bias
        torch.testing.assert_close(cache[prefix + "hook_out"], expected, atol=1e-6, rtol=0)


def test_encoder_decoder_patterns(make_model: MakeModel) -> None:
    model = make_model(**ENC_DEC)
    source, mask = _source()
    _, cache = model.run_with_cache(_tokens(2, 5), source=source, source_mask=mask)
    for layer in range(model.config.n_layers):
        encoder = cache[f"encoder.blocks.{layer}.attn.hook_pattern"]  # [B, H, S, S]
        decoder = cache[f"decoder.blocks.{layer}.attn.hook_pattern"]  # [B, H, T, T]
        cross = cache[f"decoder.blocks.{layer}.cross.hook_pattern"]  # [B, H, T, S]
        assert encoder.shape == (2, 2, 7, 7)
        assert decoder.shape == (2, 2, 5, 5)
        assert cross.shape == (2, 2, 5, 7)
        for pattern in (encoder, decoder, cross):
            torch.testing.assert_close(pattern.sum(-1), torch.ones(pattern.shape[:3]))
        assert torch.all(encoder[0] > 0)  # not causal: every source position sees every other
        assert torch.all(decoder.triu(diagonal=1) == 0)  # causal
        assert torch.all(encoder[1, :, :, 4:] == 0) and torch.all(cross[1, :, :, 4:] == 0)
        assert torch.all(encoder[1, :, :, :4] > 0) and torch.all(cross[0] > 0)
        # Cross-attention by hand: queries from the decoder, keys from the encoder, no causal mask.
        q = cache[f"decoder.blocks.{layer}.cross.hook_q"]
        k = cache[f"decoder.blocks.{layer}.cross.hook_k"]
        scores = q @ k.transpose(-2, -1) / math.sqrt(8)
        scores[1, :, :, 4:] = float("-inf")
        torch.testing.assert_close(cross, torch.softmax(scores, -1), atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", ["decoder", "encoder-decoder"])
def test_resid_post_reproduces_logits(make_model: MakeModel, kind: str) -> None:
    model = make_model(kind=kind)
    source, mask = _source()
    extra = {} if kind == "decoder" else {"source": source, "source_mask": mask}
    logits, cache = model.run_with_cache(_tokens(2, 6), **extra)
    stack = model if kind == "decoder" else model.decoder
    prefix = "" if kind == "decoder" else "decoder."
    last = cache[f"{prefix}blocks.{model.config.n_layers - 1}.hook_resid_post"]
    torch.testing.assert_close(model.unembed(stack.ln_final(last)), logits, atol=1e-6, rtol=0)
    torch.testing.assert_close(cache["hook_logits"], logits)


def test_residual_stream_adds_up(make_model: MakeModel) -> None:
    """Each block: resid_mid = input + attn out; MLP hooks; resid_post = resid_mid + MLP out."""
    model = make_model()
    _, cache = model.run_with_cache(_tokens(2, 7))
    resid = cache["embed.hook_sum"]
    for layer, block in enumerate(model.blocks):
        name = f"blocks.{layer}."
        mid = resid + cache[name + "attn.hook_out"]
        torch.testing.assert_close(cache[name + "hook_resid_mid"], mid, atol=1e-6, rtol=0)
        pre = block.ln2(mid) @ block.mlp.W_in.weight.T + block.mlp.W_in.bias
        torch.testing.assert_close(cache[name + "mlp.hook_pre"], pre, atol=1e-5, rtol=0)
        gelu = 0.5 * pre * (1 + torch.erf(pre / math.sqrt(2)))  # exact GELU
        torch.testing.assert_close(cache[name + "mlp.hook_post"], gelu, atol=1e-5, rtol=0)
        out = gelu @ block.mlp.W_out.weight.T + block.mlp.W_out.bias
        resid = cache[name + "hook_resid_post"]
        torch.testing.assert_close(resid, mid + out, atol=1e-5, rtol=0)


@pytest.mark.parametrize("pos_kind", POSITIONAL_KINDS)
def test_embedding_sum(make_model: MakeModel, pos_kind: str) -> None:
    model = make_model(positional=pos_kind)
    _perturb_learned(model)
    tokens = _tokens(2, 7)
    _, cache = model.run_with_cache(tokens)
    torch.testing.assert_close(cache["embed.hook_tokens"], model.embed.W_E.weight[tokens])
    if pos_kind == "sinusoidal":
        table = torch.tensor(positional.sinusoidal(12, 16)[:7], dtype=torch.float32)
    elif pos_kind == "learned":
        table = model.embed.W_pos.detach()[:7]
        assert table.abs().sum() > 0
    else:
        assert "embed.hook_positions" not in cache
        torch.testing.assert_close(cache["embed.hook_sum"], cache["embed.hook_tokens"])
        return
    torch.testing.assert_close(cache["embed.hook_positions"], table)
    expected = cache["embed.hook_tokens"] + table
    torch.testing.assert_close(cache["embed.hook_sum"], expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("pos_kind", POSITIONAL_KINDS)
def test_later_tokens_do_not_change_earlier_logits(make_model: MakeModel, pos_kind: str) -> None:
    model = make_model(positional=pos_kind)
    _perturb_learned(model)
    tokens = _tokens(2, 10)
    changed = tokens.clone()
    changed[:, 6] = (changed[:, 6] + 1) % 11
    before, after = model(tokens), model(changed)
    torch.testing.assert_close(after[:, :6], before[:, :6], atol=1e-6, rtol=0)
    assert (after[:, 6] - before[:, 6]).abs().amax() > 1e-3
    assert (after[:, 7:] - before[:, 7:]).abs().amax(-1).min() > 1e-6  # later positions see it
    with _hand_path(model):
        torch.testing.assert_close(model(changed)[:, :6], before[:, :6], atol=1e-5, rtol=0)


def test_encoder_decoder_causality_and_source(make_model: MakeModel) -> None:
    model = make_model(**ENC_DEC)
    source, mask = _source()
    tokens = _tokens(2, 8)
    changed = tokens.clone()
    changed[:, 5] = (changed[:, 5] + 1) % 11
    before = model(tokens, source=source, source_mask=mask)
    after = model(changed, source=source, source_mask=mask)
    torch.testing.assert_close(after[:, :5], before[:, :5], atol=1e-6, rtol=0)
    other = source.clone()
    other[:, 2] = (other[:, 2] + 1) % 11
    moved = model(tokens, source=other, source_mask=mask)
    assert (moved - before).abs().amax(-1).min() > 1e-5  # every target position sees the source


@pytest.mark.parametrize(
    ("tokens", "match"),
    [
        (torch.tensor([[1, 2, -1]]), r"ids in \[-1, 2\]; expected ids in \[0, 10\]"),
        (torch.tensor([[1, 11]]), r"ids in \[1, 11\]; expected ids in \[0, 10\]"),
        (torch.tensor([1, 2, 3]), r"tokens must have shape \[batch, pos\]; got \(3,\)"),
        (torch.ones(1, 2, 3, dtype=torch.long), r"\[batch, pos\]; got \(1, 2, 3\)"),
        (torch.ones(1, 13, dtype=torch.long), r"13 positions; .*context_length is 12"),
    ],
    ids=["negative", "too-big", "1-d", "3-d", "too-long"],
)
def test_bad_tokens_raise(make_model: MakeModel, tokens: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_model()(tokens)
    with pytest.raises(ValueError, match=match.replace("tokens", "source")):
        make_model(**ENC_DEC)(torch.tensor([[1, 2]]), source=tokens)


def test_source_is_required_exactly_for_encoder_decoder(make_model: MakeModel) -> None:
    with pytest.raises(ValueError, match="encoder-decoder model needs source"):
        make_model(**ENC_DEC)(_tokens(1, 3))
    with pytest.raises(ValueError, match="decoder-only model takes no source"):
        make_model()(_tokens(1, 3), source=_tokens(1, 3))
    with pytest.raises(TypeError, match="ModelConfig"):
        TinyTransformer({"d_model": 16})  # type: ignore[arg-type]


def test_float_token_ids_raise_value_error(make_model: MakeModel) -> None:
    with pytest.raises(ValueError, match="tokens"):
        make_model()(torch.tensor([[1.0, 2.0]]))


@pytest.mark.parametrize(
    "bad_mask",
    [
        torch.tensor([[1.0] * 7, [1.0] * 4 + [0.0] * 3]),
        torch.ones(2, 5, dtype=torch.bool),
        torch.tensor([[True] * 7, [False] * 7]),
    ],
    ids=["float", "wrong-shape", "all-false-row"],
)
def test_bad_source_mask_raises(make_model: MakeModel, bad_mask: torch.Tensor) -> None:
    source, _ = _source()
    with pytest.raises(ValueError, match="source_mask"):
        make_model(**ENC_DEC)(_tokens(2, 4), source=source, source_mask=bad_mask)


def test_seed_decides_the_weights() -> None:
    def weights(seed: int, kind: str = "decoder") -> dict[str, torch.Tensor]:
        cfg = ModelConfig(vocab_size=11, d_model=16, n_heads=2, d_mlp=32, kind=kind, seed=seed)
        return TinyTransformer(cfg).state_dict()

    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    a, b, c = weights(4), weights(4), weights(5)
    torch.testing.assert_close(torch.rand(3), expected_draw)  # global RNG left alone
    assert a.keys() == b.keys() == c.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
        if a[name].std() > 0:  # biases and LayerNorms start constant whatever the seed
            assert not torch.equal(a[name], c[name]), name


def test_device_auto() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device() == resolve_device("auto")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    model = TinyTransformer(ModelConfig(vocab_size=5, d_model=16, n_heads=2), device="auto")
    assert model.device.type == expected
    assert all(p.device.type == expected for p in model.parameters())
