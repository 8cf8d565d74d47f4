"""EmbeddingView: token embeddings projected by one fixed PCA, and their cosine similarity.

Everything shown comes from the view model :func:`explain.views.embeddings` (``view.data``):
the projection is fit once on every snapshot pooled, so as the step moves the points move but
the axes never flip or rotate; exports draw the same coordinates.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets
import numpy as np

from explain import export, views
from explain.style import visible
from explain.trace import Trace

from ._base import View

__all__ = ["EmbeddingView"]


class EmbeddingView(View):
    """Each token's embedding as a point (2-D or 3-D PCA, labelled), optional trails showing
    where it came from, and the token-by-token cosine-similarity matrix at the current step.

    Controls: ``matrix_select`` (encoder/decoder embeddings), ``dims_toggle`` ("2-D"/"3-D"),
    ``trails``; plots: ``scatter``, ``scatter3d``, ``similarity``; ``data``: the view model.
    """

    css_class = "explain-embeddings"

    def __init__(
        self,
        trace: Trace,
        *,
        matrix: str | None = None,
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
        self.trails = ipywidgets.Checkbox(value=False, description="trails", indent=False)
        for control, name in (
            (self.matrix_select, "explain-matrix-select"),
            (self.dims_toggle, "explain-dims-toggle"),
            (self.trails, "explain-trails"),
        ):
            control.add_class(name)
        self._axes_stale = True
        self.scatter = self._plot(self._scatter_figure(), "explain-embedding-scatter")
        self.scatter3d = self._plot(self._scatter3d_figure(), "explain-embedding-scatter3d")
        self.similarity = self._plot(self._similarity_figure(), "explain-embedding-similarity")
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
        self._axes_stale = True

    def projection(self, step: int | None = None) -> np.ndarray:
        """[token, 3] PCA coordinates at ``step`` (default: the current step)."""
        step = self.step if step is None else self.step_control._checked(step)
        return self.data.coords[self.data.index(step)]

    def _static_images(self) -> list[tuple[bytes, str]]:
        """The projection at this step, drawn from the view model as the exports draw it."""
        alt = f"{self.data.title} · step {self.step}"
        return [(export.image(self.data, self.step, theme=self.theme), alt)]

    # -- figures ---------------------------------------------------------------------------------
    def _scatter_figure(self) -> Any:
        from ._plot import base_figure

        figure = base_figure(width=460, height=440)
        figure.add_scatter(
            x=[],
            y=[],
            mode="lines",
            name="trail",
            hoverinfo="skip",
            line={"width": 1, "color": "rgba(128,128,128,0.5)"},
        )
        figure.add_scatter(
            x=[],
            y=[],
            mode="markers+text",
            name="tokens",
            textposition="top center",
            marker={"size": 9},
            hovertemplate="%{text}<br>(%{x:.3f}, %{y:.3f})<extra></extra>",
        )
        figure.update_layout(showlegend=False)
        return figure

    def _scatter3d_figure(self) -> Any:
        from ._plot import base_figure

        figure = base_figure(width=460, height=440)
        figure.add_scatter3d(
            x=[],
            y=[],
            z=[],
            mode="markers+text",
            marker={"size": 4},
            hovertemplate="%{text}<extra></extra>",
        )
        figure.update_layout(showlegend=False, margin={"l": 0, "r": 0, "t": 40, "b": 0})
        return figure

    def _similarity_figure(self) -> Any:
        from ._plot import base_figure

        figure = base_figure(width=440, height=440)
        figure.add_heatmap(
            zmin=-1.0,
            zmax=1.0,
            zmid=0.0,
            colorbar={"thickness": 12},
            hovertemplate=("%{customdata[0]} · %{customdata[1]}<br>cosine %{z:.4f}<extra></extra>"),
        )
        figure.update_yaxes(autorange="reversed")
        return figure

    # -- updates ---------------------------------------------------------------------------------
    def _on_matrix(self, _change: dict) -> None:
        self._reload()
        self._update()

    def _on_dims(self, change: dict) -> None:
        three = change["new"] == "3-D"
        self.scatter.widget.layout.display = "none" if three else None
        self.scatter3d.widget.layout.display = None if three else "none"
        self._update()

    def _update(self, axes: bool = False) -> None:
        axes, self._axes_stale = axes or self._axes_stale, False
        data, step = self.data, self.step
        index = data.index(step)
        points = data.coords[index]  # [token, 3]
        labels = [html.escape(visible(t)) for t in data.tokens]
        ratio, ranges = data.explained, data.ranges
        title = f"{html.escape(data.title)} · step {step}"
        with self.scatter.batch_update() as figure:
            trail, tokens = figure.data
            tokens.x, tokens.y, tokens.text = points[:, 0], points[:, 1], labels
            if self.trails.value and index > 0:
                paths = data.coords[: index + 1, :, :2].transpose(1, 0, 2)  # [token, time, 2]
                gap = np.full((paths.shape[0], 1, 2), np.nan)
                joined = np.concatenate([paths, gap], axis=1).reshape(-1, 2)
                trail.x, trail.y = joined[:, 0], joined[:, 1]
            else:
                trail.x, trail.y = [], []
            figure.layout.title.text = title
            if axes:
                figure.layout.xaxis.update(
                    range=list(ranges[0]), title_text=f"PC1 ({ratio[0]:.0%})"
                )
                figure.layout.yaxis.update(
                    range=list(ranges[1]), title_text=f"PC2 ({ratio[1]:.0%})"
                )
        if self.dims_toggle.value == "3-D" or axes:
            with self.scatter3d.batch_update() as figure:
                cloud = figure.data[0]
                cloud.x, cloud.y, cloud.z = points[:, 0], points[:, 1], points[:, 2]
                cloud.text = labels
                figure.layout.title.text = title
                if axes:
                    figure.layout.scene.update(
                        xaxis={"range": list(ranges[0]), "title": {"text": "PC1"}},
                        yaxis={"range": list(ranges[1]), "title": {"text": "PC2"}},
                        zaxis={"range": list(ranges[2]), "title": {"text": "PC3"}},
                        aspectmode="cube",
                    )
        with self.similarity.batch_update() as figure:
            heat = figure.data[0]
            heat.z = data.similarity[index].astype(np.float32)
            n = len(labels)
            heat.x, heat.y = np.arange(n), np.arange(n)
            heat.meta = {"hover_rows": labels, "hover_cols": labels}
            figure.layout.title.text = f"cosine similarity · step {step}"
            if axes:
                every = max(1, n // 40)
                ticks = list(range(0, n, every))
                text = [labels[i] for i in ticks]
                figure.layout.xaxis.update(tickvals=ticks, ticktext=text)
                figure.layout.yaxis.update(tickvals=ticks, ticktext=text)
