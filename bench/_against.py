"""``bench/widgets.py --against REV``: the view cases in this tree and in REV, side by side.

REV is checked out with ``git worktree add --detach`` into a temporary folder, and this working
tree is copied as it is at the start (tracked files and untracked ones git does not ignore), so
edits made to the checkout during the run do not reach it; both are removed at the end.
Workers (``bench/_worker.py``, a fresh process each) run every case in one tree; they alternate
new, old, old, new, new, old, ... so a slow spell of the machine falls on both trees.
Each case's ratio is the median over rounds of that round's new / old median (wall time; CPU
time beside it): above ``LIMIT`` it is flagged.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LIMIT = 1.10  # the issue: no view slower to open or to change step than before, within 10%
ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().with_name("_worker.py")


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()


@contextmanager
def worktree(revision: str) -> Iterator[Path]:
    """A detached checkout of ``revision`` in a temporary folder, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="bench-widgets-")) / "tree"
    git("worktree", "add", "--detach", str(folder), revision)
    try:
        yield folder
    finally:
        git("worktree", "remove", "--force", str(folder))
        folder.parent.rmdir()


@contextmanager
def snapshot() -> Iterator[Path]:
    """A copy of this working tree as it is now, in a temporary folder removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="bench-widgets-")) / "tree"
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # not one deleted from the working tree but still in the index
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / name)
    try:
        yield folder
    finally:
        shutil.rmtree(folder.parent)


def run_worker(tree: Path, options: list[str]) -> dict:
    """One worker's JSON: which files it imported and each case's (wall, CPU) medians."""
    done = subprocess.run(
        [sys.executable, str(WORKER), str(tree), *options],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        sys.exit(f"worker in {tree} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(revision: str, rounds: int, options: list[str]) -> None:
    """Run ``rounds`` rounds of one worker per tree and print the table."""
    old_sha = git("rev-parse", "--short", f"{revision}^{{commit}}")
    dirty = len(git("status", "--porcelain", "--untracked-files=no").splitlines())
    head = git("rev-parse", "--short", "HEAD")
    print(f"new: this working tree (HEAD {head}, {dirty} tracked files changed) copied now")
    print(f"old: {revision} = {old_sha}")
    print(f"{rounds} rounds, workers: {' '.join(options)}")
    with snapshot() as new_tree, worktree(revision) as old_tree:
        trees = {"new": new_tree, "old": old_tree}
        results: dict[str, list[dict]] = {"new": [], "old": []}
        for round_ in range(rounds):
            for side in ("new", "old") if round_ % 2 == 0 else ("old", "new"):
                start = time.perf_counter()
                result = run_worker(trees[side], options)
                results[side].append(result["cases"])
                took = time.perf_counter() - start
                print(f"  round {round_ + 1} {side}: {took:5.0f} s  explain: {result['explain']}")
                sys.stdout.flush()
    table(results)


def table(results: dict[str, list[dict]]) -> None:
    """Per case: medians over rounds of new and old (ms), and of the per-round ratios."""
    new, old = results["new"], results["old"]
    names = [name for name in new[0] if all(name in r for r in new + old)]
    width = max(len(name) for name in names)
    print(f"\n{'case':<{width}}  {'new ms':>8}  {'old ms':>8}  {'new/old':>7}  {'cpu n/o':>7}")
    slower = []
    for name in names:
        wall = [n[name][0] / o[name][0] for n, o in zip(new, old, strict=True)]
        cpu = [n[name][1] / max(o[name][1], 1e-3) for n, o in zip(new, old, strict=True)]
        ratio = statistics.median(wall)
        flag = "  SLOWER" if ratio > LIMIT else ""
        if flag:
            slower.append(name)
        print(
            f"{name:<{width}}  {statistics.median(n[name][0] for n in new):8.1f}  "
            f"{statistics.median(o[name][0] for o in old):8.1f}  {ratio:7.2f}  "
            f"{statistics.median(cpu):7.2f}{flag}"
        )
    rounds = len(new)
    verdict = f"{len(slower)} case(s) over {LIMIT:.2f}" if slower else f"none over {LIMIT:.2f}"
    print(f"\nratios: median over {rounds} rounds of per-round medians; {verdict}")
