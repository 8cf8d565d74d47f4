"""Benchmark ``explain demo``: the whole command in fresh processes, then where a run spends time.

    python bench/demo.py [--runs 3] [--old DIR] [--cpu] [--keep DIR]

Prints the median wall time of the full command (a fresh process each time, so imports count)
and its ratio to the target, then the median seconds per stage (train, lab, save, each export)
of in-process runs, with the machine's load average so a busy machine's numbers can be told
apart. ``--old DIR`` (a checkout of an older commit, e.g. ``git worktree add /tmp/old a8a0747``)
runs that tree's demo interleaved with this one's, so both meet the same load, and prints the
ratio of the medians. ``--cpu`` adds CPU seconds per stage, which tell more than wall seconds
when other processes share the cores. Target: <= 10 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 10.0

# One in-process demo in a fresh process, printing its stage timings as JSON on the last line;
# argv: the output directory and the clock ("perf_counter": wall, "process_time": CPU).
STAGES = """
import contextlib, io, json, sys, time
clock = getattr(time, sys.argv[2])
start = clock()
from explain import cli
imported = clock() - start
options = {} if sys.argv[2] == "perf_counter" else {"clock": clock}  # old trees: wall only
with contextlib.redirect_stdout(io.StringIO()):
    timings = cli.run_demo(sys.argv[1], progress=False, **options)
print(json.dumps({"import explain.cli": imported, **timings}))
"""


def _env(tree: Path) -> dict[str, str]:
    path = str(tree) + os.pathsep + os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": path}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_command(tree: Path, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one ``python -m explain.cli demo`` of ``tree`` in a fresh
    process (CPU time tells less about a busy machine than wall time does)."""
    start, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(
        [sys.executable, "-m", "explain.cli", "demo", "--out", str(out), "--quiet"],
        check=True,
        env=_env(tree),
        cwd=tree,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start, _children_cpu() - cpu


def stages(tree: Path, out: Path, clock: str = "perf_counter") -> dict[str, float]:
    """Seconds per stage of one demo of ``tree``, run in a fresh process, read from ``clock``
    (a name in ``time``)."""
    result = subprocess.run(
        [sys.executable, "-c", STAGES, str(out), clock],
        check=True,
        env=_env(tree),
        cwd=tree,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def _medians(runs: list[dict[str, float]]) -> dict[str, float]:
    names = list(dict.fromkeys(name for run in runs for name in run))
    return {name: statistics.median(run.get(name, 0.0) for run in runs) for name in names}


def _print_stages(
    trees: dict[str, Path], timings: dict[str, list[dict[str, float]]], what: str
) -> None:
    medians = {label: _medians(runs) for label, runs in timings.items()}
    names = list(dict.fromkeys(name for m in medians.values() for name in m))
    print(f"stages, median of {len(next(iter(timings.values())))} in-process runs ({what}):")
    print(f"  {'stage':<26}" + "".join(f"{label:>9}" for label in trees))
    for name in [*names, "total"]:
        cells = [
            sum(m.values()) if name == "total" else m.get(name, float("nan"))
            for m in medians.values()
        ]
        print(f"  {name:<26}" + "".join(f"{cell:9.2f}" for cell in cells))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--old", help="an older checkout to run side by side")
    parser.add_argument("--keep", help="write the demo here instead of a temporary directory")
    parser.add_argument(
        "--cpu", action="store_true", help="also CPU seconds per stage (this tree only)"
    )
    args = parser.parse_args()
    trees = {"new": ROOT, **({"old": Path(args.old).resolve()} if args.old else {})}
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(args.keep or scratch)
        print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.1f}")
        walls: dict[str, list[float]] = {label: [] for label in trees}
        cpus: dict[str, list[float]] = {label: [] for label in trees}
        for number in range(args.runs):
            for label, tree in trees.items():  # interleaved: both meet the same load
                wall, cpu = run_command(tree, base / f"demo-{label}")
                walls[label].append(wall)
                cpus[label].append(cpu)
                load = os.getloadavg()[0]
                print(
                    f"  run {number + 1} {label}: {wall:.1f} s, cpu {cpu:.1f} s (load {load:.1f})"
                )
        median = statistics.median(walls["new"])
        verdict = "within" if median <= TARGET_S else "OVER"
        print(
            f"explain demo, median of {args.runs}: {median:.1f} s = {median / TARGET_S:.2f} x "
            f"the {TARGET_S:.0f} s target ({verdict}); cpu {statistics.median(cpus['new']):.1f} s"
        )
        if "old" in walls:
            old, old_cpu = statistics.median(walls["old"]), statistics.median(cpus["old"])
            print(
                f"old tree, median of {args.runs}: {old:.1f} s, cpu {old_cpu:.1f} s; "
                f"new / old: wall {median / old:.2f}, "
                f"cpu {statistics.median(cpus['new']) / old_cpu:.2f}"
            )
        timings: dict[str, list[dict[str, float]]] = {label: [] for label in trees}
        for _ in range(args.runs):
            for label, tree in trees.items():
                timings[label].append(stages(tree, base / f"stages-{label}"))
        _print_stages(trees, timings, "wall s")
        if args.cpu:
            cpu = [stages(ROOT, base / "stages-cpu", "process_time") for _ in range(args.runs)]
            _print_stages({"new": ROOT}, {"new": cpu}, "CPU s of this process; not ffmpeg's")
        out = base / "demo-new"
        sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}
        print("files: " + ", ".join(f"{name} {size / 1e6:.2f} MB" for name, size in sizes.items()))
        stopped = json.loads((out / "trace.json").read_text()).get("stopped")
        print(f"training stopped early: {stopped}" if stopped else "training ran to its cap")
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
