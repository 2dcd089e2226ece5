"""`squeue`: the user's jobs, with reasons and start estimates.

Why this format: `-O Field:'|'` (a `|` suffix, no width) prints every value whole in
Slurm 22.05 through 24.x; `-o "%.18i"`-style widths cut long names and node lists. The
header stays on and columns are read by name. The two free-text fields go last, Reason
then Name, and lines are split with maxsplit, so a `|` inside a job name stays in it.
JobArrayID (`%i`) is used, not JobID (`%A`): it keeps `123_4`, `123_[5-9]` and `123+0`
for array and het jobs (and is the plain id otherwise); both print the title JOBID.
`SLURM_TIME_FORMAT=standard` pins ISO timestamps even if the user's shell sets a
relative or custom format; `--local` skips a federation lookup (one slurmctld RPC).
"""

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

FIELDS = (
    "JobArrayID:'|',Partition:'|',State:'|',TimeUsed:'|',TimeLimit:'|',StartTime:'|',"
    "SubmitTime:'|',NumNodes:'|',NumCPUs:'|',tres-per-node:'|',tres-alloc:'|',Account:'|',"
    "UserName:'|',NodeList:'|',Reason:'|',Name:'|'"
)
_PREFIX = "SLURM_TIME_FORMAT=standard squeue --local"
# --me (Slurm >= 20.11) needs no user name, so the state batch needs no first trip.
COMMAND = f"{_PREFIX} --me -O {FIELDS}"


def command(*, job_ids: Sequence[str] = (), user: str | None = None, everyone: bool = False) -> str:
    """squeue for given jobs (any state squeue still holds), a user's jobs, or everyone's."""
    who = f" -u {shlex.quote(user)}" if user else ("" if job_ids or everyone else " --me")
    ids = f" -j {shlex.quote(','.join(job_ids))}" if job_ids else ""
    return f"{_PREFIX}{who}{ids} -O {FIELDS}"


class Job(_table.Record):
    """A job as squeue shows it."""

    job_id: str  # keeps array/het suffixes: 123_4, 123_[5-9], 123+0
    name: str
    user: str | None = None
    account: str | None = None
    partition: str | None = None
    state: JobState
    raw_state: str
    reason: str | None = None
    time_used_s: int | None = None
    time_limit_s: int | None = None  # None: UNLIMITED or not set
    start_time: datetime | None = None  # actual, or Slurm's estimate while pending
    submit_time: datetime | None = None
    nodes: int | None = None
    cpus: int | None = None
    node_list: str | None = None
    tres_per_node: str | None = None  # as printed: gres:gpu:a6000:2 or gres/gpu:a6000=2
    tres_alloc: str | None = None  # allocated (or, while pending, requested) TRES
    gpus_per_node: int = 0
    gpu_type: str | None = None

    @property
    def gpus(self) -> int:
        """GPUs of the whole job: from TRES if printed, else per node x nodes."""
        from_tres = gres.gpus_in_tres(self.tres_alloc or "")
        return from_tres or self.gpus_per_node * (self.nodes or 1)

    @property
    def time_used(self) -> int | None:
        """Seconds the job has run (same as `time_used_s`)."""
        return self.time_used_s

    @property
    def time_limit(self) -> int | None:
        """Walltime limit in seconds (same as `time_limit_s`)."""
        return self.time_limit_s

    @property
    def num_cpus(self) -> int | None:
        """CPUs of the job (same as `cpus`)."""
        return self.cpus


def parse_squeue(text: str) -> _table.Table[Job]:
    """Jobs from `squeue -O` output (COMMAND, `command()`); no jobs is an empty list."""
    jobs = _table.Table(model=Job)
    for row in _table.rows(text, command="squeue", required=("JOBID", "STATE")):
        raw = row.pop("STATE")
        state, _ = job_state(raw)
        tres = _table.pop(row, "TRES_PER_NODE")
        tres = "" if tres in ("", "N/A", "(null)") else tres
        alloc = row.pop("TRES_ALLOC", "")
        gtype, count = gres.gpus(tres)
        if gtype is None and count == 0:  # asked with --gpus: type only in the TRES
            gtype = gres.gpus(alloc)[0]
        reason = row.pop("REASON", "")
        nodes = row.pop("NODELIST", "")
        jobs.append(
            Job(
                job_id=row.pop("JOBID"),
                name=row.pop("NAME", ""),
                user=_table.pop(row, "USER", "USERNAME") or None,
                account=row.pop("ACCOUNT", "") or None,
                partition=row.pop("PARTITION", "") or None,
                state=state,
                raw_state=raw,
                reason=None if reason in ("", "None", "(null)") else reason,
                time_used_s=parse_duration(_table.pop(row, "TIME", "TIME_USED")),
                time_limit_s=parse_duration(row.pop("TIME_LIMIT", "")),
                start_time=parse_timestamp(row.pop("START_TIME", "")),
                submit_time=parse_timestamp(row.pop("SUBMIT_TIME", "")),
                nodes=_table.to_int(row.pop("NODES", "")),
                cpus=_table.to_int(row.pop("CPUS", "")),
                node_list=nodes if nodes not in ("", "(null)", "None assigned") else None,
                tres_per_node=tres or None,
                tres_alloc=alloc if alloc not in ("", "N/A", "(null)") else None,
                gpus_per_node=count,
                gpu_type=gtype,
                extra=row,
            )
        )
    return jobs


def to_frame(jobs: list[Job]) -> pd.DataFrame:
    """Jobs as a DataFrame."""
    return _table.frame(jobs, model=Job)
