"""A real install: build the wheel, install it in a fresh venv, run ``explain demo`` from it.

The fresh venv finds the dependencies (torch, plotly, ...) of the test environment through a
``.pth`` line, so nothing is downloaded; ``explain`` and ``widgets`` come only from the wheel.
This catches a module or a data file (the plot widget's JavaScript, the corpus) left out of the
package list.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_and_runs_the_demo(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = dist.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "widgets/plot.js",
        "explain/_render/js/heatmap.js",
        "explain/_render/js/report_timeline.js",
        "explain/views/__init__.py",
        "explain/views/_heads.py",
        "explain/lab/__init__.py",
        "explain/lab/heads.py",
        "explain/data/food.txt",
        "explain/names.py",
        "explain/style.py",
        "explain/data/shakespeare.txt",
        "explain/_vendor/require.js",
        "explain/py.typed",
    ):
        assert needed in names, f"{needed} is missing from {wheel.name}"
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site, str(wheel)],
        check=True,
        timeout=300,
    )
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = (
        "import explain, widgets, pathlib, sys; "
        "assert pathlib.Path(explain.__file__).is_relative_to(sys.argv[1]), explain.__file__; "
        "assert pathlib.Path(widgets.__file__).is_relative_to(sys.argv[1]), widgets.__file__; "
        "from explain.cli import main; "
        "sys.exit(main(['demo', '--steps', '20', '--quiet', '--out', 'demo']))"
    )
    result = subprocess.run(
        [str(python), "-c", code, site],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    written = sorted(p.name for p in (work / "demo").iterdir())
    for name in ("report.html", "attention.png", "attention.gif", "attention.mp4", "trace.npz"):
        assert name in written, written
    # the widget's JavaScript (the shared heatmap painter, then plot.js) was found where the
    # installed package put it
    check = subprocess.run(
        [
            str(python),
            "-c",
            "import widgets._plot as p; m = p._plot_esm(); "
            "print('var explainHeatmap' in m and 'export default' in m)",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0 and check.stdout.strip() == "True", check.stderr[-2000:]
