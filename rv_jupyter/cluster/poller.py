"""One poller per cluster and process, and one read per interval for all of them.

However many panels, REST calls and processes ask, the cluster is read at most once per
`fast_s` (5 s: at most 12 reads a minute). The loop reads every `fast_s` while one of
the user's jobs is pending (something is about to change), backing off from 30 s to
2 min while nothing is (`next_interval`). With no visible subscriber it stops.

Every read goes through one path (`_read_fresh`): a caller that wants data joins the read
in flight, takes the last snapshot if it is recent enough, or waits for the end of the
interval; any read, whoever asked for it, restarts the loop's timer. `poke()` says rv
itself changed something (a submission, a cancel): the next read comes as soon as the
interval allows, not at the end of a 2-minute back-off.

Across processes: the kernels of one user on one machine (and the Jupyter server's own
poller) share their reads through `rv_jupyter.cluster.shared_snapshot`; each poller takes a
newer read made by another process instead of reading itself, and a poke in one
process reaches them all. Why a file and not the server's REST API is said there.

A failed read keeps the last good state, marked stale since the first failure.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from rv_jupyter.cluster import background
from rv_jupyter.cluster.shared_snapshot import SharedSnapshot
from rv_jupyter.errors import RvError
from rv_jupyter.slurm import JobState
from rv_jupyter.slurm.state import ClusterState

log = logging.getLogger(__name__)

FAST_S = 5.0
IDLE_S = 30.0
MAX_IDLE_S = 120.0
# How often a sleeping loop looks at the shared record (one stat() per file), so a read
# or a poke in another process shows here within a second.
WATCH_S = 1.0
# The longest we wait for another process's read before reading ourselves: a read that
# has not ended by then is stuck (the state batch's own timeout is 60 s).
OTHERS_READ_S = 75.0
# About to change: a pending job starts, a completing one (just cancelled or ended) leaves.
_BUSY = (JobState.pending, JobState.configuring, JobState.completing)


def next_interval(
    previous: float | None,
    *,
    busy: bool,
    fast_s: float = FAST_S,
    idle_s: float = IDLE_S,
    max_idle_s: float = MAX_IDLE_S,
) -> float:
    """Seconds from one read to the next, given the last interval (None at first).

    `fast_s` while something is about to change (`busy`: a job pending); otherwise
    `idle_s`, doubling with each quiet read up to `max_idle_s`.
    """
    if busy:
        return fast_s
    if previous is None or previous < idle_s:
        return idle_s
    return min(previous * 2, max_idle_s)


def is_busy(state: ClusterState | None) -> bool:
    """A job of the user's is pending, configuring or completing: it will change soon."""
    return state is not None and any(j.state in _BUSY for j in state.jobs)


class StateSource(Protocol):
    """What a poller reads: the cluster handle (or a stand-in)."""

    @property
    def target(self) -> object:
        """Where it reads from; its repr names the record shared between processes."""

    async def astate(self) -> ClusterState:
        """Read the whole cluster state once."""


@dataclass(frozen=True)
class Snapshot:
    """What subscribers are shown: the last good state, and the last error if newer."""

    state: ClusterState | None
    error: str | None = None
    read_at: float | None = None  # time.monotonic() of the last good read
    failed_at: datetime | None = None  # first failed read since the last good one

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
        """A hidden panel needs no reads; one shown again gets data no older than `fast_s`."""
        self.visible = visible
        if visible:
            self.poller._want_fresh()

    def close(self) -> None:
        """Stop receiving snapshots."""
        self.poller.unsubscribe(self)


class Poller:
    """Reads the cluster state for all subscribers on the background loop."""

    def __init__(
        self, cluster: StateSource, *, fast_s: float = FAST_S, idle_s: float = IDLE_S,
        max_idle_s: float = MAX_IDLE_S, shared: bool | Path = True,
    ) -> None:  # fmt: skip
        """`shared`: True shares reads through this machine's default directory, a Path
        through that directory, False not at all."""
        self.cluster = cluster
        self.fast_s, self.idle_s, self.max_idle_s = fast_s, idle_s, max_idle_s
        self.snapshot = Snapshot(None)
        self.reads = 0  # reads this poller made itself (not those taken from others)
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()
        self._task: concurrent.futures.Future[None] | None = None
        self._wake = asyncio.Event()
        self._reading: asyncio.Future[None] | None = None
        self._last_start: float | None = None  # monotonic start of the newest read, anyone's
        self._done_start: float | None = None  # ... of the newest read that has ended
        self._interval: float | None = None
        self._want_after = -math.inf  # a read started after this is wanted
        self._id = f"{os.getpid()}-{id(self)}"
        self._shared = (
            SharedSnapshot.create(repr(cluster.target), None if shared is True else shared)
            if shared
            else None
        )

    # -- subscribers and requests (any thread) ------------------------------------------

    def subscribe(self, callback: Callable[[Snapshot], None]) -> Subscription:
        """Receive every new snapshot (and the current one at once, if there is one)."""
        sub = Subscription(self, callback)
        with self._lock:
            self._subs.append(sub)
        if self.snapshot.state is not None or self.snapshot.error:
            callback(self.snapshot)
        self._want_fresh()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a subscriber; the loop ends when none is left."""
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)
        self._nudge()

    def poke(self) -> None:
        """rv changed something (submitted, cancelled): read as soon as the interval allows.

        Reaches the pollers of the user's other processes on this machine too.
        """
        self._want(time.monotonic())
        if self._shared is not None:
            self._shared.poke()

    wake = poke  # the name panels used before poke()

    @property
    def subscribers(self) -> int:
        """How many panels are subscribed."""
        return len(self._subs)

    def _want_fresh(self) -> None:
        # A new or re-shown panel: data from the last interval is fresh enough.
        self._want(time.monotonic() - self.fast_s)

    def _want(self, after: float) -> None:
        with self._lock:
            self._want_after = max(self._want_after, after)
        self._ensure_running()
        self._nudge()

    def _nudge(self) -> None:
        background.loop().call_soon_threadsafe(self._wake.set)

    def _visible(self) -> list[Subscription]:
        with self._lock:
            return [s for s in self._subs if s.visible]

    def _ensure_running(self) -> None:
        with self._lock:
            if self._subs and (self._task is None or self._task.done()):
                self._task = asyncio.run_coroutine_threadsafe(self._run(), background.loop())

    # -- the loop and the one read path (background loop) -------------------------------

    async def _run(self) -> None:
        while True:
            with self._lock:
                if not self._subs:
                    # Under the lock: a subscriber arriving now starts a new loop.
                    self._task = None
                    return
            self._take_shared()
            if not self._visible():
                await self._sleep(None)  # paused until a panel shows itself again
                continue
            wait = self._due() - time.monotonic()
            if wait > 0:
                await self._sleep(min(wait, WATCH_S) if self._shared else wait)
                continue
            await self._read_fresh(max(self._want_after, self._last_start or -math.inf))

    def _due(self) -> float:
        if self._last_start is None:
            return -math.inf
        due = self._last_start + (self._interval or 0.0)
        if self._want_after >= self._last_start:  # poked since: no back-off
            due = min(due, self._last_start + self.fast_s)
        return due

    async def afresh(self, max_age_s: float = FAST_S) -> Snapshot:
        """The snapshot, read now if the last read started more than `max_age_s` ago.

        For the REST API and the Lab extension. It shares the loop's pacing: a read in
        flight is joined, none starts within `fast_s` of the last, and a read here
        reaches every panel and restarts the loop's timer.
        """
        self._take_shared()
        await self._read_fresh(max(time.monotonic() - max_age_s, self._want_after))
        return self.snapshot

    def _newer_than(self, after: float) -> bool:
        # Only a read that has ended counts: one in flight is joined, not taken as done.
        return self._done_start is not None and self._done_start > after

    async def _read_fresh(self, after: float) -> None:
        # One read task at a time. A caller who wants newer data than the task in flight
        # was started for waits for it all the same, then starts the next.
        while not self._newer_than(after):
            if self._reading is None or self._reading.done():
                self._reading = asyncio.ensure_future(self._paced(after))
            await asyncio.shield(self._reading)

    async def _paced(self, after: float) -> None:
        others_until = time.monotonic() + OTHERS_READ_S
        while True:
            self._take_shared()
            if self._newer_than(after):
                return
            if self._last_start is not None:
                gap = self._last_start + self.fast_s - time.monotonic()
                if gap > 0:
                    await asyncio.sleep(min(gap, WATCH_S) if self._shared else gap)
                    continue
            claimed = self._shared is None or self._shared.try_lock()
            if not claimed and time.monotonic() < others_until:
                await asyncio.sleep(0.1)  # another process is reading: take its result
                continue
            try:
                if not (self._take_shared() and self._newer_than(after)):
                    await self._read()
            finally:
                if claimed and self._shared is not None:
                    self._shared.unlock()
            return

    async def _sleep(self, seconds: float | None) -> None:
        self._wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _read(self) -> None:
        self.reads += 1
        start, started_wall = time.monotonic(), time.time()
        self._last_start = start
        old = self.snapshot
        try:
            state = await self.cluster.astate()
        except Exception as err:  # any failure must leave the panels stale, not dead
            if isinstance(err, RvError):  # the cluster's answer: the panels show it
                why = str(err)
            else:  # a bug: the panels show its name, the log its traceback
                log.warning("rv-jupyter: reading the cluster state failed", exc_info=True)
                why = f"{type(err).__name__}: {err}"
            failed = old.failed_at or datetime.now().astimezone()
            self.snapshot = Snapshot(old.state, why, old.read_at, failed)
        else:
            self.snapshot = Snapshot(state, None, time.monotonic())
        self._done_start = start
        self._interval = self._next(self.snapshot.state)
        if self._shared is not None:
            self._shared.store(self._record(started_wall))
        self._publish()

    def _next(self, state: ClusterState | None) -> float:
        return next_interval(
            self._interval, busy=is_busy(state), fast_s=self.fast_s, idle_s=self.idle_s,
            max_idle_s=self.max_idle_s,
        )  # fmt: skip

    def _publish(self) -> None:
        for sub in self._visible():
            try:
                sub.callback(self.snapshot)
            except Exception:  # a panel's own code: one broken panel must not stop the rest
                log.warning("rv-jupyter: a panel failed to show the state", exc_info=True)

    # -- the shared record -------------------------------------------------------------

    def _record(self, started_wall: float) -> dict[str, Any]:
        s = self.snapshot
        ago = None if s.read_at is None else time.monotonic() - s.read_at
        return {
            "v": 1,
            "by": self._id,
            "started": started_wall,
            "interval": self._interval,
            "state": s.state.model_dump(mode="json") if s.state is not None else None,
            "error": s.error,
            "read_wall": None if ago is None else time.time() - ago,
            "failed_at": s.failed_at.isoformat() if s.failed_at else None,
        }

    def _take_shared(self) -> bool:
        """Take a newer read (or a poke) from another process; True if a read was taken."""
        if self._shared is None:
            return False
        poked = self._shared.poked_at()
        if poked is not None:
            with self._lock:
                self._want_after = max(self._want_after, _to_monotonic(poked))
        rec = self._shared.load_if_changed()
        if rec is None or rec.get("v") != 1 or rec.get("by") == self._id:
            return False
        try:
            started = _to_monotonic(float(rec["started"]))
            if self._last_start is not None and started <= self._last_start:
                return False
            if time.monotonic() - started > 2 * self.max_idle_s:
                return False  # left by a process long gone: read afresh instead
            snap = _snapshot_of(rec)
            interval = float(rec["interval"]) if rec.get("interval") is not None else None
        except (KeyError, TypeError, ValueError) as exc:  # another version's record
            log.debug("rv-jupyter: ignored a shared state record: %r", exc)
            return False
        self._last_start = self._done_start = started
        self._interval, self.snapshot = interval, snap
        self._publish()
        return True


def _to_monotonic(wall: float) -> float:
    return time.monotonic() - (time.time() - wall)


def _snapshot_of(rec: dict[str, Any]) -> Snapshot:
    state = ClusterState.model_validate(rec["state"]) if rec.get("state") is not None else None
    read_wall = rec.get("read_wall")
    failed = rec.get("failed_at")
    return Snapshot(
        state,
        rec.get("error"),
        None if read_wall is None else _to_monotonic(float(read_wall)),
        datetime.fromisoformat(failed) if failed else None,
    )
