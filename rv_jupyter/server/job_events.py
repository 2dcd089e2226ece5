"""Job events for the Lab UI's notifications, from consecutive poller snapshots. Pure.

A job that was pending and now runs has `started`; a job that left the user's list (or
shows a finished state) has ended, and how comes from accounting (one sacct read for
all of them, made by the hub in live.py, not here). Only jobs seen while someone
listened are reported: a new listener is not told about the past.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel

from rv_jupyter.slurm import Job, JobState
from rv_jupyter.telemetry.rules import END_HINTS

_RUNNING = (JobState.running, JobState.completing)


class JobEvent(BaseModel):
    """One thing that happened to a job, as a notification says it."""

    kind: Literal["started", "ended", "failed"]
    job_id: str
    name: str
    state: str  # Slurm's word: RUNNING, COMPLETED, TIMEOUT, ...
    node_list: str | None = None
    message: str


def started_and_gone(before: Iterable[Job], after: Iterable[Job]) -> tuple[list[Job], list[Job]]:
    """(jobs that were pending and now run, jobs that were listed and have ended)."""
    old = {j.job_id: j for j in before}
    new = {j.job_id: j for j in after}
    started = [
        j for i, j in new.items()
        if j.state in _RUNNING and i in old and old[i].state == JobState.pending
    ]  # fmt: skip
    gone = [
        j for i, j in old.items()
        if not j.state.finished and (i not in new or new[i].state.finished)
    ]  # fmt: skip
    return started, gone


def started_event(job: Job) -> JobEvent:
    where = f" on {job.node_list}" if job.node_list else ""
    return JobEvent(
        kind="started", job_id=job.job_id, name=job.name, state="RUNNING",
        node_list=job.node_list, message=f"Job {job.job_id} ({job.name}) started{where}.",
    )  # fmt: skip


def ended_event(job: Job, final: str | None) -> JobEvent:
    """The end of `job`; `final` is accounting's state ("TIMEOUT", "CANCELLED by 1001"),
    None when accounting has no record of it (yet)."""
    who = f"Job {job.job_id} ({job.name})"
    if not final:
        return JobEvent(
            kind="ended", job_id=job.job_id, name=job.name, state="UNKNOWN",
            node_list=job.node_list,
            message=f"{who} has left the queue; accounting has no record of how it ended yet.",
        )  # fmt: skip
    word = final.split()[0]
    hint = END_HINTS.get(word)
    ok = word == "COMPLETED"
    return JobEvent(
        kind="ended" if ok else "failed", job_id=job.job_id, name=job.name, state=word,
        node_list=job.node_list,
        message=f"{who} completed." if ok else f"{who} ended: {word}"
        + (f". {hint[0].upper()}{hint[1:]}." if hint else "."),
    )  # fmt: skip
