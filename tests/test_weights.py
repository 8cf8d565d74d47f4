"""Tests for explain/weights.py: safetensors round-trip, bad files, atomic writes."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from explain.model import TinyTransformer
from explain.weights import load_weights, save_weights

MakeModel = Callable[..., TinyTransformer]
TOKENS = torch.tensor([[1, 4, 2, 8, 5], [3, 3, 0, 9, 10]])


def _trained_looking(model: TinyTransformer) -> TinyTransformer:
    """Weights no fresh model has (init seeds would make a load that does nothing pass)."""
    with torch.no_grad():
        generator = torch.Generator().manual_seed(9)
        for param in model.parameters():
            param.add_(0.1 * torch.randn(param.shape, generator=generator))
    return model


@pytest.mark.parametrize(
    "overrides",
    [
        {"positional": "learned"},
        {"positional": "rope", "dropout": 0.1, "seed": 3},
        {"kind": "encoder-decoder", "positional": "sinusoidal"},
    ],
    ids=["learned", "rope", "encoder-decoder"],
)
def test_round_trip_gives_identical_logits(
    make_model: MakeModel, tmp_path: Path, overrides: dict[str, object]
) -> None:
    model = _trained_looking(make_model(**overrides))
    path = save_weights(model, tmp_path / "model.safetensors")
    assert path == tmp_path / "model.safetensors"
    loaded = load_weights(path).eval()
    assert loaded.config == model.config
    extra = {"source": TOKENS.flip(1)} if model.config.kind == "encoder-decoder" else {}
    assert torch.equal(loaded(TOKENS, **extra), model(TOKENS, **extra))
    fresh = TinyTransformer(model.config).eval()
    assert not torch.equal(fresh(TOKENS, **extra), model(TOKENS, **extra))


def test_file_is_safetensors_with_config_metadata(make_model: MakeModel, tmp_path: Path) -> None:
    model = make_model(positional="learned")
    path = save_weights(model, str(tmp_path / "w.safetensors"))  # str paths work too
    state = model.state_dict()
    with safe_open(str(path), framework="pt") as f:
        assert set(f.keys()) == set(state)
        assert "embed.W_pos" in f.keys() and "blocks.1.attn.W_qkv.weight" in f.keys()
        for name in state:
            assert torch.equal(f.get_tensor(name), state[name]), name
        meta = f.metadata()
    assert meta["format"] == "explain-weights"
    assert json.loads(meta["model_config"]) == model.config.to_dict()
    # No pickle anywhere: the file starts with the safetensors JSON header length.
    raw = path.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    assert json.loads(raw[8 : 8 + header_len])["__metadata__"] == meta


def test_a_header_length_whose_first_byte_is_0x80_is_not_taken_for_a_pickle(
    make_model: MakeModel, tmp_path: Path
) -> None:
    model = make_model()
    raw = save_weights(model, tmp_path / "w.safetensors").read_bytes()
    length = int.from_bytes(raw[:8], "little")
    padded = length + (0x80 - length % 256) % 256  # the length's low byte (the file's first) 0x80
    header = raw[8 : 8 + length] + b" " * (padded - length)  # JSON may end in spaces
    path = tmp_path / "w80.safetensors"
    path.write_bytes(padded.to_bytes(8, "little") + header + raw[8 + length :])
    assert path.read_bytes()[:1] == b"\x80"
    loaded = load_weights(path)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_no_temporary_files_left(make_model: MakeModel, tmp_path: Path) -> None:
    model = make_model()
    save_weights(model, tmp_path / "a.safetensors")
    save_weights(model, tmp_path / "a.safetensors")  # overwrite in place
    assert os.listdir(tmp_path) == ["a.safetensors"]
    (tmp_path / "taken").mkdir()
    with pytest.raises(OSError):
        save_weights(model, tmp_path / "taken")  # os.replace onto a directory fails
    assert sorted(os.listdir(tmp_path)) == ["a.safetensors", "taken"]
    assert os.listdir(tmp_path / "taken") == []


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        load_weights(tmp_path / "nope.safetensors")


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: b"",
        lambda raw: b"\x03\x00",
        lambda raw: b"PK\x03\x04 this is a zip, not safetensors" * 10,
        lambda raw: raw[: len(raw) // 2],  # header intact, tensors cut off
        lambda raw: raw[:40],  # header cut off
        lambda raw: (5).to_bytes(8, "little") + b"\xff\xfe\xfd\xfc\xfb" + raw[13:],
    ],
    ids=["empty", "tiny", "not-safetensors", "truncated-data", "truncated-header", "bad-utf8"],
)
def test_damaged_file_is_value_error(
    make_model: MakeModel, tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    path = save_weights(make_model(), tmp_path / "w.safetensors")
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match="not an explain weights file"):
        load_weights(path)


def test_safetensors_without_config_is_value_error(make_model: MakeModel, tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    save_file(dict(make_model().state_dict()), str(path))
    with pytest.raises(ValueError, match=r"plain\.safetensors.*model_config"):
        load_weights(path)


def test_invalid_config_in_file_is_value_error(make_model: MakeModel, tmp_path: Path) -> None:
    model = make_model()
    bad = {**model.config.to_dict(), "positional": "alibi"}
    path = tmp_path / "bad.safetensors"
    save_file(dict(model.state_dict()), str(path), metadata={"model_config": json.dumps(bad)})
    with pytest.raises(ValueError, match="positional"):
        load_weights(path)


def test_tensors_not_matching_config_is_value_error(make_model: MakeModel, tmp_path: Path) -> None:
    model = make_model()
    state = dict(model.state_dict())
    del state["unembed.weight"]
    path = tmp_path / "partial.safetensors"
    meta = {"model_config": json.dumps(model.config.to_dict())}
    save_file(state, str(path), metadata=meta)
    with pytest.raises(ValueError, match="unembed.weight"):
        load_weights(path)


def test_load_weights_device_auto(make_model: MakeModel, tmp_path: Path) -> None:
    path = save_weights(make_model(), tmp_path / "w.safetensors")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert load_weights(path, device="auto").device.type == expected
