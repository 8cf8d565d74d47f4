"""Benchmark ``explain demo``: the whole command 3 times, then where one run spends its time.

    python bench/demo.py [--runs 3] [--keep DIR]

Prints the median wall time of the full command (a fresh process each time, so imports count)
and a per-stage breakdown (train, save, each export) from one in-process run, with the machine's
load average so a busy machine's numbers can be told apart. Target: <= 15 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 15.0


def run_command(out: Path) -> float:
    """Wall seconds of one ``python -m explain.cli demo`` in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "explain.cli", "demo", "--out", str(out), "--quiet"],
        check=True,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def stages(out: Path) -> dict[str, float]:
    """Seconds per stage of one in-process demo (imports are already paid by then)."""
    sys.path.insert(0, str(ROOT))
    from explain import cli

    with contextlib.redirect_stdout(io.StringIO()):
        return cli.run_demo(out, progress=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", help="write the demo here instead of a temporary directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(args.keep or scratch) / "explain-demo"
        print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.1f}")
        walls = []
        for number in range(args.runs):
            walls.append(run_command(out))
            print(f"  run {number + 1}: {walls[-1]:.1f} s (load {os.getloadavg()[0]:.1f})")
        median = statistics.median(walls)
        verdict = "within" if median <= TARGET_S else "OVER"
        print(f"explain demo, median of {args.runs}: {median:.1f} s", end=" ")
        print(f"({verdict} the {TARGET_S:.0f} s target)")
        cpu_start = time.process_time()
        timings = stages(out)
        print("stages of one in-process run (wall s):")
        for stage, seconds in timings.items():
            print(f"  {stage:<22} {seconds:6.2f}")
        cpu = time.process_time() - cpu_start
        print(f"  {'total':<22} {sum(timings.values()):6.2f}  (cpu {cpu:.2f} s)")
        sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}
        print("files: " + ", ".join(f"{name} {size / 1e6:.2f} MB" for name, size in sizes.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
