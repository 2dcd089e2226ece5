"""IPython magics: thin faces over the cluster handle and the allocator.

Each magic parses its arguments, makes one call into the core, and returns something
a notebook shows well (a DataFrame or an object with `_repr_html_`). Every RvError
becomes a one-line UsageError: what was wrong and what to do, never a traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument

from rv_jupyter.magics.common import (
    CONFIG_HELP,
    Cancelled,
    LogText,
    magic_arguments,
    parse_argstring,
    request_args,
    user_errors,
)
from rv_jupyter.magics.display import Progress, cancelled_text, strategies_frame

if TYPE_CHECKING:
    from rv_jupyter.allocator.allocation import Allocation
    from rv_jupyter.session import Cluster

__all__ = ["LogText", "RvMagics", "register"]


@magics_class
class RvMagics(Magics):
    """The %rv_* magics."""

    allocation: Allocation | None = None

    def _cluster(self, config: str | None) -> Cluster:
        import rv_jupyter

        return rv_jupyter.connect(config)

    def _request(self, args: Any, cluster: Cluster, name: str = "rv") -> Any:
        from rv_jupyter.allocator.request import Request

        d = cluster.config.defaults
        return Request.build(
            gpus=1 if args.gpu is None else args.gpu,
            gpu_type="mig" if args.mig else (args.type or d.gpu_type),
            time=args.time or d.time,
            mem=args.mem,
            vram_gb=args.vram,
            nodes=args.nodes,
            checkpoint=args.checkpoint,
            segment=args.segment,
            account=args.account or d.account,
            name=name,
        )

    @magic_arguments()
    @argument("--once", action="store_true", help="one snapshot (ClusterState), no live panel")
    @argument("--json", action="store_true", help="one snapshot as JSON text")
    @argument("--config", help=CONFIG_HELP)
    @line_magic
    @user_errors
    def rv_status(self, line: str) -> Any:
        """The cluster: connection, your jobs, GPUs free per partition, SUs, quotas, fairshare.

        A live panel that refreshes itself (every 5 s while a job of yours is pending,
        less often when idle) without blocking the kernel. `%rv_status --once` returns
        one snapshot instead, read in one SSH round trip.
        """
        args = parse_argstring(self.rv_status, line)
        cluster = self._cluster(args.config)
        if args.json:
            return cluster.state().model_dump_json()
        if args.once:
            return cluster.state()
        from rv_jupyter.widgets import Panel

        return Panel(cluster)

    @magic_arguments()
    @request_args
    @argument("--name", default="rv", help="job name")
    @argument("--dry-run", action="store_true", help="show strategies and scripts only")
    @argument("--new", action="store_true", help="allocate again even if one is running")
    @line_magic
    @user_errors
    def rv_up(self, line: str) -> Any:
        """Get GPUs as fast as the cluster allows; returns the allocation.

        Probes every GPU type and topology that fits, submits the best strategies at
        once, keeps the first that runs and cancels the rest. Interrupting the cell
        cancels everything submitted.

        Examples: `%rv_up --gpu 2 --time 2h`, `%rv_up --mig`, `%rv_up --gpu 8 --type a100_80
        --time 8h --checkpoint`, `%rv_up --gpu 4 --dry-run`
        """
        from rv_jupyter.allocator.fanout import Allocator
        from rv_jupyter.background import run_sync

        args = parse_argstring(self.rv_up, line)
        cluster = self._cluster(args.config)
        req = self._request(args, cluster, args.name)
        allocator = Allocator(cluster)
        if args.dry_run:
            from rv_jupyter.magics.tables import PlanFrame  # pandas: only when used

            dry = run_sync(allocator.dry_run(req))
            user = cluster.config.connection.user
            account = req.account or cluster.config.defaults.account
            notes = dry.plan.windows(user=user, account=account)
            outlook = dry.plan.outlook(user=user, account=account)
            frame = strategies_frame(dry.plan.strategies, dry.plan.skipped)
            return PlanFrame.of(frame, [*notes, *([outlook] if outlook else [])])
        if self.allocation is not None and not args.new and self._alive(self.allocation):
            return self.allocation
        progress = Progress()

        def on_event(event: Any) -> None:
            if not progress.submitted:  # the first job is queued: panels show it at once
                cluster.poller.poke()
            progress.update(event)

        try:
            self.allocation = run_sync(allocator.allocate(req, on_event=on_event))
        except KeyboardInterrupt:
            if not progress.submitted:
                progress.clear()
            raise Cancelled(cancelled_text(allocator.cancelled, allocator.left_queued)) from None
        except BaseException:
            progress.clear()
            raise
        finally:
            cluster.poller.poke()  # it runs, or was cancelled: panels need not wait to say so
        progress.done(str(self.allocation))
        return self.allocation

    @magic_arguments()
    @argument("--all", action="store_true", help="everyone's jobs, not only yours")
    @argument("--json", action="store_true", help="JSON text instead of a DataFrame")
    @argument("--config", help=CONFIG_HELP)
    @line_magic
    @user_errors
    def rv_ps(self, line: str) -> Any:
        """Your queued and running jobs: `%rv_ps`, `%rv_ps --json`.

        Returns a DataFrame of raw values for code (seconds in `elapsed_s` and `left_s`,
        None where Slurm says nothing) that a notebook shows readably: no index, h:mm,
        blanks for "None".
        """
        from rv_jupyter.magics.tables import JobsFrame

        args = parse_argstring(self.rv_ps, line)
        frame = JobsFrame.of(self._cluster(args.config).jobs(all_users=args.all))
        return frame.frame.to_json(orient="records", date_format="iso") if args.json else frame

    @magic_arguments()
    @argument("ids", nargs="*", help="job ids to cancel")
    @argument("--all", action="store_true", help="cancel all your jobs")
    @argument("--config", help=CONFIG_HELP)
    @line_magic
    @user_errors
    def rv_stop(self, line: str) -> Any:
        """Cancel your jobs: `%rv_stop 1234 1235` or `%rv_stop --all`."""
        args = parse_argstring(self.rv_stop, line)
        if not args.ids and not args.all:
            raise UsageError("Name the jobs to cancel (`%rv_stop 1234`) or use --all.")
        cancelled = self._cluster(args.config).cancel(args.ids, every=args.all)
        if self.allocation is not None and self.allocation.job_id in cancelled:
            self.allocation = None
        import pandas as pd

        return pd.DataFrame({"cancelled": cancelled})

    @magic_arguments()
    @request_args
    @line_magic
    @user_errors
    def rv_cost(self, line: str) -> Any:
        """SUs each strategy would cost and your balance after, submitting nothing.

        %rv_up submits every strategy at once and keeps the first job that starts; ★ marks
        the one expected to start first. Example: `%rv_cost --gpu 4 --type a100_80 --time 8h`
        """
        from rv_jupyter.allocator.fanout import Allocator
        from rv_jupyter.background import run_sync
        from rv_jupyter.magics.tables import CostTable

        args = parse_argstring(self.rv_cost, line)
        cluster = self._cluster(args.config)
        return CostTable.of(run_sync(Allocator(cluster).cost(self._request(args, cluster))))

    @magic_arguments()
    @argument("id", nargs="?", help="job id (default: the current allocation)")
    @argument("--err", action="store_true", help="the error log instead of the output")
    @argument("--lines", type=int, default=200, help="how many lines from the end")
    @argument("--follow", action="store_true", help="stream it here until the job ends")
    @argument("--config", help=CONFIG_HELP)
    @line_magic
    @user_errors
    def rv_logs(self, line: str) -> Any:
        """A job's log: `%rv_logs 1234 --err`, or `%rv_logs 1234 --follow` to watch it grow."""
        args = parse_argstring(self.rv_logs, line)
        job = args.id or (self.allocation.job_id if self.allocation else None)
        if not job:
            raise UsageError("Which job? `%rv_logs 1234` (or allocate with %rv_up first).")
        cluster = self._cluster(args.config)
        if args.follow:
            import sys

            from rv_jupyter.background import run_sync

            def show(text: str, is_err: bool) -> None:
                (sys.stderr if is_err else sys.stdout).write(text)

            run_sync(cluster.afollow(job, show, err=args.err))
            return LogText(f"[job {job} has left the queue]")
        return LogText(cluster.log(job, err=args.err, lines=args.lines))

    @magic_arguments()
    @request_args
    @argument("--bash", action="store_true", help="the cell is bash, not Python")
    @argument("--out", default="", help="variables to bring back, e.g. --out model_path,scores")
    @argument("--name", default="rv-run", help="job name when rv allocates for this cell")
    @argument("--new", action="store_true", help="do not reuse the allocation from %%rv_up")
    @argument(
        "--no-wait",
        action="store_true",
        help="submit as a batch job and return a handle at once (.wait(), .cancel())",
    )
    @cell_magic
    @user_errors
    def rv_run(self, line: str, cell: str) -> Any:
        """Run this cell on Rivanna's GPUs; its output streams here as it runs.

        The current folder is synced to /scratch/<you>/rv-workspaces/<folder> first
        (honouring .gitignore and .rvignore). The cell runs in the allocation from
        %rv_up if there is one and the line names no resources (--gpu, --type, --time,
        --mem, --vram, --mig); otherwise in one allocated for it and released after.
        `--out x,y` brings those variables back (as JSON: numbers, strings, lists, dicts).

        `--no-wait` submits the cell as its own batch job (the fan-out's first job to
        start runs it, so it goes on with the laptop closed) and returns a handle:
        `.status()`, `.wait()` (streams the log, then brings `--out` values back),
        `.logs()`, `.result()`, `.cancel()`. With `--segment 1h` it runs in checkpoint
        segments: SIGUSR1 before each ends, save to $RV_CHECKPOINT_DIR, and the job
        queues the next segment itself until --time of work is done.

        Example:
            %%rv_run --gpu 1 --time 30m --out accuracy
            accuracy = train()
        """
        import sys
        from pathlib import Path

        from rv_jupyter.background import run_sync
        from rv_jupyter.runner import run_cell

        args = parse_argstring(self.rv_run, line)
        cluster = self._cluster(args.config)
        out = [v.strip() for v in args.out.split(",") if v.strip()]
        # Resources named on the line ask for a new allocation; otherwise %rv_up's is used.
        asked = any(
            v not in (None, False)
            for v in (args.gpu, args.type, args.time, args.mem, args.vram, args.mig, args.nodes)
        )  # fmt: skip
        request = self._request(args, cluster, args.name)

        def show(text: str, is_err: bool) -> None:
            (sys.stderr if is_err else sys.stdout).write(text)

        if args.no_wait or request.checkpoint:
            # Segments restart the work by themselves, so they run as batch jobs; without
            # --no-wait the cell still waits for them, streaming each segment's log.
            from rv_jupyter.celljob import submit_cell

            job = run_sync(
                submit_cell(
                    cluster, cell, request, local_root=Path.cwd(), bash=args.bash, out=out,
                    on_values=self._bring_back,
                )
            )  # fmt: skip
            if args.no_wait:
                return job
            try:
                result = run_sync(job.await_(show))
            except KeyboardInterrupt:
                # The user stopped the cell: nothing of it may go on.
                raise Cancelled(cancelled_text(job.cancel(), [])) from None
        else:
            alloc = self.allocation
            if args.new or asked or alloc is None or not self._alive(alloc):
                alloc = None
            try:
                result = run_sync(
                    run_cell(
                        cluster, cell, local_root=Path.cwd(), on_output=show, bash=args.bash,
                        out=out, allocation=alloc, request=request,
                    )
                )  # fmt: skip
            except KeyboardInterrupt:
                # Closing the channel ended the step on the node (runner.STEP_GUARD).
                kept = (
                    f" (job {alloc.job_id} keeps running: `%rv_stop {alloc.job_id}`)"
                    if alloc
                    else " and the job rv got for it cancelled"
                )
                raise Cancelled(f"Interrupted: the cell was stopped{kept}.") from None
        self._bring_back(result.values)
        if result.problems:
            raise UsageError(
                "Could not bring back "
                + ", ".join(f"{k} ({v})" for k, v in result.problems.items())
                + ": --out carries JSON values (numbers, strings, lists, dicts). Save others "
                f"to a file in {result.workspace} and fetch it."
            )
        return result

    def _bring_back(self, values: dict[str, Any]) -> None:
        if self.shell is not None:
            self.shell.user_ns.update(values)

    @magic_arguments()
    @argument("--user", required=True, help="your UVA computing id, e.g. abs6bd")
    @argument("--host", default=None, help="login host or ~/.ssh/config alias")
    @argument("--port", type=int, default=None, help="SSH port (default 22)")
    @argument("--identity-file", default=None, help="private key (default: agent and ~/.ssh)")
    @argument("--known-hosts", default=None, help="known_hosts file (default ~/.ssh/known_hosts)")
    @argument("--trust", default=None, help="the SHA256 host key fingerprint you checked")
    @argument("--no-bashrc", action="store_true", help="leave ~/.bashrc on the cluster alone")
    @argument("--config", default=None, help=CONFIG_HELP)
    @line_magic
    @user_errors
    def rv_init(self, line: str) -> Any:
        """First-time set-up: write the rv config, trust the host key, find your account.

        `%rv_init --user abs6bd` connects, shows the login node's host key fingerprint if
        it is new (then `--trust SHA256:...` once you have checked it), takes the default
        account from `allocations`, and points caches at scratch in ~/.bashrc between
        marker lines. Writes ~/.rv/config.toml (or $RV_CONFIG), keeping what is there.
        """
        from pathlib import Path

        from rv_jupyter import config as rv_config
        from rv_jupyter.background import run_sync
        from rv_jupyter.cluster import LOGIN_HOST
        from rv_jupyter.onboarding import initialise

        args = parse_argstring(self.rv_init, line)
        path = Path(rv_config.config_path(args.config))
        return run_sync(
            initialise(
                path, user=args.user, host=args.host or LOGIN_HOST, port=args.port,
                identity_file=args.identity_file, known_hosts=args.known_hosts,
                trust=args.trust, bashrc=not args.no_bashrc,
            )
        )  # fmt: skip

    @line_magic
    @user_errors
    def rv_exec(self, line: str) -> Any:
        """Run a shell command on the login node (no GPU), as you would over ssh.

        Example: `%rv_exec ls -la /scratch/$USER`. The line goes to your login shell as
        typed; the output (and a non-zero exit status) comes back.
        """
        if not line.strip():
            raise UsageError("What should run? e.g. `%rv_exec squeue --me`")
        done = self._cluster(None).exec(line)
        status = f"\n[exit status {done.exit_status}]" if done.exit_status else ""
        return LogText(done.stdout + done.stderr + status)

    def _alive(self, alloc: Allocation) -> bool:
        return any(j.job_id == alloc.job_id for j in alloc.cluster.jobs())


def register(ipython: Any) -> None:
    """Register the magics with an IPython shell."""
    from rv_jupyter.magics.files import FileMagics
    from rv_jupyter.magics.remote import RemoteMagics

    ipython.register_magics(RvMagics)
    ipython.register_magics(FileMagics)
    ipython.register_magics(RemoteMagics)
