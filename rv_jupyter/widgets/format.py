"""What the status panel says, as text and HTML: pure functions of a snapshot and a time.

Kept apart from the widgets so every word a user reads is testable without a front end.
Every value from the cluster (job names, reasons, accounts) is escaped here.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import TYPE_CHECKING

from rv_jupyter.slurm import JobState

if TYPE_CHECKING:
    from rv_jupyter.cluster.poller import Snapshot
    from rv_jupyter.slurm import Job, Quota
    from rv_jupyter.slurm.state import ClusterState, GpuAvailability

_RED, _AMBER, _GREEN, _GREY = "#b00", "#c80", "#080", "#777"
_RUNNING = (JobState.running, JobState.completing)
# Below this much walltime left, a job's time left turns red: save your work.
LOW_LEFT_S = 10 * 60
# Columns of a job row, shared by the header so rows line up without one big table.
_COLUMNS = (("job", "6em"), ("name", "14em"), ("state", "7em"), ("elapsed", "5.5em"),
            ("time left", "5.5em"), ("node / reason", "16em"))  # fmt: skip
_MAX_ERROR = 300


def duration(seconds: float | None) -> str:
    """A length of time as a person reads it: 45s, 12m, 1h05m, 2d03h; None is a dash."""
    if seconds is None:
        return "–"
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def elapsed_s(job: Job, now: datetime, read_at: datetime) -> float | None:
    """How long a running job has run by `now` (squeue's count plus the time since the read)."""
    if job.state not in _RUNNING or job.time_used_s is None:
        return None
    return job.time_used_s + max((now - read_at).total_seconds(), 0.0)


def time_left_s(job: Job, now: datetime, read_at: datetime) -> float | None:
    """Walltime a running job has left at `now`; None if not running or unlimited."""
    used = elapsed_s(job, now, read_at)
    if used is None or job.time_limit_s is None:
        return None
    return max(job.time_limit_s - used, 0.0)


def _cell(text: str, width: str, style: str = "", title: str = "") -> str:
    tip = f" title='{html.escape(title, quote=True)}'" if title else ""
    return (
        f"<span style='display:inline-block;width:{width};overflow:hidden;"
        f"text-overflow:ellipsis;white-space:nowrap;vertical-align:middle;{style}'{tip}>"
        f"{text}</span>"
    )


def job_header_html() -> str:
    """The header line above the job rows."""
    cells = "".join(_cell(f"<b>{name}</b>", width) for name, width in _COLUMNS)
    return f"<div style='margin-left:7.5em'>{cells}</div>"


def job_row_html(job: Job, now: datetime, read_at: datetime) -> str:
    """One job's line: id, name, state, elapsed, time left, and where it runs or why not."""
    left = time_left_s(job, now, read_at)
    if job.state in _RUNNING:
        where = job.node_list or ""
        left_text = duration(left) if job.time_limit_s is not None else "unlimited"
        left_style = (
            f"color:{_RED};font-weight:bold" if left is not None and left < LOW_LEFT_S else ""
        )
    else:
        start = f"starts ~{job.start_time:%H:%M}" if job.start_time else ""
        where = " · ".join(x for x in (job.reason or "", start) if x)
        left_text = f"limit {duration(job.time_limit_s)}" if job.time_limit_s else "–"
        left_style = f"color:{_GREY}"
    colour = {JobState.running: _GREEN, JobState.pending: _AMBER}.get(job.state, _GREY)
    values = (
        (html.escape(job.job_id), "", ""),
        (html.escape(job.name), "font-weight:bold", job.name),
        (job.state.value, f"color:{colour}", job.raw_state),
        (duration(elapsed_s(job, now, read_at)), "", ""),
        (left_text, left_style, ""),
        (html.escape(where), "", where),
    )
    return "<div>" + "".join(
        _cell(text, width, style, title)
        for (text, style, title), (_name, width) in zip(values, _COLUMNS, strict=True)
    ) + "</div>"  # fmt: skip


def jobs_title(jobs: list[Job]) -> str:
    """The jobs section's title, so a collapsed section still says what is there."""
    if not jobs:
        return "Your jobs: none"
    counts: dict[str, int] = {}
    for j in jobs:
        counts[j.state.value] = counts.get(j.state.value, 0) + 1
    return "Your jobs: " + ", ".join(f"{n} {state}" for state, n in counts.items())


def status_line(snap: Snapshot, who: str) -> str:
    """The line at the top: who, OK or stale, and when the shown data was read."""
    who_html = f"<b>{html.escape(who)}</b>"
    state = snap.state
    if snap.stale:
        since = f" since {snap.failed_at:%H:%M:%S}" if snap.failed_at else ""
        first = (snap.error or "").strip().splitlines()
        reason = _cut(first[0]) if first else "read failed"
        shown = f" (showing data from {state.read_at:%H:%M:%S})" if state else ""
        return (
            f"{who_html}: <span style='color:{_RED}'>stale{since}: "
            f"{html.escape(reason)}{shown}</span>"
        )
    if state is None:
        return f"{who_html}: <i>connecting…</i>"
    return f"{who_html}: <span style='color:{_GREEN}'>OK</span> · updated {state.read_at:%H:%M:%S}"


def error_html(message: str | None) -> str:
    """A failure's full message (cut to a readable length), or nothing."""
    if not message:
        return ""
    return f"<pre style='color:{_RED};white-space:pre-wrap'>{html.escape(_cut(message))}</pre>"


def gpus_html(s: ClusterState) -> str:
    """Free GPUs per partition, with their SU rate and typical wait."""
    rows = "".join(
        f"<tr><td>{html.escape(g.partition)}</td><td>{html.escape(g.label)}</td>"
        f"<td>{g.free}/{g.total}</td><td>{_su(g.su_per_gpu_hour)}</td>"
        f"<td>{html.escape(_wait(g))}</td></tr>"
        for g in s.gpus
    )
    return (
        "<table><tr><th>partition</th><th>GPU</th><th>free</th><th>SU/GPU-h</th>"
        f"<th>typical wait</th></tr>{rows}</table>"
    )


def gpus_title(s: ClusterState) -> str:
    """The GPU section's title: how many are free right now."""
    return f"GPUs: {sum(g.free for g in s.gpus)} free of {sum(g.total for g in s.gpus)}"


def money_html(s: ClusterState) -> str:
    """SU balances per account and the user's fairshare."""
    balances = ", ".join(
        f"{html.escape(a.account)}: {a.balance:,.0f} SUs" if a.balance is not None
        else html.escape(a.account)
        for a in s.allocations
    )  # fmt: skip
    fair = f" · fairshare {s.user_fairshare:.2f}" if s.user_fairshare is not None else ""
    return f"<b>SU balance</b>: {balances or '?'}{fair}"


def storage_html(s: ClusterState) -> str:
    """Quota bars, and what could not be read."""
    bars = "".join(_quota_bar(q) for q in s.quotas)
    errors = "".join(
        f"<div style='color:{_RED}'>{html.escape(k)}: {html.escape(v)}</div>"
        for k, v in s.errors.items()
    )
    return f"<b>Storage</b>{bars}{errors}"


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 1] + "…"


def _su(rate: float | None) -> str:
    return "?" if rate is None else f"{rate:.2f}"


def _wait(g: GpuAvailability) -> str:
    from rv_jupyter.facts import GPU_TYPES

    return GPU_TYPES[g.gpu_type].typical_wait if g.gpu_type in GPU_TYPES else "?"


def _quota_bar(q: Quota) -> str:
    pct = q.use_percent or 0
    colour = _RED if pct >= 90 else _AMBER if pct >= 75 else _GREEN
    return (
        f"<div>{html.escape(q.type)} ({html.escape(q.location or '')}): "
        f"{html.escape(q.used_text or '?')} of {html.escape(q.size_text or '?')}"
        f"<div style='background:#eee;width:20em;height:0.6em'>"
        f"<div style='background:{colour};width:{min(pct, 100):.0f}%;height:100%'></div>"
        "</div></div>"
    )
