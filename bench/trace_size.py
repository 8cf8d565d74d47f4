"""How big is a 1000-step trace, and how fast does it load? Targets: <= 10 MB, <= 0.2 s.

Trains what ``explain train --task induction --steps 1000`` trains (default model, default
recording) through the CLI itself, without the report, then prints the trace file's size, the
median of ``--repeats`` loads (``explain.load_trace``), their ratios to the targets, and which
tensors the bytes go to. ``--trace PATH`` measures an existing trace file instead.

    python bench/trace_size.py [--steps 1000] [--repeats 7] [--trace PATH]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import tempfile
import time
import zipfile

import explain
from explain import cli

TARGET_MB = 10.0
TARGET_LOAD_S = 0.2
# Which part of the trace an archive entry holds, by the first match on its name.
KINDS = (
    ("attention", ("hook_pattern",)),
    ("optimizer", ("grad/", "update/", "exp_avg", "momentum_buffer/")),
    ("scalars", ("scalar/",)),
)


def train_trace(steps: int, folder: pathlib.Path) -> pathlib.Path:
    """The trace.npz of ``explain train --task induction --steps STEPS`` (no report)."""
    argv = ["train", "--task", "induction", "--steps", str(steps), "--out", str(folder)]
    code = cli.main([*argv, "--no-report", "--quiet"])
    if code != 0:
        raise SystemExit(f"explain {' '.join(argv)} failed with exit code {code}")
    return folder / "trace.npz"


def kind_of(entry: str) -> str:
    return next((kind for kind, marks in KINDS if any(m in entry for m in marks)), "other")


def report(path: pathlib.Path, repeats: int) -> None:
    size_mb = path.stat().st_size / 1e6
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        trace = explain.load_trace(path)
        times.append(time.perf_counter() - start)
    load_s = statistics.median(times)
    print(f"{path}: {len(trace)} snapshots, {len(trace.steps)} steps")
    print(f"  size  {size_mb:6.2f} MB   / target {TARGET_MB:g} MB  = {size_mb / TARGET_MB:.2f}")
    print(
        f"  load  {load_s:6.3f} s    / target {TARGET_LOAD_S:g} s   = {load_s / TARGET_LOAD_S:.2f}"
        f"  (median of {repeats})"
    )
    by_kind: dict[str, int] = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            kind = kind_of(info.filename)
            by_kind[kind] = by_kind.get(kind, 0) + info.compress_size
    for kind, size in sorted(by_kind.items(), key=lambda item: -item[1]):
        print(f"  {kind:<10} {size / 1e6:6.2f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--trace", type=pathlib.Path, help="measure this trace file instead")
    args = parser.parse_args()
    if args.trace is not None:
        report(args.trace, args.repeats)
        return
    with tempfile.TemporaryDirectory() as folder:
        report(train_trace(args.steps, pathlib.Path(folder)), args.repeats)


if __name__ == "__main__":
    main()
