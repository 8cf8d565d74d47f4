"""The ``explain`` command: ``demo``, ``train``, ``distill``, ``export``, ``report``, ``lab``,
``handout``.

    explain demo                      # train, record, and write a report and pictures
    explain train --task sort --steps 600 --out runs/sort
    explain train --task reverse --init runs/copy --freeze embed --out runs/copy-reverse
    explain distill --teacher runs/reverse --d-model 32 --heads 2 --out runs/student
    explain export runs/sort/trace.npz --what attention --layer 1 --head 0 --out head.svg
    explain report runs/sort/trace.npz --out sort.html
    explain lab --hf gpt2 --text sentences.txt --out gpt2-heads.html
    explain handout notebooks/08_redundancy_and_pruning.ipynb --out 08.html

A user's mistake (unknown task or format, a layer, head or step the trace does not have, a
missing or corrupted trace, an unwritable path) ends with exit code 2 and one message that
says what is available, never a traceback; so does ``lab`` for a model with no local copy
(it never downloads). Only ``demo``, ``train``, ``distill`` and ``lab`` import torch.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import tasks
from ._cli_parser import BERTVIZ_FORMATS, DEMO_STEPS, DEMO_TASK, build_parser

DEMO_FILES = {
    "report.html": "the interactive report: open it in a browser (works offline)",
    "attention.png": "attention of every layer and head at the last step",
    "attention.svg": "the same, as a vector image for papers and slides",
    "attention.gif": "attention forming over training",
    "attention.mp4": "the same, as a video",
    "trace.npz": "the recorded trace: explain.load_trace(...) or explain export/report",
    "trace.json": "the trace's metadata, readable",
    "model.safetensors": "the trained weights: explain.weights.load_weights(...)",
}


class UserError(Exception):
    """A mistake in the command line; main prints it and exits with code 2."""


def _size(path: Path) -> str:
    size = path.stat().st_size
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return ""


def _print_table(directory: Path, files: dict[str, str]) -> None:
    width = max(len(name) for name in files)
    for name, what in files.items():
        path = directory / name
        if path.exists():
            print(f"  {name:<{width}}  {_size(path):>8}  {what}")


def _load(path: str) -> Any:
    from .trace import load_trace

    trace_path = Path(path)
    if trace_path.is_dir():
        trace_path = trace_path / "trace.npz"
        if not trace_path.exists():
            raise UserError(f"{path} is a directory without a trace.npz; pass the trace file")
    return load_trace(trace_path)


def _train(
    task: str,
    model_overrides: dict,
    train_options: dict,
    progress: bool,
    threads: int = 1,
    init: str | None = None,
    freeze: Sequence[str] = (),
) -> Any:
    """Train with a progress bar; returns the Run (or the partial one if it diverged)."""
    from .run import default_model_config, default_train_config, train
    from .trainer import TrainingDiverged

    task_obj = tasks.get(task)
    train_config = default_train_config(task_obj, **train_options, threads=threads)
    model_config = None
    if init is None:
        model_config = default_model_config(task_obj, seed=train_config.seed, **model_overrides)
    try:
        return train(
            task_obj, model_config, train_config, init=init, freeze=freeze, progress=progress
        )
    except TrainingDiverged as error:
        print(f"warning: {error}", file=sys.stderr)
        return error.run


def _study(run: Any) -> None:
    """Measure what each head is worth into the trace (the report's "Which heads matter")."""
    if run.trace.meta.get("status") in ("diverged", "interrupted"):  # Ctrl-C: no more waiting
        return
    from . import lab

    lab.record(run)


def _final(trace: Any, name: str) -> str:
    if name not in trace.scalars:
        return "n/a"
    values = trace.scalar(name)[1]
    return f"{values[-1]:.3g}" if len(values) else "n/a"


# Stop once reverse is solved (DEMO_STEPS is the cap); evaluating every 10 steps stops it
# soonest for the least work (seeds 0-4 stopped at steps 120-160 of 250).
DEMO_TRAINING = {"eval_every": 10, "stop_when_solved": True}


def run_demo(
    out: str | os.PathLike = "explain-demo",
    task: str = DEMO_TASK,
    seed: int = 0,
    steps: int = DEMO_STEPS,
    progress: bool = True,
    threads: int = 1,
    theme: str = "light",
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Everything ``explain demo`` does; returns seconds spent per stage, read from ``clock``
    (``time.process_time`` gives CPU seconds, which a busy machine changes less)."""
    from . import export, report

    out = Path(out)
    timings: dict[str, float] = {}
    start = clock()

    def lap(stage: str) -> None:
        nonlocal start
        now = clock()
        timings[stage] = now - start
        start = now

    run = _train(task, {}, {"steps": steps, "seed": seed, **DEMO_TRAINING}, progress, threads)
    lap("train")
    _study(run)
    lap("lab: which heads matter")
    run.save(out)
    lap("save trace + weights")
    trace = run.trace
    export.save(trace, out / "attention.png", theme=theme)
    lap("attention.png")
    export.save(trace, out / "attention.svg", theme=theme)
    lap("attention.svg")
    export.save_animation(trace, [out / "attention.gif", out / "attention.mp4"], theme=theme)
    lap("attention.gif + .mp4")
    report.save_report(trace, out / "report.html", theme=theme)
    lap("report.html")
    status = trace.meta.get("status", "?")
    print(
        f"\ntrained {task!r} for {int(trace.steps[-1])} steps ({status}): validation accuracy "
        f"{_final(trace, 'val_accuracy')}, loss {_final(trace, 'val_loss')}"
    )
    stopped = trace.meta.get("stopped")
    if stopped:
        print(f"stopped at step {stopped['step']} of {steps}: {stopped['reason']}")
    print(f"wrote into {out}/ :")
    _print_table(out, DEMO_FILES)
    print(f"\nopen {(out / 'report.html').resolve().as_uri()}")
    print(f"more: explain export {out / 'trace.npz'} --what embeddings --out embeddings.gif")
    if status == "interrupted":  # Ctrl-C in training: everything above is written; exit 130
        raise KeyboardInterrupt
    return timings


def cmd_demo(args: argparse.Namespace) -> int:
    run_demo(args.out, args.task, args.seed, args.steps, not args.quiet, args.threads, args.theme)
    return 0


def _model_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        key: value
        for key, value in {
            "n_layers": args.layers,
            "n_heads": args.heads,
            "d_model": args.d_model,
            "d_mlp": args.d_mlp,
            "positional": args.positional,
        }.items()
        if value is not None
    }


def _train_options(args: argparse.Namespace) -> dict[str, Any]:
    """The training options given (the task's recommended training fills the rest)."""
    options = {"steps": args.steps, "seed": args.seed, "optimizer": args.optimizer,
               "lr": args.lr, "batch_size": args.batch_size}  # fmt: skip
    return {k: v for k, v in options.items() if v is not None}


def _save_run(run: Any, args: argparse.Namespace, what: str) -> int:
    """Study, save and report a run as ``train`` and ``distill`` do; returns the exit code."""
    from . import report

    _study(run)
    out = Path(args.out)
    run.save(out)
    files = {k: v for k, v in DEMO_FILES.items() if k.startswith(("trace", "model"))}
    if not args.no_report:
        report.save_report(run.trace, out / "report.html", theme=args.theme)
        files = {"report.html": DEMO_FILES["report.html"], **files}
    print(
        f"\n{what} {run.task.name!r} for {run.trainer.step} steps "
        f"({run.trace.meta.get('status')}): validation accuracy "
        f"{_final(run.trace, 'val_accuracy')}, loss {_final(run.trace, 'val_loss')}"
    )
    print(f"wrote into {out}/ :")
    _print_table(out, files)
    status = run.trace.meta.get("status")
    if status == "interrupted":
        steps = run.trace.steps  # the last step recorded, which the saved trace ends with
        print(
            f"interrupted at step {int(steps[-1]) if len(steps) else 0}: the trace and weights "
            f"recorded so far are saved in {out}/ "
            f"(explain.load_trace({str(out / 'trace.npz')!r}))",
            file=sys.stderr,
        )
        return 130  # 128 + SIGINT, as a shell reports a Ctrl-C
    return 0 if status != "diverged" else 1


def cmd_train(args: argparse.Namespace) -> int:
    model = _model_overrides(args)
    if args.init is not None and model:
        flags = ", ".join(f"--{k.replace('n_', '').replace('_', '-')}" for k in model)
        raise UserError(f"--init brings its own model; drop {flags}")
    run = _train(
        args.task,
        model,
        _train_options(args),
        not args.quiet,
        args.threads,
        init=args.init,
        freeze=args.freeze or (),
    )
    return _save_run(run, args, "fine-tuned" if args.init else "trained")


def cmd_distill(args: argparse.Namespace) -> int:
    from .config import TrainConfig
    from .lab.distillation import distill
    from .run import default_model_config, load_source
    from .trainer import TrainingDiverged

    teacher = load_source(args.teacher, what="--teacher")
    task_name = args.task
    if task_name is None:
        task_name = (teacher.trace.meta.get("task", {}) if teacher.trace else {}).get("name")
        if task_name is None:
            raise UserError(f"{args.teacher} has no trace naming its task; pass --task")
    task = tasks.get(task_name)
    train_config = TrainConfig(**_train_options(args), threads=args.threads)
    model_config = default_model_config(
        task,
        seed=train_config.seed,
        vocab_size=teacher.model.config.vocab_size,
        **_model_overrides(args),
    )
    try:
        run = distill(
            args.teacher,
            task,
            model_config,
            train_config,
            temperature=args.temperature,
            alpha=args.alpha,
            progress=not args.quiet,
        )
    except TrainingDiverged as error:
        print(f"warning: {error}", file=sys.stderr)
        run = error.run
    if args.compare:
        from .lab.compression import compare_distilled

        # Trains the student's config once more without the teacher. Measured (reverse, 400
        # steps, d_model 32): distilling 7.1 s, compare 7.1 s, whole command ~20 s: opt-in.
        table = compare_distilled(teacher.model, run, args.temperature, args.alpha)
        run.trace.meta["compression"] = table.to_json()  # the report draws it
        print(f"\ncompression (students trained {table.steps} steps):\n{table.to_markdown()}")
    code = _save_run(run, args, "distilled")
    print(f"teacher-student agreement: {_final(run.trace, 'agreement')}")
    if teacher.trace is not None and teacher.trace.meta.get("task", {}).get("name") == task.name:
        from .lab.distillation import match_heads

        print("heads:\n  " + "\n  ".join(match_heads(teacher.trace, run.trace).sentences))
    return code


def _bertviz(args: argparse.Namespace, trace: Any) -> Path:
    if args.what != "attention":
        raise UserError(f"--format {args.format} shows attention; got --what {args.what}")
    unused = [
        f"--{name}"
        for name in ("layer", "head", "parameter", "max_frames")
        if getattr(args, name) is not None
    ]
    if unused:
        raise UserError(
            f"--format {args.format} shows every layer and head; drop {', '.join(unused)}"
        )
    try:
        from .adapters import write_bertviz_html
    except ImportError as error:
        raise UserError(f"--format {args.format} needs explain.adapters ({error})") from None
    view = args.format.removeprefix("bertviz-")
    return Path(write_bertviz_html(trace, args.out, view=view, step=args.step, part=args.part))


def cmd_export(args: argparse.Namespace) -> int:
    from . import export

    trace = _load(args.trace)
    if args.format in BERTVIZ_FORMATS:
        path = _bertviz(args, trace)
        print(f"wrote {path} ({_size(path)})")
        return 0
    path = export.save(
        trace,
        args.out,
        what=args.what,
        layer=args.layer,
        head=args.head,
        step=args.step,
        format=args.format,
        part=args.part,
        parameter=args.parameter,
        max_frames=args.max_frames,
        fps=args.fps,
        dpi=args.dpi,
        theme=args.theme,
    )
    print(f"wrote {path} ({_size(path)})")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from . import report

    path = report.save_report(
        _load(args.trace),
        args.out,
        max_frames=args.max_frames or report.MAX_FRAMES,
        theme=args.theme,
    )
    print(f"wrote {path} ({_size(path)}); open {path.resolve().as_uri()}")
    return 0


def _lines(path: str) -> list[str]:
    """The non-empty lines of ``path``, stripped; a UserError if there are none."""
    lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise UserError(f"{path} holds no text: write one text per line")
    return lines


def _pairs(lines: list[str], path: str, architecture: str) -> list[tuple[str, str]]:
    """``SOURCE<TAB>TARGET`` lines as pairs, for an encoder-decoder."""
    pairs = []
    for number, line in enumerate(lines, 1):
        parts = [part.strip() for part in line.split("\t")]
        if len(parts) != 2 or not all(parts):
            raise UserError(
                f"text {number} of {path} must be SOURCE<TAB>TARGET for {architecture} (an "
                f"encoder-decoder); got {line[:60]!r}"
            )
        pairs.append((parts[0], parts[1]))
    return pairs


def cmd_lab(args: argparse.Namespace) -> int:
    from . import report
    from ._hf_load import load_local

    lines = _lines(args.text)  # before the model loads: a bad file fails fast
    try:
        model, tokenizer = load_local(args.hf)
    except ImportError as error:
        raise UserError(
            f"explain lab needs transformers>=5 (pip install transformers): {error}"
        ) from None
    from . import lab

    try:
        wrapped = lab.wrap(model, tokenizer)
    except TypeError as error:  # a class the lab does not know: the message lists those it does
        raise UserError(str(error)) from None
    architecture = wrapped.config.architecture
    pairs = wrapped.config.kind == "encoder-decoder"
    texts = _pairs(lines, args.text, architecture) if pairs else lines
    trace = lab.record_hf(
        wrapped, texts, batch_size=args.batch_size, threads=args.threads, progress=not args.quiet
    )
    trace.meta["model_config"]["hf_name_or_path"] = args.hf  # the name the report shows
    record = trace.meta["lab"]
    ranked = lab.rank_heads(record["importance"])[::-1][:3]
    importance = record["importance"]  # [layer][head]
    best = ", ".join(f"L{layer}H{head} ({importance[layer][head]:.3g})" for layer, head in ranked)
    print(
        f"measured {architecture} ({args.hf}) on {len(texts)} texts: loss "
        f"{record['baseline']['loss']:.4g}, accuracy {record['baseline']['accuracy']:.3g}; "
        f"most important heads: {best}"
    )
    if args.trace:
        print(f"wrote {trace.save(args.trace)}: explain.load_trace, widgets.HeadsView(trace)")
    path = report.save_report(trace, args.out, theme=args.theme)
    print(f"wrote {path} ({_size(path)}); open {path.resolve().as_uri()}")
    return 0


def cmd_handout(args: argparse.Namespace) -> int:
    from . import handout

    out = Path(args.out) if args.out else Path(args.notebook).with_suffix(".html")
    if out.resolve() == Path(args.notebook).resolve():
        raise UserError(f"--out {out} is the notebook itself; name an .html file")
    path = handout.write(args.notebook, out, kernel=args.kernel, timeout=int(args.timeout))
    print(f"wrote {path} ({_size(path)}); open {path.resolve().as_uri()}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for a user's mistake)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with 2 and lists choices on a bad option
    commands = {
        "demo": cmd_demo,
        "train": cmd_train,
        "distill": cmd_distill,
        "export": cmd_export,
        "report": cmd_report,
        "lab": cmd_lab,
        "handout": cmd_handout,
    }
    try:
        return int(commands[args.command](args))
    except KeyboardInterrupt:
        print(
            "\ninterrupted; files written so far are complete, none is half-written",
            file=sys.stderr,
        )
        return 130
    except (UserError, ValueError, OSError) as error:  # TraceError is a ValueError
        if args.traceback:
            raise
        print(f"explain {args.command}: error: {_message(error)}", file=sys.stderr)
        return 2


def _message(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    return str(error)


if __name__ == "__main__":
    sys.exit(main())
