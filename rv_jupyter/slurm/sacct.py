"""`sacct`: accounting records of jobs and their steps, after they left squeue.

Why this format: `--parsable2` (`-P`) separates fields with `|`, adds no trailing one and
never cuts a value (plain `sacct` pads and truncates to ~10 characters). The header is
kept and read by name. The free-text fields go last, Reason then JobName, so a `|` in a
job name stays in it. `SLURM_TIME_FORMAT=standard` pins ISO timestamps. With `-j`,
sacct looks back to the epoch (otherwise only to midnight), so old jobs are found.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from rv_jupyter.slurm import _table
from rv_jupyter.slurm.states import JobState, job_state
from rv_jupyter.slurm.timefmt import parse_duration, parse_timestamp

if TYPE_CHECKING:
    import pandas as pd

FIELDS = (
    "JobID,Partition,Account,State,ExitCode,Elapsed,Timelimit,Submit,Start,End,NodeList,"
    "AllocTRES,Reason,JobName"
)


def command(
    job_ids: Sequence[str] = (),
    *,
    user: str | None = None,
    since: str | None = None,
    steps: bool = True,
) -> str:
    """sacct for the given jobs and/or user (the caller's own jobs of today if neither).

    `since` is any `--starttime` value Slurm takes (`now-2days`, `2024-05-01T00:00`).
    """
    parts = ["SLURM_TIME_FORMAT=standard sacct -P"]
    if not steps:
        parts.append("-X")  # allocations only: no .batch/.extern/.0 lines
    if user:
        parts.append(f"-u {shlex.quote(user)}")
    if since:
        parts.append(f"-S {shlex.quote(since)}")
    if job_ids:
        parts.append(f"-j {shlex.quote(','.join(job_ids))}")
    parts.append(f"-o {FIELDS}")
    return " ".join(parts)


class AcctRecord(_table.Record):
    """One job or step line of sacct."""

    job_id: str  # without the step: 123, 123_4, 123+0
    step: str | None = None  # batch, extern, 0, ... (None for the job itself)
    name: str
    partition: str | None = None
    account: str | None = None
    state: JobState
    raw_state: str
    cancelled_by: str | None = None  # uid (or name) from `CANCELLED by 12345`
    exit_code: int | None = None
    signal: int | None = None  # the `15` of ExitCode `0:15`
    elapsed_s: int | None = None
    time_limit_s: int | None = None
    submit: datetime | None = None
    start: datetime | None = None  # None while pending (`Unknown`)
    end: datetime | None = None  # None while running (`Unknown`)
    node_list: str | None = None
    alloc_tres: str | None = None
    reason: str | None = None

    @property
    def elapsed(self) -> int | None:
        """Seconds the job or step ran (same as `elapsed_s`)."""
        return self.elapsed_s


def parse_sacct(text: str) -> _table.Table[AcctRecord]:
    """Records from `sacct -P` output (see `command`); no jobs is an empty list."""
    out = _table.Table(model=AcctRecord)
    for row in _table.rows(text, command="sacct", required=("JOBID", "STATE")):
        # Step ids follow the first dot: 123.batch, 123_4.0, 123+1.extern.
        job_id, _, step = row.pop("JOBID").partition(".")
        raw = row.pop("STATE")
        state, by = job_state(raw)
        code, _, sig = row.pop("EXITCODE", "").partition(":")
        nodes = row.pop("NODELIST", "")
        reason = row.pop("REASON", "")
        out.append(
            AcctRecord(
                job_id=job_id,
                step=step or None,
                name=row.pop("JOBNAME", ""),
                partition=row.pop("PARTITION", "") or None,
                account=row.pop("ACCOUNT", "") or None,
                state=state,
                raw_state=raw,
                cancelled_by=by,
                exit_code=_table.to_int(code),
                signal=_table.to_int(sig),
                elapsed_s=parse_duration(row.pop("ELAPSED", "")),
                time_limit_s=parse_duration(row.pop("TIMELIMIT", "")),
                submit=parse_timestamp(row.pop("SUBMIT", "")),
                start=parse_timestamp(row.pop("START", "")),
                end=parse_timestamp(row.pop("END", "")),
                node_list=None if nodes in ("", "None assigned", "(null)") else nodes,
                alloc_tres=row.pop("ALLOCTRES", "") or None,
                reason=None if reason in ("", "None", "(null)") else reason,
                extra=row,
            )
        )
    return out


def final_records(records: Iterable[AcctRecord]) -> dict[str, AcctRecord]:
    """Each job's own record (no steps), the newest where one id has several.

    Job ids wrap around (MaxJobId, then 1 again), and `sacct -j` looks back to the
    epoch, so one id may hold records of several jobs: the one submitted last is the
    job asked about. A record with no submit time counts as the oldest; of records
    submitted in the same second, sacct's last one counts. A job with no record is
    absent, not failed: accounting lags the controller by 5-30 s. Ordered by submit
    time, oldest first.
    """
    jobs = sorted((r for r in records if r.step is None), key=lambda r: r.submit or datetime.min)
    newest = {r.job_id: r for r in jobs}
    return dict(sorted(newest.items(), key=lambda kv: kv[1].submit or datetime.min))


def final_states(records: Iterable[AcctRecord]) -> dict[str, str]:
    """Each job's state as sacct prints it (`CANCELLED by 1001`), from `final_records`."""
    return {job_id: r.raw_state for job_id, r in final_records(records).items()}


def to_frame(records: list[AcctRecord]) -> pd.DataFrame:
    """Records as a DataFrame."""
    return _table.frame(records, model=AcctRecord)
