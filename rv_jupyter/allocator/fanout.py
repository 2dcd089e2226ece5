"""The fan-out loop: probe, submit every strategy at once, first to run wins, cancel the rest.

The only part of the allocator that does I/O, all of it through the cluster's one SSH
connection: one round trip for the clock and the probes, one to submit, then one per
poll for every job at once. Whatever happens (an error, Ctrl-C, a cancelled task),
jobs it submitted that did not win are cancelled before it returns.
"""

from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from rv_jupyter.allocator.allocation import Allocation
from rv_jupyter.allocator.cost import CostEstimate, estimate
from rv_jupyter.allocator.limits import within_limits
from rv_jupyter.allocator.probes import (
    CLOCK_COMMAND,
    RESOLUTION_COMMAND,
    probe_commands,
    read_clock,
    read_probes,
    read_resolution,
)
from rv_jupyter.allocator.records import DryRun, Event, Submission
from rv_jupyter.allocator.request import Request, compatible_types
from rv_jupyter.allocator.strategies import MAX_STRATEGIES, Plan, Strategy, decide, shapes
from rv_jupyter.allocator.winner import claim_wait_command, winner_step
from rv_jupyter.errors import ConnectionLost, RequestError, SlurmError
from rv_jupyter.facts import RemotePaths
from rv_jupyter.jobs import JobSpec, cpus_per_task, memory_for, render
from rv_jupyter.jobs.script import Checkpoint, checkpoint_buffer
from rv_jupyter.jobs.watch import Watcher
from rv_jupyter.remote import Completed
from rv_jupyter.slurm import (
    JobState,
    never_starts,
    parse_sacct,
    parse_sbatch,
    parse_squeue,
    reservations,
    sacct,
    scancel,
    squeue,
    submit_error,
)
from rv_jupyter.slurm.state_reads import state_commands
from rv_jupyter.telemetry.ship import aprepare_watch

if TYPE_CHECKING:
    from rv_jupyter.cluster.handle import Cluster

# What the allocation job runs: nothing but holding the GPUs until cancelled or its
# walltime ends; the user's work runs in it with `srun --jobid --overlap`.
HOLD = ("sleep", "infinity")
ACCOUNTING_LAG_S = 30
LONG_POLL_S = 2.0
# What a plan must know besides its probes: the user's own jobs (the limits count them).
# The round trip lasts as long as its slowest command, and Rivanna's `allocations` and
# `hdquota` take seconds there, so only cost() reads SUs and nothing here reads quotas.
PLAN_READS: tuple[str, ...] = ("squeue",)
LONG_POLL_FOR_S = 20.0


class Allocator:
    """Fan-out allocation on one cluster."""

    def __init__(self, cluster: Cluster, *, poll_s: float = 2.0) -> None:
        self.cluster = cluster
        self.poll_s = poll_s
        # SSH round trips so far, and how many of them came before the submission.
        self.round_trips = 0
        self.round_trips_before_submit: int | None = None
        # After allocate() failed or was interrupted: the jobs it cancelled (None until
        # then), and those Slurm still listed as queued or running right after.
        self.cancelled: list[str] | None = None
        self.left_queued: list[str] = []

    async def plan(self, req: Request, *, reads: Collection[str] = PLAN_READS) -> Plan:
        """Probe every compatible shape (one round trip) and rank the strategies.

        `reads`: the state reads made in the same round trip (slurm/state_reads.py)."""
        types, skipped = compatible_types(req)
        probes = probe_commands(req, shapes(req, types))
        paths = await self._paths()
        prepare = f"mkdir -p -- {shlex.quote(paths.logs)} {shlex.quote(paths.state)}/claims"
        own = [CLOCK_COMMAND, prepare, reservations.COMMAND, RESOLUTION_COMMAND]
        head = [*own, *state_commands(reads)]
        # In parallel: the reads and each shape's probe script are independent.
        results = await self._batch([*head, *(c for _, c in probes)], parallel=True)
        now = read_clock(results[0].stdout)
        state = self.cluster.state_from(results[len(own) : len(head)], reads)
        held_by = _reservations(results[2])
        resolution = read_resolution(results[3].stdout)
        # --test-only ignores per-user caps: drop the types the user's own jobs use up.
        room, held = within_limits(req, types, state.jobs, new_jobs=MAX_STRATEGIES)
        skipped.update(held)
        read = [
            p
            for (shape, _), r in zip(probes, results[len(head) :], strict=True)
            if shape.gpu in room
            for p in read_probes(shape, r.stdout)
        ]
        plan = decide(req, read, now, skipped, resolution_s=resolution)
        plan.state, plan.reservations = state, held_by
        if not plan.strategies:
            raise RequestError(
                "Slurm would run this request on no partition: "
                + "; ".join(f"{k}: {v}" for k, v in plan.skipped.items()) + ".",
                hint="Ask for fewer GPUs or less memory.",
            )  # fmt: skip
        return plan

    async def cost(self, req: Request) -> CostEstimate:
        """SUs per strategy and the balance after, from the same one round trip as plan()."""
        plan = await self.plan(req, reads=(*PLAN_READS, "allocations"))
        allocations = plan.state.allocations if plan.state else []
        account = req.account or self.cluster.config.defaults.account
        return estimate(plan.strategies, allocations, account)

    async def dry_run(self, req: Request) -> DryRun:
        """The ranked strategies and their scripts, submitting nothing."""
        plan = await self.plan(req)
        paths = await self._paths()
        return DryRun(
            plan,
            {
                s.key: render(self._spec(req, s, paths, rank))
                for rank, s in enumerate(plan.strategies)
            },
        )

    async def allocate(
        self, req: Request, *, on_event: Callable[[Event], None] | None = None,
        timeout_s: float | None = None,
    ) -> Allocation:  # fmt: skip
        """Submit every strategy, keep the first that runs, cancel the others."""
        plan = await self.plan(req)
        paths = await self._paths()
        submitted: dict[str, Strategy] = {}
        try:
            submitted = await self._submit(req, plan.strategies, paths)
            outlook = plan.outlook(user=paths.user, account=self._account(req))
            winner_id = await self._wait_for_winner(
                req, submitted, paths, on_event, timeout_s, outlook
            )
            losers = [j for j in submitted if j != winner_id]
            return await self._finish(req, winner_id, submitted[winner_id], losers)
        except BaseException:
            # Ctrl-C, a cancelled task, an error: nothing of ours may stay queued.
            if submitted:
                await asyncio.shield(self._cancel_reporting(submitted, on_event))
            elif self.cancelled is None:
                self.cancelled = []
            raise

    async def submit(
        self, req: Request, command: tuple[str, ...], *, workdir: str | None = None,
        env_file: str | None = None,
    ) -> Submission:  # fmt: skip
        """Submit every strategy with `command` as the work and return at once.

        Nothing on the laptop needs to stay up: the first job to run takes the claim,
        runs the work and cancels the others itself.
        """
        plan = await self.plan(req)
        paths = await self._paths()
        work = {"command": command, "workdir": workdir, "env_file": env_file}
        submitted: dict[str, Strategy] = {}
        try:
            submitted = await self._submit(req, plan.strategies, paths, **work)
        except BaseException:
            if submitted:
                await asyncio.shield(self._cancel(list(submitted)))
            raise
        return Submission(req, submitted, self._claim_dir(req, paths), plan)

    # -- steps ----------------------------------------------------------------------

    async def _submit(
        self, req: Request, strategies: list[Strategy], paths: RemotePaths, **work: Any
    ) -> dict[str, Strategy]:
        setup = None
        if req.watch:  # before any sbatch: a watch that nobody would hear is refused
            setup = await aprepare_watch(self.cluster, req.request_id, paths, work.get("env_file"))
            work = {**work, "env_file": setup.env_file, "watch": setup.watcher}
        cmds = []
        for rank, s in enumerate(strategies):
            script = render(self._spec(req, s, paths, rank, **work))
            eof = f"RV_SCRIPT_{req.request_id}"
            # The script travels inside the batch's stdin as a quoted here-document:
            # nothing in it is expanded and none of it reaches a command line.
            cmds.append(f"sbatch --parsable <<'{eof}'\n{script}{eof}")
        self.round_trips_before_submit = self.round_trips
        try:
            results = await self._batch(cmds, retry=False)
        except ConnectionLost:
            # Some may have been queued: find them by tag rather than submit again.
            return await self._recover(req, strategies)
        except asyncio.CancelledError:
            # Interrupted mid-batch: the first jobs are queued before the batch returns
            # their ids. Sweep by tag (twice, a second apart, for a late sbatch) so none
            # of them stays queued.
            self.cancelled = await asyncio.shield(self._cancel_tagged(req))
            raise
        out: dict[str, Strategy] = {}
        refused = []
        for s, r in zip(strategies, results, strict=True):
            if r.exit_status == 0:
                out[parse_sbatch(r.stdout)] = s
            else:
                refused.append(submit_error(r.stderr))
        if setup is not None:
            await setup.aqueued(self.cluster, list(out))
        self.cluster.poller.poke()  # faces show them at the next read, not after a back-off
        if not out:
            raise refused[0]
        return out

    async def _cancel_tagged(self, req: Request) -> list[str]:
        """Cancel every job of the request found by its tag; the ids cancelled."""
        out = await self.cluster.arun(scancel.tagged_cancel(req.tag), timeout=30)
        return list(dict.fromkeys(out.split()))

    async def _cancel_reporting(
        self, submitted: dict[str, Strategy], on_event: Callable[[Event], None] | None
    ) -> None:
        """Cancel the jobs, say so per job, and note which (if any) Slurm still lists."""
        ids = list(submitted)
        out = await self.cluster.arun(
            f"{scancel.command(ids)}; {squeue.listed(ids, states=('PD', 'R', 'CF', 'S'))}; true"
        )
        self.cancelled, self.left_queued = ids, out.split()
        for job_id, s in submitted.items():
            if on_event:
                on_event(Event(s, job_id, "cancelled"))

    async def _recover(self, req: Request, strategies: list[Strategy]) -> dict[str, Strategy]:
        text = await self.cluster.arun(squeue.TAGGED, retry=True)
        out = {}
        for job in squeue.parse_tagged(text, req.tag):
            match = next((s for s in strategies if s.shape.gpu.partition == job.partition), None)
            if match:
                out[job.job_id] = match
        if not out:
            raise SlurmError("The connection dropped while submitting and no job was queued.",
                             hint="Try again.")  # fmt: skip
        return out

    async def _wait_for_winner(
        self,
        req: Request,
        submitted: dict[str, Strategy],
        paths: RemotePaths,
        on_event: Callable[[Event], None] | None,
        timeout_s: float | None,
        outlook: str | None = None,
    ) -> str:
        ids = list(submitted)
        claim = f"{self._claim_dir(req, paths)}/winner"
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        unclaimed_polls = 0
        lag_deadline = time.monotonic() + ACCOUNTING_LAG_S
        started = time.monotonic()
        expect_now = any(s.immediate for s in submitted.values())
        while True:
            # While Slurm expects a strategy to start now, each poll first waits on the
            # login node for the claim (LONG_POLL_S at most, looking every 0.05 s): the
            # winner is seen within 0.05 s of its claim, not up to a poll interval later.
            # A request that waits in the queue polls at the normal pace.
            long = expect_now and time.monotonic() - started < LONG_POLL_FOR_S
            wait = claim_wait_command(claim, min(self.poll_s, LONG_POLL_S)) if long else "true"
            _, q, won = await self._batch(
                [wait, squeue.command(job_ids=ids), f"cat -- {shlex.quote(claim)} 2>/dev/null"]
            )
            jobs = {j.job_id: j for j in parse_squeue(q.stdout)} if q.exit_status == 0 else {}
            if on_event:
                for job_id, s in submitted.items():
                    j = jobs.get(job_id)
                    state = j.state.value if j else "gone"
                    pending = j is not None and j.state == JobState.pending
                    start = j.start_time if j is not None and pending else None
                    on_event(Event(s, job_id, state, j.reason if j else None, start))
            claimed = won.stdout.strip()
            if not claimed and not any(
                i in jobs and jobs[i].state == JobState.running for i in ids
            ):
                ids = await self._drop_hopeless(ids, jobs, submitted, on_event)
            step = winner_step(ids, jobs, claimed, read=q.exit_status == 0,
                               unclaimed_polls=unclaimed_polls)  # fmt: skip
            unclaimed_polls = step.unclaimed_polls
            if step.outcome == "won":
                assert step.job_id is not None
                return step.job_id
            if step.outcome == "claim_lost":
                # The job that took the claim is gone: its siblings now defer to a claim
                # nobody holds, so none of them will run. Say so rather than wait.
                how = (await self._final_states([claimed]) or {}).get(claimed, "no record yet")
                raise SlurmError(
                    f"Job {claimed} took the GPUs and then ended: {how}; the other strategies were "
                    "cancelled.",
                    hint=f"See %rv_logs {claimed} for why, then try again.",
                )
            if step.outcome == "all_ended":
                ended = await self._final_states(ids)
                if ended is not None or time.monotonic() > lag_deadline:
                    raise SlurmError(
                        "Every strategy's job ended without running: "
                        + "; ".join(
                            f"{submitted[i].key} (job {i}): {(ended or {}).get(i, 'no record')}"
                            for i in ids
                        )
                        + ".",
                        hint="See %rv_logs for their output, or try again.",
                    )
            else:
                lag_deadline = time.monotonic() + ACCOUNTING_LAG_S
            if deadline is not None and time.monotonic() > deadline:
                raise SlurmError(
                    f"No strategy started within {timeout_s:g} s; all were cancelled."
                    + (f" {outlook}" if outlook else ""),
                    hint="Try again later, or allow more time.",
                )
            if not long:
                await asyncio.sleep(self.poll_s)

    async def _drop_hopeless(
        self,
        ids: list[str],
        jobs: dict[str, Any],
        submitted: dict[str, Strategy],
        on_event: Callable[[Event], None] | None,
    ) -> list[str]:
        """Cancel the jobs Slurm keeps queued though they can never start (a limit
        lowered after submission, a site rule our cluster facts do not know); the ids
        still worth waiting for. If that is none, the request fails, saying why."""
        hopeless = {}
        for i in ids:
            j = jobs.get(i)
            if j is not None and j.state == JobState.pending:
                why = never_starts(j.reason)
                if why:
                    hopeless[i] = f"{submitted[i].key} (job {i}) {why} ({j.reason})"
        if not hopeless:
            return ids
        await self._cancel(list(hopeless))
        for i in hopeless:
            if on_event:
                on_event(Event(submitted[i], i, "cancelled", jobs[i].reason))
        left = [i for i in ids if i not in hopeless and i in jobs and not jobs[i].state.finished]
        if not left:
            raise SlurmError(
                "No strategy can ever start as asked, so none is left queued: "
                + "; ".join(hopeless.values()) + ".",
                hint="Ask for less (time, GPUs, memory, nodes) or another GPU type; "
                "%rv_status shows each partition's limits as the cluster has them now.",
            )  # fmt: skip
        return left

    async def _finish(
        self, req: Request, winner: str, strategy: Strategy, losers: list[str]
    ) -> Allocation:
        cmds = [squeue.command(job_ids=[winner])]
        if losers:
            cmds.append(scancel.command(losers))
        results = await self._batch(cmds)
        self.cluster.poller.poke()  # the winner runs, the losers are gone
        jobs = parse_squeue(results[0].stdout)
        if not jobs:
            raise SlurmError(f"Job {winner} won but is gone already.", hint="Try again.")
        return await Allocation.from_job(self.cluster, jobs[0], strategy, req)

    async def _final_states(self, ids: list[str]) -> dict[str, str] | None:
        """How vanished jobs ended, from accounting; None while it has no record yet."""
        records = parse_sacct(await self.cluster.arun(sacct.command(ids, steps=False), retry=True))
        states = sacct.final_states(records)
        # Accounting lags 5-30 s behind the controller: "no record yet" is not "failed".
        return states if all(i in states for i in ids) else None

    async def _cancel(self, job_ids: list[str]) -> None:
        await self.cluster.arun(scancel.command(job_ids))

    async def _batch(
        self, cmds: list[str], *, retry: bool = True, parallel: bool = False
    ) -> list[Completed]:
        self.round_trips += 1
        return await self.cluster.connection.batch(cmds, retry=retry, parallel=parallel)

    def _account(self, req: Request) -> str | None:
        return req.account or self.cluster.config.defaults.account

    async def _paths(self) -> RemotePaths:
        return RemotePaths(await self.cluster.auser())

    def _claim_dir(self, req: Request, paths: RemotePaths) -> str:
        return f"{paths.state}/claims/{req.request_id}"

    def _spec(
        self, req: Request, s: Strategy, paths: RemotePaths, rank: int, *,
        command: tuple[str, ...] = HOLD, workdir: str | None = None,
        env_file: str | None = None, watch: Watcher | None = None,
    ) -> JobSpec:  # fmt: skip
        t = s.shape.gpu
        return JobSpec(
            kind="checkpoint" if s.kind == "checkpoint" else "simple",
            name=req.name,
            user=paths.user,
            command=command,
            workdir=workdir,
            env_file=env_file,
            partition=t.partition,
            account=req.account or self.cluster.config.defaults.account,
            time_s=s.time_s,
            time_min_s=s.time_min_s,
            nodes=s.shape.nodes,
            gres=f"gpu:{t.gres}:{s.shape.per_node}",
            cpus_per_task=cpus_per_task(t, s.shape.per_node),
            mem_gb=memory_for(t, s.shape.per_node, req.mem_gb),
            constraint=t.features[-1] if t.features and t.gres == "a100" else None,
            checkpoint=(
                Checkpoint(total_s=s.total_s, buffer_s=checkpoint_buffer(s.time_s))
                if s.total_s
                else None
            ),
            scratch_root=paths.scratch_root,
            modules=tuple(self.cluster.config.defaults.modules),
            tag=req.tag,
            rank=rank,
            claim_dir=self._claim_dir(req, paths),
            watch=watch.model_copy(
                update={"su_per_gpu_hour": t.su_per_gpu_hour, "gpus": s.shape.gpus}
            )
            if watch
            else None,
            mail=self.cluster.config.notifications.job_mail(),
        )


def _reservations(done: Completed) -> list[reservations.Reservation]:
    # Only explains windows: an unreadable answer costs the explanation, not the plan.
    if done.exit_status != 0:
        return []
    try:
        return reservations.parse_reservations(done.stdout)
    except SlurmError:
        return []
