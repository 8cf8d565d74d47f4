"""A lecture says only what the screen shows: run a notebook with its claims checked.

A claims test pairs each sentence a notebook's markdown tells a student to look for, quoted
exactly, with an assertion on the objects the notebook's cells build. :func:`run_with_claims`
executes a copy of the notebook with one extra cell per claim appended, in the same kernel, as
tests/test_notebooks.py executes notebooks; :func:`missing_claims` lists quoted sentences that are
no longer in the notebook, so the text and its checks cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nbformat

CELL_TIMEOUT_S = 120


def flat(text: str) -> str:
    return " ".join(text.split())


def missing_claims(path: Path, claims: Sequence[tuple[str, str]]) -> list[str]:
    """The quoted sentences of ``claims`` that the notebook at ``path`` no longer says."""
    notebook = nbformat.read(path, as_version=4)
    text = flat(" ".join(cell.source for cell in notebook.cells))
    return [claim for claim, _ in claims if flat(claim) not in text]


def errors_in(notebook: nbformat.NotebookNode) -> list[dict]:
    """Every error output of the notebook's code cells."""
    return [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.get("output_type") == "error"
    ]


def unshown_figures(notebook: nbformat.NotebookNode, cells: int) -> list[str]:
    """The first line of each of the first ``cells`` code cells that draws a matplotlib figure
    (``plt.show()``, ``export.figure(``) and shows no picture: a figure drawn off pyplot is not
    shown by ``plt.show()`` (notebook 09's scores were a blank cell in JupyterLab)."""
    return [
        cell.source.splitlines()[0]
        for cell in notebook.cells[:cells]
        if cell.cell_type == "code"
        and ("plt.show()" in cell.source or "export.figure(" in cell.source)
        and not any("image/png" in output.get("data", {}) for output in cell.outputs)
    ]


def run_with_claims(
    path: Path, claims: Sequence[tuple[str, str]], setup: str, kernel: str, workdir: Path
) -> None:
    """Execute the notebook, then ``setup`` and one cell per claim in the same kernel; a claim
    that does not hold raises CellExecutionError showing its sentence and values."""
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    lecture_cells = len(notebook.cells)
    notebook.cells.append(nbformat.v4.new_code_cell(setup.strip()))
    for claim, check in claims:
        notebook.cells.append(nbformat.v4.new_code_cell(f"# claim: {flat(claim)!r}\n{check}"))
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name=kernel,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    assert not errors_in(notebook)
    assert not unshown_figures(notebook, lecture_cells), unshown_figures(notebook, lecture_cells)
    checks = notebook.cells[lecture_cells:]
    assert all(cell.execution_count is not None for cell in checks), "a check did not run"


def claim_tests(path: Path, claims: Sequence[tuple[str, str]], setup: str, kernel: str) -> type:
    """The tests of a notebook's claims as a pytest class, for a test module to bind:
    ``TestClaims = claim_tests(...)``."""
    import pytest
    from _kernel import write_kernelspec

    class TestClaims:
        @pytest.fixture(scope="class")
        @classmethod
        def kernel_path(cls, tmp_path_factory):
            return write_kernelspec(tmp_path_factory.mktemp("jupyter"), kernel)

        def test_every_quoted_claim_is_in_the_notebook(self):
            missing = missing_claims(path, claims)
            assert not missing, f"these checked sentences are no longer in {path.name}: {missing}"

        @pytest.mark.slow
        @pytest.mark.timeout(600)
        def test_the_notebook_shows_what_it_says(self, kernel_path, tmp_path, monkeypatch):
            monkeypatch.setenv("JUPYTER_PATH", str(kernel_path))
            run_with_claims(path, claims, setup, kernel, tmp_path)

    return TestClaims
