"""`sbatch --test-only`: when and where Slurm would start a job, without submitting it."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm.sbatch import submit_error

# Slurm 22.05-24.x: "sbatch: Job 1234 to start at 2024-05-01T10:00:00 using 4 processors
# on nodes udc-an28-1 in partition gpu-a6000". Older versions omit the job number, some
# say "cpus", and the node part can be missing.
_LINE = re.compile(
    r"Job\s*(?P<job>\d+)?\s+to start at\s+(?P<start>\S+)"
    r"(?:\s+using\s+(?P<procs>\d+)\s+(?:processors|cpus|CPUs))?"
    r"(?:\s+on nodes?\s+(?P<nodes>\S+))?"
    r"(?:\s+in partition\s+(?P<partition>\S+))?"
)


class TestOnlyResult(BaseModel):
    """Slurm's estimate for a job that was not submitted (a hint, not a promise)."""

    model_config = ConfigDict(frozen=True)
    __test__ = False  # not a pytest test class

    job_id: str | None
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
        try:
            start = datetime.fromisoformat(m.group("start"))
        except ValueError:
            raise ParseError(
                "Unreadable start time", command="sbatch --test-only", line=line
            ) from None
        return TestOnlyResult(
            job_id=m.group("job"),
            start=start,
            processors=int(m.group("procs")) if m.group("procs") else None,
            nodes=m.group("nodes"),
            partition=m.group("partition"),
        )
    raise submit_error(stderr, command="sbatch --test-only")
