"""Server push for the Lab UI: `GET /rv/api/live` is a stream of server-sent events:
`view` (lab_view.LabView as JSON) per new snapshot of the shared poller, `job` (a
job_events.JobEvent: started, ended, failed) as jobs change, and `kernels` (this
server's Rivanna kernels: pending and why, running where, ended how) when they change.

The streams of one server share a hub per cluster: one subscription to the process's
one poller, so however many tabs are open the cluster is read at most once per
interval, at the poller's pace (fast while a job is pending, backing off when idle),
and one accounting read per batch of ended jobs. A hidden tab closes its stream (the
UI does that); with no stream left the hub lets go of the poller, which stops reading.
A new stream gets the current view at once.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, ClassVar

from tornado import web
from tornado.iostream import StreamClosedError

from rv_jupyter.cluster import background
from rv_jupyter.cluster.poller import Snapshot, Subscription
from rv_jupyter.errors import RvError
from rv_jupyter.server.api import RvHandler
from rv_jupyter.server.job_events import ended_event, started_and_gone, started_event
from rv_jupyter.server.lab_view import lab_view
from rv_jupyter.slurm import Job

# A comment line this often: proxies keep the stream open, and a closed client is seen.
KEEPALIVE_S = 15.0
# How often this server's kernels are looked at (in memory: no cluster read).
KERNELS_S = 1.0
# Accounting lags the controller: an ended job it has no record of is asked about again.
ACCOUNTING_RETRY_S = (5.0, 15.0)


class Stream:
    """One open stream's inbox, filled from any thread, read on the server's loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.snapshot: Snapshot | None = None
        self.events: list[dict[str, Any]] = []
        self.ready = asyncio.Event()

    def put(self, snapshot: Snapshot | None = None, event: dict[str, Any] | None = None) -> None:
        def take() -> None:
            if snapshot is not None:
                self.snapshot = snapshot
            if event is not None:
                self.events.append(event)
            self.ready.set()

        self.loop.call_soon_threadsafe(take)


class Hub:
    """The poller subscription and job events shared by a cluster's open streams."""

    _hubs: ClassVar[dict[int, Hub]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self.streams: set[Stream] = set()
        self.sub: Subscription | None = None
        self.jobs: list[Job] | None = None

    @classmethod
    def of(cls, cluster: Any) -> Hub:
        with cls._lock:
            return cls._hubs.setdefault(id(cluster), cls(cluster))

    def add(self, stream: Stream) -> None:
        with self._lock:
            self.streams.add(stream)
            first = self.sub is None
        if first:
            self.sub = self.cluster.poller.subscribe(self._on_snapshot)
        elif self.cluster.poller.snapshot.read_at is not None:
            stream.put(snapshot=self.cluster.poller.snapshot)

    def remove(self, stream: Stream) -> None:
        with self._lock:
            self.streams.discard(stream)
            sub = self.sub if not self.streams else None
            if sub is not None:
                self.sub, self.jobs = None, None
        if sub is not None:
            sub.close()

    def _broadcast(
        self, snapshot: Snapshot | None = None, event: dict[str, Any] | None = None
    ) -> None:
        with self._lock:
            streams = list(self.streams)
        for s in streams:
            s.put(snapshot=snapshot, event=event)

    def _on_snapshot(self, snap: Snapshot) -> None:
        self._broadcast(snapshot=snap)
        if snap.state is None or snap.stale:
            return
        before, self.jobs = self.jobs, list(snap.state.jobs)
        if before is None:
            return
        started, gone = started_and_gone(before, self.jobs)
        for job in started:
            self._broadcast(event=started_event(job).model_dump(mode="json"))
        if gone:
            self._kernels_look_again(gone)
            asyncio.run_coroutine_threadsafe(self._aended(gone), background.loop())

    async def _aended(self, jobs: list[Job]) -> None:
        finals: dict[str, str] = {}
        for wait in (0.0, *ACCOUNTING_RETRY_S):
            await asyncio.sleep(wait)
            try:
                finals.update(await self.cluster.afinal_states([j.job_id for j in jobs]))
            except RvError:
                continue
            if all(j.job_id in finals for j in jobs):
                break
        for job in jobs:
            self._broadcast(event=ended_event(job, finals.get(job.job_id)).model_dump(mode="json"))

    def _kernels_look_again(self, jobs: list[Job]) -> None:
        # A kernel asks Slurm about its job only once a minute; this one has just gone.
        from rv_jupyter.kernels.provisioner import LIVE

        ids = {j.job_id for j in jobs}
        for prov in list(LIVE.values()):
            if prov.job in ids:
                prov.recheck()


def kernels_now() -> list[dict[str, Any]]:
    """This server's Rivanna kernels as the REST API shows them (pending, running, ended)."""
    from rv_jupyter.kernels.provisioner import LIVE

    return [p.info() for p in list(LIVE.values())]


class LiveHandler(RvHandler):
    _closed: asyncio.Event | None = None

    @web.authenticated
    async def get(self) -> None:
        """Stream views, job events and kernels to one tab until it closes."""
        cluster = self.cluster
        loop = asyncio.get_running_loop()
        self._closed = closed = asyncio.Event()
        stream = Stream(loop)
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        conn = cluster.config.connection
        warn_s = int(cluster.config.kernels.warn_before_end_min * 60)
        hub = Hub.of(cluster)
        hub.add(stream)
        stream.snapshot = stream.snapshot or cluster.poller.snapshot
        stream.ready.set()  # the current view at once, even before the first read
        sent_kernels: str | None = None
        quiet_since = loop.time()
        try:
            while not closed.is_set():
                kernels = json.dumps(kernels_now())
                if kernels != sent_kernels:
                    sent_kernels = kernels
                    await self._send("kernels", kernels)
                    quiet_since = loop.time()
                if stream.ready.is_set():
                    stream.ready.clear()
                    snap, stream.snapshot = stream.snapshot, None
                    events, stream.events = stream.events, []
                    if snap is not None:
                        view = lab_view(snap, user=conn.user, host=conn.host, warn_s=warn_s)
                        await self._send("view", json.dumps(view.model_dump(mode="json")))
                    for event in events:
                        await self._send("job", json.dumps(event))
                    quiet_since = loop.time()
                elif loop.time() - quiet_since >= KEEPALIVE_S:
                    self.write(": keepalive\n\n")
                    await self.flush()
                    quiet_since = loop.time()
                await _first(stream.ready, closed, timeout=KERNELS_S)
        except StreamClosedError:
            pass
        finally:
            hub.remove(stream)

    async def _send(self, event: str, data: str) -> None:
        self.write(f"event: {event}\ndata: {data}\n\n")
        await self.flush()

    def on_connection_close(self) -> None:
        if self._closed is not None:
            self._closed.set()


async def _first(*events: asyncio.Event, timeout: float) -> None:
    """Return when one of `events` is set, or after `timeout`."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


ROUTES: list[tuple[str, type]] = [(r"/rv/api/live", LiveHandler)]
