"""The fan-out's winner step: one squeue read and the claim file in, a decision out. Pure."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from rv_jupyter.slurm import JobState

# Polls to wait for a running job's claim before taking it as the winner anyway (its
# scratch may be unwritable; it still runs and holds GPUs).
UNCLAIMED_POLLS = 3


@dataclass(frozen=True)
class WinnerStep:
    """What one poll of the fan-out's jobs decides."""

    outcome: str  # won, claim_lost, all_ended, wait
    job_id: str | None = None
    unclaimed_polls: int = 0


def winner_step(
    ids: list[str], jobs: dict[str, Any], claimed: str, *, read: bool, unclaimed_polls: int
) -> WinnerStep:
    """The fan-out's decision from one squeue read and the claim file. Pure.

    The job holding the claim wins once squeue shows it running. A running job without a
    claim may be a loser about to leave, so it wins only if no claim appears within
    UNCLAIMED_POLLS polls (its scratch may be unwritable). A claim whose job squeue no
    longer lists, or lists as ended, is lost: nothing else will run. `read` is False
    when squeue could not be read: then nothing counts as gone.
    """
    running = [i for i in ids if i in jobs and jobs[i].state == JobState.running]
    if claimed and claimed in running:
        return WinnerStep("won", claimed)
    if claimed and read and (claimed not in jobs or jobs[claimed].state.finished):
        return WinnerStep("claim_lost", claimed)
    polls = unclaimed_polls + 1 if running and not claimed else 0
    if polls > UNCLAIMED_POLLS:
        return WinnerStep("won", running[0], polls)
    alive = [i for i in ids if i in jobs and not jobs[i].state.finished]
    if read and not alive and not claimed:
        return WinnerStep("all_ended", None, polls)
    return WinnerStep("wait", None, polls)


def claim_wait_command(claim: str, seconds: float) -> str:
    """sh that returns once `claim` is written, or after `seconds`."""
    tries = max(1, int(seconds * 20))
    return (
        f"i=0; while [ ! -s {shlex.quote(claim)} ] && [ $i -lt {tries} ]; "
        "do sleep 0.05; i=$((i + 1)); done; true"
    )
