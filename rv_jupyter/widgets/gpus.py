"""`%rv_gpus`: live plots of a job's GPUs (utilisation, memory, power; a line per GPU).

Why hand-drawn SVG polylines in plain HTML widgets (widgets.gpu_plot), not a plotting
library: samples are folded into pixel columns as they arrive, so a redraw reads ~300
columns a line whatever the history holds: 13 ms and ~70 kB for 30 min of 8 GPUs
(1800 samples x 8 lines x 3 plots; 27 ms for the first draw, measured on the dev box),
with no front-end extension, no new dependency and no JS build; every front end that
shows an ipywidgets HTML widget shows it. bqplot updates incrementally but is one more
front-end extension to install and keep in step with JupyterLab, and resends whole
arrays on change; plotly's FigureWidget ships several MB of JS and resends whole traces;
matplotlib with ipympl rasterises on the kernel (tens of ms a figure) and sends PNGs.

Updates come from the sampler's subscriber callback on the background loop, at most one
redraw every `every_s` however many nodes report, so the kernel is never blocked. The
widget watches its sampler while it is open; hidden for `hidden_s` (scrolled away,
output cleared) it stops watching, and resumes when shown again.
"""

from __future__ import annotations

import asyncio
import html
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from rv_jupyter.cluster.background import loop, run_sync
from rv_jupyter.telemetry import view
from rv_jupyter.telemetry.sampler import JobSampler
from rv_jupyter.widgets.gpu_plot import PLOTTED, Columns, plots_html
from rv_jupyter.widgets.visibility import VisibilityProbe

HIDDEN_S = 600.0


class Throttled:
    """Calls `fn` at most once every `every_s` (a call in between runs when it is due).

    Called on the background loop, as the sampler's callbacks are."""

    def __init__(self, fn: Callable[[], None], every_s: float) -> None:
        self.fn, self.every_s = fn, every_s
        self._last = -float("inf")
        self._due: asyncio.TimerHandle | None = None

    def __call__(self) -> None:
        if self._due is not None:
            return  # already due: that run sees this change too
        wait = self._last + self.every_s - time.monotonic()
        if wait <= 0:
            self._run()
        else:
            self._due = asyncio.get_running_loop().call_later(wait, self._run)

    def _run(self) -> None:
        self._due = None
        self._last = time.monotonic()
        self.fn()

    def cancel(self) -> None:
        """No pending call runs."""
        if self._due is not None:
            self._due.cancel()
            self._due = None


class GpuWidget(w.VBox):  # type: ignore[misc]  # ipywidgets has no types
    """Live GPU plots of one job; it holds one watch of the job's sampler while open."""

    def __init__(
        self, sampler: JobSampler, *, every_s: float = 1.0, hidden_s: float = HIDDEN_S,
        on_close: Callable[[], None] | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        """Takes over one watch the caller already holds (see `open`)."""
        self.sampler, self.hidden_s, self.on_close = sampler, hidden_s, on_close
        self.colors: dict[str, str] = {}
        self.columns = Columns(PLOTTED)  # kept between redraws: only new samples are read
        self.title = w.HTML()
        self.plots = w.HTML()
        self.values = w.HTML()
        self.notes = w.HTML()
        self.stop = w.Button(
            description="Stop watching", layout={"width": "auto"},
            tooltip="Close this view; the sampling stops if nothing else watches it",
        )  # fmt: skip
        self.stop.on_click(lambda _b: self.close())
        self.probe = VisibilityProbe(on_change=self._visible)
        super().__init__(
            [self.probe, w.HBox([self.stop, self.title]), self.plots, self.values, self.notes],
            **kwargs,
        )
        self._lock = threading.RLock()
        self.watching, self.closed, self.shown = True, False, True
        self._hidden: asyncio.TimerHandle | None = None
        self._throttle = Throttled(self.draw, every_s)
        self._unsubscribe = sampler.subscribe(self._throttle)
        self.draw()

    @classmethod
    def watch(cls, sampler: JobSampler, **kwargs: Any) -> GpuWidget:
        """Start (or join) the job's sampling and show it; raises RvError if the job is
        not running."""
        run_sync(sampler.awatch())
        return cls(sampler, **kwargs)

    def draw(self) -> None:
        """Redraw plots and values from what the sampler holds now."""
        with self._lock:
            if self.closed:
                return
            s, now = self.sampler, time.time()
            latest = s.latest()
            frames = {n: s.samples(n) for n in list(s.nodes)}
            self.plots.value = plots_html(frames, now, self.colors, s.interval_s, self.columns)
            self.values.value = view.latest_html(latest, self.colors)
            state = "" if self.watching else " <i>(paused while hidden)</i>"
            self.title.value = (
                f"<b>Job {html.escape(s.job_id)}</b>: {html.escape(view.summary(latest))}, "
                f"{len(s.nodes)} node{'s' if len(s.nodes) != 1 else ''}, "
                f"every {s.interval_s:g} s{state}"
            )
            notes = [*view.missing_notes(latest), *view.gap_notes(s.gaps)]
            self.notes.value = "".join(f"<div><small>{html.escape(n)}</small></div>"
                                       for n in notes)  # fmt: skip

    def close(self) -> None:
        """Stop watching the job (its sampling stops if nothing else watches) and close."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._unsubscribe()
            loop().call_soon_threadsafe(self._throttle.cancel)
            self._release()
            from rv_jupyter.widgets.panel import close_tree

            for child in self.children:
                close_tree(child)
            self.layout.close()
            super().close()
        if self.on_close is not None:
            self.on_close()

    # -- watching -------------------------------------------------------------------

    def _release(self) -> None:
        if self._hidden is not None:
            loop().call_soon_threadsafe(self._hidden.cancel)
            self._hidden = None
        if self.watching:
            self.watching = False
            asyncio.run_coroutine_threadsafe(self.sampler.aunwatch(), loop())

    def _visible(self, visible: bool) -> None:
        with self._lock:
            if self.closed:
                return
            self.shown = visible
            if not visible:
                if self.watching and self._hidden is None:
                    bg = loop()
                    bg.call_soon_threadsafe(self._arm_hidden, bg)
                return
            if self._hidden is not None:
                loop().call_soon_threadsafe(self._hidden.cancel)
                self._hidden = None
            if not self.watching:
                self.watching = True
                future = asyncio.run_coroutine_threadsafe(self.sampler.awatch(), loop())
                future.add_done_callback(self._rewatched)

    def _arm_hidden(self, bg: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            # Shown again before this ran: nothing to arm.
            if not self.closed and self.watching and not self.shown and self._hidden is None:
                self._hidden = bg.call_later(self.hidden_s, self._hidden_too_long)

    def _hidden_too_long(self) -> None:
        with self._lock:
            self._hidden = None
            self._release()
        self.draw()

    def _rewatched(self, future: Any) -> None:
        err = future.exception()
        if err is not None:  # the job ended while hidden: say so, keep the last plots
            with self._lock:
                self.watching = False
                self.notes.value += f"<div><small>{html.escape(str(err))}</small></div>"
