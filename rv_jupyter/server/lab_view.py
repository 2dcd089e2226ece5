"""What the JupyterLab sidebar shows, as JSON: a pure function of one poller snapshot.

Every word and number the Lab UI displays is decided here (the UI holds no Slurm logic):
pending reasons in words beside Slurm's code, the GPU type's label and SU rate, SUs
spent so far, how old the data is and whether the connection is healthy. Times are
given as of the read (`read_at`, the server's wall clock); the UI moves elapsed and
time-left counters on from there with the server's clock (`now`).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel

from rv_jupyter.cluster.poller import Snapshot
from rv_jupyter.facts import gpu_type_of
from rv_jupyter.slurm import Job, JobState, Quota, SuBalance
from rv_jupyter.slurm.reasons import code_of, in_words
from rv_jupyter.slurm.state import GpuAvailability

_RUNNING = (JobState.running, JobState.completing)


class Connection(BaseModel):
    """The cluster connection as the sidebar's first line tells it."""

    user: str | None
    host: str | None
    status: Literal["ok", "reconnecting", "failed", "connecting"]
    error: str | None = None


class LabJob(BaseModel):
    """One job of the user's, ready to show."""

    job_id: str
    name: str
    partition: str | None
    account: str | None
    state: str  # the product's JobState value: pending, running, ...
    raw_state: str
    reason_code: str | None
    reason_text: str | None
    gpus: int
    gpu_label: str | None  # "A6000 48GB"
    node_list: str | None
    nodes: int | None
    elapsed_s: int | None  # as of read_at
    time_limit_s: int | None
    left_s: int | None  # as of read_at
    start_time: str | None  # ISO; Slurm's estimate while pending
    su_per_hour: float | None
    sus: float | None  # spent so far, as of read_at


class LabView(BaseModel):
    """Everything the sidebar shows, read at one moment."""

    connection: Connection
    now: str  # the server's clock when this was sent (ISO)
    read_at: str | None  # when the cluster was read (ISO)
    age_s: float | None
    stale: bool
    jobs: list[LabJob]
    gpus: list[GpuAvailability]
    allocations: list[SuBalance]
    quotas: list[Quota]
    fairshare: float | None
    errors: dict[str, str]
    warn_s: int  # the walltime warning: amber from here, red in the last 2 min


def lab_job(job: Job) -> LabJob:
    """A job as the sidebar shows it."""
    known = gpu_type_of(job.partition or "", job.gpu_type)
    running = job.state in _RUNNING
    elapsed = job.time_used_s if running else None
    left = (
        max(job.time_limit_s - elapsed, 0)
        if elapsed is not None and job.time_limit_s is not None
        else None
    )
    rate = known.su_per_gpu_hour * job.gpus if known and job.gpus else None
    pending = job.state == JobState.pending
    return LabJob(
        job_id=job.job_id,
        name=job.name,
        partition=job.partition,
        account=job.account,
        state=job.state.value,
        raw_state=job.raw_state,
        reason_code=code_of(job.reason) if pending else None,
        reason_text=in_words(job.reason) if pending else None,
        gpus=job.gpus,
        gpu_label=known.label if known else job.gpu_type,
        node_list=job.node_list if not pending else None,
        nodes=job.nodes,
        elapsed_s=elapsed,
        time_limit_s=job.time_limit_s,
        left_s=left,
        start_time=job.start_time.isoformat() if job.start_time else None,
        su_per_hour=rate,
        sus=round(rate * elapsed / 3600, 2) if rate is not None and elapsed is not None else None,
    )


def lab_view(snap: Snapshot, *, user: str | None, host: str | None, warn_s: int = 600) -> LabView:
    """The sidebar's view of `snap` (the shared poller's latest)."""
    s = snap.state
    if s is None:
        status: Literal["ok", "reconnecting", "failed", "connecting"] = (
            "failed" if snap.error else "connecting"
        )
    else:
        status = "reconnecting" if snap.stale else "ok"
    age = None if snap.read_at is None else round(time.monotonic() - snap.read_at, 1)
    return LabView(
        connection=Connection(
            user=s.user if s else user, host=s.host if s else host, status=status, error=snap.error
        ),
        now=datetime.now(timezone.utc).isoformat(),
        read_at=s.read_at.astimezone(timezone.utc).isoformat() if s else None,
        age_s=age,
        stale=snap.stale,
        jobs=[lab_job(j) for j in s.jobs] if s else [],
        gpus=list(s.gpus) if s else [],
        allocations=list(s.allocations) if s else [],
        quotas=list(s.quotas) if s else [],
        fairshare=s.user_fairshare if s else None,
        errors=dict(s.errors) if s else {},
        warn_s=warn_s,
    )
