"""The status panel: connection, your jobs (cancel per row), GPUs, SUs, quotas, fairshare.

A thin face: it renders the shared poller's snapshots and sends cancels to the core.
It never reads the cluster itself, so ten open panels cost one read per interval.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from rv_jupyter.errors import RvError
from rv_jupyter.widgets.visibility import VisibilityProbe

if TYPE_CHECKING:
    from rv_jupyter.poller import Poller, Snapshot
    from rv_jupyter.session import Cluster
    from rv_jupyter.state import ClusterState


class Panel(w.VBox):
    """Live cluster status for one notebook output area."""

    def __init__(self, cluster: Cluster, *, poller: Poller | None = None, **kwargs: Any) -> None:
        self.cluster = cluster
        self.connection = w.HTML("<i>connecting…</i>")
        self.jobs = w.VBox()
        self.gpus = w.HTML()
        self.money = w.HTML()
        self.storage = w.HTML()
        self.message = w.HTML()
        self.probe = VisibilityProbe(on_change=self.set_visible)
        super().__init__(
            [self.probe, self.connection, self.message, w.HTML("<b>Your jobs</b>"), self.jobs,
             w.HTML("<b>GPUs</b>"), self.gpus, self.money, w.HTML("<b>Storage</b>"),
             self.storage],
            **kwargs,
        )  # fmt: skip
        self.poller = poller or cluster.poller
        self.shown: Snapshot | None = None
        self._sub = self.poller.subscribe(self._show)

    def close(self) -> None:
        """Stop following the cluster and remove the widget."""
        self._sub.close()
        self.probe.close()
        super().close()

    def set_visible(self, visible: bool) -> None:
        """Tell the poller whether this panel is on screen (hidden panels need no reads)."""
        self._sub.set_visible(visible)

    # -- rendering ------------------------------------------------------------------

    def _show(self, snap: Snapshot) -> None:
        self.shown = snap
        state = snap.state
        who = html.escape(f"{state.user}@{state.host}") if state else html.escape(self.cluster.host)
        if snap.stale:
            age = f", data from {state.read_at:%H:%M:%S}" if state else ""
            self.connection.value = (
                f"<b>{who}</b>: <span style='color:#b00'>disconnected{age} (stale)</span>"
            )
            self.message.value = f"<pre style='color:#b00'>{html.escape(snap.error or '')}</pre>"
        else:
            self.connection.value = f"<b>{who}</b>: <span style='color:#080'>OK</span>"
            self.message.value = ""
        if state is not None:
            self._render(state)

    def _render(self, s: ClusterState) -> None:
        self.jobs.children = [self._job_row(j) for j in s.jobs] or [w.HTML("<i>none</i>")]
        rows = "".join(
            f"<tr><td>{html.escape(g.partition)}</td><td>{html.escape(g.label)}</td>"
            f"<td>{g.free}/{g.total}</td><td>{_su(g.su_per_gpu_hour)}</td>"
            f"<td>{html.escape(_wait(g.gpu_type))}</td></tr>"
            for g in s.gpus
        )
        self.gpus.value = (
            "<table><tr><th>partition</th><th>GPU</th><th>free</th><th>SU/GPU-h</th>"
            f"<th>typical wait</th></tr>{rows}</table>"
        )
        balances = ", ".join(
            f"{html.escape(a.account)}: {a.balance:,.0f} SUs" if a.balance is not None
            else html.escape(a.account)
            for a in s.allocations
        )  # fmt: skip
        fair = f" · fairshare {s.user_fairshare:.2f}" if s.user_fairshare is not None else ""
        self.money.value = f"<b>SU balance</b>: {balances or '?'}{fair}"
        self.storage.value = "".join(_quota_bar(q) for q in s.quotas) + "".join(
            f"<div style='color:#b00'>{html.escape(k)}: {html.escape(v)}</div>"
            for k, v in s.errors.items()
        )

    def _job_row(self, job: Any) -> w.HBox:
        text = w.HTML(
            f"{html.escape(job.job_id)} <b>{html.escape(job.name)}</b> {job.state.value}"
            f" {html.escape(job.node_list or job.reason or '')}"
        )
        button = w.Button(description="Cancel", button_style="warning", layout={"width": "7em"})
        button.on_click(lambda _b, job_id=job.job_id: self._cancel(job_id))
        return w.HBox([button, text])

    def _cancel(self, job_id: str) -> None:
        try:
            self.cluster.cancel([job_id])
        except RvError as err:
            self.message.value = f"<pre style='color:#b00'>{html.escape(str(err))}</pre>"
        self.poller.wake()


def _su(rate: float | None) -> str:
    return "?" if rate is None else f"{rate:.2f}"


def _wait(gpu_type: str | None) -> str:
    from rv_jupyter.cluster import GPU_TYPES

    return GPU_TYPES[gpu_type].typical_wait if gpu_type in GPU_TYPES else "?"


def _quota_bar(q: Any) -> str:
    pct = q.use_percent or 0
    colour = "#b00" if pct >= 90 else "#c80" if pct >= 75 else "#080"
    return (
        f"<div>{html.escape(q.type)} ({html.escape(q.location or '')}): "
        f"{html.escape(q.used_text or '?')} of {html.escape(q.size_text or '?')}"
        f"<div style='background:#eee;width:20em;height:0.6em'>"
        f"<div style='background:{colour};width:{min(pct, 100):.0f}%;height:100%'></div>"
        "</div></div>"
    )
