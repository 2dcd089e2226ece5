"""The base of the %rv_* magics: the cluster they talk to, the request a line asks for,
and the allocation %rv_up made, which %%rv_run, %rv_logs and %rv_stop share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from IPython.core.magic import Magics

if TYPE_CHECKING:
    from rv_jupyter.allocator.allocation import Allocation
    from rv_jupyter.cluster.handle import Cluster


@dataclass
class Current:
    """The allocation %rv_up made in this kernel, if any."""

    allocation: Allocation | None = None


class RvMagicsBase(Magics):
    """What each group of %rv_* magics shares."""

    def __init__(self, shell: Any = None, current: Current | None = None) -> None:
        super().__init__(shell)
        self.current = current if current is not None else Current()

    def _cluster(self, config: str | None) -> Cluster:
        import rv_jupyter

        return rv_jupyter.connect(config)

    def _request(self, args: Any, cluster: Cluster, name: str = "rv") -> Any:
        from rv_jupyter.allocator.request import Request

        return Request.from_config(
            cluster.config.defaults,
            gpus=args.gpu,
            gpu_type="mig" if args.mig else args.type,
            time=args.time,
            mem=args.mem,
            vram_gb=args.vram,
            nodes=args.nodes,
            checkpoint=args.checkpoint,
            segment=args.segment,
            account=args.account,
            name=name,
            watch=args.watch or cluster.config.alerts.watch,
        )

    def _alive(self, alloc: Allocation) -> bool:
        return any(j.job_id == alloc.job_id for j in alloc.cluster.jobs())
