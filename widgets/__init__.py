"""widgets: interactive views of a transformer's training trace (ipywidgets + plotly).

Every view reads an :class:`explain.Trace` (recorded, loaded from disk, or growing while a model
trains) and never imports torch (live training imports it when it starts). ``display(view)``
shows ``view.widget``; figures are plain ``plotly.graph_objects.Figure`` objects
(``view.heatmap.figure``, ...), updated in place and synced whole to the browser.

    >>> import explain, widgets
    >>> trace = explain.load_trace("run.npz")      # doctest: +SKIP
    >>> widgets.Dashboard(trace)                    # doctest: +SKIP
    >>> widgets.AttentionView.from_attentions(outputs.attentions, tokens)  # doctest: +SKIP
"""

from __future__ import annotations

from ._base import StepControl, View, default_theme, set_theme
from ._plot import Plot, PlotWidget
from .attention import AttentionView
from .attribution import AttributionView
from .by_hand import ByHandView
from .compare import CompareView
from .dashboard import Dashboard
from .embeddings import EmbeddingView
from .generate import GenerateView
from .heads import HeadsView
from .lens import LensView
from .live import LiveTraining
from .loss import LossView
from .neurons import NeuronView
from .optimizer import OptimizerPlayground, OptimizerView
from .patching import PatchingView
from .positional import PositionalView
from .theme import DARK, LIGHT, PRESENTATION, Theme
from .token_loss import TokenLossView

__all__ = [
    "DARK",
    "LIGHT",
    "PRESENTATION",
    "AttentionView",
    "AttributionView",
    "ByHandView",
    "CompareView",
    "Dashboard",
    "EmbeddingView",
    "GenerateView",
    "HeadsView",
    "LensView",
    "LiveTraining",
    "LossView",
    "NeuronView",
    "OptimizerPlayground",
    "OptimizerView",
    "PatchingView",
    "Plot",
    "PlotWidget",
    "PositionalView",
    "StepControl",
    "Theme",
    "TokenLossView",
    "View",
    "default_theme",
    "set_theme",
]
