"""`squeue`: the user's jobs, with reasons and start estimates."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from rv_jupyter.slurm import _table, gres
from rv_jupyter.slurm.states import JobState, job_state
from rv_jupyter.slurm.timefmt import parse_duration, parse_timestamp

if TYPE_CHECKING:
    import pandas as pd

# Name is the only free text: it goes last, so a `|` inside it stays in it.
FIELDS = (
    "JobID:'|',Partition:'|',State:'|',Reason:'|',TimeUsed:'|',TimeLimit:'|',StartTime:'|',"
    "SubmitTime:'|',NumNodes:'|',NumCPUs:'|',tres-per-node:'|',Account:'|',UserName:'|',"
    "NodeList:'|',Name:'|'"
)
# --me (Slurm >= 20.11) needs no user name, so the state batch needs no first trip;
# --local skips a federation lookup (one slurmctld RPC) on clusters that have none.
COMMAND = f"squeue --local --me -O {FIELDS}"


def command(*, job_ids: Sequence[str] = (), user: str | None = None) -> str:
    """squeue for given jobs (any state squeue still knows) or a user's jobs."""
    who = f"-u {shlex.quote(user)}" if user else "--me"
    ids = f" -j {shlex.quote(','.join(job_ids))}" if job_ids else ""
    return f"squeue --local {who}{ids} -O {FIELDS}"


class Job(_table.Record):
    """A job as squeue shows it."""

    job_id: str
    name: str
    user: str | None = None
    account: str | None = None
    partition: str | None = None
    state: JobState
    raw_state: str
    reason: str | None = None
    time_used_s: int | None = None
    time_limit_s: int | None = None
    start_time: datetime | None = None  # actual, or Slurm's estimate while pending
    submit_time: datetime | None = None
    nodes: int | None = None
    cpus: int | None = None
    node_list: str | None = None
    gpus_per_node: int = 0
    gpu_type: str | None = None


def parse_squeue(text: str) -> list[Job]:
    """Jobs from `squeue -O` output (COMMAND); no jobs is an empty list."""
    jobs = []
    for row in _table.rows(text, command="squeue", required=("JOBID", "STATE")):
        raw = row.pop("STATE")
        state, _ = job_state(raw)
        tres = row.pop("TRES_PER_NODE", "")
        gtype, count = gres.gpus(tres) if tres not in ("", "N/A") else (None, 0)
        reason = row.pop("REASON", "")
        nodes = row.pop("NODELIST", "")
        jobs.append(
            Job(
                job_id=row.pop("JOBID"),
                name=row.pop("NAME", ""),
                user=row.pop("USER", None) or None,
                account=row.pop("ACCOUNT", None) or None,
                partition=row.pop("PARTITION", None) or None,
                state=state,
                raw_state=raw,
                reason=None if reason in ("", "None", "(null)") else reason,
                time_used_s=parse_duration(row.pop("TIME", "")),
                time_limit_s=parse_duration(row.pop("TIME_LIMIT", "")),
                start_time=parse_timestamp(row.pop("START_TIME", "")),
                submit_time=parse_timestamp(row.pop("SUBMIT_TIME", "")),
                nodes=_int(row.pop("NODES", "")),
                cpus=_int(row.pop("CPUS", "")),
                node_list=nodes or None,
                gpus_per_node=count,
                gpu_type=gtype,
                extra=row,
            )
        )
    return jobs


def _int(v: str) -> int | None:
    return int(v) if v.strip().isdigit() else None


def to_frame(jobs: list[Job]) -> pd.DataFrame:
    """Jobs as a DataFrame."""
    return _table.frame(jobs)
