"""The status panel: connection, your jobs (cancel per row), GPUs, SUs, quotas, fairshare.

A thin face: it renders the shared poller's snapshots (words from `format`) and sends
cancels to the core. It never reads the cluster itself, so ten open panels cost one read
per interval.

Widgets are made once and updated in place: a job's row lives as long as the job is in
the queue and is closed when it leaves. ipywidgets keeps every widget (and its Layout
and Style, widgets too) in a global registry until `close()`, so a panel that replaced
its rows on each read grew by ~17 MB a minute with ten panels open.

Each running job also gets a GPU line: a summary (mean util, memory) when this process
already samples that job, and a button that opens the full `%rv_gpus` view. The panel
never starts sampling by itself: that is one job step per node per job, which ten jobs
in the queue should not cost just because a panel is open.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from rv_jupyter.errors import RvError
from rv_jupyter.slurm.states import JobState
from rv_jupyter.telemetry import view as gpu_words
from rv_jupyter.telemetry.sampler import running_sampler, sampler_for
from rv_jupyter.widgets import format as fmt
from rv_jupyter.widgets.visibility import VisibilityProbe

if TYPE_CHECKING:
    from rv_jupyter.cluster.handle import Cluster
    from rv_jupyter.cluster.poller import Poller, Snapshot
    from rv_jupyter.slurm import Job
    from rv_jupyter.slurm.state import ClusterState
    from rv_jupyter.widgets.gpus import GpuWidget

# A question left unanswered this long goes back to a plain Cancel button.
CONFIRM_S = 10.0
# A sampled job's GPU line is redrawn at most this often (the poller's reads are slower).
GPU_LINE_S = 5.0


def close_tree(widget: w.Widget) -> None:
    """Close a widget, its children, and the Layout and Style widgets each one owns."""
    for child in getattr(widget, "children", ()):
        close_tree(child)
    for part in ("layout", "style"):
        owned = getattr(widget, part, None)
        if isinstance(owned, w.Widget):
            owned.close()
    widget.close()


class JobRow:
    """One job's line and its Cancel button, which asks before it acts."""

    def __init__(self, job_id: str, on_cancel: Callable[[JobRow], None]) -> None:
        self.job_id = job_id
        self.text = w.HTML()
        self.cancel = w.Button(
            description="Cancel", button_style="warning", layout={"width": "7em"},
            tooltip=f"Cancel job {job_id} (asks first)",
        )  # fmt: skip
        self.confirm = w.Button(
            description=f"Cancel job {job_id}?", button_style="danger",
            layout={"width": "auto"}, tooltip="scancel it now: its work is lost",
        )  # fmt: skip
        self.keep = w.Button(description="Keep it", layout={"width": "6em"})
        self.box = w.HBox([self.cancel, self.text])
        self.asked_at: float | None = None
        self.cancel.on_click(lambda _b: self.ask())
        self.confirm.on_click(lambda _b: on_cancel(self))
        self.keep.on_click(lambda _b: self.settle())

    def ask(self) -> None:
        """First click: show the question (confirm or keep) instead of cancelling."""
        self.asked_at = time.monotonic()
        self.box.children = (self.confirm, self.keep, self.text)

    def settle(self, *, cancelling: bool = False) -> None:
        """Back to one button; disabled while a cancel is on its way."""
        self.asked_at = None
        self.cancel.disabled = cancelling
        self.cancel.description = "Cancelling…" if cancelling else "Cancel"
        self.box.children = (self.cancel, self.text)

    def update(self, text: str) -> None:
        """Show the job's new values; an old unanswered question goes away."""
        self.text.value = text  # traitlets sends nothing when the value is unchanged
        if self.asked_at is not None and time.monotonic() - self.asked_at > CONFIRM_S:
            self.settle()

    def close(self) -> None:
        """Close every widget of the row."""
        for widget in (self.box, self.cancel, self.confirm, self.keep):
            close_tree(widget)


class GpuLine:
    """A running job's GPU summary (if this process samples it) and a button to the view."""

    def __init__(self, job_id: str, on_open: Callable[[str], None]) -> None:
        self.job_id = job_id
        self.text = w.HTML()
        self.open = w.Button(
            description="GPUs", layout={"width": "7em"},
            tooltip=f"Live GPU plots of job {job_id} (%rv_gpus {job_id})",
        )  # fmt: skip
        self.open.on_click(lambda _b: on_open(job_id))
        self.box = w.HBox([self.open, self.text])
        self._stop: Callable[[], None] | None = None

    def update(self, cluster: Cluster, lock: threading.RLock) -> None:
        """Show the sampler's latest summary, and follow it while it samples."""
        sampler = running_sampler(cluster, self.job_id)
        if sampler is None:
            self.text.value = (
                f"job {html.escape(self.job_id)}: <i>GPUs not sampled (click to watch)</i>"
            )
            return
        self.text.value = (
            f"job {html.escape(self.job_id)}: {html.escape(gpu_words.summary(sampler.latest()))}"
        )
        if self._stop is None:
            from rv_jupyter.widgets.gpus import Throttled

            def refresh() -> None:
                with lock:
                    if self._stop is not None:
                        self.update(cluster, lock)

            self._stop = sampler.subscribe(Throttled(refresh, GPU_LINE_S))

    def close(self) -> None:
        """Stop following the sampler and close the line's widgets."""
        if self._stop is not None:
            self._stop()
            self._stop = None
        for widget in (self.box, self.open):
            close_tree(widget)


class Panel(w.VBox):  # type: ignore[misc]  # ipywidgets has no types
    """Live cluster status for one notebook output area."""

    def __init__(self, cluster: Cluster, *, poller: Poller | None = None, **kwargs: Any) -> None:
        self.cluster = cluster
        self.connection = w.HTML("<i>connecting…</i>")
        self.message = w.HTML()  # the last read's error, in full
        self.notice = w.HTML()  # what the last action (a cancel) did
        self.rows: dict[str, JobRow] = {}
        self._header = w.HTML(fmt.job_header_html())
        self._none = w.HTML("<i>none</i>")
        self.jobs = w.VBox([self._none])
        self.gpu_lines: dict[str, GpuLine] = {}
        self.gpu_box = w.VBox()
        self.gpu_view = w.VBox()  # the one %rv_gpus view opened from this panel
        self.gpus = w.HTML()
        self.money = w.HTML()
        self.storage = w.HTML()
        jobs = w.VBox([self.jobs, self.gpu_box, self.gpu_view])
        self.sections = w.Accordion(
            [jobs, self.gpus, w.VBox([self.money, self.storage])],
            titles=("Your jobs", "GPUs", "SUs and storage"),
            selected_index=0,
        )
        self.probe = VisibilityProbe(on_change=self.set_visible)
        super().__init__(
            [self.probe, self.connection, self.message, self.notice, self.sections], **kwargs
        )
        # Snapshots arrive on the background loop's thread, clicks on the kernel's.
        self._lock = threading.RLock()
        self.poller = poller or cluster.poller
        self.shown: Snapshot | None = None
        self._sub = self.poller.subscribe(self._show)

    def close(self) -> None:
        """Stop following the cluster and close every widget of the panel."""
        self._sub.close()
        with self._lock:
            for row in self.rows.values():
                row.close()
            self.rows.clear()
            for line in self.gpu_lines.values():
                line.close()
            self.gpu_lines.clear()
            self._close_gpu_view()
            for child in (self._header, self._none, *self.children):
                close_tree(child)
            self.layout.close()
            super().close()

    def set_visible(self, visible: bool) -> None:
        """Tell the poller whether this panel is on screen (hidden panels need no reads)."""
        self._sub.set_visible(visible)

    # -- rendering ------------------------------------------------------------------

    def _show(self, snap: Snapshot) -> None:
        with self._lock:
            self.shown = snap
            state = snap.state
            who = f"{state.user}@{state.host}" if state else self.cluster.host
            self.connection.value = fmt.status_line(snap, who)
            self.message.value = fmt.error_html(snap.error) if snap.stale else ""
            if state is not None:
                self._render(state)

    def _render(self, s: ClusterState) -> None:
        now = datetime.now().astimezone()
        for job in s.jobs:
            row = self.rows.get(job.job_id)
            if row is None:
                row = self.rows[job.job_id] = JobRow(job.job_id, self._cancel)
            row.update(fmt.job_row_html(job, now, s.read_at))
        for gone in set(self.rows) - {j.job_id for j in s.jobs}:
            self.rows.pop(gone).close()
        self._set_rows(s.jobs)
        self._gpu_lines([j.job_id for j in s.jobs if j.state is JobState.running])
        self.sections.set_title(0, fmt.jobs_title(s.jobs))
        self.sections.set_title(1, fmt.gpus_title(s))
        self.gpus.value = fmt.gpus_html(s)
        self.money.value = fmt.money_html(s)
        self.storage.value = fmt.storage_html(s)

    def _set_rows(self, jobs: list[Job]) -> None:
        children = (self._header, *(self.rows[j.job_id].box for j in jobs)) if jobs else (
            self._none,
        )  # fmt: skip
        if children != self.jobs.children:
            self.jobs.children = children

    def _gpu_lines(self, running: list[str]) -> None:
        for job_id in running:
            line = self.gpu_lines.get(job_id)
            if line is None:
                line = self.gpu_lines[job_id] = GpuLine(job_id, self._open_gpus)
            line.update(self.cluster, self._lock)
        for gone in set(self.gpu_lines) - set(running):
            self.gpu_lines.pop(gone).close()
        children = tuple(self.gpu_lines[j].box for j in running)
        if children != self.gpu_box.children:
            self.gpu_box.children = children

    # -- actions ----------------------------------------------------------------------

    def _cancel(self, row: JobRow) -> None:
        # Runs on the kernel's thread and blocks it; never under the lock, which the
        # background loop needs to deliver snapshots while the cancel is on its way.
        with self._lock:
            row.settle(cancelling=True)
        try:
            cancelled = self.cluster.cancel([row.job_id])
        except RvError as err:
            with self._lock:
                row.settle()
                self.notice.value = fmt.error_html(str(err))
        else:
            done = ", ".join(cancelled) or row.job_id
            self.notice.value = (
                f"<span style='color:#080'>Cancelled job {html.escape(done)}.</span>"
            )
        self.poller.poke()  # this panel's poller may not be the cluster's (tests, Lab)

    def _open_gpus(self, job_id: str) -> None:
        # The kernel's thread: starting the sampling is one round trip (is the job running?).
        from rv_jupyter.widgets.gpus import GpuWidget

        self._close_gpu_view()
        try:
            widget = GpuWidget.watch(sampler_for(self.cluster, job_id), on_close=self._gpu_closed)
        except RvError as err:
            self.notice.value = fmt.error_html(str(err))
            return
        with self._lock:
            self.gpu_view.children = (widget,)
            line = self.gpu_lines.get(job_id)
            if line is not None:
                line.update(self.cluster, self._lock)

    def _gpu_closed(self) -> None:
        with self._lock:
            self.gpu_view.children = ()

    def _close_gpu_view(self) -> None:
        views: list[GpuWidget] = list(self.gpu_view.children)
        for v in views:
            v.close()  # releases its watch of the job; _gpu_closed empties the slot
