"""%rv_gpus: live GPU plots of a job's nodes (utilisation, memory, power per GPU)."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from rv_jupyter.magics.base import RvMagicsBase
from rv_jupyter.magics.common import (
    CONFIG_HELP,
    argument,
    line_magic,
    magic_arguments,
    magics_class,
    parse_argstring,
    user_errors,
)


@magics_class
class GpuMagics(RvMagicsBase):
    """%rv_gpus."""

    @magic_arguments()
    @argument("job", nargs="?", help="job id (default: the current allocation)")
    @argument("--config", help=CONFIG_HELP)
    @line_magic
    @user_errors
    def rv_gpus(self, line: str) -> Any:
        """Every GPU of a running job, live: `%rv_gpus` (the %rv_up allocation) or `%rv_gpus 1234`.

        One small plot per metric (utilisation, memory, power), a line per GPU per node,
        and the latest values, updated every second without blocking the kernel. The
        job's nodes are sampled while the view is open (and shown); "Stop watching"
        closes it. From code: `alloc.gpus().latest()` and `.history()`.
        """
        args = parse_argstring(self.rv_gpus, line)
        alloc = self.current.allocation
        job = args.job or (alloc.job_id if alloc is not None else None)
        if not job:
            raise UsageError("Which job? `%rv_gpus 1234` (or allocate with %rv_up first).")
        mine = alloc is not None and alloc.job_id == job and args.config is None
        cluster = alloc.cluster if mine and alloc is not None else self._cluster(args.config)
        from rv_jupyter.telemetry.sampler import sampler_for
        from rv_jupyter.widgets.gpus import GpuWidget

        return GpuWidget.watch(sampler_for(cluster, job))
