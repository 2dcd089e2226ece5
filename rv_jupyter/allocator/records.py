"""What the fan-out hands its faces: progress events, dry runs, fire-and-forget submissions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rv_jupyter.allocator.request import Request
from rv_jupyter.allocator.strategies import Plan, Strategy


@dataclass(frozen=True)
class Event:
    """Progress for a face to show: one strategy's job and what Slurm says of it."""

    strategy: Strategy
    job_id: str | None
    state: str
    reason: str | None = None
    start: datetime | None = None  # Slurm's estimated start, while pending

    def row(self) -> dict[str, Any]:
        """As the faces show it (a table row, a JSON object)."""
        return {
            "strategy": self.strategy.key, "partition": self.strategy.shape.gpu.partition,
            "job": self.job_id, "state": self.state, "reason": self.reason,
            "start": self.start.isoformat(sep=" ", timespec="minutes") if self.start else None,
        }  # fmt: skip

    def line(self) -> str:
        """One line of text: `gpu-a40 job 12 pending (Resources), starts ~2026-11-25 16:40`."""
        why = f" ({self.reason})" if self.reason else ""
        start = self.row()["start"]
        when = f", starts ~{start}" if start else ""
        return f"{self.strategy.shape.gpu.partition} job {self.job_id} {self.state}{why}{when}"


@dataclass
class DryRun:
    """What would be submitted: the ranked plan and each strategy's exact script."""

    plan: Plan
    scripts: dict[str, str] = field(default_factory=dict)


@dataclass
class Submission:
    """A request submitted with its work as the jobs' command, not waited for: the
    first job to run claims the work and cancels its siblings on the cluster."""

    request: Request
    jobs: dict[str, Strategy]
    claim_dir: str
    plan: Plan
