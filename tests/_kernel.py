"""A Jupyter kernelspec for the notebook tests: this interpreter, the repository importable."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_kernelspec(base: Path, name: str) -> Path:
    """Write kernelspec ``name`` under ``base`` (a JUPYTER_PATH entry) and return ``base``."""
    spec_dir = base / "kernels" / name
    spec_dir.mkdir(parents=True)
    python_path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"explain tests ({name})",
        "language": "python",
        # One torch thread: these models are tiny, and on a busy 2-core machine extra threads
        # wait on each other (up to 20x slower) rather than help.
        "env": {"PYTHONPATH": python_path, "OMP_NUM_THREADS": "1"},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return base
