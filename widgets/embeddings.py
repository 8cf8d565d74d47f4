"""EmbeddingView: token embeddings projected by one fixed PCA, and their cosine similarity.

Everything shown comes from the view model :func:`explain.views.embeddings` (``view.data``):
the projection is fit once on every snapshot pooled, so as the step moves the points move but
the axes never flip or rotate. The figures are the embeddings view's one plotly builder's
(``explain.export.interactive(view.data, **view.state())`` is the same figures).
"""

from __future__ import annotations

from typing import Any

import ipywidgets
import numpy as np

from explain import export, views
from explain._render import plotly as builders
from explain.trace import Trace

from ._base import View
from ._plot import Plot
from .theme import Theme

__all__ = ["EmbeddingView"]


class EmbeddingView(View):
    """Each token's embedding as a point (2-D or 3-D PCA, labelled), in 2-D with the path it
    took so far (``trails``, on by default), and the token-by-token cosine-similarity matrix at
    the current step.

    Controls: ``matrix_select`` (encoder/decoder embeddings), ``dims_toggle`` ("2-D"/"3-D"),
    ``trails``; plots: ``scatter``, ``scatter3d`` (one of them shown), ``similarity``;
    ``data``: the view model; ``state()``: the selection its builder takes.
    """

    css_class = "explain-embeddings"

    def __init__(
        self,
        trace: Trace,
        *,
        matrix: str | None = None,
        trails: bool = True,
        **view: Any,
    ) -> None:
        super().__init__(trace, **view)
        first = views.embeddings(self.trace)
        parts = {views.EMBEDDING_TENSORS[p]: p for p in first.parts}  # tensor name -> part
        names = list(parts)
        matrix = matrix or names[-1]
        if matrix not in names:
            raise ValueError(f"matrix {matrix!r} is not in the trace; expected one of {names}")
        self._parts = parts
        self.data = first if first.tensor == matrix else views.embeddings(self.trace, parts[matrix])
        self.matrix_select = ipywidgets.Dropdown(options=names, value=matrix, description="matrix")
        self.dims_toggle = ipywidgets.ToggleButtons(options=["2-D", "3-D"], value="2-D")
        self.trails = ipywidgets.Checkbox(value=trails, description="trails", indent=False)
        for control, name in (
            (self.matrix_select, "explain-matrix-select"),
            (self.dims_toggle, "explain-dims-toggle"),
            (self.trails, "explain-trails"),
        ):
            control.add_class(name)
        flat, similarity = self._figures(dims=2)
        self.scatter = self._plot(flat, "explain-embedding-scatter")
        self.scatter3d = self._plot(self._figures(dims=3)[0], "explain-embedding-scatter3d")
        self.similarity = self._plot(similarity, "explain-embedding-similarity")
        self.scatter3d.widget.layout.display = "none"
        self.matrix_select.observe(self._on_matrix, names="value")
        self.dims_toggle.observe(self._on_dims, names="value")
        self.trails.observe(lambda _: self._update(), names="value")
        controls = [self.dims_toggle, self.trails]
        if len(names) > 1:
            controls.insert(0, self.matrix_select)
        self.widget = self._root(
            [
                ipywidgets.HBox(controls),
                ipywidgets.HBox(
                    [self.scatter.widget, self.scatter3d.widget, self.similarity.widget]
                ),
            ]
        )
        self._ready()

    # -- data ------------------------------------------------------------------------------------
    @property
    def coords(self) -> np.ndarray:
        """[snapshot, token, 3] PCA coordinates of every snapshot (``data.coords``)."""
        return self.data.coords

    def _reload(self) -> None:
        self.data = views.embeddings(self.trace, self._parts[self.matrix_select.value])

    def projection(self, step: int | None = None) -> np.ndarray:
        """[token, 3] PCA coordinates at ``step`` (default: the current step)."""
        step = self.step if step is None else self.step_control._checked(step)
        return self.data.coords[self.data.index(step)]

    def _static_images(self) -> list[tuple[bytes, str]]:
        """The projection at this step, drawn from the view model as the exports draw it."""
        alt = f"{self.data.title} · step {self.step}"
        return [(export.image(self.data, self.step, theme=self.theme, **self.state()), alt)]

    # -- figures ---------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The selection the builder takes: ``dims`` (2 or 3) and ``trails``."""
        dims = 3 if self.dims_toggle.value == "3-D" else 2
        return {"dims": dims, "trails": bool(self.trails.value)}

    def _figures(self, dims: int | None = None) -> list[dict]:
        """The builder's figures at the current step (``dims``: the points in 2-D or 3-D)."""
        state = self.state()
        if dims is not None:
            state["dims"] = dims
        return builders.figures(self.data, self.data.index(self.step), self.theme, **state)

    # -- updates ---------------------------------------------------------------------------------
    def _on_matrix(self, _change: dict) -> None:
        self._reload()
        self._update()

    def _on_dims(self, change: dict) -> None:
        three = change["new"] == "3-D"
        self.scatter.widget.layout.display = "none" if three else None
        self.scatter3d.widget.layout.display = None if three else "none"
        self._update()

    def _update(self) -> None:
        points, similarity = self._figures()
        # the points hidden (2-D or 3-D) wait until they are shown: a step costs one figure
        self._points(self.state()["dims"]).show(points)
        self.similarity.show(similarity)

    def _points(self, dims: int) -> Plot:
        return self.scatter3d if dims == 3 else self.scatter

    def set_theme(self, theme: Theme | str) -> None:
        """Apply ``theme`` to every figure, the hidden points (2-D or 3-D) too."""
        super().set_theme(theme)
        hidden = 2 if self.state()["dims"] == 3 else 3
        self._points(hidden).show(self._figures(dims=hidden)[0])
