"""Server push for the Lab UI: `GET /rv/api/live` is a stream of server-sent events, one
`view` (lab_view.LabView as JSON) per new snapshot of the shared poller.

Every open stream is one visible subscriber of the process's one poller, so however
many tabs are open the cluster is read at most once per interval, at the poller's
pace (fast while a job is pending, backing off when idle). A tab that is hidden closes
its stream (the UI does that), and with no stream left the poller stops reading. A
new stream gets the current view at once.
"""

from __future__ import annotations

import asyncio
import json

from tornado import web
from tornado.iostream import StreamClosedError

from rv_jupyter.cluster.poller import Snapshot
from rv_jupyter.server.api import RvHandler
from rv_jupyter.server.lab_view import lab_view

# A comment line this often: proxies keep the stream open, and a closed client is seen.
KEEPALIVE_S = 15.0


class LiveHandler(RvHandler):
    _closed: asyncio.Event | None = None

    @web.authenticated
    async def get(self) -> None:
        """Stream the sidebar's view; a new `view` event whenever the poller reads."""
        cluster = self.cluster
        loop = asyncio.get_running_loop()
        changed, closed = asyncio.Event(), asyncio.Event()
        self._closed = closed
        latest: list[Snapshot] = [cluster.poller.snapshot]

        def on_snapshot(snap: Snapshot) -> None:  # on the poller's thread
            def take() -> None:
                latest[0] = snap
                changed.set()

            loop.call_soon_threadsafe(take)

        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        conn = cluster.config.connection
        sub = cluster.poller.subscribe(on_snapshot)
        try:
            changed.set()  # the current view at once, even before the first read
            while not closed.is_set():
                if not changed.is_set():
                    waits = [asyncio.ensure_future(e.wait()) for e in (changed, closed)]
                    done, pending = await asyncio.wait(
                        waits, timeout=KEEPALIVE_S, return_when=asyncio.FIRST_COMPLETED
                    )
                    for w in pending:
                        w.cancel()
                    if not done:
                        self.write(": keepalive\n\n")
                        await self.flush()
                        continue
                if closed.is_set():
                    break
                changed.clear()
                view = lab_view(latest[0], user=conn.user, host=conn.host)
                self.write(f"event: view\ndata: {json.dumps(view.model_dump(mode='json'))}\n\n")
                await self.flush()
        except StreamClosedError:
            pass
        finally:
            sub.close()

    def on_connection_close(self) -> None:
        if self._closed is not None:
            self._closed.set()


ROUTES: list[tuple[str, type]] = [(r"/rv/api/live", LiveHandler)]
