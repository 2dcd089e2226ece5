"""%%rv_run: a cell on Rivanna's GPUs, in an allocation or as its own batch job."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from rv_jupyter.magics.base import RvMagicsBase
from rv_jupyter.magics.common import (
    Cancelled,
    argument,
    cell_magic,
    magic_arguments,
    magics_class,
    parse_argstring,
    request_args,
    user_errors,
)
from rv_jupyter.magics.display import cancelled_text


@magics_class
class RunMagics(RvMagicsBase):
    """%%rv_run."""

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

        from rv_jupyter.cells.in_allocation import run_cell
        from rv_jupyter.cluster.background import run_sync

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
            from rv_jupyter.cells.batch_job import submit_cell

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
            alloc = self.current.allocation
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
