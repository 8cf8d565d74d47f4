"""A lecture rehearsal: every notebook, Run All in JupyterLab, read the way a teacher reads it.

Each lecture notebook is run once per session (tests/_lectures.py: the same run its claims test
and tests/test_notebooks.py read): JupyterLab at 1280x720 with the file browser open, *Run All*
from the menu, then the page is measured, and again after ``widgets.set_theme("presentation")``
is run in a new cell. In each theme the rehearsal fails on:

- a plot the page did not draw: every plot Python holds must be in the page with its title and
  data (a blank panel);
- ``nan`` in any output's text, plots included;
- text that overlaps other text of its plot, or is cut off by the plot's edge; an output or the
  notebook that scrolls sideways; text under 16 px in the presentation theme (the measures of
  tests/browser/test_layout.py, here on the notebooks' own views and tokens);
- a console error or uncaught exception in the page, and any request off this machine.

Screenshots of every screen of each lecture, in both themes, are saved under
``test-artifacts/rehearsal/NN-THEME-KK.png`` (CI keeps ``test-artifacts/``).
"""

from __future__ import annotations

from typing import Any

import pytest
from _lectures import LECTURES, THEMES

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NAMES = sorted(path.name for path in LECTURES.glob("*.ipynb"))


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", NAMES, ids=lambda name: name[:2])
def test_the_lecture_rehearses_cleanly(name: str, lectures: Any, request: Any) -> None:
    from _chromium import require_chromium

    require_chromium()
    run = lectures.get(name, request)
    run.check_ran()
    assert run.browser
    assert set(THEMES) <= set(run.shots) and all(run.shots[theme] for theme in THEMES)
    found = [f"[{where}] {problem}" for where, items in run.problems.items() for problem in items]
    assert not found, f"{name}: {len(found)} problems on screen:\n" + "\n".join(found[:60])
