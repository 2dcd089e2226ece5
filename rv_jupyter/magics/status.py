"""%rv_status, %rv_ps, %rv_logs and %rv_exec: what the cluster and your jobs are doing."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from rv_jupyter.magics.base import RvMagicsBase
from rv_jupyter.magics.common import (
    CONFIG_HELP,
    LogText,
    argument,
    line_magic,
    magic_arguments,
    magics_class,
    parse_argstring,
    user_errors,
)


@magics_class
class StatusMagics(RvMagicsBase):
    """%rv_status, %rv_ps, %rv_logs, %rv_exec."""

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
        job = args.id or (self.current.allocation.job_id if self.current.allocation else None)
        if not job:
            raise UsageError("Which job? `%rv_logs 1234` (or allocate with %rv_up first).")
        cluster = self._cluster(args.config)
        if args.follow:
            import sys

            from rv_jupyter.cluster.background import run_sync

            def show(text: str, is_err: bool) -> None:
                (sys.stderr if is_err else sys.stdout).write(text)

            run_sync(cluster.afollow(job, show, err=args.err))
            return LogText(f"[job {job} has left the queue]")
        return LogText(cluster.log(job, err=args.err, lines=args.lines))

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
