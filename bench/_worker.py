"""One worker of ``bench/widgets.py --against``: the view cases in one tree, as JSON.

    python bench/_worker.py TREE [--large] [--opens N] [--repeats N] [--only GROUP,...]

``TREE`` is the root of a checkout (this one, or a ``git worktree`` of an older revision); its
``explain`` and ``widgets`` are imported, ahead of any installed copy, and their files are
reported so the driver can check which tree ran (a worker that imported any of their modules
from elsewhere fails). The last line of stdout is one JSON object:
``{"explain": path, "widgets": path, "cases": {case: [wall ms, CPU ms]}}`` (medians).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _common import use_tree

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("tree", type=Path)
parser.add_argument("--large", action="store_true", help="also the 12 x 12 x 512 attention")
parser.add_argument("--opens", type=int, default=5)
parser.add_argument("--repeats", type=int, default=20)
parser.add_argument("--only", default="", help="comma-separated case groups (default: all)")
args = parser.parse_args()
tree = args.tree.resolve()
use_tree(tree)

from _view_cases import run_cases  # noqa: E402

import explain  # noqa: E402
import widgets  # noqa: E402

groups = {name.strip() for name in args.only.split(",") if name.strip()}
cases = dict(
    run_cases(args.opens, args.repeats, args.large, lambda name: not groups or name in groups)
)
outside = [
    name
    for name, module in sys.modules.items()
    if name.split(".")[0] in ("explain", "widgets")
    and getattr(module, "__file__", None)
    and not Path(module.__file__).resolve().is_relative_to(tree)
]
if outside:
    sys.exit(f"modules imported from outside {tree}: {outside}")
print(json.dumps({"explain": explain.__file__, "widgets": widgets.__file__, "cases": cases}))
