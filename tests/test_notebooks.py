"""The lecture notebooks: all there, committed without outputs, each with its test module.

Each notebook runs once per session (tests/_lectures.py): with chromium, Run All in JupyterLab;
without, nbclient. Its module tests/test_notebook_NN.py reads that run for the notebook's time
limit (< 120 s of its own cells, tests/_claims.py), its claims and its rehearsal. The kernel
runs this interpreter with the repository on PYTHONPATH, in a temporary working directory, so
nothing is written into the repository.
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
    "12_redundancy_in_a_real_model.ipynb",
]
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_lecture_has_its_claims_time_limit_and_rehearsal(path):
    """tests/test_notebook_NN.py binds claim_tests (tests/_claims.py): the notebook's time
    limit, its claims and its rehearsal in JupyterLab, all on its one run of the session."""
    module = Path(__file__).parent / f"test_notebook_{path.name[:2]}.py"
    assert module.exists(), f"{path.name} has no {module.name}"
    assert "claim_tests(NOTEBOOK, CLAIMS)" in module.read_text(), module.name
