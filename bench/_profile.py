"""Where one case of ``bench/_view_cases.py`` spends its time, in one tree (cProfile).

    python bench/_profile.py TREE GROUP "CASE" [--repeats N] [--top N]
    python bench/_profile.py . loss "LossView step"
    python bench/_profile.py /tmp/old-tree attention "AttentionView layer" --repeats 200
    python bench/_profile.py . attention "AttentionView layer" --split  # pieces, no cProfile

Runs case group GROUP (a function of ``_view_cases``) with TREE's ``explain`` and ``widgets``
first on ``sys.path``; the case named CASE runs ``--repeats`` times (a step change at most once
per snapshot) under cProfile, the group's other cases once each, untimed. Prints the
functions with the most time per call of the case, by time including callees and by own time
(ms). ``--split`` times instead, without cProfile's overhead, the pieces every view goes through
(its ``_update``, the builder, the diff, plotly's ``update``, the sync to the widget) where the
tree has them.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import importlib
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import use_tree

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("tree", type=Path)
parser.add_argument("group")
parser.add_argument("case")
parser.add_argument("--repeats", type=int, default=100)
parser.add_argument("--top", type=int, default=25)
parser.add_argument("--split", action="store_true", help="time the pieces, no cProfile")
args = parser.parse_args()
use_tree(args.tree.resolve())

import _view_cases as cases  # noqa: E402
from _synthetic import synthetic_trace  # noqa: E402

# (module, class or None, function): what a view's update goes through, in either tree
PIECES = (
    ("widgets._plot", "Plot", "show"),
    ("widgets._plot", "Plot", "push"),
    ("explain._render.plotly", None, "figures"),
    ("explain._render.plotly.lens", None, "figure"),
    ("explain._render.plotly.blocks", None, "changes"),
    ("plotly.basedatatypes", "BasePlotlyType", "update"),
    ("plotly.basedatatypes", "BasePlotlyType", "__setitem__"),  # every property set
)


class Pieces:
    """Wall time inside each piece (outermost call only) while :meth:`runcall` runs."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.active = False
        import widgets

        targets = []
        for module_name, owner, name in PIECES:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue  # the old tree has no explain._render
            target = getattr(module, owner) if owner else module
            if hasattr(target, name):  # the old tree's Plot has no show
                targets.append((target, name))
        for view in widgets.__all__:
            kind = getattr(widgets, view)
            if isinstance(kind, type) and "_update" in vars(kind):
                targets.append((kind, "_update"))
        for owner, name in targets:
            label = f"{getattr(owner, '__name__', owner)}.{name}"
            setattr(owner, name, self._timed(getattr(owner, name), label))

    def _timed(self, function: Callable[..., Any], label: str) -> Callable[..., Any]:
        depth = [0]

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.active or depth[0]:
                return function(*args, **kwargs)
            depth[0] += 1
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                depth[0] -= 1
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - start

        return timed

    def runcall(self, action: Callable[..., Any], *args: Any) -> Any:
        self.active = True
        start = time.perf_counter()
        try:
            return action(*args)
        finally:
            self.active = False
            self.seconds["the case"] = self.seconds.get("the case", 0.0) + (
                time.perf_counter() - start
            )


class ProfilingTimer(cases.Timer):
    """Runs the case named ``args.case`` ``args.repeats`` times under cProfile, others once."""

    def __init__(self) -> None:
        super().__init__(opens=1, repeats=1)
        self.calls = 0
        self.profile: Any = Pieces() if args.split else cProfile.Profile()

    def open(self, name: str, make: Callable[[], object]) -> object:
        if f"{name} open" != args.case:
            return make()
        view = make()  # the first open outside the profile: imports, first-call set-ups
        for _ in range(args.repeats):  # each a new view model: its memo starts empty
            self.profile.runcall(make)
        self.calls = args.repeats
        return view

    def change(self, name: str, action: Callable[[int], object], **options: Any) -> None:
        """As :meth:`cases.Timer.change` (``before``, ``repeats``), under the profile."""
        if name != args.case:
            return
        before = options.get("before")
        count = min(options.get("repeats") or args.repeats, args.repeats)
        for i in range(count):
            if before is not None:
                before(i)
            self.profile.runcall(action, i)
        self.calls = count

    def steps(self, name: str, view: object, stride: int = 1) -> None:
        self.repeats = args.repeats
        super().steps(name, view, stride)


group = getattr(cases, args.group)
timer = ProfilingTimer()
if group in cases.SMALL:
    group(timer, synthetic_trace(4, 4, 32, 50, full=True))
elif group in cases.TRAINED:
    group(timer, cases.trained_run())
else:
    group(timer)
if not timer.calls:
    sys.exit(f"no case {args.case!r} in group {args.group!r}")
if args.split:
    print(f"{args.case} in {args.tree}: ms a call ({timer.calls}), outermost calls only")
    for label, seconds in sorted(timer.profile.seconds.items(), key=lambda item: -item[1]):
        print(f"  {1000 * seconds / timer.calls:8.3f}  {label}")
    sys.exit()
stats = pstats.Stats(timer.profile)
total = max(row[3] for row in stats.stats.values())  # the case's own call: the largest cumtime
print(f"{args.case} in {args.tree}: {1000 * total / timer.calls:.2f} ms a call ({timer.calls})")
for order, column in (("including callees", 3), ("own time", 2)):
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][column])[: args.top]
    print(f"  by {order}:\n  {'cumulative':>10} {'own':>7} {'calls':>7}  function")
    for (file, line, function), (_, calls, own, cumulative, _) in rows:
        where = "/".join(Path(file).parts[-2:]) if file != "~" else ""
        print(
            f"  {1000 * cumulative / timer.calls:10.3f} {1000 * own / timer.calls:7.3f} "
            f"{calls / timer.calls:7.1f}  {function} ({where}:{line})"
        )
