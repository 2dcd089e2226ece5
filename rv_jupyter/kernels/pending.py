"""A kernel's start while Slurm queues its job, safe against the server being killed.

Before anything is submitted, the start is written to the kernel registry (registry.py) with
the tag every job of its request will carry (the allocator puts it in their Slurm
comment), and the job ids follow as Slurm gives them. A server that later finds the record
of a dead process cancels the jobs by that tag: ids alone would miss a job queued in the
moment the server died. A kernel that had already launched in its job is taken back
instead (adopt.py). While Slurm keeps the job waiting, its state is read at the shared
poller's pace, backing off, not every 2 s for as long as it waits.
"""

from __future__ import annotations

import asyncio
import json
import shlex
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rv_jupyter.allocator.fanout import Allocator
from rv_jupyter.allocator.records import Event
from rv_jupyter.cluster.poller import IDLE_S, next_interval
from rv_jupyter.errors import CommandFailed, RvError, SshError
from rv_jupyter.kernels import registry
from rv_jupyter.kernels.registry import RUNNING, WAITING
from rv_jupyter.slurm import scancel, squeue

if TYPE_CHECKING:
    from rv_jupyter.allocator.allocation import Allocation
    from rv_jupyter.allocator.request import Request
    from rv_jupyter.cluster.handle import Cluster

# A job that backfills starts within about a minute of its submission: until then its
# state is read at the poller's fast pace, then as the poller reads a quiet queue (capped
# at IDLE_S: a job that starts must not wait minutes for its kernel).
FAST_FOR_S = 60.0


def waits_while_pending() -> Iterator[float]:
    """Seconds between reads of a pending kernel's jobs: 1, 2, 4, then the shared
    poller's pace (poller.next_interval), busy for FAST_FOR_S and quiet after."""
    previous: float | None = None
    ramp, elapsed = 1.0, 0.0
    while True:
        previous = next_interval(previous, busy=elapsed < FAST_FOR_S, max_idle_s=IDLE_S)
        wait = min(ramp, previous)
        yield wait
        ramp, elapsed = ramp * 2, elapsed + wait


class PacedAllocator(Allocator):
    """The fan-out allocator, reading its jobs' states at waits_while_pending()'s pace."""

    def __init__(self, cluster: Cluster, waits: Iterator[float] | None = None) -> None:
        self._waits = waits if waits is not None else waits_while_pending()
        super().__init__(cluster)

    # The fan-out loop reads `poll_s` before each wait: each read is the next step of
    # the back-off. (Allocator.__init__ assigns its fixed default; it is ignored.)
    @property
    def poll_s(self) -> float:
        return next(self._waits)

    @poll_s.setter
    def poll_s(self, _fixed: float) -> None:
        pass


class PendingStart:
    """The registry's record of one kernel's start, from before submission to launch."""

    def __init__(self, kernel_id: str, kernel_name: str, rv_config: str, tag: str) -> None:
        self.kernel_id, self.tag = kernel_id, tag
        self._record: dict[str, Any] = {
            "kernel_id": kernel_id, "kernel_name": kernel_name, "rv_config": rv_config,
            "phase": WAITING, "tag": tag, "jobs": [],
        }  # fmt: skip

    def save(self) -> None:
        """Write the record (before the first sbatch, and whenever a job id is new)."""
        registry.remember(self.kernel_id, self._record)

    def saw(self, job_id: str | None) -> None:
        """A job of the start, as the allocator reports it."""
        if job_id and job_id not in self._record["jobs"]:
            self._record["jobs"].append(job_id)
            self.save()

    async def aallocate(
        self, cluster: Cluster, req: Request, on_event: Callable[[Event], None], log: Any
    ) -> Allocation:
        """The fan-out allocation of `req` (whose tag this start holds), recorded from
        before its first sbatch to its end; the record is dropped if it fails."""
        self.save()

        def event(e: Event) -> None:
            self.saw(e.job_id)
            on_event(e)

        try:
            return await PacedAllocator(cluster).allocate(req, on_event=event)
        except BaseException as exc:
            await self.aended(cluster, exc, log)
            raise

    async def aended(self, cluster: Cluster, exc: BaseException, log: Any) -> None:
        """The start failed or was cancelled: drop the record once nothing of it is queued.

        The allocator cancels what it submitted on every path; only when the connection
        failed may jobs be left, so then they are swept by tag here, and the record is
        kept (for a later server) if even that fails.
        """
        if isinstance(exc, SshError) and not isinstance(exc, CommandFailed):
            try:
                await asyncio.shield(acancel_tagged(cluster, self.tag))
            except RvError as err:
                log.warning(
                    "rv-jupyter kernel %s: could not check that nothing of its start is "
                    "left queued (%s); a later Jupyter server will cancel it (tag %s).",
                    self.kernel_id, err.message, self.tag,
                )  # fmt: skip
                return
        registry.forget(self.kernel_id)


async def acancel_tagged(cluster: Cluster, tag: str) -> list[str]:
    """Cancel every queued or running job of yours that carries `tag`; their ids.

    The allocator's own sweep (scancel.tagged_cancel): twice, a second apart, as an
    sbatch of a dying connection may still land just after the first look.
    """
    # Retried on a dropped connection: cancelling twice is harmless.
    out = await cluster.arun(scancel.tagged_cancel(tag), timeout=30, retry=True)
    return sorted(set(out.split()), key=lambda j: (len(j), j))


async def alaunched(cluster: Cluster, data: dict[str, Any]) -> dict[str, Any] | None:
    """A record written as its kernel launched, completed from the node's files if the
    kernel did start (its ports written, no exit yet); None if it did not."""
    from rv_jupyter.facts import RemotePaths

    rv = data.get("rv") or {}
    if not rv.get("remote_id"):
        return None
    paths = RemotePaths(await cluster.auser())
    file = shlex.quote(f"{paths.kernels}/{rv['remote_id']}")
    out = await cluster.arun(
        f"test -e {file}.exit || cat {file}.ports 2>/dev/null; true", timeout=30, retry=True
    )
    try:
        info = json.loads(out.strip().splitlines()[0]) if out.strip() else None
    except ValueError:
        return None
    if not isinstance(info, dict) or not isinstance(info.get("ports"), dict):
        return None
    rv = {**rv, "remote_ports": {c: int(p) for c, p in info["ports"].items()},
          "step": info.get("step")}  # fmt: skip
    return {**data, "rv": rv, "phase": RUNNING}


async def acancel_left(cluster: Cluster, data: dict[str, Any]) -> list[str]:
    """Cancel the jobs a kernel nobody will use allocated (those carrying its tag, and
    its job if it allocated one); the ids cancelled. A job of yours it attached to is
    left alone."""
    tag, rv = data.get("tag"), data.get("rv") or {}
    cancelled = await acancel_tagged(cluster, tag) if isinstance(tag, str) else []
    job = rv.get("job")
    if rv.get("allocated") and isinstance(job, str) and job.isdigit() and job not in cancelled:
        out = await cluster.arun(
            f"{squeue.listed([job])} | grep -qx {shlex.quote(job)} && "
            f"{scancel.command([job])} && echo {shlex.quote(job)}; true",
            timeout=30, retry=True,
        )  # fmt: skip
        cancelled += out.split()
    return cancelled
