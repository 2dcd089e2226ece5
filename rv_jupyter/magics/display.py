"""How the magics show progress and tables in a notebook."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from rv_jupyter.allocator.records import Event


class Progress:
    """A live table of the fan-out in the cell's output (one row per strategy)."""

    def __init__(self) -> None:
        from IPython.display import display

        self._rows: dict[str, Event] = {}
        self._handle = display(_Note("probing the queue…"), display_id=True)  # type: ignore[no-untyped-call]

    def update(self, event: Event) -> None:
        self._rows[event.strategy.key] = event
        if self._handle is not None:
            self._handle.update(_StrategyTable(list(self._rows.values())))

    def done(self, text: str) -> None:
        if self._handle is not None:
            self._handle.update(_Note(text))

    def clear(self) -> None:
        """Take the progress away (a request that failed says why in its error, and a
        "probing the queue…" left above it would read as if it were still going)."""
        if self._handle is not None:
            self._handle.update({"text/plain": ""}, raw=True)

    @property
    def submitted(self) -> bool:
        """Whether any job has shown up yet."""
        return bool(self._rows)


class _Note:
    """A line of progress, readable in HTML and in plain-text front ends alike."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_html_(self) -> str:
        return html.escape(self.text).replace("\n", "<br>")

    def __repr__(self) -> str:
        return self.text


class _StrategyTable:
    """The fan-out's strategies: a table in HTML front ends, lines of text elsewhere."""

    def __init__(self, events: list[Event]) -> None:
        self.events = events

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in ("strategy", "job", "state", "reason", "starts"))
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(c or ''))}</td>" for c in (
                describe(e.strategy), e.job_id, e.state, e.reason, e.row()["start"])) + "</tr>"
            for e in self.events
        )  # fmt: skip
        return f"<table><tr>{head}</tr>{body}</table>"

    def __repr__(self) -> str:
        return "\n".join(f"{e.strategy.key}: {e.line()}" for e in self.events)


def cancelled_text(ids: list[str] | None, left: list[str]) -> str:
    """What the stop button did to a pending %rv_up, in one line.

    `ids` are the jobs the allocator cancelled (None: it could not say in time),
    `left` those Slurm still listed as queued or running right after.
    """
    if ids is None:
        return "Cancelled; rv could not confirm in time that nothing is queued: see %rv_ps."
    if not ids:
        return "Cancelled before anything was submitted."
    jobs = f"job{'s' * (len(ids) != 1)} {', '.join(ids)}"
    if left:
        return f"Cancelled: {jobs}; still queued: {', '.join(left)} (`%rv_stop {' '.join(left)}`)."
    return f"Cancelled: {jobs} (nothing left queued)"


def topology(nodes: int, per_node: int) -> str:
    """`1 node x 2 GPUs` for a shape Slurm-speak writes 1x2."""
    return f"{nodes} node{'s' * (nodes != 1)} x {per_node} GPU{'s' * (per_node != 1)}"


def describe(strategy: Any) -> str:
    """The strategy's one line, its shape in words rather than `1x2`."""
    shape = strategy.shape
    return str(strategy.describe()).replace(
        f" {shape.topology} ", f" {topology(shape.nodes, shape.per_node)} ", 1
    )


def strategies_frame(strategies: list[Any], skipped: dict[str, str]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(
        [
            {
                "strategy": s.key,
                "GPU": s.shape.gpu.label,
                "partition": s.shape.gpu.partition,
                "topology": topology(s.shape.nodes, s.shape.per_node),
                "walltime": s.walltime(),
                "starts": s.starts(),
                "su_per_hour": round(s.su_per_hour, 2),
            }
            for s in strategies
        ]
    )
    frame.attrs["skipped"] = skipped
    return frame


def server_base_url() -> str:
    """The base URL of the Jupyter server running this kernel ("/" if none is found).

    Links through /rv/proxy/ are relative to it (JupyterHub serves users under
    /user/<name>/); the server is the one whose pid started this kernel.
    """
    import os

    parent = os.environ.get("JPY_PARENT_PID")
    if parent:
        try:
            from jupyter_server.serverapp import list_running_servers

            for info in list_running_servers():
                if str(info.get("pid")) == parent:
                    return str(info.get("base_url") or "/")
        except Exception:  # an unreadable runtime dir must not break a link
            pass
    return "/"


class PortLinks:
    """Links to web ports of a job through the Jupyter server's /rv/proxy/."""

    def __init__(self, job_id: str, node: str, ports: list[Any], base_url: str = "/") -> None:
        self.job_id, self.node, self.ports = job_id, node, ports
        self.base = base_url.rstrip("/")

    def url(self, port: int) -> str:
        return f"{self.base}/rv/proxy/{self.job_id}/{port}/"

    @property
    def urls(self) -> list[str]:
        """Proxy paths of the reachable ports."""
        return [self.url(p.port) for p in self.ports]

    def __repr__(self) -> str:
        lines = [f"job {self.job_id} on {self.node}:"]
        for p in self.ports:
            lines.append(f"  port {p.port} {p.process}: {self.url(p.port)}")
        if not self.ports:
            lines.append("  no process of the job listens on a TCP port yet")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = []
        for p in self.ports:
            label = html.escape(f"port {p.port}{_by(p)} on {self.node}")
            url = html.escape(self.url(p.port), quote=True)
            rows.append(f"<li><a href='{url}' target='_blank'>{label}</a></li>")
        if not rows:
            rows.append("<li>no process of the job listens on a TCP port yet</li>")
        return f"<b>Job {html.escape(self.job_id)}</b><ul>{''.join(rows)}</ul>"


def _by(port: Any) -> str:
    return f" ({port.process})" if port.process else ""
