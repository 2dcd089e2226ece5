"""REST for the Lab UI's job page: one job's facts and web ports, and its log as it grows.

    GET /rv/api/jobs/<id>          {"job": LabJob, "ports": [...], "ended": state | null}
    GET /rv/api/jobs/<id>/log      server-sent events: `text` (a JSON string of what the
                                   log grew by), then `end` when the job left the queue;
                                   `?stream=err` for stderr

Only the user's own jobs: another id is a 404 (UnknownJob), as everywhere under /rv/api/.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tornado import web
from tornado.iostream import StreamClosedError

from rv_jupyter.cluster import background
from rv_jupyter.errors import RvError, UnknownJob
from rv_jupyter.server.api import RvHandler
from rv_jupyter.server.lab_view import lab_job
from rv_jupyter.slurm import JobState


class JobHandler(RvHandler):
    @web.authenticated
    async def get(self, job_id: str) -> None:
        """One of your jobs: what Slurm says of it, and the ports it listens on."""
        cluster = self.cluster
        jobs = {j.job_id: j for j in await self.core(cluster.ajobs())}
        job = jobs.get(job_id)
        if job is None:
            finals = await self.core(cluster.afinal_states([job_id]))
            if job_id not in finals:
                await self.core(_unknown(job_id))
            self.finish({"job": None, "ports": [], "ended": finals[job_id]})
            return
        ports: list[dict[str, Any]] = []
        if job.state is JobState.running:
            try:
                listening = await background.on_loop(cluster.forwards.alistening(job_id))
                ports = [{"port": p.port, "process": p.process} for p in listening]
            except RvError:
                ports = []  # the job page still shows the rest
        self.finish({"job": lab_job(job).model_dump(mode="json"), "ports": ports, "ended": None})


async def _unknown(job_id: str) -> None:
    raise UnknownJob(f"Job {job_id} is not one of yours.", hint="%rv_ps lists your jobs.")


class JobLogHandler(RvHandler):
    _closed: asyncio.Event | None = None
    _queue: asyncio.Queue[str | None] | None = None

    @web.authenticated
    async def get(self, job_id: str) -> None:
        """The job's rv log, from its start, then as it grows, until the job ends."""
        err = self.get_argument("stream", "out") == "err"
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._queue = queue
        self._closed = asyncio.Event()

        def on_output(text: str, _stderr: bool) -> None:  # on the background loop
            loop.call_soon_threadsafe(queue.put_nowait, text)

        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        follow = asyncio.ensure_future(
            background.on_loop(self.cluster.afollow(job_id, on_output, err=err))
        )
        follow.add_done_callback(lambda _: loop.call_soon_threadsafe(queue.put_nowait, None))
        try:
            while not self._closed.is_set():
                text = await queue.get()
                if text is None:
                    break
                self.write(f"event: text\ndata: {json.dumps(text)}\n\n")
                await self.flush()
            if follow.done() and follow.exception() is not None:
                exc = follow.exception()
                message = exc.message if isinstance(exc, RvError) else str(exc)
                hint = exc.hint if isinstance(exc, RvError) else None
                self.write(
                    f"event: error\ndata: {json.dumps({'message': message, 'hint': hint})}\n\n"
                )
            else:
                self.write("event: end\ndata: {}\n\n")
            await self.flush()
        except StreamClosedError:
            pass
        finally:
            follow.cancel()

    def on_connection_close(self) -> None:
        if self._closed is not None and self._queue is not None:
            self._closed.set()
            self._queue.put_nowait(None)  # wakes the loop, which stops following


ROUTES: list[tuple[str, type]] = [
    (r"/rv/api/jobs/([0-9]+(?:_[0-9]+)?)", JobHandler),
    (r"/rv/api/jobs/([0-9]+(?:_[0-9]+)?)/log", JobLogHandler),
]
