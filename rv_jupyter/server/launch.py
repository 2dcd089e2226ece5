"""REST for the Lab launcher's "Rivanna GPU kernel" dialog: what a request would do, and
a kernel for it with nothing installed first.

    POST /rv/api/launch/plan        {gpus, gpu_type, time, mem} -> the allocator's plan
                                    (strategies, their estimated start, what was left out
                                    and why) and its cost, before anything is submitted
    POST /rv/api/launch/kernelspec  the same body -> {"name": kernelspec name}, a spec in
                                    this server's own directory (not the user's kernels),
                                    which the UI then starts a notebook with

Bad values are 400s with the request's own one-line error (RequestError).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_runtime_dir
from tornado import web

from rv_jupyter.allocator.cost import estimate
from rv_jupyter.allocator.fanout import Allocator
from rv_jupyter.allocator.request import Request
from rv_jupyter.allocator.strategies import Plan
from rv_jupyter.errors import RequestError
from rv_jupyter.kernels.spec import install, kernel_json, spec_name
from rv_jupyter.server.api import RvHandler

FIELDS = ("gpus", "gpu_type", "time", "mem")


def said(body: dict[str, Any]) -> dict[str, Any]:
    """The dialog's values, blank ones left to the config's defaults."""
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise RequestError(f"Unknown field {unknown[0]!r}.", hint=f"Send {', '.join(FIELDS)}.")
    return {k: v for k, v in body.items() if v not in (None, "")}


def plan_json(plan: Plan, req: Request, cost: Any) -> dict[str, Any]:
    """The plan as the dialog shows it."""
    sus = {s.key: su for s, su in cost.rows}
    return {
        "request": {"gpus": req.gpus, "gpu_type": req.gpu_type, "time_s": req.time_s,
                    "mem_gb": req.mem_gb},
        "strategies": [
            {
                "key": s.key, "partition": s.shape.gpu.partition, "gpu_label": s.shape.gpu.label,
                "topology": s.shape.topology, "walltime": s.walltime(), "starts": s.starts(),
                "immediate": s.immediate, "su_per_hour": s.su_per_hour, "sus": sus.get(s.key),
            }
            for s in plan.strategies
        ],
        "skipped": plan.skipped,
        "cost": {"cheapest": cost.cheapest, "dearest": cost.dearest,
                 "account": cost.account, "balance": cost.balance},
        "outlook": plan.outlook(),
    }  # fmt: skip


class PlanHandler(RvHandler):
    @web.authenticated
    async def post(self) -> None:
        """What the allocator would submit for this request, and what it would cost."""
        cluster = self.cluster
        req = Request.from_config(cluster.config.defaults, **said(self.json_body()), name="rv-k")
        plan = await self.core(Allocator(cluster).plan(req, reads=("squeue", "allocations")))
        allocations = plan.state.allocations if plan.state else []
        cost = estimate(
            plan.strategies, allocations, req.account or cluster.config.defaults.account
        )
        self.finish(plan_json(plan, req, cost))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        _one_line_error(self, status_code, kwargs)


class KernelspecHandler(RvHandler):
    @web.authenticated
    async def post(self) -> None:
        """A kernelspec for this request, in this server's launcher directory."""
        cluster = self.cluster
        values = said(self.json_body())
        req = Request.from_config(cluster.config.defaults, **values)  # checks, as %rv_up does
        spec = kernel_json(
            gpus=req.gpus, gpu_type=req.gpu_type, time=f"{req.time_s // 60}m",
            mem=f"{req.mem_gb}G" if req.mem_gb else None,
            rv_config=self.settings.get("rv_config_path") or cluster.source,
        )  # fmt: skip
        install(spec, launcher_dir(self.settings), replace=True)
        self.set_status(201)
        self.finish({"name": spec_name(spec), "display_name": spec["display_name"]})

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        _one_line_error(self, status_code, kwargs)


def _one_line_error(handler: RvHandler, status: int, kwargs: dict[str, Any]) -> None:
    exc = kwargs.get("exc_info", (None, None, None))[1]
    if isinstance(exc, RequestError):
        handler.set_status(400)
        handler.finish({"message": exc.message, "hint": exc.hint})
        return
    handler.finish({"message": handler._reason})


def launcher_dir(settings: dict[str, Any]) -> Path:
    """This server's directory of launcher kernelspecs (its kernel spec manager looks there)."""
    return Path(settings["rv_launcher_kernels"])


def add_launcher_dir(serverapp: Any) -> None:
    """Give the server a directory of kernelspecs that the launcher writes to: in the
    user's Jupyter runtime directory (0700, the user's alone), shared by their servers."""
    kernels = Path(jupyter_runtime_dir()) / "rv-launcher" / "kernels"
    kernels.mkdir(parents=True, exist_ok=True, mode=0o700)
    serverapp.web_app.settings["rv_launcher_kernels"] = str(kernels)
    ksm = serverapp.kernel_spec_manager
    ksm.kernel_dirs = [*ksm.kernel_dirs, str(kernels)]


ROUTES: list[tuple[str, type]] = [
    (r"/rv/api/launch/plan", PlanHandler),
    (r"/rv/api/launch/kernelspec", KernelspecHandler),
]
