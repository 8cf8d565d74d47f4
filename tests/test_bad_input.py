"""One table of bad input across the public API, the command line and the widgets.

Each row is a mistake a user makes (a student typing into a widget, a teacher opening a trace
someone emailed, a script feeding arbitrary tensors), the exception it must raise (or exit code
2 for the command line, or the message a widget shows instead of raising), and a pattern the
message must match: it names the bad value and says what was expected.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _bad_input_files import SMALL, Env, build_env

import widgets
from explain import adapters, cli, export, views
from explain._trace_file import FORMAT_VERSION
from explain.config import ModelConfig, TrainConfig
from explain.generate import generate
from explain.trace import TraceError, load_trace
from explain.trainer import TrainingDiverged
from explain.weights import load_weights

CLI_EXIT_2 = "exit 2"  # the command line: exit code 2, the message on stderr, no traceback
SHOWN = "shown"  # a widget: no exception, the message is in the view


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    return build_env(tmp_path_factory.mktemp("bad-input"))


@dataclass(frozen=True)
class Bad:
    """One row: ``call(env)`` (or a CLI argv template) must fail with ``error`` and ``message``.

    ``message`` is the text expected in the error, with ``...`` standing for any text.
    """

    call: Callable[[Env], Any] | tuple[str, ...]
    error: type[BaseException] | str
    message: str

    @property
    def pattern(self) -> str:
        return "(?s:.*)".join(re.escape(part) for part in self.message.split("..."))


def api(call: Callable[[Env], Any], error: type[BaseException], message: str) -> Bad:
    return Bad(call, error, message)


def cli_row(*argv: str, message: str) -> Bad:
    """``explain *argv`` (``{name}`` filled from the env's files) exits 2 with ``message``."""
    return Bad(argv, CLI_EXIT_2, message)


def shown(call: Callable[[Env], Any], message: str) -> Bad:
    return Bad(call, SHOWN, message)


def config(cls: type, message: str, **field: Any) -> Bad:
    """``cls(**field)`` raises ValueError ``{cls}.{field} {message}``."""
    (name,) = field
    return Bad(lambda e: cls(**field), ValueError, f"{cls.__name__}.{name} {message}")


# -- helpers the rows call ---------------------------------------------------------------------
def _attention(shape: tuple[int, ...], value: float = np.nan) -> list[np.ndarray]:
    return [np.full(shape, value)]


def _uniform(heads: int, q: int) -> np.ndarray:
    return np.full((1, heads, q, q), 1 / q)


def _model() -> Any:
    from explain.model import TinyTransformer

    return TinyTransformer(ModelConfig(**SMALL))


def _tokens(*shape: int, value: int = 0, dtype: str = "long") -> Any:
    import torch

    return torch.full(shape, value, dtype=getattr(torch, dtype))


def _generate_view(prompt: str) -> Any:
    """A GenerateView of an untrained model of the character-level "text" task."""
    from explain import tasks
    from explain.model import TinyTransformer
    from explain.run import default_model_config
    from widgets.generate import GenerateView

    task = tasks.get("text")
    model = TinyTransformer(default_model_config(task, d_model=16, n_heads=2, d_mlp=32))
    return GenerateView(model, task.tokenizer, prompt=prompt)


def _attention_view(env: Env) -> Any:
    return widgets.AttentionView(env.trace)


def _set(obj: Any, name: str, value: Any) -> None:
    setattr(obj, name, value)


def _diverge(env: Env) -> Any:
    """A real run whose learning rate is far too high: its loss overflows within 3 steps."""
    import explain
    from explain import tasks
    from explain.run import default_model_config

    model = default_model_config(tasks.get("copy"), d_model=16, n_heads=2, d_mlp=32)
    options = dict(steps=20, lr=1e5, optimizer="sgd", grad_clip=None, warmup_steps=0)
    return explain.train("copy", model, TrainConfig(**options, batch_size=8, eval_every=10))


def _save(env: Env, name: str = "a.png", **options: Any) -> Any:
    return export.save(env.trace, env.tmp / "out" / name, **options)


TRAIN = ("train", "--task", "copy", "--steps", "2", "--quiet", "--no-report", "--out", "{tmp}/r")
EXPORT = ("export", "{good}", "--out", "{tmp}/out/x.png")
POSITIVE, INT, FRACTION = "must be a positive number; got", "must be an int; got", "in [0, 1); got"
SELF_LAYERS = "is not in this trace (part 'self'); available: 0, 1"
HEADS = "is not in this trace (2 heads per layer); available: 0, 1"
NAN = "attentions[0] has NaN or infinite weights; expected probabilities"
Model, Train = ModelConfig, TrainConfig

# fmt: off
ROWS = {
    # ModelConfig and TrainConfig: every field, and the rules between fields
    "model.vocab_size": config(Model, f"{POSITIVE} 0", vocab_size=0),
    "model.d_model": config(Model, f"{POSITIVE} -8", d_model=-8),
    "model.n_layers": config(Model, f"{INT} 1.5", n_layers=1.5),
    "model.n_heads": config(Model, f"{POSITIVE} 0", n_heads=0),
    "model.d_mlp": config(Model, f"{POSITIVE} '64'", d_mlp="64"),
    "model.context_length": config(Model, f"{POSITIVE} 0", context_length=0),
    "model.positional": config(Model, "must be one of ['sinusoidal', 'learned', 'rope', 'none']; "
                               "got 'alibi'", positional="alibi"),
    "model.kind": config(Model, "must be one of ['decoder', 'encoder-decoder']; got 'encoder'",
                         kind="encoder"),
    "model.dropout": config(Model, f"must be a number {FRACTION} 1.0", dropout=1.0),
    "model.seed": config(Model, f"{INT} '0'", seed="0"),
    "model.heads_divide": api(lambda e: Model(d_model=30, n_heads=4), ValueError,
                              "d_model (30) must be divisible by n_heads (4); try d_model=28"),
    "model.rope_odd_d_head": api(lambda e: Model(d_model=12, n_heads=4, positional="rope"),
                                 ValueError, "'rope' needs an even d_head; got d_head=3"),
    "model.unknown_field": api(lambda e: Model.from_dict({"n_layer": 2}), ValueError,
                               "unknown field(s) ['n_layer']; expected some of [...'n_layers'"),
    "train.steps": config(Train, f"{POSITIVE} 0", steps=0),
    "train.batch_size": config(Train, f"{POSITIVE} -2", batch_size=-2),
    "train.lr": config(Train, f"{POSITIVE} nan", lr=float("nan")),
    "train.optimizer": config(Train, "must be one of ['sgd', 'momentum', 'adam', 'adamw']; got "
                              "'rmsprop'", optimizer="rmsprop"),
    "train.seed": config(Train, f"{INT} None", seed=None),
    "train.weight_decay": config(Train, "must be >= 0; got -1", weight_decay=-1),
    "train.momentum": config(Train, f"must be a number {FRACTION} 1.0", momentum=1.0),
    "train.betas": config(Train, f"must be two numbers {FRACTION} (0.9,)", betas=(0.9,)),
    "train.warmup_steps": config(Train, "must be >= 0; got -1", warmup_steps=-1),
    "train.schedule": config(Train, "must be one of ['constant', 'cosine']; got 'linear'",
                             schedule="linear"),
    "train.min_lr_ratio": config(Train, "must be in [0, 1]; got 2", min_lr_ratio=2),
    "train.grad_clip": config(Train, f"{POSITIVE} 0", grad_clip=0),
    "train.eval_every": config(Train, f"{POSITIVE} 0", eval_every=0),
    "train.eval_batches": config(Train, f"{POSITIVE} 0", eval_batches=0),
    "train.device": config(Train, "must be 'cpu', 'cuda', 'cuda:N' or 'auto'; got 'tpu'",
                           device="tpu"),
    "train.threads": config(Train, f"{POSITIVE} 0", threads=0),
    "train.extra": config(Train, "must be a dict with string keys ...; got [1]", extra=[1]),
    "train.extra_not_json": config(Train, "must hold only JSON values ...function",
                                   extra={"f": print}),
    # tensors: rank, shape, dtype, NaN/inf, weights that are not probabilities, tokens
    "attentions.tokens_str": api(lambda e: adapters.from_attentions([_uniform(1, 3)], "abc"),
                                 ValueError, "tokens must be a list of strings; got str"),
    "attentions.rank": api(
        lambda e: adapters.from_attentions([np.full((2, 3, 3), 1 / 3)], list("abc")), ValueError,
        "attentions[0] has shape (2, 3, 3); expected (1, heads, 3, 3)"),
    "attentions.layer_shape": api(
        lambda e: adapters.from_attentions([_uniform(2, 3), _uniform(3, 3)], list("abc")),
        ValueError, "attentions[1] has shape (1, 3, 3, 3); expected (1, 2, 3, 3) like layer 0"),
    "attentions.dtype": api(
        lambda e: adapters.from_attentions([np.ones((1, 1, 1, 1), np.int64)], ["a"]), ValueError,
        "attentions[0] must hold floats; got dtype int64"),
    "attentions.nan": api(lambda e: adapters.from_attentions(_attention((1, 1, 2, 2)), ["a", "b"]),
                          ValueError, NAN),
    "attentions.inf": api(
        lambda e: adapters.from_attentions(_attention((1, 1, 2, 2), np.inf), ["a", "b"]),
        ValueError, NAN),
    "attentions.not_weights": api(
        lambda e: adapters.from_attentions(_attention((1, 1, 2, 2), 2.0), ["a", "b"]), ValueError,
        "is not attention weights: rows must be >= 0 and sum to 1 ...a row summing to 4"),
    "attentions.tokens_mismatch": api(
        lambda e: adapters.from_attentions([_uniform(1, 3)], ["a", "b"]), ValueError,
        "has shape (1, 1, 3, 3); expected (1, heads, 2, 2): batch 1, 2 query and 2 key positions"),
    "attentions.empty": api(lambda e: adapters.from_attentions([], ["a"]), ValueError,
                            "attentions must be a non-empty sequence of per-layer [1, heads, "
                            "q_pos, k_pos] arrays (e.g. outputs.attentions); got list"),
    "view.from_attentions.nan": api(
        lambda e: widgets.AttentionView.from_attentions(_attention((1, 1, 2, 2)), ["a", "b"]),
        ValueError, NAN),
    "view.from_attentions.tokens": api(
        lambda e: widgets.AttentionView.from_attentions([_uniform(1, 2)], list("abc")),
        ValueError, "has shape (1, 1, 2, 2); expected (1, heads, 3, 3)"),
    "forward.float_ids": api(lambda e: _model()(_tokens(1, 3, dtype="float32")), ValueError,
                             "tokens must be a tensor of integer token ids; got torch.float32"),
    "forward.rank": api(lambda e: _model()(_tokens(3)), ValueError,
                        "tokens must have shape [batch, pos]; got (3,)"),
    "forward.too_long": api(lambda e: _model()(_tokens(1, 13)), ValueError,
                            "tokens has 13 positions; the model's context_length is 12"),
    "forward.unknown_id": api(lambda e: _model()(_tokens(1, 3, value=11)), ValueError,
                              "tokens holds ids in [11, 11]; expected ids in [0, 10]"),
    # prompts: the widget shows the message in the view; the API raises
    "generate_view.empty": shown(lambda e: _generate_view(""),
                                 "Type a prompt to start: it is empty."),
    "generate_view.too_long": shown(lambda e: _generate_view("x" * 70),
                                    "The prompt has 70 tokens, but this model reads at most 64 "
                                    "(its context_length). Shorten it."),
    "generate_view.unknown_symbol": shown(lambda e: _generate_view("I love €"),
                                          "no token for: unknown symbol(s) '€' at position 7. "
                                          "Its vocabulary has 58 symbols"),
    "generate_view.temperature": api(lambda e: _set(_generate_view("ab"), "temperature", 5),
                                     ValueError, "temperature must be at most 3.0; got 5"),
    "generate_view.top_k": api(lambda e: _set(_generate_view("ab"), "top_k", 999), ValueError,
                               "top_k must be at most the vocabulary size 58; got 999"),
    "generate.empty_prompt": api(lambda e: generate(_model(), [], 3), ValueError,
                                 "prompt_ids must hold at least one token id; got none"),
    "generate.unknown_id": api(lambda e: generate(_model(), [1, 99], 3), ValueError,
                               "prompt_ids holds ids [99]; expected ids in [0, 10]"),
    "generate.max_new_tokens": api(lambda e: generate(_model(), [1], -1), ValueError,
                                   "max_new_tokens must be an int >= 0; got -1"),
    "generate.temperature": api(lambda e: generate(_model(), [1], 2, temperature=-1), ValueError,
                                "temperature must be a finite number >= 0 (0 = greedy); got -1"),
    # steps, layers, heads and parameters out of range: view models, export.save, widgets
    "views.layer": api(lambda e: views.attention(e.trace, layer=9), ValueError,
                       f"layer 9 {SELF_LAYERS}"),
    "views.head": api(lambda e: views.attention(e.trace, head=-1), ValueError, f"head -1 {HEADS}"),
    "views.part": api(lambda e: views.attention(e.trace, part="cross"), ValueError,
                      "part 'cross' is not in this trace; available: self"),
    "trace.step": api(lambda e: e.trace.at(99), ValueError,
                      "step 99 is outside the recorded snapshots [0, 16]"),
    "trace.tensor": api(lambda e: e.trace.tensor("blocks.9.attn.hook_pattern"), KeyError,
                        "no tensor 'blocks.9.attn.hook_pattern'; available: ['blocks.0.attn"),
    "export.step": api(lambda e: _save(e, step=5), ValueError,
                       "step 5 has no snapshot in this trace; nearest: 4, 8"),
    "export.step_type": api(lambda e: _save(e, step="last"), ValueError,
                            "step must be an integer; got 'last'"),
    "export.layer": api(lambda e: _save(e, layer=2), ValueError, f"layer 2 {SELF_LAYERS}"),
    "export.head": api(lambda e: _save(e, head=7), ValueError, f"head 7 {HEADS}"),
    "export.parameter": api(lambda e: _save(e, what="optimizer", parameter="nope"), ValueError,
                            "parameter 'nope' is not in this trace (tracked parameters); "
                            "available: embed.W_E.weight"),
    "export.fps": api(lambda e: _save(e, "a.gif", fps=0), ValueError,
                      "fps must be a positive number of frames per second; got 0"),
    "export.max_frames": api(lambda e: _save(e, "a.gif", max_frames=0), ValueError,
                             "max_frames must be None or an int >= 2; got 0"),
    "export.dpi": api(lambda e: _save(e, dpi=-1), ValueError,
                      "dpi must be None or a positive number of dots per inch; got -1"),
    "export.theme": api(lambda e: _save(e, theme="neon"), ValueError,
                        "theme must be one of 'light', 'dark', 'presentation' ...; got 'neon'"),
    "widget.step": api(lambda e: _set(_attention_view(e), "step", 5), ValueError,
                       "step 5 has no snapshot; expected one of the snapshot steps "
                       "[0, 2, 4, 8, 16]"),
    "widget.layer": api(lambda e: _attention_view(e).open_head(5, 0), ValueError,
                        "layer 5 is out of range; expected 0..1"),
    "widget.head": api(lambda e: _attention_view(e).open_head(0, 9), ValueError,
                       "head 9 is out of range; expected 0..1"),
    "widget.parameter": api(lambda e: widgets.OptimizerView(e.trace, parameter="nope"),
                            ValueError, "parameter 'nope' is not in this trace ...available: "
                            "embed.W_E.weight"),
    "widget.not_a_trace": api(lambda e: widgets.AttentionView("trace.npz"), ValueError,
                              "expected an explain Trace ...; got str"),
    "bertviz.step": api(lambda e: adapters.to_bertviz(e.trace, step=99), ValueError,
                        "step 99 is outside the recorded snapshots [0, 16]"),
    # trace files: missing, truncated, corrupted, not a trace, newer, missing members, pickles
    "trace_file.missing": api(lambda e: load_trace(e.missing), FileNotFoundError,
                              "no trace file at this path: '...missing.npz'"),
    "trace_file.truncated": api(lambda e: load_trace(e.truncated), TraceError,
                                "truncated.npz is corrupted or truncated (BadZipFile"),
    "trace_file.corrupted": api(lambda e: load_trace(e.corrupted), TraceError,
                                "corrupted.npz is corrupted or truncated (BadZipFile: Bad CRC-32"),
    "trace_file.not_a_zip": api(lambda e: load_trace(e.not_zip), TraceError,
                                "notes.npz is not a trace: expected an .npz (zip) archive"),
    "trace_file.newer_format": api(lambda e: load_trace(e.newer), TraceError,
                                   "newer.npz has format_version 99; this library reads up to "
                                   f"{FORMAT_VERSION}. Upgrade explain to load it."),
    "trace_file.no_steps": api(lambda e: load_trace(e.no_steps), TraceError,
                               "no_steps.npz has no 'steps' entry; expected one in every trace"),
    "trace_file.no_meta": api(lambda e: load_trace(e.no_meta), TraceError,
                              "no_meta.npz has no 'meta.json' entry; expected a trace saved by "
                              "explain"),
    "trace_file.pickled_array": api(lambda e: load_trace(e.pickled), TraceError,
                                    "pickled.npz contains pickled objects; refusing to load"),
    # weights files: a pickle payload (it must not run), tensors that do not fit the config
    "weights.pickle_payload": api(lambda e: load_weights(e.pickled_weights), ValueError,
                                  "pickled.safetensors is not an explain weights file: it is a "
                                  "zip or a pickle (what torch.save writes); expected safetensors"),
    "weights.wrong_shape": api(lambda e: load_weights(e.wrong_shape), ValueError,
                               "wrong_shape.safetensors is not an explain weights file ..."
                               "embed.W_E.weight...[5, 16]...[11, 16]"),
    # where and what to write
    "export.parent_is_a_file": api(lambda e: export.save(e.trace, Path(e.blocker) / "a.png"),
                                   NotADirectoryError, "cannot write ...blocker/a.png: "
                                   "...blocker is a file, not a directory"),
    "export.unknown_format": api(lambda e: _save(e, format="jpg"), ValueError,
                                 "unknown format 'jpg'; expected one of png, svg, pdf, gif, mp4, "
                                 "html, json, csv"),
    "export.unknown_suffix": api(lambda e: _save(e, "a.jpg"), ValueError,
                                 "cannot tell the format from 'a.jpg'; name the file with one "
                                 "of the suffixes .png"),
    "export.unknown_view": api(lambda e: _save(e, what="weights"), ValueError,
                               "unknown what='weights'; expected one of attention, embeddings"),
    "views.unknown_view": api(lambda e: views.view(e.trace, "weights"), ValueError,
                              "unknown what='weights'; expected one of attention, embeddings"),
    "bertviz.unknown_view": api(
        lambda e: adapters.write_bertviz_html(e.trace, e.tmp / "b.html", view="neuron"),
        ValueError, "view must be one of ('head', 'model'); got 'neuron'"),
    # a run that diverges: it stops and says at which step (the trace is kept: see below)
    "train.diverges": api(_diverge, TrainingDiverged,
                          "training diverged at step ...: the ... is not finite; last finite "
                          "loss was ... try a lower lr or grad_clip"),
    # the command line: exit code 2 and one message
    "cli.train.steps": cli_row("train", "--task", "copy", "--steps", "0",
                               message="argument --steps: expected a positive integer; got 0"),
    "cli.train.task": cli_row("train", "--task", "chess", message="argument --task: invalid "
                              "choice: 'chess' (choose from 'copy'"),
    "cli.train.lr": cli_row(*TRAIN, "--lr", "nan",
                            message="TrainConfig.lr must be a positive number; got nan"),
    "cli.train.heads": cli_row(*TRAIN, "--heads", "3", message="d_model (64) must be divisible "
                               "by n_heads (3); try d_model=63"),
    "cli.train.batch_size": cli_row(*TRAIN, "--batch-size", "x", message="argument "
                                    "--batch-size: expected a positive integer; got 'x'"),
    "cli.train.optimizer": cli_row(*TRAIN, "--optimizer", "rmsprop", message="invalid choice: "
                                   "'rmsprop' (choose from 'sgd', 'momentum', 'adam', 'adamw')"),
    "cli.train.init_missing": cli_row(*TRAIN, "--init", "{tmp}/nowhere",
                                      message="init: no model.safetensors at ...nowhere"),
    "cli.train.init_and_shape": cli_row(*TRAIN, "--init", "{weights_dir}", "--layers", "2",
                                        message="--init brings its own model; drop --layers"),
    "cli.train.freeze": cli_row(*TRAIN, "--freeze", "nothing", message="freeze: 'nothing' "
                                "matches no parameter; expected a module path such as 'embed'"),
    "cli.export.truncated": cli_row("export", "{truncated}", "--out", "{tmp}/out/x.png",
                                    message="truncated.npz is corrupted or truncated"),
    "cli.export.newer": cli_row("export", "{newer}", "--out", "{tmp}/out/x.png",
                                message="format_version 99; this library reads up to "
                                f"{FORMAT_VERSION}"),
    "cli.export.parent_is_a_file": cli_row("export", "{good}", "--out", "{blocker}/x.png",
                                           message="cannot write ...blocker/x.png: ...blocker "
                                           "is a file, not a directory"),
    "cli.export.what": cli_row(*EXPORT, "--what", "weights", message="argument --what: invalid "
                               "choice: 'weights' (choose from 'attention'"),
    "cli.export.format": cli_row(*EXPORT, "--format", "jpg", message="argument --format: "
                                 "invalid choice: 'jpg' (choose from 'png'"),
    "cli.export.layer": cli_row(*EXPORT, "--layer", "7", message=f"layer 7 {SELF_LAYERS}"),
    "cli.export.max_frames": cli_row("export", "{good}", "--out", "{tmp}/out/x.gif",
                                     "--max-frames", "1",
                                     message="max_frames must be None or an int >= 2; got 1"),
    "cli.report.missing": cli_row("report", "{missing}", "--out", "{tmp}/out/r.html",
                                  message="missing.npz: no trace file at this path"),
    "cli.distill.teacher": cli_row("distill", "--teacher", "{tmp}/nowhere", "--out", "{tmp}/s",
                                   message="--teacher: no model.safetensors at ...nowhere"),
}
# fmt: on


def _cli(env: Env, argv: tuple[str, ...], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    names = {"tmp": str(env.tmp), **{k: str(v) for k, v in env.files.items()}}
    try:
        code = cli.main([arg.format(**names) for arg in argv])
    except SystemExit as exit_:  # argparse's own exits
        code = exit_.code if isinstance(exit_.code, int) else 1
    return code, capsys.readouterr().err


@pytest.mark.parametrize("row", list(ROWS.values()), ids=list(ROWS))
def test_bad_input_gets_a_clear_message(row: Bad, env: Env, capsys: pytest.CaptureFixture):
    if row.error == CLI_EXIT_2:
        code, stderr = _cli(env, row.call, capsys)
        assert code == 2, stderr
        assert re.search(row.pattern, stderr), stderr
        assert "Traceback" not in stderr and stderr.count("error:") == 1
    elif row.error == SHOWN:
        view = row.call(env)  # no exception: the view says what is wrong
        assert re.search(row.pattern, view.error), view.error
        assert re.search(row.pattern, html.unescape(view.message.value)), view.message.value
        assert view.step_button.disabled and view.generation is None
    else:
        with pytest.raises(row.error) as info:
            row.call(env)
        assert re.search(row.pattern, str(info.value)), str(info.value)
    assert not env.marker.exists(), "a pickle payload ran"


def test_the_table_is_wide():
    """At least 40 mistakes, from the API, the command line and the widgets."""
    kinds = [row.error for row in ROWS.values()]
    assert len(ROWS) >= 40 and kinds.count(CLI_EXIT_2) >= 10 and kinds.count(SHOWN) >= 3


def test_pickle_payloads_are_never_run(env: Env):
    """The pickled rows again, with the marker checked right after each load."""
    for load, path in [(load_trace, env.pickled), (load_weights, env.pickled_weights)]:
        with pytest.raises(ValueError, match="pickle"):
            load(path)
        assert not env.marker.exists()


def test_a_diverged_run_keeps_its_trace_and_says_at_which_step(tmp_path):
    with pytest.raises(TrainingDiverged) as info:
        _diverge(None)  # type: ignore[arg-type]
    error, run = info.value, info.value.run
    assert f"training diverged at step {error.step}:" in str(error)
    assert run.trace.meta["status"] == "diverged"
    assert int(run.trace.steps[-1]) == error.step - 1  # every good step is kept
    saved = load_trace(run.trace.save(tmp_path / "diverged.npz"))
    assert saved.meta["status"] == "diverged" and int(saved.steps[-1]) == error.step - 1
    np.testing.assert_array_equal(saved.scalar("loss")[1], run.trace.scalar("loss")[1])
