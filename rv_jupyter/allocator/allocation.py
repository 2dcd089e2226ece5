"""What the allocator hands back: a running job with GPUs, and what can be done with it."""

from __future__ import annotations

import html
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from rv_jupyter.allocator.request import Request
from rv_jupyter.allocator.strategies import Strategy
from rv_jupyter.cluster.background import run_sync
from rv_jupyter.facts import RemotePaths
from rv_jupyter.remote import Completed
from rv_jupyter.slurm import Job, expand_hostlist, parse_scontrol, scancel, scontrol, srun
from rv_jupyter.slurm.gres import gpus

if TYPE_CHECKING:
    from rv_jupyter.cluster.handle import Cluster
    from rv_jupyter.telemetry.view import GpuView


def gpu_mismatch(strategy: Strategy, node: str, gres_on_node: str | None) -> str | None:
    """A warning when the node's GPUs are not the type asked (seen on Rivanna: a V100
    request landed on an A6000 node); None when they match or the node did not say."""
    if gres_on_node and gres_on_node != strategy.shape.gpu.gres:
        return f"Asked for {strategy.shape.gpu.label} but node {node} has {gres_on_node} GPUs."
    return None


@dataclass
class Allocation:
    """A running allocation: job id, nodes, GPUs, walltime; run commands in it or cancel it."""

    cluster: Cluster = field(repr=False)
    job_id: str
    name: str
    partition: str
    gpu_type: str  # the product's key of what was asked (a100_80, ...)
    gres_on_node: str | None  # the GRES type the node really has
    gpu_count: int
    nodes: int
    node_list: str
    start_time: datetime | None
    time_limit_s: int | None
    strategy: Strategy = field(repr=False)
    request: Request = field(repr=False)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    async def from_job(
        cls, cluster: Cluster, job: Job, strategy: Strategy, req: Request
    ) -> Allocation:
        """Build from the winner's squeue row, checking the GPU type the node really has."""
        nodes = expand_hostlist(job.node_list) if job.node_list else []
        node = nodes[0] if nodes else ""
        records = []
        if node:
            records = parse_scontrol(
                await cluster.arun(scontrol.show_node_command(node), retry=True)
            )
        actual = gpus(records[0].get("Gres") or "")[0] if records else None
        alloc = cls(
            cluster=cluster,
            job_id=job.job_id,
            name=job.name,
            partition=job.partition or strategy.shape.gpu.partition,
            gpu_type=strategy.shape.gpu.key,
            gres_on_node=actual,
            gpu_count=strategy.shape.gpus,
            nodes=strategy.shape.nodes,
            node_list=job.node_list or "",
            start_time=job.start_time,
            time_limit_s=job.time_limit_s,
            strategy=strategy,
            request=req,
        )
        mismatch = gpu_mismatch(strategy, node, actual)
        if mismatch:
            alloc.warnings.append(mismatch)
        return alloc

    @property
    def su_per_hour(self) -> float:
        """Service units per hour this allocation costs."""
        return self.strategy.su_per_hour

    def cost_so_far(self, now: datetime | None = None) -> float:
        """SUs spent since it started."""
        if self.start_time is None:
            return 0.0
        elapsed = ((now or datetime.now()) - self.start_time).total_seconds()
        return max(0.0, elapsed) / 3600 * self.su_per_hour

    def time_left_s(self, now: datetime | None = None) -> float | None:
        """Seconds of walltime left."""
        if self.start_time is None or self.time_limit_s is None:
            return None
        used = ((now or datetime.now()) - self.start_time).total_seconds()
        return max(0.0, self.time_limit_s - used)

    # -- actions (async core) --------------------------------------------------------

    async def arun(self, command: str | Sequence[str], *, timeout: float | None = 600) -> Completed:
        """Run a command inside the allocation (`srun --jobid --overlap`), on its first node."""
        argv = command if isinstance(command, str) else shlex.join(command)
        step = srun.step(self.job_id, ["bash", "-c", argv])
        return await self.cluster.connection.run(step, timeout=timeout, check=False)

    async def acancel(self) -> None:
        """End the allocation now."""
        await self.cluster.arun(scancel.command([self.job_id]))

    async def alogs(self, *, err: bool = False, lines: int = 200) -> str:
        """The last lines of the job's log."""
        paths = RemotePaths(await self.cluster.auser())
        path = f"{paths.logs}/{self.name}-{self.job_id}.{'err' if err else 'out'}"
        return await self.cluster.arun(f"tail -n {int(lines)} -- {shlex.quote(path)}", retry=True)

    # -- sync facade ----------------------------------------------------------------

    def run(self, command: str | Sequence[str], *, timeout: float | None = 600) -> Completed:
        """Run a command inside the allocation (blocking)."""
        return run_sync(self.arun(command, timeout=timeout))

    def cancel(self) -> None:
        """End the allocation now (blocking)."""
        run_sync(self.acancel())

    def logs(self, *, err: bool = False, lines: int = 200) -> str:
        """The last lines of the job's log (blocking)."""
        return run_sync(self.alogs(err=err, lines=lines))

    def gpus(self) -> GpuView:
        """Its GPUs on every node: `.latest()` and `.history()` DataFrames (`gpu_count` is
        how many). Sampling runs while something reads it, and stops a minute after."""
        from rv_jupyter.telemetry.view import GpuView

        return GpuView.of(self.cluster, self.job_id)

    def __repr__(self) -> str:
        return f"<Allocation {str(self).splitlines()[0]}>"

    def __str__(self) -> str:
        left = self.time_left_s()
        left_s = "?" if left is None else f"{left / 3600:.1f} h"
        text = (
            f"Job {self.job_id}: {self.gpu_count}x {self.strategy.shape.gpu.label} on "
            f"{self.node_list} ({self.partition}), {left_s} left, {self.su_per_hour:.2f} SU/h"
        )
        return "\n".join([text, *(f"! {w}" for w in self.warnings)])

    def _repr_html_(self) -> str:
        return "<br>".join(html.escape(line) for line in str(self).splitlines())
