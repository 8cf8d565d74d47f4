"""PatchingView: follow one prediction through the model by activation and path patching.

Run a clean prompt and its corrupted twin (the same length, changed where the task's circuit
reads), then run the corrupted one again with one activation put back from the clean run: how
much of the clean answer comes back (1.0: as clean, 0.0: as corrupted)? The view shows the two
prompts, every head restored, the paths from each earlier head into one receiver head's
queries, keys or values, and the residual stream, the MLPs or every head restored at one
position (see :mod:`explain.lab.patching`).

With a Run both prompts are text boxes: edit one and press Enter (or leave the box) to patch
again; a click on a head makes it the receiver. With only a trace the recorded probe is shown.

    >>> import explain, widgets
    >>> run = explain.train("induction")                      # doctest: +SKIP
    >>> view = widgets.PatchingView(run)                       # doctest: +SKIP
    >>> view.set_receiver(1, 2); view.through = "k"            # doctest: +SKIP
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets

from explain import export, views
from explain._render.plotly import patching as builder
from explain.style import visible
from explain.trace import Trace

from ._base import StepControl, View, require_index
from ._plot import ClickPoint
from ._source import run_and_trace
from .theme import Theme

__all__ = ["PatchingView"]

HEADS = 0  # the heads heatmap: trace 0 of the builder's second figure (1: the paths)
WRONG = "#D55E00"  # an edit that cannot run (Okabe-Ito vermillion)


class PatchingView(View):
    """The clean and corrupted prompts, the heads restored beside the paths into a receiver
    head, and one activation restored at one position: the patching view's three plotly
    figures (``explain.export.interactive(view.data, "patching", **view.state)`` gives the
    same).

    ``source`` is a Run from ``explain.train`` (the probe is patched with its model now when
    the trace's record is missing or older; the prompts can be edited) or a Trace whose lab
    record holds patching (``explain.lab.record``; shown as recorded, the prompts read-only).
    ``data`` is the view model (:func:`explain.views.patching`); ``where`` ("resid", "mlp",
    "head_pos") and ``through`` (the receiver's input: "q", "k", "v") what the figures show;
    ``receiver`` the head the paths go into. An edit that cannot run shows its error in
    ``message`` and keeps the last pictures; :meth:`set_prompts` raises it instead. The view
    has one step (the model as trained), so its step control holds that one step unless a
    dashboard shares its own.
    """

    css_class = "explain-patching"

    def __init__(
        self,
        source: Any,
        *,
        where: str = "resid",
        through: str | None = None,
        step: int | None = None,
        step_control: StepControl | None = None,
        theme: Theme | str | None = None,
    ) -> None:
        run, trace = run_and_trace(source, "PatchingView")
        self.run = run
        if run is not None:
            self._measure(trace)
        data = views.patching(trace)
        builder.check_where(where)
        through = builder.chosen_input(data, through)
        own = step_control is None
        if own:  # one frame: a slider over every snapshot would move nothing
            step_control = StepControl(
                [int(data.steps[-1])], value=step, named=views.trained(trace)
            )
        super().__init__(trace, step=None if own else step, step_control=step_control, theme=theme)
        self._owns_patching_control = own
        self.data = data
        self._hold = False
        self._edited = False  # whether the prompts shown are typed in, not the recorded probe
        self._typed: dict = {}  # the record measured for the prompts typed in
        self._paths: dict[tuple, dict] = {}  # (clean, corrupted, receiver) -> path record
        self._ids = self._probe_ids()  # (clean ids, corrupted ids) with a model, else None

        editable = self._ids is not None
        box = {"continuous_update": False, "disabled": not editable,
               "layout": ipywidgets.Layout(width="100%", max_width="760px"),
               "style": {"description_width": "90px"}}  # fmt: skip
        self.clean_text = ipywidgets.Text(description="clean", **box)
        self.corrupt_text = ipywidgets.Text(description="corrupted", **box)
        self.clean_text.add_class("explain-patching-clean")
        self.corrupt_text.add_class("explain-patching-corrupted")
        self.message = ipywidgets.HTML()
        self.message.add_class("explain-patching-message")
        self.where_select = ipywidgets.Dropdown(
            options=[(name, key) for key, name in data.WHERE_NAMES.items()],
            value=where,
            description="by position",
        )
        layers = list(range(1, data.layers))
        receiver = data.receiver or (None, None)
        self.layer_select = ipywidgets.Dropdown(
            options=layers, value=receiver[0], description="receiver layer",
            disabled=not layers, style={"description_width": "initial"},
        )  # fmt: skip
        self.head_select = ipywidgets.Dropdown(
            options=list(range(data.n_heads)), value=receiver[1], description="head",
            disabled=not layers,
        )  # fmt: skip
        self.input_select = ipywidgets.Dropdown(
            options=[(f"{data.INPUT_NAMES[p]} ({p})", p) for p in data.INPUTS],
            value=through,
            description="through",
            disabled=not layers,
        )
        for control in (self.where_select, self.layer_select, self.head_select, self.input_select):
            control.layout.width = "auto"
        self._write_prompts()
        prompts, heads, positions = self._figures()
        self.prompts_plot = self._plot(prompts, "explain-patching-prompts")
        self.heads_plot = self._plot(heads, "explain-patching-heads")
        self.positions_plot = self._plot(positions, "explain-patching-positions")
        self.heads_plot.on_click(self._on_click)
        for control in (self.clean_text, self.corrupt_text):
            control.observe(self._on_text, names="value")
        self.where_select.observe(lambda _: self._update(), names="value")
        self.input_select.observe(lambda _: self._update(), names="value")
        for control in (self.layer_select, self.head_select):
            control.observe(self._on_receiver, names="value")
        self.note = ipywidgets.HTML(self._note_html())
        self.note.add_class("explain-patching-note")
        head = [self.step_control.widget] if own else []
        receivers = ipywidgets.HBox([self.layer_select, self.head_select, self.input_select])
        self.widget = self._root(
            [
                *head,
                self.clean_text,
                self.corrupt_text,
                self.message,
                self.prompts_plot.widget,
                receivers,
                self.heads_plot.widget,
                self.where_select,
                self.positions_plot.widget,
                self.note,
            ]
        )
        self._ready()

    # -- public ----------------------------------------------------------------------------------
    @property
    def where(self) -> str:
        """What the positions figure restores: "resid", "mlp" or "head_pos"."""
        return str(self.where_select.value)

    @where.setter
    def where(self, value: str) -> None:
        self.where_select.value = builder.check_where(value)

    @property
    def through(self) -> str:
        """The receiver's input the paths go through: "q", "k" or "v"."""
        return str(self.input_select.value)

    @through.setter
    def through(self, value: str) -> None:
        self.input_select.value = builder.chosen_input(self.data, value)

    @property
    def receiver(self) -> tuple[int, int] | None:
        """(layer, head) the paths go into (None: a model of one layer)."""
        return self.data.receiver

    @property
    def state(self) -> dict[str, Any]:
        """What the figures show besides the view model, as the builder and exports take it."""
        return {"where": self.where, "through": self.through}

    def set_receiver(self, layer: int, head: int) -> None:
        """Measure the paths from every earlier head into head (layer, head), as a click on it
        does (ValueError for a head of layer 0, or without the model)."""
        data = self.data
        layer = require_index("layer", layer, data.layers)
        head = require_index("head", head, data.n_heads)
        if layer == 0:
            raise ValueError(
                f"{data.head_label(layer, head)} is in layer 0: no earlier head sends to it; "
                "pick a head of layer 1 or later"
            )
        if (layer, head) == data.receiver:
            return
        if self.run is None or self._ids is None:
            raise ValueError(
                f"path patching into {data.head_label(layer, head)} needs the model: open "
                "PatchingView(run) with the Run from explain.train(...) (this trace holds the "
                f"paths into {data.head_label(*data.receiver) if data.receiver else 'no head'})"
            )
        record = {**self._record(), "path": self._path((layer, head))}
        self.data = views.patching(self.trace, record)
        self.message.value = ""
        self._sync_receiver()
        self._update()

    def set_prompts(self, clean: str, corrupted: str) -> None:
        """Patch ``clean`` and ``corrupted`` (text the task's tokenizer reads, the same number of
        tokens), as an edit of both boxes does; ValueError naming what is wrong, the view
        unchanged."""
        self._apply(clean, corrupted)
        self._hold = True
        try:
            self.clean_text.value, self.corrupt_text.value = clean, corrupted
        finally:
            self._hold = False

    def _static_images(self) -> list[tuple[bytes, str]]:
        """The three figures in one picture, drawn from the view model as the exports do."""
        alt = f"{self.data.title} · {self.data.WHERE_NAMES[self.where]} · through {self.through}"
        return [(export.image(self.data, theme=self.theme, **self.state), alt)]

    # -- measuring -------------------------------------------------------------------------------
    def _measure(self, trace: Trace) -> None:
        """Patch the probe with the run's model when the trace's record is missing or older."""
        from explain.lab import record  # needs torch, which a Run has already loaded
        from explain.lab.patching import corrupt, patching_record, probe_patching

        run = self.run
        if run.model.config.kind != "decoder":
            raise ValueError(
                "PatchingView needs a decoder-only model: patching an encoder-decoder model "
                "is not supported"
            )
        if not isinstance(trace.meta.get("lab"), dict):
            record(run)
        lab = trace.meta["lab"]
        found = lab.get("patching")
        step = getattr(getattr(run, "trainer", None), "step", None)
        if not isinstance(found, dict) or found.get("step") != step:
            lab["patching"] = probe_patching(run)
        if lab["patching"] is None:  # measure again, to say why it cannot be
            task = run.task
            patching_record(run.model, task.probe().inputs[0], corrupt(task), task)

    def _probe_ids(self) -> tuple[list[int], list[int]] | None:
        """The ids of the prompts shown, with a model to patch them (else None)."""
        if self.run is None:
            return None
        index = {token: i for i, token in enumerate(self.run.task.vocab)}
        return [index[t] for t in self.data.tokens], [index[t] for t in self.data.corrupt_tokens]

    def _record(self) -> dict:
        """The record shown: the trace's, or the one measured for the prompts typed in."""
        return self._typed if self._edited else self.trace.meta["lab"]["patching"]

    def _path(self, receiver: tuple[int, int]) -> dict:
        from explain.lab.patching import path_record

        assert self._ids is not None
        key = (tuple(self._ids[0]), tuple(self._ids[1]), receiver)
        if key not in self._paths:
            self._paths[key] = path_record(self.run.model, *self._ids, receiver, self.run.task)
        return self._paths[key]

    def _apply(self, clean: str, corrupted: str) -> None:
        """Tokenize and patch the two prompts; on success show them (ValueError otherwise)."""
        if self.run is None:
            raise ValueError(
                "editing the prompts needs the model: open PatchingView(run) with the Run from "
                "explain.train(...)"
            )
        from explain.lab.patching import patching_record

        task = self.run.task
        ids = []
        for name, text in (("clean", clean), ("corrupted", corrupted)):
            try:
                ids.append(task.tokenizer.encode(text))
            except ValueError as error:
                raise ValueError(f"the {name} prompt: {error}") from None
        if len(ids[0]) != len(ids[1]):
            raise ValueError(
                f"the clean prompt has {len(ids[0])} tokens and the corrupted one {len(ids[1])}; "
                "a corrupted twin must have the same length"
            )
        step = int(getattr(getattr(self.run, "trainer", None), "step", -1))
        found = patching_record(
            self.run.model, ids[0], ids[1], task, receiver=self.data.receiver, step=step
        )
        data = views.patching(self.trace, found)
        self._typed, self._edited, self._ids, self.data = found, True, (ids[0], ids[1]), data
        if data.receiver is not None:
            self._paths[(tuple(ids[0]), tuple(ids[1]), data.receiver)] = found["path"]
        self.message.value = ""
        self._sync_receiver()
        self._update()

    def _reload(self) -> None:
        """The trace grew (live training): patch again with the model (a Run) and re-read."""
        self._paths.clear()
        if self.run is not None:
            self._measure(self.trace)
        if self._edited:
            try:
                self._apply(self.clean_text.value, self.corrupt_text.value)
                return
            except ValueError as error:
                self._edited = False
                self._show_error(error)
        self.data = views.patching(self.trace)
        self._ids = self._probe_ids()
        self._write_prompts()
        if self._owns_patching_control:
            self.step_control.set_steps([int(self.data.steps[-1])], follow=True)
        self._sync_receiver()
        self.note.value = self._note_html()

    # -- controls --------------------------------------------------------------------------------
    def _write_prompts(self) -> None:
        """The prompts shown, as text the task's tokenizer reads (read-only: the tokens)."""
        if self._ids is not None:
            decode = self.run.task.tokenizer.decode
            texts = decode(self._ids[0]), decode(self._ids[1])
        else:
            texts = tuple(
                " ".join(visible(t) for t in tokens)
                for tokens in (self.data.tokens, self.data.corrupt_tokens)
            )
        self._hold = True
        try:
            self.clean_text.value, self.corrupt_text.value = texts
        finally:
            self._hold = False

    def _sync_receiver(self) -> None:
        """The receiver dropdowns show the view model's receiver."""
        if self.data.receiver is None:
            return
        self._hold = True
        try:
            self.layer_select.value, self.head_select.value = self.data.receiver
        finally:
            self._hold = False

    def _on_text(self, change: dict) -> None:
        if self._hold:
            return
        try:
            self._apply(self.clean_text.value, self.corrupt_text.value)
        except ValueError as error:  # the boxes keep what was typed; the pictures stay
            self._show_error(error)

    def _show_error(self, error: Exception) -> None:
        self.message.value = (
            f"<b style='color:{WRONG}'>{html.escape(str(error))}</b> "
            "(still showing the last prompts that could be patched)"
        )

    def _on_receiver(self, change: dict) -> None:
        if self._hold or self.layer_select.value is None or self.head_select.value is None:
            return
        try:
            self.set_receiver(int(self.layer_select.value), int(self.head_select.value))
        except ValueError as error:
            self._show_error(error)
            self._sync_receiver()

    def _on_click(self, points: list[ClickPoint]) -> None:
        point = points[0]
        if point.curve != HEADS or point.x is None or point.y is None:
            return  # only the heads heatmap picks a receiver
        try:
            self.set_receiver(int(round(float(point.y))), int(round(float(point.x))))
        except ValueError as error:
            self._show_error(error)

    # -- figures ---------------------------------------------------------------------------------
    def _figures(self) -> list[dict]:
        return builder.figures(self.data, 0, self.theme, **self.state)

    def _update(self) -> None:
        """The prompts, receiver, input or positions (or the trace) changed: one frame."""
        for plot, figure in zip(self.plots, self._figures(), strict=True):
            plot.show(figure)

    def _note_html(self) -> str:
        data = self.data
        measured = f"step {data.measured}" if data.measured >= 0 else "the end of training"
        measured = measured if data.trained else "the model as it was given"
        if self.run is not None:
            how = (
                f"measured from the run's model at {html.escape(measured)}. Edit a prompt and "
                "press Enter to patch again (the same number of tokens in both)"
            )
        else:
            how = (
                f"recorded at {html.escape(measured)} (read-only: PatchingView(run) edits the "
                "prompts and measures any receiver)"
            )
        return (
            f"Each cell: how much of the clean answer comes back when that activation of the "
            f"corrupted run is put back from the clean run; 1.0 as clean, 0.0 as corrupted; "
            f"{how}. Click a head of layer 1 or later to see which earlier heads reach it, "
            "through its queries, keys or values."
        )
