"""The ``explain`` command line's arguments: every subcommand, option, choice and check.

:mod:`explain.cli` runs what is parsed here; the subcommand's name is ``args.command``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from . import tasks
from .config import OPTIMIZERS, POSITIONAL_KINDS

DEMO_TASK = "reverse"
DEMO_STEPS = 250  # reverse is solved by step ~200 (val accuracy 1.0 for seeds 0-2)
BERTVIZ_FORMATS = ("bertviz-head", "bertviz-model")
FORMATS = ("png", "svg", "pdf", "gif", "mp4", "html", "json", "csv", *BERTVIZ_FORMATS)


def _number(kind: type, expected: str, within: Callable[[float], bool]) -> Callable[[str], Any]:
    """An argparse ``type``: ``kind(text)`` that ``within`` accepts, else an error saying
    ``expected`` (for example "a positive integer") and what was given."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}; got {text!r}") from None
        if not within(value):
            raise argparse.ArgumentTypeError(f"expected {expected}; got {value}")
        return value

    return parse


_positive = _number(int, "a positive integer", lambda value: value > 0)
_non_negative = _number(int, "an integer >= 0", lambda value: value >= 0)
_positive_float = _number(float, "a number > 0", lambda value: 0 < value < float("inf"))
_fraction = _number(float, "a number in [0, 1]", lambda value: 0 <= value <= 1)


def _model_options(parser: argparse.ArgumentParser, whose: str) -> None:
    """The model's shape and how it is trained (``whose``: "" or "student ")."""
    parser.add_argument(
        "--positional",
        choices=POSITIONAL_KINDS,
        metavar="KIND",
        help=f"one of: {', '.join(POSITIONAL_KINDS)} (default: sinusoidal)",
    )
    blocks = f"{whose}blocks (2)" if whose else "transformer blocks (2)"
    heads = f"{whose}heads per block (4)" if whose else "attention heads per block (4)"
    parser.add_argument("--layers", type=_positive, help=blocks)
    parser.add_argument("--heads", type=_positive, help=heads)
    parser.add_argument("--d-model", type=_positive, help=f"{whose}residual width (64)")
    parser.add_argument("--d-mlp", type=_positive, help=f"{whose}MLP hidden width (256)")
    parser.add_argument("--lr", type=float, help="peak learning rate (0.003; induction 0.01)")
    parser.add_argument(
        "--batch-size", type=_positive, help="sequences per step (64; induction 128)"
    )
    parser.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default="adamw",
        metavar="NAME",
        help=f"one of: {', '.join(OPTIMIZERS)} (default: adamw)",
    )


def _output_options(parser: argparse.ArgumentParser, themes: Sequence[str]) -> None:
    parser.add_argument("--out", default="out", help="directory (default: out)")
    parser.add_argument("--no-report", action="store_true", help="skip report.html")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--threads", type=_positive, default=1, help="torch threads (1)")
    _theme_option(parser, themes)


def _theme_option(parser: argparse.ArgumentParser, themes: Sequence[str]) -> None:
    parser.add_argument(
        "--theme",
        default="light",
        choices=list(themes),
        metavar="THEME",
        help=f"one of: {', '.join(themes)}, as in the widgets (default: light)",
    )


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .style import THEMES
    from .views import WHATS

    formats = FORMATS
    parser = argparse.ArgumentParser(
        prog="explain",
        description="See how a small transformer works and learns.",
        epilog="Start with: explain demo. Each command has --help.",
    )
    parser.add_argument("--version", action="version", version=f"explain {__version__}")
    parser.add_argument("--traceback", action="store_true", help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    task_help = f"one of: {', '.join(tasks.available())}"

    demo = commands.add_parser(
        "demo",
        help="train the default model, then write a report, pictures and the trace",
        description="Train the default model on a task with a progress bar, record a trace, "
        "and write report.html, attention PNG/SVG/GIF/MP4, the trace and the weights into OUT.",
    )
    demo.add_argument("--out", default="explain-demo", help="directory (default: explain-demo)")
    demo.add_argument(
        "--task",
        default=DEMO_TASK,
        choices=tasks.available(),
        metavar="TASK",
        help=f"{task_help} (default: {DEMO_TASK})",
    )
    demo.add_argument("--seed", type=_non_negative, default=0, help="seed (default: 0)")
    demo.add_argument(
        "--steps",
        type=_positive,
        default=DEMO_STEPS,
        help=f"training steps (default: {DEMO_STEPS})",
    )
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.add_argument("--threads", type=_positive, default=1, help="torch threads (1)")
    _theme_option(demo, THEMES)

    train = commands.add_parser(
        "train",
        help="train a model and record its trace",
        description="Train a TinyTransformer on a task and write trace.npz, trace.json, "
        "model.safetensors and report.html into OUT.",
        epilog="example: explain train --task induction --steps 500 --batch-size 128 --lr 0.01 "
        "--out runs/induction",
    )
    train.add_argument(
        "--task", required=True, choices=tasks.available(), metavar="TASK", help=task_help
    )
    train.add_argument(
        "--steps", type=_positive, help="optimizer steps (400; the task's own: induction 500)"
    )
    train.add_argument("--seed", type=_non_negative, default=0, help="seed (0)")
    _model_options(train, "")
    train.add_argument(
        "--init",
        metavar="DIR",
        help="fine-tune: start from the model.safetensors (and continue the trace.npz) in DIR",
    )
    train.add_argument(
        "--freeze",
        nargs="+",
        metavar="PREFIX",
        help="module paths whose weights stay fixed, e.g. embed blocks.0",
    )
    _output_options(train, THEMES)

    distill = commands.add_parser(
        "distill",
        help="train a small student on a trained teacher's softened predictions",
        description="Knowledge distillation (Hinton, Vinyals and Dean 2015): train a student "
        "TinyTransformer on alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * "
        "cross-entropy, and write trace.npz, trace.json, model.safetensors and report.html "
        "into OUT.",
        epilog="example: explain distill --teacher runs/reverse --d-model 32 --heads 2 "
        "--steps 400 --out runs/student",
    )
    distill.add_argument(
        "--teacher", required=True, metavar="DIR", help="a directory written by explain train"
    )
    distill.add_argument(
        "--task", choices=tasks.available(), metavar="TASK", help=f"{task_help} (the teacher's)"
    )
    distill.add_argument("--steps", type=_positive, default=400, help="optimizer steps (400)")
    distill.add_argument("--seed", type=_non_negative, default=0, help="seed (0)")
    distill.add_argument(
        "--temperature", type=_positive_float, default=2.0, help="softening T > 0 (2.0)"
    )
    distill.add_argument(
        "--alpha", type=_fraction, default=0.5, help="weight of the teacher's term, 0..1 (0.5)"
    )
    _model_options(distill, "student ")
    distill.add_argument(
        "--compare",
        action="store_true",
        help="also train the student without the teacher (same steps and seed) and put the "
        "compression table (parameters, step ms, accuracy) into the report; doubles the "
        "training time",
    )
    _output_options(distill, THEMES)

    export = commands.add_parser(
        "export",
        help="write one view of a trace as an image, animation, HTML or data",
        description="Write one view of a trace. Images (png, svg, pdf) show one step, "
        "animations (gif, mp4) the whole training, html is interactive with a step slider, "
        "json and csv hold the numbers; bertviz-head and bertviz-model write bertviz's "
        "views of the attention (offline).",
        epilog="examples:\n  explain export run/trace.npz --what attention --layer 1 --head 2 "
        "--step 200 --out head.svg\n  explain export run/trace.npz --what embeddings --out "
        "emb.mp4\n  explain export run/trace.npz --what loss --format csv --out loss.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("trace", help="a trace.npz (or the directory holding one)")
    export.add_argument(
        "--what",
        default="attention",
        choices=WHATS,
        metavar="WHAT",
        help=f"one of: {', '.join(WHATS)} (default: attention)",
    )
    export.add_argument(
        "--format",
        choices=formats,
        metavar="FORMAT",
        help=f"one of: {', '.join(formats)} (default: from --out's suffix)",
    )
    export.add_argument("--out", required=True, help="file to write")
    export.add_argument(
        "--part",
        help="attention: self, or encoder | decoder | cross for "
        "encoder-decoder (default: cross); embeddings: encoder | decoder",
    )
    export.add_argument("--layer", type=_non_negative, help="attention: one layer (default all)")
    export.add_argument("--head", type=_non_negative, help="attention: one head (default all)")
    export.add_argument(
        "--step", type=_non_negative, help="a recorded step (default: the last; not for gif/mp4)"
    )
    export.add_argument("--parameter", help="optimizer: which tracked parameter to show")
    export.add_argument(
        "--max-frames", type=_positive, help="gif/mp4 frames (40) or html slider positions (120)"
    )
    export.add_argument("--fps", type=_positive, default=8, help="gif/mp4 frames per second (8)")
    export.add_argument("--dpi", type=_positive, help="raster resolution (png 150, gif/mp4 80)")
    _theme_option(export, THEMES)

    report = commands.add_parser(
        "report",
        help="write the interactive HTML report of a trace",
        description="Write one self-contained, offline HTML page showing the whole run.",
    )
    report.add_argument("trace", help="a trace.npz (or the directory holding one)")
    report.add_argument("--out", default="report.html", help="file (default: report.html)")
    report.add_argument(
        "--max-frames", type=_positive, help="timeline positions (report.MAX_FRAMES: 50)"
    )
    _theme_option(report, THEMES)

    _lab_command(commands, THEMES)

    handout = commands.add_parser(
        "handout",
        help="run a notebook and write it as one offline HTML page",
        description="Execute NOTEBOOK (in a kernel running this Python, or --kernel) and write "
        "one self-contained, offline HTML page: its text with formulas as MathML, its code and "
        "printed output, and every view as its interactive figure with a step slider.",
    )
    handout.add_argument("notebook", help="a Jupyter notebook (.ipynb)")
    handout.add_argument("--out", help="file (default: the notebook's name with .html)")
    handout.add_argument(
        "--kernel", help="a Jupyter kernelspec name (default: a kernel running this Python)"
    )
    handout.add_argument(
        "--timeout", type=_positive, default=300, help="seconds a cell may run (300)"
    )
    return parser


def _lab_command(commands: Any, themes: Sequence[str]) -> None:
    lab = commands.add_parser(
        "lab",
        help="measure the attention heads of a HuggingFace model on your texts: HTML report",
        description="Load a HuggingFace model and its tokenizer from a local directory or the "
        "local HuggingFace cache (nothing is downloaded), measure every attention head on the "
        "texts of FILE and write one offline HTML report: how much each head matters "
        "(gradient and ablation), what each head does, the pruning curve and the logit lens "
        "of the first text.",
        epilog="FILE holds one text per non-empty line (leading and trailing spaces dropped); "
        "for an encoder-decoder (BART, T5) each line is SOURCE<TAB>TARGET. The first text's "
        "attention and lens are shown; every text is scored.\n\nexample:\n  hf download "
        "gpt2    # once, with a network\n  explain lab --hf gpt2 --text sentences.txt --out "
        "gpt2-heads.html",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lab.add_argument(
        "--hf",
        required=True,
        metavar="DIR_OR_NAME",
        help="a directory written by save_pretrained, or a model name in the local "
        "HuggingFace cache (e.g. gpt2 after `hf download gpt2`)",
    )
    lab.add_argument(
        "--text",
        required=True,
        metavar="FILE",
        help="texts, one per non-empty line (BART, T5: SOURCE<TAB>TARGET)",
    )
    lab.add_argument("--out", default="report.html", help="file (default: report.html)")
    lab.add_argument(
        "--trace", metavar="FILE", help="also save the trace (widgets.HeadsView reads it)"
    )
    lab.add_argument(
        "--batch-size", type=_positive, default=64, help="texts per forward pass (64)"
    )
    lab.add_argument("--quiet", action="store_true", help="no progress bars")
    lab.add_argument("--threads", type=_positive, default=1, help="torch threads (1)")
    _theme_option(lab, themes)
