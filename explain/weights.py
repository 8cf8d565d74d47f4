"""Model weights as safetensors (no pickle), with the config stored in the file's metadata.

>>> from explain import ModelConfig, TinyTransformer
>>> model = TinyTransformer(ModelConfig(vocab_size=10, d_model=16, n_heads=2))
>>> path = save_weights(model, "/tmp/doctest-model.safetensors")
>>> load_weights(path).config == model.config
True
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from ._files import atomic_write
from .config import ModelConfig
from .model import TinyTransformer, resolve_device


def save_weights(model: TinyTransformer, path: str | Path) -> Path:
    """Write the model's parameters and config atomically (temporary file, then rename)."""
    path = Path(path)
    tensors = {name: p.detach().cpu().contiguous() for name, p in model.state_dict().items()}
    meta = {"format": "explain-weights", "model_config": json.dumps(model.config.to_dict())}
    # safetensors writes a whole buffer; atomic_write puts it in place only once complete.
    atomic_write(path, lambda f: f.write(save(tensors, metadata=meta)), what="weights")
    return path


def load_weights(path: str | Path, device: str | torch.device = "cpu") -> TinyTransformer:
    """Rebuild a TinyTransformer from :func:`save_weights` output."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no weights file at {path}")
    try:
        with open(path, "rb") as f:
            header_len = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(header_len)) if 0 < header_len < 100_000_000 else {}
        meta = header.get("__metadata__", {})
        config = ModelConfig.from_dict(json.loads(meta["model_config"]))
        state = load_file(path)
        model = TinyTransformer(config)
        model.load_state_dict(state)  # RuntimeError when tensors do not fit the config
    except (SafetensorError, KeyError, ValueError, OSError, RuntimeError) as err:
        raise ValueError(
            f"{path} is not an explain weights file (safetensors with a model_config): {err}"
        ) from err
    return model.to(resolve_device(device))
