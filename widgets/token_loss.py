"""TokenLossView: the probe as coloured text, each token by the loss of predicting it, over
training: which tokens the model learns first.

    >>> import explain, widgets
    >>> run = explain.train("reverse")                        # doctest: +SKIP
    >>> view = widgets.TokenLossView(run.trace)                # doctest: +SKIP
    >>> view.step = 10                                         # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import ipywidgets
import numpy as np

from explain import export, views
from explain._render import plotly as builders
from explain.trace import Trace

from ._base import View

__all__ = ["TokenLossView"]


class TokenLossView(View):
    """The probe's target tokens as text, each on a cell coloured by its loss at the step shown
    (grey: a position the task does not score); hover a token for its loss, the probability of
    the right token and the five most likely tokens. Play the step control for the time-lapse.

    ``data`` is the view model (:func:`explain.views.token_loss`), drawn by the token-loss
    view's one plotly builder (``explain.export.interactive(trace, "token_loss", step=...)`` is
    the same figure). A trace recorded before the Recorder kept the per-token loss shows the
    same numbers computed from its stored logits; the note under the figure says which. Raises
    ValueError for a trace with neither.
    """

    css_class = "explain-token-loss"

    def __init__(self, trace: Trace, **view: Any) -> None:
        super().__init__(trace, **view)
        self.data = views.token_loss(self.trace)
        self.figure_plot = self._plot(self._figure(), "explain-token-loss-plot")
        self.note = ipywidgets.HTML(self._note_html())
        self.note.add_class("explain-token-loss-note")
        self.widget = self._root([self.figure_plot.widget, self.note])
        self._ready()

    @property
    def figure(self) -> Any:
        return self.figure_plot.figure

    def _index(self) -> int:
        """The frame of ``data`` nearest the step shown (its frames are the snapshots; a
        live trace's step control may run a snapshot ahead until :meth:`refresh`)."""
        return int(np.argmin(np.abs(self.data.steps - self.step)))

    def _figure(self) -> dict:
        (figure,) = builders.figures(self.data, self._index(), self.theme)
        return figure

    def _static_images(self) -> list[tuple[bytes, str]]:
        """The coloured text at the step shown, drawn from the view model as the exports do."""
        alt = f"{self.data.title} · step {self.step}"
        return [(export.image(self.data, self.step, theme=self.theme), alt)]

    def _note_html(self) -> str:
        data = self.data
        source = (
            "recorded at every snapshot"
            if data.recorded
            else "computed from the probe's stored logits (the trace is older than the "
            "recorded per-token loss)"
        )
        return (
            "Each token is coloured by the loss of predicting it from the tokens before it: "
            f"0 is sure and right, the top of the scale ({data.ceiling:.2f} nats) a uniform "
            "guess. Grey tokens are not scored by the task. Press play to watch which tokens "
            f"the model learns first; hover a token for its top 5. Per-token loss {source}."
        )

    def _reload(self) -> None:
        self.data = views.token_loss(self.trace)
        self.note.value = self._note_html()

    def _update(self) -> None:
        self.figure_plot.show(self._figure())
