"""A HuggingFace model and its tokenizer from a local copy only, for ``explain lab --hf``.

Nothing is downloaded: every ``from_pretrained`` call passes ``local_files_only=True``, and
``HF_HUB_OFFLINE=1`` is set while loading (huggingface_hub reads it when first imported, so in
the ``explain`` command, which imports transformers here, every Hub request is refused). A
model that is not there is a :class:`NotLocal` error naming it and how to get it.

The model class comes from the config: an encoder-decoder (``is_encoder_decoder``) loads as a
seq2seq LM; otherwise a causal LM or a masked LM as its ``architectures`` say, and without
them a masked LM where the model type has one (BERT), else a causal LM.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["OFFLINE", "NotLocal", "load_local", "model_class"]

OFFLINE = {"HF_HUB_OFFLINE": "1"}


class NotLocal(ValueError):
    """The model (or its tokenizer) is not on this machine, or not readable there."""


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in OFFLINE}
    os.environ.update(OFFLINE)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _how_to_get(name: str) -> str:
    if Path(name).is_dir():
        return (
            f"{name} has no config.json: pass a directory written by save_pretrained (the "
            "model's and the tokenizer's files together)"
        )
    return (
        f"no local copy of {name!r} (nothing is downloaded): get it once with "
        f"`hf download {name}` (older huggingface_hub: `huggingface-cli download {name}`), "
        "or pass a directory written by save_pretrained"
    )


def model_class(config: Any) -> str:
    """The ``transformers`` Auto class that loads a model with ``config`` for the lab."""
    import transformers

    if getattr(config, "is_encoder_decoder", False):
        return "AutoModelForSeq2SeqLM"
    architectures = getattr(config, "architectures", None) or []
    if any(name.endswith("ForMaskedLM") for name in architectures):
        return "AutoModelForMaskedLM"
    if any(name.endswith(("ForCausalLM", "LMHeadModel")) for name in architectures):
        return "AutoModelForCausalLM"
    # No architecture named: a model type with a masked LM (BERT, RoBERTa) is one; BERT also
    # has a causal-LM class (BertLMHeadModel), which the lab does not read.
    masked = transformers.AutoModelForMaskedLM._model_mapping  # config class -> model class
    return "AutoModelForMaskedLM" if type(config) in masked else "AutoModelForCausalLM"


def load_local(name: str) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of ``name`` (a directory written by ``save_pretrained``, or a
    model name in the local HuggingFace cache), the model in eval mode; :class:`NotLocal`
    when it is not there, ImportError without transformers."""
    with _offline():
        import transformers

        try:
            config = transformers.AutoConfig.from_pretrained(name, local_files_only=True)
        except (OSError, ValueError):
            raise NotLocal(_how_to_get(name)) from None
        auto = getattr(transformers, model_class(config))
        try:
            model = auto.from_pretrained(name, local_files_only=True)
            tokenizer = transformers.AutoTokenizer.from_pretrained(name, local_files_only=True)
        except (OSError, ValueError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
            raise NotLocal(f"could not load {name!r} from its local copy: {first}") from None
    return model.eval(), tokenizer
