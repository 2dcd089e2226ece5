"""`%%rv_run --no-wait`: a cell submitted as batch jobs, and the handle that follows it.

Every strategy of the fan-out is submitted with the cell as its work. The first job to
run claims it and cancels its siblings on the cluster, so the run goes on with the
laptop closed. The handle reads where the run is in one round trip (the claim
directory lists the jobs that did the work, segments included, and the exit status
once it ended) and can stream the log, wait, fetch `--out` values, or cancel it all.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rv_jupyter.allocator.fanout import Allocator
from rv_jupyter.allocator.records import Submission
from rv_jupyter.allocator.request import Request
from rv_jupyter.cells.in_allocation import PreparedCell, RunResult, prepare_cell, spread
from rv_jupyter.cluster.background import run_sync
from rv_jupyter.errors import ConnectionLost, RequestError
from rv_jupyter.jobs import envfiles
from rv_jupyter.slurm import JobState, parse_sacct, parse_squeue, sacct, scancel, squeue
from rv_jupyter.workspace.envstore import EnvStore

if TYPE_CHECKING:
    from rv_jupyter.cluster.handle import Cluster
    from rv_jupyter.telemetry.view import GpuView

POLL_S = 3.0


@dataclass(frozen=True)
class CellStatus:
    """Where a submitted cell is: waiting, running, or ended (and how)."""

    phase: str  # "pending", "running", "finished", "failed", "cancelled"
    job_id: str | None  # the job doing the work now (or last), once one claimed it
    detail: str = ""
    exit_code: int | None = None
    jobs: tuple[str, ...] = ()  # every job that did the work, segments in order

    @property
    def done(self) -> bool:
        """Nothing of the run is queued or running any more."""
        return self.phase in ("finished", "failed", "cancelled")


@dataclass
class CellJob:
    """A cell running as batch jobs: status, logs, wait, result, cancel."""

    cluster: Cluster = field(repr=False)
    cell: PreparedCell = field(repr=False)
    submission: Submission = field(repr=False)
    on_values: Callable[[dict[str, Any]], None] | None = field(default=None, repr=False)
    submitted_at: float = field(default_factory=time.monotonic, repr=False)
    last: CellStatus | None = None

    @property
    def name(self) -> str:
        """The jobs' name."""
        return self.submission.request.name

    @property
    def job_ids(self) -> list[str]:
        """The jobs submitted for the cell (one per strategy)."""
        return list(self.submission.jobs)

    # -- async core -----------------------------------------------------------------

    async def astatus(self) -> CellStatus:
        """Read where the run is, in one round trip."""
        claim = shlex.quote(self.submission.claim_dir)
        q, listed, ended = await self.cluster.connection.batch(
            [
                squeue.COMMAND,
                f"cat -- {claim}/jobs 2>/dev/null",
                f"cat -- {claim}/exit 2>/dev/null",
            ],
            retry=True,
        )
        workers = tuple(dict.fromkeys(listed.stdout.split()))
        jobs = {j.job_id: j for j in parse_squeue(q.stdout)} if q.exit_status == 0 else {}
        ours = [jobs[i] for i in (*self.job_ids, *workers) if i in jobs]
        current = workers[-1] if workers else None
        if ended.stdout.strip():
            code = int(ended.stdout.split()[0])
            phase = "finished" if code == 0 else "failed"
            self.last = CellStatus(phase, current, f"exit {code}", code, workers)
        elif current and current in jobs:
            j = jobs[current]
            phase = "running" if j.state == JobState.running else "pending"
            node = j.node_list or j.reason or ""
            segment = f" (segment {len(workers)})" if len(workers) > 1 else ""
            self.last = CellStatus(phase, current, f"{j.raw_state} {node}{segment}", None, workers)
        elif any(not j.state.finished for j in ours):
            waiting = "; ".join(
                f"{j.job_id} {j.partition}: {j.reason or j.raw_state}" for j in ours
            )
            self.last = CellStatus("pending", None, waiting, None, workers)
        else:
            self.last = await self._ended(current, workers)
        return self.last

    async def _ended(self, current: str | None, workers: tuple[str, ...]) -> CellStatus:
        """Nothing queued and no exit status: accounting says how the run ended."""
        ids = [current] if current else self.job_ids
        records = parse_sacct(await self.cluster.arun(sacct.command(ids), retry=True))
        # The run's last word: the state of the job (of these) submitted last.
        latest = list(sacct.final_records(records).values())
        state = latest[-1].raw_state if latest else "no record"
        # Cancelled by scancel before it ran, perhaps: its env file goes now.
        await envfiles.sweep(self.cluster.connection, self.cell.paths.env)
        phase = "cancelled" if "CANCEL" in state else "failed"
        where = f"job {current}" if current else "no job ran the cell"
        return CellStatus(phase, current, f"{where}: {state}", None, workers)

    async def afollow(self, on_output: Callable[[str, bool], None]) -> None:
        """Stream each working job's log (segments one after the other) until the end."""
        followed: set[str] = set()
        while True:
            st = await self.astatus()
            # A job that ran and ended between two polls still has its log shown.
            ran = [
                i
                for i in st.jobs
                if i not in followed and (i != st.job_id or st.phase != "pending")
            ]
            for job_id in ran:
                followed.add(job_id)
                await self.cluster.afollow(job_id, on_output)
            if ran:
                continue
            if st.done:
                return
            await asyncio.sleep(POLL_S)

    async def await_(self, on_output: Callable[[str, bool], None] | None = None) -> RunResult:
        """Wait for the end (streaming the log if asked) and bring back the results."""
        if on_output is not None:
            await self.afollow(on_output)
        while not (st := await self.astatus()).done:
            await asyncio.sleep(POLL_S)
        return await self._result(st)

    async def _result(self, st: CellStatus) -> RunResult:
        values, problems = await self.cell.values() if st.phase == "finished" else ({}, {})
        if values and self.on_values:
            self.on_values(values)
        strategy = self.submission.jobs.get(st.jobs[0]) if st.jobs else None
        elapsed = await self._elapsed(st.jobs)
        first = st.jobs[0] if st.jobs else (st.job_id or "?")
        paths = self.cell.paths
        return RunResult(
            job_id=st.job_id or first,
            exit_code=st.exit_code,
            elapsed_s=elapsed,
            sus=elapsed / 3600 * (strategy.su_per_hour if strategy else 0.0),
            workspace=self.cell.workspace,
            logs=f"{paths.logs}/{self.name}-{_brace(st.jobs or (first,))}.{{out,err}}",
            checkpoints=f"{paths.checkpoints}/{self.name}-{first}",
            values=values,
            problems=problems,
            jobs=list(st.jobs),
        )

    async def _elapsed(self, jobs: Sequence[str]) -> float:
        if not jobs:
            return 0.0
        records = parse_sacct(await self.cluster.arun(sacct.command(list(jobs)), retry=True))
        return float(sum(r.elapsed_s or 0 for r in records if r.step is None))

    async def acancel(self) -> list[str]:
        """Cancel every job of the run (siblings, the worker, a queued next segment)."""
        st = await self.astatus()
        ids = list(dict.fromkeys([*self.job_ids, *st.jobs]))
        await self.cluster.arun(scancel.command(ids))
        await envfiles.sweep(self.cluster.connection, self.cell.paths.env, gone=ids)
        return ids

    # -- sync facade ----------------------------------------------------------------

    def status(self) -> CellStatus:
        """Where the run is (blocking, one round trip)."""
        return run_sync(self.astatus())

    def wait(self, *, stream: bool = True) -> RunResult:
        """Block until the run ends, streaming its log here; --out values land in the
        namespace of the notebook that submitted it."""
        import sys

        def show(text: str, is_err: bool) -> None:
            (sys.stderr if is_err else sys.stdout).write(text)

        return run_sync(self.await_(show if stream else None))

    def result(self) -> RunResult:
        """The results of a run that has ended (raises if it has not)."""
        st = self.status()
        if not st.done:
            raise RequestError(
                f"The cell is still {st.phase} ({st.detail}).",
                hint="Call .wait() to block until it ends.",
            )
        return run_sync(self._result(st))

    def cancel(self) -> list[str]:
        """Cancel the run (blocking); returns the job ids cancelled."""
        return run_sync(self.acancel())

    def logs(self, *, err: bool = False, lines: int = 200) -> str:
        """The last lines of the current job's log."""
        st = self.status()
        if not st.job_id:
            raise RequestError(f"No job has started the cell yet ({st.detail}).",
                               hint="Check again once it runs.")  # fmt: skip
        return self.cluster.log(st.job_id, err=err, lines=lines)

    def gpus(self) -> GpuView:
        """The GPUs of the job running the cell: `.latest()` and `.history()` DataFrames."""
        from rv_jupyter.telemetry.view import GpuView

        st = self.status()
        if st.phase != "running" or not st.job_id:
            raise RequestError(
                f"The cell is not running ({st.phase}: {st.detail}).",
                hint="GPU telemetry needs a running job; check .status().",
            )
        return GpuView.of(self.cluster, st.job_id)

    def __str__(self) -> str:
        st = self.last
        where = f"{st.phase}: {st.detail}" if st else "submitted"
        # This is the status last read, not a live one: say how to read it again.
        later = "" if st and st.done else " (as last read: .status() reads it again)"
        return f"Cell job {self.name} ({', '.join(self.job_ids)}): {where}{later}"

    def __repr__(self) -> str:
        return f"<CellJob {self}>"

    def _repr_html_(self) -> str:
        return (
            html.escape(str(self))
            + "<br><small>.status(), .wait(), .logs(), .result(), .cancel()</small>"
        )


def _brace(ids: Sequence[str]) -> str:
    """Shell brace syntax for one or several ids: 12 or {12,13}."""
    return ids[0] if len(ids) == 1 else "{" + ",".join(ids) + "}"


async def submit_cell(
    cluster: Cluster, source: str, request: Request, *, local_root: Path, bash: bool = False,
    out: Sequence[str] = (), env: EnvStore | None = None,
    on_values: Callable[[dict[str, Any]], None] | None = None,
) -> CellJob:  # fmt: skip
    """Sync, then submit the cell as every strategy's batch work; return at once."""
    cell = await prepare_cell(
        cluster, source, local_root=local_root, bash=bash, out=out, env=env, notify=request.watch
    )
    # Named for the request: its jobs (and segments) carry its tag, so a sweep can tell
    # when none of them is left to read it.
    stem = envfiles.request_stem(request.request_id)
    await cell.deliver_env(stem)
    nodes = request.nodes or 1
    # The job script loads the modules and sources the secrets itself (so checkpoint
    # segments inherit them), hence the bare inner command.
    task = spread(nodes, cell.inner(modules=False))
    command = ("srun", *task) if nodes > 1 else task[-3:]
    try:
        sub = await Allocator(cluster).submit(
            request, command, workdir=cell.workspace, env_file=cell.env_path
        )
    except BaseException:
        await asyncio.shield(cell.discard_env())
        raise
    if cell.env_path:
        # From now on the file goes as soon as none of the jobs is queued or running
        # (before this mark, only after envfiles.GRACE_S: a submission may be in flight).
        mark = envfiles.submitted_command(cell.paths.env, stem, list(sub.jobs))
        with contextlib.suppress(ConnectionLost):  # the grace period covers it
            await cluster.connection.run(mark, check=False, retry=True)
    job = CellJob(cluster, cell, sub, on_values)
    n = len(sub.jobs)
    job.last = CellStatus("pending", None, f"{n} job{'s' * (n != 1)} submitted")
    return job
