"""`sacct`: accounting records of jobs and their steps, after they left squeue."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from datetime import datetime

from rv_jupyter.slurm import _table
from rv_jupyter.slurm.states import JobState, job_state
from rv_jupyter.slurm.timefmt import parse_duration, parse_timestamp

# --parsable2 (-P) separates with `|` and adds no trailing one; JobName (free text) last.
FIELDS = "JobID,Partition,State,ExitCode,Elapsed,Start,End,NodeList,AllocTRES,JobName"


def command(job_ids: Sequence[str], *, steps: bool = True) -> str:
    """sacct for the given jobs (jobs only unless `steps`)."""
    ids = shlex.quote(",".join(job_ids))
    return f"sacct -P {'' if steps else '-X '}-j {ids} -o {FIELDS}"


class AcctRecord(_table.Record):
    """One job or step line of sacct."""

    job_id: str
    step: str | None = None  # batch, extern, 0, ... (None for the job itself)
    name: str
    partition: str | None = None
    state: JobState
    raw_state: str
    cancelled_by: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    elapsed_s: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    node_list: str | None = None
    alloc_tres: str | None = None


def parse_sacct(text: str) -> list[AcctRecord]:
    """Records from `sacct -P` output (see `command`)."""
    out = []
    for row in _table.rows(text, command="sacct", required=("JOBID", "STATE")):
        job_id, _, step = row.pop("JOBID").partition(".")
        raw = row.pop("STATE")
        state, by = job_state(raw)
        code, _, sig = row.pop("EXITCODE", "").partition(":")
        nodes = row.pop("NODELIST", "")
        out.append(
            AcctRecord(
                job_id=job_id,
                step=step or None,
                name=row.pop("JOBNAME", ""),
                partition=row.pop("PARTITION", "") or None,
                state=state,
                raw_state=raw,
                cancelled_by=by,
                exit_code=int(code) if code.isdigit() else None,
                signal=int(sig) if sig.isdigit() else None,
                elapsed_s=parse_duration(row.pop("ELAPSED", "")),
                start=parse_timestamp(row.pop("START", "")),
                end=parse_timestamp(row.pop("END", "")),
                node_list=None if nodes in ("", "None assigned") else nodes,
                alloc_tres=row.pop("ALLOCTRES", "") or None,
                extra=row,
            )
        )
    return out
