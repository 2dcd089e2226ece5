"""`sbatch --test-only`: when and where Slurm would start a job, without submitting it.

The estimate is one stderr line whose wording drifts between versions, so it is read
by pattern, every part after the start time optional:
  22.05-24.x  `sbatch: Job 1234 to start at 2024-05-01T10:00:00 using 4 processors
              on nodes udc-an28-1 in partition gpu-a6000`
  older       `sbatch: Job 1234 to start at ... using 4 processors on udc-an28-1`
              (no job number in some; `cpus` for `processors` in others).
  newer       `sbatch: Job 62266174 to start at 2026-08-27T11:22:03 a using 4 processors
              on nodes sc078 in partition htc` (a stray short word before `using`).
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm.sbatch import submit_error
from rv_jupyter.slurm.timefmt import parse_timestamp

_LINE = re.compile(
    r"\bJob\s+(?:(?P<job>\d+)\s+)?to start at\s+(?P<start>\S+)"
    r"(?:\s+\w{1,3}(?=\s+using\b))?"  # newer releases: `<time> a using ...`
    r"(?:\s+using\s+(?P<procs>\d+)\s+(?:processors|cpus|CPUs|cores))?"
    r"(?:\s+on\s+(?:nodes?\s+)?(?P<nodes>(?!(?:in|nodes?)\b)\S+))?"
    r"(?:\s+in partition\s+(?P<partition>\S+))?"
)
# Words that mark stderr as a refusal rather than output we failed to read.
_REFUSAL = re.compile(r"error|fail|invalid|denied|not available|violates|unable", re.I)


class TestOnlyResult(BaseModel):
    """Slurm's estimate for a job that was not submitted (a hint, not a promise)."""

    model_config = ConfigDict(frozen=True)
    __test__ = False  # not a pytest test class

    job_id: str | None  # the id the probe used up; absent in older versions
    start: datetime
    processors: int | None = None
    nodes: str | None = None
    partition: str | None = None


def parse_test_only(stderr: str) -> TestOnlyResult:
    """The estimate in `sbatch --test-only` stderr; SubmitRefused if Slurm said no."""
    for line in stderr.splitlines():
        m = _LINE.search(line)
        if not m:
            continue
        start = parse_timestamp(m.group("start"))
        if start is None:
            raise ParseError(
                "Unreadable start time (is SLURM_TIME_FORMAT set?)",
                command="sbatch --test-only",
                line=line,
            )
        return TestOnlyResult(
            job_id=m.group("job"),
            start=start,
            processors=int(m.group("procs")) if m.group("procs") else None,
            nodes=m.group("nodes"),
            partition=m.group("partition"),
        )
    if _REFUSAL.search(stderr):
        raise submit_error(stderr, command="sbatch --test-only")
    raise ParseError(
        "No start estimate in sbatch --test-only output",
        command="sbatch --test-only",
        line=stderr.strip(),
    )
