"""Live training driver: trains in short bursts so the kernel stays responsive.

A burst is ``trainer.run(steps=burst)`` (a few optimizer steps, tens of milliseconds for the
tiny models here). The play button is an ``ipywidgets.Play`` used as a clock: each tick the
browser sends runs one burst, then the views refresh, at most ``max_fps`` times a second. Between
ticks the kernel is idle, so every other widget keeps answering. torch is imported only here,
and only when a live session is built.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import ipywidgets

log = logging.getLogger(__name__)

__all__ = ["LiveTraining"]


class LiveTraining:
    """Owns a model, its trainer and a recorder; ``step()`` trains one burst more.

    Build it from a ``Run`` (continues its training) or from a model and a task (trains it from
    the start). A burst is up to ``burst`` steps, fewer when they take longer than
    ``budget_s``. ``trace`` grows as it trains; ``on_change(callback)`` is told after each
    burst (throttled to ``max_fps``) and after a reset. Controls (``widget``): play/pause (a Play
    clock), step (one burst), reset (a fresh model of the same config and seed) and a status line.
    """

    def __init__(
        self,
        run: Any = None,
        *,
        model: Any = None,
        task: Any = None,
        train_config: Any = None,
        burst: int = 5,
        interval_ms: int = 200,
        max_fps: float = 10.0,
        budget_s: float = 0.25,
    ) -> None:
        if isinstance(burst, bool) or not isinstance(burst, int) or burst <= 0:
            raise ValueError(f"burst must be a positive number of steps; got {burst!r}")
        if not 0 < max_fps <= 30:
            raise ValueError(f"max_fps must be in (0, 30]; got {max_fps!r}")
        self.burst_steps = burst
        self.budget_s = float(budget_s)
        self.min_interval = 1.0 / max_fps
        self._callbacks: list[Callable[[bool], None]] = []
        self._last_refresh = 0.0
        self._last_tick_end = 0.0
        self._pending = False
        if run is not None:
            if not (hasattr(run, "trainer") and hasattr(run, "trace")):
                raise ValueError(f"run must be an explain Run; got {type(run).__name__}")
            self.trainer = run.trainer
            self.model, self.task = run.trainer.model, run.trainer.task
            self.train_config = run.trainer.config
            self.recorder = next(
                (c for c in self.trainer.callbacks if getattr(c, "trace", None) is run.trace), None
            )
            if self.recorder is None:
                raise ValueError("the run's trainer has no Recorder writing run.trace")
        else:
            if model is None or task is None:
                raise ValueError("live training needs a Run, or a model and a task")
            self._build(model, task, train_config)
        self.trainer.run(steps=0)  # begins training: meta and the step-0 snapshot
        self.play = ipywidgets.Play(
            value=0, min=0, max=10**9, interval=max(100, int(interval_ms)), show_repeat=False
        )
        self.play.add_class("explain-train-play")
        self.play.description = "train"
        self.step_button = ipywidgets.Button(description=f"+{burst} steps", icon="forward")
        self.reset_button = ipywidgets.Button(description="reset", icon="refresh")
        self.status = ipywidgets.HTML()
        self.step_button.add_class("explain-train-step")
        self.reset_button.add_class("explain-train-reset")
        self.status.add_class("explain-train-status")
        self.play.observe(self._on_tick, names="value")
        self.play.observe(self._on_pause, names="playing")
        self.step_button.on_click(lambda _: self.step())
        self.reset_button.on_click(lambda _: self.reset())
        self.widget = ipywidgets.HBox(
            [
                ipywidgets.Label("train:"),
                self.play,
                self.step_button,
                self.reset_button,
                self.status,
            ]
        )
        self.widget.add_class("explain-live-controls")
        self._show_status()

    # -- construction ------------------------------------------------------------------------------
    def _build(self, model: Any, task: Any, train_config: Any) -> None:
        import explain  # the torch side is imported lazily, only for live training
        from explain import tasks as tasks_module

        task = tasks_module.get(task) if isinstance(task, str) else task
        self.model, self.task = model, task
        self.train_config = train_config or explain.TrainConfig()
        self.recorder = explain.Recorder()
        self.trainer = explain.Trainer(model, task, self.train_config, callbacks=[self.recorder])

    @property
    def trace(self) -> Any:
        return self.recorder.trace

    def on_change(self, callback: Callable[[bool], None]) -> None:
        """``callback(reset)`` after the trace changed (``reset``: it is a new trace)."""
        self._callbacks.append(callback)

    # -- actions -----------------------------------------------------------------------------------
    def step(self) -> None:
        """Train one burst and refresh the views now."""
        self._burst()
        self._notify(reset=False)

    def reset(self) -> None:
        """Stop, and start again from a freshly initialised model (same config and seed)."""
        import torch

        from explain import TinyTransformer

        self.play.playing = False
        torch.manual_seed(self.train_config.seed)
        model = TinyTransformer(self.model.config, device=self.model.device)
        self._build(model, self.task, self.train_config)
        self.trainer.run(steps=0)
        self._notify(reset=True)

    def _on_tick(self, _change: dict) -> None:
        # Ticks that queued while a burst ran arrive back to back: drop them, so a slow burst
        # does not leave a backlog that keeps training after pause.
        now = time.monotonic()
        if now - self._last_tick_end < 0.5 * self.play.interval / 1000:
            return
        self._burst()
        if time.monotonic() - self._last_refresh >= self.min_interval:
            self._notify(reset=False)
        else:
            self._pending = True
        # the tick ends when its views are redrawn too: ticks that queued while they redrew are
        # a backlog as well (a loaded machine took over 100 ms to redraw the dashboard)
        self._last_tick_end = time.monotonic()

    def _on_pause(self, change: dict) -> None:
        if not change["new"] and self._pending:  # show the last burst that was not drawn yet
            self._notify(reset=False)

    def _burst(self) -> None:
        # Up to burst_steps updates, one at a time, stopping early once the time budget is
        # spent, so a slow machine or a bigger model still hands the kernel back quickly.
        start = time.monotonic()
        try:
            for _ in range(self.burst_steps):
                self.trainer.run(steps=1)
                if time.monotonic() - start > self.budget_s:
                    break
        except Exception as error:  # diverged: stop the clock, say why, keep what was recorded
            self.play.playing = False
            self.status.value = f"<b>stopped</b>: {type(error).__name__}: {error}"
            log.warning("live training stopped: %s", error)
            raise

    def _notify(self, reset: bool) -> None:
        self._last_refresh = time.monotonic()
        self._pending = False
        self._show_status()
        for callback in self._callbacks:
            callback(reset)

    def _show_status(self) -> None:
        steps, losses = self.trace.scalar("loss") if "loss" in self.trace.scalars else ([], [])
        loss = f" · loss {losses[-1]:.4f}" if len(losses) else ""
        self.status.value = f"step {self.trainer.step}{loss}"
