"""A tiny transformer with a named hook point on every intermediate tensor.

Decoder-only (GPT-style, pre-LayerNorm) by default; ``kind="encoder-decoder"`` adds an encoder
stack and cross-attention. Attention is written out by hand so scores and weights can be read
and edited; when no hook listens to them, the fused
``torch.nn.functional.scaled_dot_product_attention`` computes the same thing faster.

    >>> import torch
    >>> from explain import ModelConfig, TinyTransformer
    >>> model = TinyTransformer(ModelConfig(vocab_size=10, d_model=16, n_layers=1, n_heads=2))
    >>> model(torch.tensor([[1, 2, 3]])).shape  # [batch, pos, vocab]
    torch.Size([1, 3, 10])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import positional
from .config import ModelConfig
from .hooks import HookedModule, HookPoint


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` is CUDA when present, else CPU; anything else is passed to ``torch.device``."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each (even, odd) pair of the last axis. x: (B, nh, T, hs); cos, sin: (T, hs/2)."""
    even, odd = x[..., 0::2], x[..., 1::2]  # (B, nh, T, hs/2) each
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return rotated.flatten(-2)  # (B, nh, T, hs), pairs interleaved back


class Embed(nn.Module):
    """Token embedding plus an additive positional encoding (sinusoidal, learned or none)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.kind = cfg.positional
        self.W_E = nn.Embedding(cfg.vocab_size, cfg.d_model)
        if cfg.positional == "learned":
            self.W_pos = nn.Parameter(torch.zeros(cfg.context_length, cfg.d_model))
        elif cfg.positional == "sinusoidal":
            table = positional.sinusoidal(cfg.context_length, cfg.d_model)
            self.register_buffer(
                "W_pos", torch.tensor(table, dtype=torch.float32), persistent=False
            )
        else:  # rope rotates q and k inside attention; none adds nothing
            self.W_pos = None
        self.hook_tokens = HookPoint()  # [batch, pos, d_model]
        if self.W_pos is not None:
            self.hook_positions = HookPoint()  # [pos, d_model]
        self.hook_sum = HookPoint()  # [batch, pos, d_model]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.hook_tokens(self.W_E(tokens))  # (B, T, d)
        if self.W_pos is not None:
            x = x + self.hook_positions(self.W_pos[: tokens.shape[1]])  # (T, d) broadcast
        return self.hook_sum(x)


class Attention(nn.Module):
    """Multi-head attention; ``cross=True`` takes keys and values from the encoder's output."""

    def __init__(self, cfg: ModelConfig, causal: bool, cross: bool = False) -> None:
        super().__init__()
        self.n_heads, self.d_head, self.causal, self.cross = cfg.n_heads, cfg.d_head, causal, cross
        self.dropout = cfg.dropout
        d = cfg.d_model
        if cross:
            self.W_q = nn.Linear(d, d)
            self.W_kv = nn.Linear(d, 2 * d)
        else:
            self.W_qkv = nn.Linear(d, 3 * d)
        self.W_o = nn.Linear(d, d)
        self.hook_q = HookPoint()  # [batch, head, q_pos, d_head] (after rotary, if any)
        self.hook_k = HookPoint()  # [batch, head, k_pos, d_head]
        self.hook_v = HookPoint()  # [batch, head, k_pos, d_head]
        self.hook_scores = HookPoint()  # [batch, head, q_pos, k_pos], masked entries are -inf
        self.hook_pattern = HookPoint()  # [batch, head, q_pos, k_pos], rows sum to 1
        self.hook_z = HookPoint()  # [batch, head, q_pos, d_head]
        self.hook_out = HookPoint()  # [batch, q_pos, d_model]
        # When set, forward keeps the pattern of the batch's last row in ``last_pattern``
        # [head, q_pos, k_pos] (detached) without leaving the fused kernel for the other rows:
        # the recorder's probe rides a training batch as its last row this way.
        self.keep_last_pattern = False
        self.last_pattern: torch.Tensor | None = None
        self._causal: torch.Tensor | None = None  # (1, 1, T, S) bool, the causal mask last built
        self._causal_bias: torch.Tensor | None = None  # (T, S) the same as 0 / -inf

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.n_heads, self.d_head).transpose(1, 2)  # (B, nh, T, hs)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None = None,
        rope: tuple[torch.Tensor, torch.Tensor] | None = None,
        key_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x: (B, T, d); memory: (B, S, d) for cross; key_mask: (B, S) bool, True = attend."""
        B, T, d = x.shape
        if self.cross:
            q = self.W_q(x)  # (B, T, d)
            k, v = self.W_kv(memory).split(d, dim=2)  # (B, S, d) each
        else:
            q, k, v = self.W_qkv(x).split(d, dim=2)  # (B, T, d) each
        q, k, v = self._heads(q), self._heads(k), self._heads(v)  # (B, nh, T|S, hs)
        if rope is not None:
            cos, sin = rope[0][:T], rope[1][:T]
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        q, k, v = self.hook_q(q), self.hook_k(k), self.hook_v(v)
        hooked = self.hook_scores.active or self.hook_pattern.active
        mask = None  # (B|1, 1, T, S) bool, True = may attend; the fused causal kernel needs none
        if hooked or key_mask is not None or self.keep_last_pattern:
            mask = self._mask(T, k.shape[2], key_mask, x.device)
        p_drop = self.dropout if self.training else 0.0
        if hooked:
            scores = self.hook_scores(self._scores(q, k, mask))  # (B, nh, T, S)
            pattern = self.hook_pattern(torch.softmax(scores, dim=-1))  # (B, nh, T, S)
            z = F.dropout(pattern, p_drop, self.training) @ v  # (B, nh, T, hs)
            if self.keep_last_pattern:
                self.last_pattern = pattern[-1].detach()
        else:
            if self.causal and key_mask is None:  # the fused kernel builds the mask itself
                z = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p_drop)
            else:
                z = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p_drop)
            if self.keep_last_pattern:
                self.last_pattern = self._last_row_pattern(q, k, mask)
        z = self.hook_z(z)
        out = self.W_o(z.transpose(1, 2).reshape(B, T, d))  # (B, T, d)
        return self.hook_out(out)

    def _mask(
        self, T: int, S: int, key_mask: torch.Tensor | None, device: torch.device
    ) -> torch.Tensor | None:
        """(B|1, 1, T, S) bool, True = may attend: causal and/or the keys ``key_mask`` allows."""
        mask = None
        if self.causal:
            cached = self._causal
            if cached is None or cached.shape[-2:] != (T, S) or cached.device != device:
                cached = torch.ones(T, S, dtype=torch.bool, device=device).tril()[None, None]
                self._causal, self._causal_bias = cached, None
            mask = cached
        if key_mask is not None:
            keys = key_mask[:, None, None, :]  # (B, 1, 1, S)
            mask = keys if mask is None else mask & keys
        return mask

    def _scores(self, q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Scaled dot products (B, nh, T, S), -inf where ``mask`` forbids attending."""
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)  # (B, nh, T, S)
        return scores if mask is None else scores.masked_fill(~mask, float("-inf"))

    def _last_row_pattern(
        self, q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """``softmax(_scores(...))`` of the batch's last row alone, (nh, T, S), detached: one
        ``baddbmm`` scales and masks (adding -inf), ~20 us a layer against ~35 us."""
        if mask is None:
            bias = torch.zeros(1, 1, device=q.device)
        elif mask is self._causal:
            if self._causal_bias is None:
                self._causal_bias = torch.zeros(mask.shape[-2:], device=q.device).masked_fill(
                    ~mask[0, 0], float("-inf")
                )
            bias = self._causal_bias  # (T, S)
        else:
            row = mask[-1, 0]  # (T|1, S)
            bias = torch.zeros(row.shape, device=q.device).masked_fill(~row, float("-inf"))
        q_row, k_row = q[-1].detach(), k[-1].detach()  # (nh, T, hs), (nh, S, hs)
        scale = 1 / math.sqrt(self.d_head)
        scores = torch.baddbmm(bias, q_row, k_row.transpose(-2, -1), alpha=scale)  # (nh, T, S)
        return torch.softmax(scores, dim=-1)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.W_in = nn.Linear(cfg.d_model, cfg.d_mlp)
        self.W_out = nn.Linear(cfg.d_mlp, cfg.d_model)
        self.hook_pre = HookPoint()  # [batch, pos, d_mlp], before GELU
        self.hook_post = HookPoint()  # [batch, pos, d_mlp], after GELU

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.W_out(self.hook_post(F.gelu(self.hook_pre(self.W_in(x)))))


class Block(nn.Module):
    """Pre-LayerNorm block: self-attention, optional cross-attention, MLP, each residual."""

    def __init__(self, cfg: ModelConfig, causal: bool, cross: bool = False) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = Attention(cfg, causal=causal)
        self.hook_resid_mid = HookPoint()  # [batch, pos, d_model]
        if cross:
            self.ln_cross = nn.LayerNorm(cfg.d_model)
            self.cross = Attention(cfg, causal=False, cross=True)
            self.hook_resid_cross = HookPoint()  # [batch, pos, d_model]
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)
        self.hook_resid_post = HookPoint()  # [batch, pos, d_model]
        self.drop = nn.Dropout(cfg.dropout)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor] | None = None,
        self_mask: torch.Tensor | None = None,
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = self.hook_resid_mid(
            x + self.drop(self.attn(self.ln1(x), rope=rope, key_mask=self_mask))
        )
        if memory is not None:
            cross = self.cross(self.ln_cross(x), memory=memory, key_mask=memory_mask)
            x = self.hook_resid_cross(x + self.drop(cross))
        return self.hook_resid_post(x + self.drop(self.mlp(self.ln2(x))))


def build_stack(owner: nn.Module, cfg: ModelConfig, causal: bool, cross: bool) -> None:
    """Give ``owner`` an embedding, blocks and a final LayerNorm: an encoder or a decoder."""
    owner.embed = Embed(cfg)
    owner.drop = nn.Dropout(cfg.dropout)
    owner.blocks = nn.ModuleList(Block(cfg, causal, cross) for _ in range(cfg.n_layers))
    owner.ln_final = nn.LayerNorm(cfg.d_model)


def run_stack(
    owner: nn.Module,
    tokens: torch.Tensor,
    rope: tuple[torch.Tensor, torch.Tensor] | None,
    self_mask: torch.Tensor | None = None,
    memory: torch.Tensor | None = None,
    memory_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Forward through what :func:`build_stack` gave ``owner``; returns (B, T, d)."""
    x = owner.drop(owner.embed(tokens))  # (B, T, d)
    for block in owner.blocks:
        x = block(x, rope, self_mask, memory, memory_mask)
    return owner.ln_final(x)


class Stack(nn.Module):
    """The encoder or the decoder of an encoder-decoder model."""

    def __init__(self, cfg: ModelConfig, causal: bool, cross: bool) -> None:
        super().__init__()
        build_stack(self, cfg, causal, cross)

    forward = run_stack


class TinyTransformer(HookedModule):
    """A small transformer whose forward returns logits ``[batch, pos, vocab]``.

    Decoder-only: ``model(tokens)``. Encoder-decoder: ``model(tokens, source=source)``, where
    ``source`` feeds the encoder and ``tokens`` the decoder; ``source_mask`` (True on real tokens)
    hides padding from encoder self-attention and cross-attention.
    """

    def __init__(self, config: ModelConfig, device: str | torch.device = "cpu") -> None:
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise TypeError(f"config must be a ModelConfig; got {type(config).__name__}")
        self.config = config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            if config.kind == "decoder":  # hooks and parameters read "blocks.0...", no prefix
                build_stack(self, config, causal=True, cross=False)
            else:
                self.encoder = Stack(config, causal=False, cross=False)
                self.decoder = Stack(config, causal=True, cross=True)
            self.unembed = nn.Linear(config.d_model, config.vocab_size, bias=False)
            self.apply(self._init_weights)
            # Token embeddings start at unit scale, like the sinusoidal table (entries in
            # [-1, 1]), so neither drowns the other in the residual stream at step 0.
            for embed in self._embeds():
                nn.init.normal_(embed.W_E.weight, mean=0.0, std=1.0)
        self.hook_logits = HookPoint()  # [batch, pos, vocab]
        if config.positional == "rope":
            angle = torch.tensor(positional.rope_angles(config.context_length, config.d_head))
            self.register_buffer("rope_cos", angle.cos().float(), persistent=False)
            self.register_buffer("rope_sin", angle.sin().float(), persistent=False)
        self.setup_hooks()
        self._every_module = list(self.modules())
        self.to(resolve_device(device))

    def train(self, mode: bool = True) -> TinyTransformer:
        """Set train (dropout on) or eval mode on every submodule, like ``nn.Module.train``.

        Flips the flags directly: ``nn.Module.train`` goes through ``Module.__setattr__`` for
        each of ~50 submodules (~0.4 ms), and the recorder switches modes around every snapshot.
        """
        if not isinstance(mode, bool):
            raise ValueError(f"training mode must be a bool; got {mode!r}")
        for module in self._every_module:
            module.__dict__["training"] = mode
        return self

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def _embeds(self) -> list[Embed]:
        return [m for m in self.modules() if isinstance(m, Embed)]

    @property
    def device(self) -> torch.device:
        return self.unembed.weight.device

    def _check(self, tokens: torch.Tensor, what: str) -> None:
        if (
            not isinstance(tokens, torch.Tensor)
            or tokens.is_floating_point()
            or tokens.is_complex()
        ):
            got = tokens.dtype if isinstance(tokens, torch.Tensor) else type(tokens).__name__
            raise ValueError(f"{what} must be a tensor of integer token ids; got {got}")
        if tokens.dtype == torch.bool:
            raise ValueError(f"{what} must hold integer token ids; got a bool tensor")
        if tokens.dim() != 2:
            raise ValueError(f"{what} must have shape [batch, pos]; got {tuple(tokens.shape)}")
        if tokens.shape[1] > self.config.context_length:
            raise ValueError(
                f"{what} has {tokens.shape[1]} positions; the model's context_length is "
                f"{self.config.context_length}"
            )
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.config.vocab_size):
            raise ValueError(
                f"{what} holds ids in [{int(tokens.min())}, {int(tokens.max())}]; "
                f"expected ids in [0, {self.config.vocab_size - 1}]"
            )

    @staticmethod
    def _check_source_mask(source: torch.Tensor, mask: torch.Tensor) -> None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise ValueError(f"source_mask must be a bool tensor (True = real token); got {got}")
        if mask.shape != source.shape:
            raise ValueError(
                f"source_mask must have the shape of source {tuple(source.shape)}; "
                f"got {tuple(mask.shape)}"
            )
        if not mask.any(dim=1).all():
            raise ValueError("every row of source_mask needs at least one True (a real token)")

    def forward(
        self,
        tokens: torch.Tensor,
        source: torch.Tensor | None = None,
        source_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """tokens: (B, T) int ids; returns logits (B, T, vocab)."""
        self._check(tokens, "tokens")
        rope = (self.rope_cos, self.rope_sin) if self.config.positional == "rope" else None
        memory = None
        if self.config.kind == "encoder-decoder":
            if source is None:
                raise ValueError("an encoder-decoder model needs source=[batch, src_pos] tokens")
            self._check(source, "source")
            if source_mask is not None:
                self._check_source_mask(source, source_mask)
            memory = self.encoder(source, rope, self_mask=source_mask)  # (B, S, d)
        elif source is not None:
            raise ValueError("a decoder-only model takes no source; use kind='encoder-decoder'")
        decoder = self if memory is None else self.decoder
        x = run_stack(decoder, tokens, rope, memory=memory, memory_mask=source_mask)  # (B, T, d)
        return self.hook_logits(self.unembed(x))  # (B, T, vocab)

    def positional_table(self) -> torch.Tensor | None:
        """The encoding in use, ``[pos, d]``: additive table, rotary cos/sin table, or None."""
        if self.config.positional == "rope":
            return torch.tensor(
                positional.rope_table(self.config.context_length, self.config.d_head)
            ).float()
        embed = self.embed if self.config.kind == "decoder" else self.decoder.embed
        return None if embed.W_pos is None else embed.W_pos.detach()
