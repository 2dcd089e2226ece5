"""REST API under /rv/api/: JSON from the same pydantic models as everything else.

Every handler requires Jupyter's authentication (token or login cookie; XSRF on writes,
as APIHandler enforces), and anything that changes state goes through the core's checks,
which only ever touch the user's own jobs.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from jupyter_server.base.handlers import APIHandler
from tornado import web
from tornado.iostream import StreamClosedError

from rv_jupyter.cluster import background
from rv_jupyter.errors import ConfigError, RequestError, RvError, SshError, UnknownJob

T = TypeVar("T")


def cluster_of(settings: dict[str, Any]) -> Any:
    """The process's Cluster for this server (RV_CONFIG or ~/.rv/config.toml)."""
    from rv_jupyter.cluster.handle import Cluster

    return Cluster.from_config(settings.get("rv_config_path"))


def error_status(err: RvError) -> int:
    """HTTP status for an RvError: the caller's fault, the cluster's, or ours."""
    if isinstance(err, UnknownJob):
        return 404
    if isinstance(err, RequestError):
        return 400
    if isinstance(err, SshError):
        return 502
    if isinstance(err, ConfigError):
        return 503
    return 500


class RvHandler(APIHandler):
    """Shared by the API handlers: the cluster, the core on its loop, errors as JSON."""

    @property
    def cluster(self) -> Any:
        return cluster_of(self.settings)

    async def core(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return await background.on_loop(coro)
        except RvError as err:
            self.set_status(error_status(err))
            self.finish({"message": err.message, "hint": err.hint})
            raise web.Finish() from err

    def json_body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError as exc:
            raise web.HTTPError(400, "The request body is not JSON.") from exc
        if not isinstance(body, dict):
            raise web.HTTPError(400, "The request body must be a JSON object.")
        return body


class StateHandler(RvHandler):
    @web.authenticated
    async def get(self) -> None:
        """Cluster state from the shared poller (read now if older than 5 s)."""
        snap = await self.core(self.cluster.poller.afresh())
        age = None if snap.read_at is None else round(time.monotonic() - snap.read_at, 1)
        self.finish(
            {
                "state": snap.state.model_dump(mode="json") if snap.state else None,
                "error": snap.error,
                "stale": snap.stale,
                "age_s": age,
            }
        )


class JobsHandler(RvHandler):
    @web.authenticated
    async def get(self) -> None:
        """Your jobs as squeue shows them now."""
        jobs = await self.core(self.cluster.ajobs())
        self.finish(json.dumps([j.model_dump(mode="json") for j in jobs]))


class CancelHandler(RvHandler):
    @web.authenticated
    async def post(self, job_id: str) -> None:
        """Cancel one of your jobs; 404 for any job id that is not yours."""
        cancelled = await self.core(self.cluster.acancel([job_id]))
        self.finish({"cancelled": cancelled})


class ForwardsHandler(RvHandler):
    @web.authenticated
    async def get(self) -> None:
        """Open forwards (proxy and local)."""
        self.finish(json.dumps([f.info() for f in self.cluster.forwards.list()]))

    @web.authenticated
    async def post(self) -> None:
        """Open a proxy forward: {"job_id": "123", "port": 6006} -> its proxy path."""
        body = self.json_body()
        fwd = await self.core(
            self.cluster.forwards.aproxy_socket(str(body.get("job_id", "")), body.get("port"))
        )
        info = fwd.info()
        info["proxy_path"] = fwd.proxy_path(self.base_url)
        self.set_status(201)
        self.finish(info)


class ForwardHandler(RvHandler):
    @web.authenticated
    async def delete(self, job_id: str, port: str) -> None:
        """Close the forwards of a job's port."""
        fwds = [
            f for f in self.cluster.forwards.list() if (f.job_id, str(f.port)) == (job_id, port)
        ]
        for fwd in fwds:
            await background.on_loop(fwd.aclose())
        if not fwds:
            raise web.HTTPError(404, f"No forward to port {port} of job {job_id} is open.")
        self.set_status(204)
        self.finish()


class KernelsHandler(RvHandler):
    @web.authenticated
    async def get(self) -> None:
        """Rivanna kernels of this server: pending (and why), running (where), ended."""
        from rv_jupyter.kernels.provisioner import LIVE

        self.finish(json.dumps([p.info() for p in list(LIVE.values())]))


class KernelCancelHandler(RvHandler):
    @web.authenticated
    async def post(self, kernel_id: str) -> None:
        """Stop waiting for a pending kernel's job; nothing it submitted stays queued."""
        from rv_jupyter.kernels.provisioner import cancel_pending

        if not cancel_pending(kernel_id):
            raise web.HTTPError(409, f"Kernel {kernel_id} is not waiting for a job.")
        self.finish({"cancelled": kernel_id})


class KernelReallocateHandler(RvHandler):
    @web.authenticated
    async def post(self, kernel_id: str) -> None:
        """After a kernel's job ended: its next restart asks for a new allocation with the
        same options (the UI restarts it next)."""
        from rv_jupyter.kernels.provisioner import LIVE

        prov = LIVE.get(kernel_id)
        if prov is None or not prov.reallocate():
            raise web.HTTPError(409, f"Kernel {kernel_id} is not a Rivanna kernel whose job ended.")
        self.finish({"reallocate": kernel_id})


class GpusHandler(RvHandler):
    @web.authenticated
    async def get(self, job_id: str) -> None:
        """GPU samples of one of your running jobs: `latest` and the `history` kept
        (`?since=<epoch s>` for only newer ones). Sampling runs for a minute after the
        last request."""
        from rv_jupyter.telemetry.sampler import sampler_for

        try:
            since = float(self.get_argument("since", "0"))
        except ValueError as exc:
            raise web.HTTPError(400, "since must be a time in seconds since the epoch.") from exc
        sampler = sampler_for(self.cluster, job_id)
        await self.core(sampler.alease(60))
        latest = sampler.latest()
        self.finish(
            json.dumps(
                {
                    "job_id": job_id,
                    "latest": json.loads(latest.to_json(orient="records")),
                    "history": sampler.frames_since(since),
                    "gaps": [g.__dict__ for g in sampler.gaps],
                }
            )
        )


class GpuStreamHandler(RvHandler):
    @web.authenticated
    async def get(self, job_id: str) -> None:
        """Server-sent events: one `sample` event per new sample while the client listens."""
        from rv_jupyter.telemetry.sampler import sampler_for

        sampler = sampler_for(self.cluster, job_id)
        await self.core(sampler.awatch())
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        seen = 0.0
        try:
            while True:
                rows = sampler.frames_since(seen)
                if rows:
                    seen = max(r["time"] for r in rows)
                    self.write(f"event: sample\ndata: {json.dumps(rows)}\n\n")
                    await self.flush()
                await asyncio.sleep(sampler.interval_s / 2)
        except StreamClosedError:
            pass
        finally:
            await background.on_loop(sampler.aunwatch())


ROUTES: list[tuple[str, type]] = [
    (r"/rv/api/state", StateHandler),
    (r"/rv/api/jobs", JobsHandler),
    (r"/rv/api/jobs/([0-9_]+)/cancel", CancelHandler),
    (r"/rv/api/jobs/([0-9]+)/gpus", GpusHandler),
    (r"/rv/api/jobs/([0-9]+)/gpus/stream", GpuStreamHandler),
    (r"/rv/api/forwards", ForwardsHandler),
    (r"/rv/api/forwards/([0-9_]+)/([0-9]+)", ForwardHandler),
    (r"/rv/api/kernels", KernelsHandler),
    (r"/rv/api/kernels/([0-9a-f-]{1,64})/cancel", KernelCancelHandler),
    (r"/rv/api/kernels/([0-9a-f-]{1,64})/reallocate", KernelReallocateHandler),
]
