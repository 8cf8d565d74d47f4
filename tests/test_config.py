"""Tests for explain/config.py: validation messages and dict round-trips."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from explain.config import (
    MODEL_KINDS,
    OPTIMIZERS,
    POSITIONAL_KINDS,
    SCHEDULES,
    ModelConfig,
    TrainConfig,
)

SIZES = ("vocab_size", "d_model", "n_layers", "n_heads", "d_mlp", "context_length")


def _raises(cls: type, match: str, **kwargs: object) -> str:
    with pytest.raises(ValueError, match=match) as err:
        cls(**kwargs)
    return str(err.value)


def test_defaults_are_valid_and_d_head_divides() -> None:
    cfg = ModelConfig()
    assert cfg.d_head * cfg.n_heads == cfg.d_model
    assert ModelConfig(d_model=24, n_heads=3).d_head == 8
    TrainConfig()


def test_d_model_not_divisible_by_n_heads_names_both() -> None:
    message = _raises(ModelConfig, r"d_model", d_model=30, n_heads=4)
    assert "n_heads" in message and "30" in message and "4" in message
    # The suggestion it makes must itself be valid.
    suggested = int(re.search(r"try d_model=(\d+)", message).group(1))
    assert suggested % 4 == 0
    ModelConfig(d_model=suggested, n_heads=4)


@pytest.mark.parametrize("name", SIZES)
@pytest.mark.parametrize("value", [0, -3])
def test_non_positive_sizes_name_the_field(name: str, value: int) -> None:
    message = _raises(ModelConfig, rf"ModelConfig\.{name}\b", **{name: value})
    assert "positive" in message and repr(value) in message


@pytest.mark.parametrize("name", SIZES)
@pytest.mark.parametrize("value", [True, 16.0, "16"])
def test_sizes_must_be_ints_not_bools_floats_or_strings(name: str, value: object) -> None:
    message = _raises(ModelConfig, rf"ModelConfig\.{name}\b", **{name: value})
    assert repr(value) in message


@pytest.mark.parametrize("value", [True, 1.5, "0"])
def test_seed_must_be_an_int(value: object) -> None:
    _raises(ModelConfig, r"ModelConfig\.seed", seed=value)


@pytest.mark.parametrize(
    ("field", "allowed"), [("positional", POSITIONAL_KINDS), ("kind", MODEL_KINDS)]
)
def test_unknown_choice_lists_allowed_values(field: str, allowed: tuple[str, ...]) -> None:
    message = _raises(ModelConfig, rf"ModelConfig\.{field}", **{field: "alibi"})
    assert "'alibi'" in message
    assert all(repr(choice) in message for choice in allowed)


def test_every_listed_choice_is_accepted() -> None:
    for positional in POSITIONAL_KINDS:
        for kind in MODEL_KINDS:
            ModelConfig(d_model=16, n_heads=2, positional=positional, kind=kind)
    for optimizer in OPTIMIZERS:
        for schedule in SCHEDULES:
            TrainConfig(optimizer=optimizer, schedule=schedule)


@pytest.mark.parametrize(("field", "allowed"), [("optimizer", OPTIMIZERS), ("schedule", SCHEDULES)])
def test_train_unknown_choice_lists_allowed_values(field: str, allowed: tuple[str, ...]) -> None:
    message = _raises(TrainConfig, rf"TrainConfig\.{field}", **{field: "lion"})
    assert "'lion'" in message
    assert all(repr(choice) in message for choice in allowed)


@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5, True, float("nan")])
def test_dropout_out_of_range(value: float) -> None:
    message = _raises(ModelConfig, r"ModelConfig\.dropout", dropout=value)
    assert "[0, 1)" in message


def test_dropout_non_number_is_value_error() -> None:
    _raises(ModelConfig, r"ModelConfig\.dropout", dropout="0.1")


def test_dropout_edges() -> None:
    assert ModelConfig(dropout=0.0).dropout == 0.0
    assert ModelConfig(dropout=0.999).dropout == 0.999


def test_rope_needs_even_d_head() -> None:
    message = _raises(ModelConfig, r"rope", d_model=6, n_heads=2, positional="rope")
    assert "d_head=3" in message and "even" in message
    ModelConfig(d_model=6, n_heads=3, positional="rope")  # d_head = 2 is fine
    ModelConfig(d_model=6, n_heads=2, positional="sinusoidal")  # odd d_head without rope is fine


def test_model_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ModelConfig().d_model = 8  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"steps": 0}, "steps"),
        ({"batch_size": -1}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"steps": True}, "steps"),
        ({"eval_every": 0}, "eval_every"),
        ({"eval_batches": False}, "eval_batches"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"grad_clip": 0.0}, "grad_clip"),
        ({"grad_clip": -1.0}, "grad_clip"),
        ({"betas": (0.9,)}, "betas"),
        ({"betas": (0.9, 1.0)}, "betas"),
        ({"min_lr_ratio": 1.5}, "min_lr_ratio"),
        ({"device": "tpu"}, "device"),
        ({"device": "cuda:x"}, "device"),
        ({"device": 3}, "device"),
        ({"steps": 2.5}, "steps"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"eval_every": 1.5}, "eval_every"),
        ({"warmup_steps": True}, "warmup_steps"),
        ({"seed": True}, "seed"),
        ({"lr": float("nan")}, "lr"),
        ({"lr": float("inf")}, "lr"),
        ({"momentum": -1.0}, "momentum"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
    ids=lambda v: repr(v) if isinstance(v, dict) else str(v),
)
def test_invalid_train_config_names_the_field(kwargs: dict[str, object], field: str) -> None:
    message = _raises(TrainConfig, rf"TrainConfig\.{field}\b", **kwargs)
    assert repr(next(iter(kwargs.values()))) in message


def test_valid_train_config_edges() -> None:
    cfg = TrainConfig(warmup_steps=0, grad_clip=None, device="cuda:1", min_lr_ratio=0.0)
    assert cfg.grad_clip is None and cfg.device == "cuda:1"
    assert TrainConfig(betas=[0.8, 0.9]).betas == (0.8, 0.9)  # lists from JSON become tuples


def test_model_config_round_trip_through_json() -> None:
    cfg = ModelConfig(
        vocab_size=7,
        d_model=24,
        n_layers=3,
        n_heads=3,
        d_mlp=40,
        context_length=9,
        positional="learned",
        kind="encoder-decoder",
        dropout=0.25,
        seed=5,
    )
    data = cfg.to_dict()
    assert data == {
        "vocab_size": 7,
        "d_model": 24,
        "n_layers": 3,
        "n_heads": 3,
        "d_mlp": 40,
        "context_length": 9,
        "positional": "learned",
        "kind": "encoder-decoder",
        "dropout": 0.25,
        "seed": 5,
    }
    assert ModelConfig.from_dict(data) == cfg
    assert ModelConfig.from_dict(json.loads(json.dumps(data))) == cfg


def test_train_config_round_trip_through_json() -> None:
    cfg = TrainConfig(steps=7, optimizer="momentum", betas=(0.5, 0.75), extra={"note": [1, 2]})
    again = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    assert again.betas == (0.5, 0.75) and isinstance(again.betas, tuple)
    assert again.extra == {"note": [1, 2]}


def test_train_config_extra_is_not_shared_between_instances() -> None:
    a, b = TrainConfig(), TrainConfig()
    a.extra["x"] = 1
    assert b.extra == {}


@pytest.mark.parametrize("cls", [ModelConfig, TrainConfig])
def test_from_dict_unknown_key_is_an_error(cls: type) -> None:
    data = cls().to_dict()
    data["n_experts"] = 4
    with pytest.raises(ValueError, match=r"n_experts") as err:
        cls.from_dict(data)
    assert cls.__name__ in str(err.value)


def test_from_dict_validates_values() -> None:
    data = ModelConfig().to_dict()
    data["positional"] = "alibi"
    with pytest.raises(ValueError, match=r"ModelConfig\.positional"):
        ModelConfig.from_dict(data)


def test_from_dict_missing_keys_take_defaults() -> None:
    assert ModelConfig.from_dict({"d_model": 32}) == ModelConfig(d_model=32)
