"""%rv_up, %rv_cost and %rv_stop: getting GPUs, pricing them, giving them back."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from rv_jupyter.magics.base import RvMagicsBase
from rv_jupyter.magics.common import (
    CONFIG_HELP,
    Cancelled,
    argument,
    line_magic,
    magic_arguments,
    magics_class,
    parse_argstring,
    request_args,
    user_errors,
)
from rv_jupyter.magics.display import Progress, cancelled_text, strategies_frame


@magics_class
class AllocateMagics(RvMagicsBase):
    """%rv_up, %rv_cost, %rv_stop."""

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
        from rv_jupyter.cluster.background import run_sync

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
        if (
            self.current.allocation is not None
            and not args.new
            and self._alive(self.current.allocation)
        ):
            return self.current.allocation
        progress = Progress()

        def on_event(event: Any) -> None:
            if not progress.submitted:  # the first job is queued: panels show it at once
                cluster.poller.poke()
            progress.update(event)

        try:
            self.current.allocation = run_sync(allocator.allocate(req, on_event=on_event))
        except KeyboardInterrupt:
            if not progress.submitted:
                progress.clear()
            raise Cancelled(cancelled_text(allocator.cancelled, allocator.left_queued)) from None
        except BaseException:
            progress.clear()
            raise
        finally:
            cluster.poller.poke()  # it runs, or was cancelled: panels need not wait to say so
        progress.done(str(self.current.allocation))
        return self.current.allocation

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
        from rv_jupyter.cluster.background import run_sync
        from rv_jupyter.magics.tables import CostTable

        args = parse_argstring(self.rv_cost, line)
        cluster = self._cluster(args.config)
        return CostTable.of(run_sync(Allocator(cluster).cost(self._request(args, cluster))))

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
        if self.current.allocation is not None and self.current.allocation.job_id in cancelled:
            self.current.allocation = None
        import pandas as pd

        return pd.DataFrame({"cancelled": cancelled})
