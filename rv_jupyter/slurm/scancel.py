"""`scancel`: end jobs (or signal their steps), by id or by the request tag they carry.

Why this form: ids go on one command line, each quoted, so one RPC ends them all;
scancel prints nothing on success, so what a caller reads after it is its own. The
sweep by tag finds and cancels on the login node in one round trip, because the jobs it
is for are those whose ids the caller may never have seen (an sbatch batch cut off by
an interrupt or a dropped connection).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from rv_jupyter.slurm import squeue


def command(job_ids: Sequence[str], *, signal: str | None = None, quiet: bool = False) -> str:
    """scancel for `job_ids` (jobs `123`, or steps `123.4`).

    `signal` sends that signal (`TERM`, `USR1`, `9`) instead of ending the job: with a
    step id, to that step's tasks only. `quiet` drops scancel's complaint about a job or
    step that has already ended. ValueError for no ids: a bare scancel is an error in
    Slurm, and an empty list here is a caller's bug, never "cancel everything".
    """
    if not job_ids:
        raise ValueError("scancel needs at least one job id")
    parts = ["scancel"]
    if quiet:
        parts.append("--quiet")
    if signal is not None:
        parts.append(shlex.quote(f"--signal={signal}"))
    parts += (shlex.quote(j) for j in job_ids)
    return " ".join(parts)


def tagged_cancel(tag: str) -> str:
    """Shell text that cancels your jobs whose comment starts `tag:`, printing their ids.

    Twice, a second apart: an sbatch of a dying connection may still land just after
    the first look. xargs hands the ids over as words, never through a shell (no glob
    of an array id `123_[1-3]`). Exits 0: a job that ended between the look and the
    cancel is already gone, and cancelling twice is harmless.
    """
    sweep = f'{squeue.tagged_ids(tag)} | xargs -r sh -c \'scancel "$@"; echo "$@"\' sh'
    return f"{sweep}; sleep 1; {sweep}; true"
