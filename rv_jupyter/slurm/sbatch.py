"""`sbatch --parsable` output, and sbatch's refusals as errors a user can act on.

Why `--parsable`: it prints just `<jobid>` or `<jobid>;<cluster>`, with no
"Submitted batch job" prose that could change between versions (the prose form is
still accepted). A refusal arrives on stderr as `sbatch: error: Batch job submission
failed: <reason>` (or `allocation failure: <reason>` under --test-only); the reason is
Slurm's fixed text for an error code, so it is matched to a hint by substring.
"""

from __future__ import annotations

import re

from rv_jupyter.errors import ParseError, SubmitRefused

# Slurm's reason text -> what the user can do about it. First match wins.
_HINTS = (
    ("Requested node configuration is not available",
     "No node in that partition has what was asked (GPU type/count, memory, CPUs, "
     "feature). Ask for fewer GPUs or less memory, or another GPU type."),
    ("Invalid account or account/partition combination",
     "Use an account listed by `allocations` (set [defaults] account in your rv config)."),
    ("invalid partition", "Check the partition name; %rv_status lists them."),
    ("Requested time limit is invalid",
     "The time asked exceeds the partition's limit (3 days on GPU partitions, 12 h on "
     "interactive-rtx3090)."),
    ("Job violates accounting/QOS policy",
     "A per-user limit was hit (e.g. 4 H200, 2 interactive GPUs, 32 GPUs in all, 10,000 "
     "jobs); ask for less or wait for your running jobs."),
    ("Invalid generic resource (gres) specification",
     "Check the GPU type in the request, e.g. gpu:a6000:2 (types: a6000, a40, a100, v100, "
     "h200, rtx3090, 1g.10gb)."),
    ("Invalid feature specification", "Check --constraint, e.g. a100_80gb or gpupod."),
    ("Invalid qos specification", "Leave the QOS unset, or use one your account has."),
    ("More processors requested than permitted", "Ask for fewer CPUs per task."),
    ("Memory required by task is not available", "Ask for less memory (--mem)."),
    ("Memory specification can not be satisfied", "Ask for less memory (--mem)."),
    ("Node count specification invalid", "Ask for fewer nodes for this partition."),
    ("MaxSubmit", "You have too many jobs queued; cancel some first."),
    ("Job submit/allocate failed", "Slurm refused the job; the reason is above."),
    ("Unable to contact slurm controller", "The scheduler is not answering; try again shortly."),
    ("Socket timed out", "The scheduler is busy; try again in a minute."),
)  # fmt: skip
# Prefixes around the reason that say nothing to a user.
_NOISE = re.compile(
    r"^(?:(?:sbatch|srun|salloc):\s*)?(?:error:\s*)?"
    r"(?:Batch job submission failed:|allocation failure:|Job submit/allocate failed:)?\s*",
    re.I,
)


def parse_sbatch(stdout: str) -> str:
    """The job id from `sbatch --parsable` (`123` or `123;cluster`)."""
    for line in stdout.splitlines():
        m = re.match(r"^\s*(\d+)(?:;\S+)?\s*$", line) or re.match(
            r"^\s*Submitted batch job (\d+)", line
        )
        if m:
            return m.group(1)
    raise ParseError("No job id in sbatch output", command="sbatch", line=stdout.strip())


def submit_error(stderr: str, *, command: str = "sbatch") -> SubmitRefused:
    """A SubmitRefused naming Slurm's reason (from sbatch's stderr) and what to do."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    # The last error line holds the reason; earlier ones are warnings or context.
    errors = [ln for ln in lines if re.search(r"error:|failure:|failed:", ln, re.I)]
    picked = errors[-1] if errors else (lines[-1] if lines else "")
    reason = _NOISE.sub("", picked).strip() or "no reason given"
    hint = next((h for key, h in _HINTS if key.lower() in stderr.lower()), None)
    return SubmitRefused(f"Slurm refused the job: {reason}", hint=hint, command=command)
