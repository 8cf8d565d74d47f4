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
    blob = _sorted_header(save(tensors, metadata=meta))
    # safetensors writes a whole buffer; atomic_write puts it in place only once complete.
    atomic_write(path, lambda f: f.write(blob), what="weights")
    return path


def _sorted_header(blob: bytes) -> bytes:
    """``blob`` (a safetensors file) with its JSON header's keys sorted, so the same weights give
    the same bytes in every process: safetensors keeps the metadata in a Rust HashMap, whose
    order changes from run to run. The tensor bytes and their offsets are unchanged."""
    length = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + length])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # safetensors pads its header to 8 bytes; so do we
    return len(text).to_bytes(8, "little") + text + blob[8 + length :]


def load_weights(path: str | Path, device: str | torch.device = "cpu") -> TinyTransformer:
    """Rebuild a TinyTransformer from :func:`save_weights` output."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no weights file at {path}")
    with open(path, "rb") as f:
        start = f.read(9)
    # safetensors: an 8-byte header length (any first byte, 0x80 too), then the JSON "{"
    pickled = start[:4] == b"PK\x03\x04" or start[:1] == b"\x80"  # torch.save's zip, a pickle
    if pickled and start[8:9] != b"{":
        raise ValueError(
            f"{path} is not an explain weights file: it is a zip or a pickle (what torch.save "
            "writes); expected safetensors from explain.weights.save_weights. Pickles are never "
            "loaded: they can run code"
        )
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
