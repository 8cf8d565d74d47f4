"""A lecture says only what the screen shows: run a notebook with its claims checked.

A claims test pairs each sentence a notebook's markdown tells a student to look for, quoted exactly,
with an assertion on the objects the notebook's cells build. The session runs each notebook once
(tests/_lectures.py) with one extra cell per claim appended, in the same kernel;
:func:`missing_claims` lists quoted sentences that are no longer in the notebook, so the text and
its checks cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nbformat


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


# A lecture runs top to bottom in under a minute on a CPU; the limit leaves room for a busy
# machine (JupyterLab's own cell timings, without the appended claims)
TIME_LIMIT_S = 120.0


def claim_tests(path: Path, claims: Sequence[tuple[str, str]]) -> type:
    """The tests of a lecture notebook as a pytest class, for its test module to bind:
    ``TestClaims = claim_tests(NOTEBOOK, CLAIMS)``. The module's SETUP and CLAIMS run as cells
    appended to the session's one run of the notebook (tests/_lectures.py), which its time
    limit, its claims and its rehearsal all read; being in one test file, they run in one
    pytest-xdist worker (``--dist loadfile``), so the notebook runs once."""
    import pytest

    class TestClaims:
        def test_every_quoted_claim_is_in_the_notebook(self):
            missing = missing_claims(path, claims)
            assert not missing, f"these checked sentences are no longer in {path.name}: {missing}"

        @pytest.mark.slow
        @pytest.mark.timeout(900)
        def test_runs_top_to_bottom_in_time(self, lectures, request):
            run = lectures.get(path.name, request)
            run.check_ran()
            where = "JupyterLab's Run All" if run.browser else "nbclient"
            assert run.seconds < TIME_LIMIT_S, (
                f"{path.name} took {run.seconds:.0f} s under {where}; the limit is "
                f"{TIME_LIMIT_S:.0f} s"
            )

        @pytest.mark.slow
        @pytest.mark.timeout(900)
        def test_the_notebook_shows_what_it_says(self, lectures, request):
            run = lectures.get(path.name, request)
            run.check_ran()  # a claim that does not hold is a failed cell, showing its sentence
            unshown = unshown_figures(run.notebook, run.lecture_cells)
            assert not unshown, f"{path.name}: figures drawn but not shown: {unshown}"

        @pytest.mark.browser
        @pytest.mark.slow
        @pytest.mark.timeout(900)
        def test_rehearses_cleanly(self, lectures, request):
            """The rehearsal (tests/_lectures.py ``rehearse``): Run All in JupyterLab at
            1280x720 with the file browser open, measured and screenshot in the light and the
            presentation theme; fails on a blank plot, ``nan``, overlapping, cut or too small
            text, sideways scrolling, a console error or a request off this machine."""
            from _chromium import require_chromium
            from _lectures import THEMES

            require_chromium()
            run = lectures.get(path.name, request)
            run.check_ran()
            assert run.browser
            assert set(THEMES) <= set(run.shots) and all(run.shots[theme] for theme in THEMES)
            found = [f"[{where}] {item}" for where, items in run.problems.items() for item in items]
            assert not found, f"{path.name}: {len(found)} problems on screen:\n" + "\n".join(
                found[:60]
            )

    return TestClaims
