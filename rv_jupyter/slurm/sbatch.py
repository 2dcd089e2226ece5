"""`sbatch --parsable` output, and sbatch's refusals as errors a user can act on."""

from __future__ import annotations

import re

from rv_jupyter.errors import ParseError, SubmitRefused

# Exact Slurm reasons -> what the user can do about them.
_HINTS = (
    ("Requested node configuration is not available",
     "No node in that partition has what was asked (GPU type/count, memory, CPUs, "
     "feature). Ask for fewer GPUs or less memory, or another GPU type."),
    ("Invalid account or account/partition combination",
     "Use an account listed by `allocations` (set [defaults] account in your rv config)."),
    ("invalid partition specified", "Check the partition name; %rv_status lists them."),
    ("Requested time limit is invalid",
     "The time asked exceeds the partition's limit (3 days on GPU partitions, 12 h on "
     "interactive-rtx3090)."),
    ("Job violates accounting/QOS policy",
     "A per-user limit was hit (e.g. 4 H200, 2 interactive GPUs, 32 GPUs in all); "
     "ask for less or wait for your running jobs."),
    ("More processors requested than permitted", "Ask for fewer CPUs per task."),
    ("Memory required by task is not available", "Ask for less memory (--mem)."),
    ("Job submit/allocate failed", "Slurm refused the job; the reason is above."),
    ("Unable to contact slurm controller", "The scheduler is not answering; try again shortly."),
    ("AssocMaxSubmitJobLimit", "You have too many jobs queued; cancel some first."),
)  # fmt: skip


def parse_sbatch(stdout: str) -> str:
    """The job id from `sbatch --parsable` (`123` or `123;cluster`)."""
    for line in stdout.splitlines():
        m = re.match(r"^\s*(\d+)(?:;\S+)?\s*$", line)
        if m:
            return m.group(1)
        m = re.match(r"^\s*Submitted batch job (\d+)", line)
        if m:
            return m.group(1)
    raise ParseError("No job id in sbatch output", command="sbatch", line=stdout.strip()[:200])


def submit_error(stderr: str, *, command: str = "sbatch") -> SubmitRefused:
    """A SubmitRefused naming Slurm's reason and what to do about it."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    reason = next(
        (ln.split("error:", 1)[1].strip() for ln in reversed(lines) if "error:" in ln),
        lines[-1] if lines else "no reason given",
    )
    reason = re.sub(r"^Batch job submission failed:\s*", "", reason)
    hint = next((h for key, h in _HINTS if key.lower() in stderr.lower()), None)
    return SubmitRefused(f"Slurm refused the job: {reason}", hint=hint, command=command)
