"""The lecture notebooks: committed without outputs, and each runs top to bottom in < 120 s.

Each notebook runs once per session (tests/_lectures.py), the run its claims test and the
rehearsal read too: with chromium, Run All in JupyterLab; without, nbclient. Either way the kernel
runs this interpreter with the repository on PYTHONPATH, in a temporary working directory, so
nothing is written into the repository; the time is the lecture cells' own (their recorded
start and end), not the extra cells appended for the checks.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
EXPECTED = [
    "01_self_attention_by_hand.ipynb",
    "02_positional_encoding.ipynb",
    "03_train_and_watch.ipynb",
    "04_loss_and_optimizers.ipynb",
    "05_attention_maps_and_export.ipynb",
    "06_generation.ipynb",
    "07_encoder_decoder.ipynb",
    "08_redundancy_and_pruning.ipynb",
    "09_what_each_head_does.ipynb",
    "10_pretrain_finetune_distill.ipynb",
    "11_follow_one_prediction.ipynb",
]
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
TIME_LIMIT_S = 120.0
KERNEL = "explain-notebook-test"


def test_the_lecture_notebooks_are_there():
    assert [path.name for path in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, f"{path.name} has no code cells"
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [], f"{path.name} cell {index} has outputs: clear them"
        assert cell.execution_count is None, f"{path.name} cell {index} has an execution count"
    assert "widgets" not in notebook.metadata, f"{path.name} carries saved widget state"
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "starts with a title"


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_in_time(path, lectures, request):
    run = lectures.get(path.name, request)  # the session's one run (tests/_lectures.py)
    run.check_ran()
    where = "JupyterLab's Run All" if run.browser else "nbclient"
    assert run.seconds < TIME_LIMIT_S, (
        f"{path.name} took {run.seconds:.0f} s under {where}; the limit is {TIME_LIMIT_S:.0f} s"
    )
