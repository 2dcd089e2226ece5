"""One shared poller per cluster and process: every panel reads the same snapshots.

However many panels are open, the cluster is read at most once per interval: every
5 s while one of the user's jobs is pending (something is about to change), backing
off to 30 s and then up to 2 min while nothing is. With no visible subscriber it
stops reading at all. A failed read keeps the last good state and marks it stale.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rv_jupyter import background
from rv_jupyter.errors import RvError
from rv_jupyter.slurm import JobState

if TYPE_CHECKING:
    from rv_jupyter.session import Cluster
    from rv_jupyter.state import ClusterState

FAST_S = 5.0
IDLE_S = 30.0
MAX_IDLE_S = 120.0


@dataclass(frozen=True)
class Snapshot:
    """What subscribers are shown: the last good state, and the last error if newer."""

    state: ClusterState | None
    error: str | None = None
    read_at: float | None = None  # time.monotonic() of the last good read

    @property
    def stale(self) -> bool:
        """The last read failed: the state shown is older than the error."""
        return self.error is not None


@dataclass(eq=False)
class Subscription:
    """One panel's interest in the poller; visible subscriptions keep it reading."""

    poller: Poller
    callback: Callable[[Snapshot], None]
    visible: bool = True
    id: int = field(default_factory=itertools.count().__next__)

    def set_visible(self, visible: bool) -> None:
        """A hidden panel does not need reads; the poller pauses when none is visible."""
        self.visible = visible
        if visible:
            self.poller.wake()

    def close(self) -> None:
        """Stop receiving snapshots."""
        self.poller.unsubscribe(self)


class Poller:
    """Reads the cluster state for all subscribers on the background loop."""

    def __init__(
        self, cluster: Cluster, *, fast_s: float = FAST_S, idle_s: float = IDLE_S,
        max_idle_s: float = MAX_IDLE_S,
    ) -> None:  # fmt: skip
        self.cluster = cluster
        self.fast_s, self.idle_s, self.max_idle_s = fast_s, idle_s, max_idle_s
        self.snapshot = Snapshot(None)
        self.reads = 0
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()
        self._task: concurrent.futures.Future[None] | None = None
        self._wake: asyncio.Event | None = None
        self._fresh_lock: asyncio.Lock | None = None

    def subscribe(self, callback: Callable[[Snapshot], None]) -> Subscription:
        """Receive every new snapshot (and the current one at once, if there is one)."""
        sub = Subscription(self, callback)
        with self._lock:
            self._subs.append(sub)
        if self.snapshot.state is not None or self.snapshot.error:
            callback(self.snapshot)
        self._ensure_running()
        self.wake()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a subscriber; the loop ends when none is left."""
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def wake(self) -> None:
        """Read now rather than at the end of the current interval."""
        wake = self._wake
        if wake is not None:
            background.loop().call_soon_threadsafe(wake.set)

    @property
    def subscribers(self) -> int:
        """How many panels are subscribed."""
        return len(self._subs)

    def _visible(self) -> list[Subscription]:
        with self._lock:
            return [s for s in self._subs if s.visible]

    def _ensure_running(self) -> None:
        with self._lock:
            if self._task is None or self._task.done():
                self._task = asyncio.run_coroutine_threadsafe(self._run(), background.loop())

    async def _run(self) -> None:
        self._wake = asyncio.Event()
        idle = self.idle_s
        while True:
            with self._lock:
                if not self._subs:
                    return
            if not self._visible():
                await self._sleep(None)  # paused until a panel shows itself again
                continue
            await self._read()
            busy = self.snapshot.state is not None and any(
                j.state in (JobState.pending, JobState.configuring)
                for j in self.snapshot.state.jobs
            )
            if busy:
                idle, wait = self.idle_s, self.fast_s
            else:
                idle, wait = min(idle * 2, self.max_idle_s), idle
            await self._sleep(wait)

    async def afresh(self, max_age_s: float = FAST_S) -> Snapshot:
        """The snapshot, read now if older than `max_age_s` (REST API, Lab extension).

        Runs on the background loop; concurrent callers share one read, and a read here
        also reaches every visible panel, so the API adds no reads while panels poll.
        """
        if self._fresh_lock is None:
            self._fresh_lock = asyncio.Lock()
        async with self._fresh_lock:
            snap = self.snapshot
            if (
                snap.read_at is not None
                and snap.error is None
                and time.monotonic() - snap.read_at <= max_age_s
            ):
                return snap
            await self._read()
            return self.snapshot

    async def _sleep(self, seconds: float | None) -> None:
        assert self._wake is not None
        self._wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _read(self) -> None:
        self.reads += 1
        try:
            state = await self.cluster.astate()
        except RvError as err:
            self.snapshot = Snapshot(self.snapshot.state, str(err), self.snapshot.read_at)
        else:
            self.snapshot = Snapshot(state, None, time.monotonic())
        for sub in self._visible():
            with contextlib.suppress(Exception):  # one broken panel must not stop the rest
                sub.callback(self.snapshot)
