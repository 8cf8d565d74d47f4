"""The renderers: each view model of :mod:`explain.views` drawn by one plotly builder and one
matplotlib builder, both found through :data:`REGISTRY`.

The flow is ``explain.views`` (numbers) -> ``explain._render`` (figures) -> ``widgets`` (the
plotly figure plus controls), ``explain.export`` and ``explain.report`` (the same figures as
pages, images, animations and tables). Nothing here imports a widget, an export or torch.

- ``plotly/``: ``<view>.py`` returns the figure dict of a view model at a step;
  ``blocks.py`` holds the shared pieces (layout, slider, typed arrays).
- ``matplotlib/``: ``<view>.py`` returns a :class:`~explain._render.matplotlib.common.Drawn`
  figure with an ``update(index)`` per frame; ``common.py`` the shared style and helpers.
- ``rules.py``: token labels, tick thinning, the step marker, event and phase colours.
- ``tables.py`` (JSON/CSV), ``animate.py`` (GIF/MP4 frames), ``bertviz.py`` (offline bertviz
  pages), ``page.py`` (offline HTML pages), ``js/`` (the page scripts).

A new view: its view model (``explain/views/``), ``plotly/<view>.py``, ``matplotlib/<view>.py``,
its widget (``widgets/<view>.py``), and one line in :data:`REGISTRY`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from explain import playground, views

# view-model type -> its renderers' module under plotly/ (``figures``) and matplotlib/ (the
# function named like the module)
REGISTRY: dict[type, str] = {
    views.AttentionData: "attention",
    views.EmbeddingData: "embeddings",
    views.PositionalData: "positional",
    views.LossData: "loss",
    views.OptimizerData: "optimizer",
    playground.PlaygroundData: "playground",
    views.HeadsData: "heads",
    views.ScoresData: "scores",
    views.PruningData: "pruning",
    views.LensData: "lens",
    views.ByHandData: "by_hand",
    views.CompareData: "compare",
    views.GenerateData: "generate",
    views.TokenLossData: "token_loss",
    views.AttributionData: "attribution",
    views.NeuronData: "neurons",
    views.PatchingData: "patching",
}  # fmt: skip


# Selection keywords a figure shows as its state rather than cutting the data: the attention
# view draws one head next to the grid of every head, so `layer`/`head` pick the head drawn.
SHOWN: dict[str, tuple[str, ...]] = {"attention": ("layer", "head")}
# The attention builders' window of the map (:meth:`explain.views.AttentionData.window`): what
# the figure draws of each head, never a cut of the data (JSON/CSV hold the whole map).
WINDOW_KEYS = ("window", "start", "key_start")


def builder(view: object, library: str, name: str | None = None) -> Callable[..., Any] | None:
    """The ``library`` ("plotly" or "matplotlib") builder of ``view``'s type: the plotly
    module's ``figures``, the matplotlib module's function of the module's name; or the
    module's function ``name`` (None where it has none)."""
    try:
        module = REGISTRY[type(view)]
    except KeyError:
        known = ", ".join(t.__name__ for t in REGISTRY)
        raise TypeError(
            f"no renderer for {type(view).__name__}; expected a view model of explain.views "
            f"({known})"
        ) from None
    found = importlib.import_module(f"{__name__}.{library}.{module}")
    if name is not None:
        return getattr(found, name, None)
    return getattr(found, "figures" if library == "plotly" else module)
