"""Run a check in a fresh interpreter where ``import torch`` fails: what a student with only a
saved trace (no model, no torch) can open."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

PRELUDE = """import sys
sys.modules["torch"] = None  # any "import torch" now raises ImportError
import numpy as np
import explain, widgets
trace = explain.load_trace(sys.argv[1])
"""
EPILOGUE = """
assert "torch" not in {name.split(".")[0] for name, mod in sys.modules.items() if mod}
print("ok")
"""


def run_without_torch(body: str, trace_path: Path) -> None:
    """Run ``body`` (it sees ``np``, ``explain``, ``widgets`` and ``trace``, loaded from
    ``trace_path``) with torch blocked; fails on any error or if torch got imported."""
    script = PRELUDE + textwrap.dedent(body) + EPILOGUE
    result = subprocess.run(
        [sys.executable, "-c", script, str(trace_path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"
