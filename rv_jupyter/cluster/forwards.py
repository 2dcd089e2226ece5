"""Ports of your running jobs, reached through the one SSH connection.

Two kinds of forward:

- proxy forwards listen on a Unix socket in a private (0700) directory, so the Jupyter
  server extension can proxy `/rv/proxy/<job>/<port>/` to them while no other local user
  (and no unauthenticated request) can reach the node through them;
- local forwards (`%rv_forward --local`) listen on 127.0.0.1 for tools that want a TCP
  port, and live until closed (or the process ends).

Only nodes of the user's own *running* jobs are ever targets: every job id is checked
against `squeue --me` (cached for a few seconds, so a page's burst of requests costs one
read), never taken as a host name. And a node is shared, so every connection through a
forward first asks the job itself (job_ports.py) where *its* processes listen on that
port, and goes there only (port_choice.py): never to another user's server on the same
node and port, never to the node of a job that has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import tempfile
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rv_jupyter.cluster import background
from rv_jupyter.errors import RequestError, RvError, UnknownJob
from rv_jupyter.remote.job_ports import JobPorts, ListeningPort
from rv_jupyter.remote.node_ports import NodePortListener
from rv_jupyter.remote.port_choice import Target
from rv_jupyter.slurm.hostlist import expand_hostlist
from rv_jupyter.slurm.states import JobState

if TYPE_CHECKING:
    from rv_jupyter.remote.connection import Connection
    from rv_jupyter.slurm.squeue import Job

# Long enough to cover one page load's requests. A job that ended within it is still no
# target: every connection asks the job itself first (job_ports.py), which fails then.
RUNNING_TTL_S = 3.0

_JOB_ID = re.compile(r"^[0-9]{1,12}(_[0-9]{1,9})?$")

__all__ = ["Forward", "Forwards", "ListeningPort", "check_job_id", "check_port"]


def check_port(port: int | str) -> int:
    """A TCP port number, or a RequestError saying what is wrong."""
    try:
        value = int(port)
    except (TypeError, ValueError):
        value = -1
    if not 1 <= value <= 65535:
        raise RequestError(
            f"{port!r} is not a port number.", hint="Give the port as a number from 1 to 65535."
        )
    return value


def check_job_id(job_id: str) -> str:
    """A Slurm job id as the user typed it, or a RequestError."""
    job_id = str(job_id).strip()
    if not _JOB_ID.match(job_id):
        raise RequestError(
            f"{job_id!r} is not a job id.", hint="Job ids are numbers; %rv_ps lists yours."
        )
    return job_id


@dataclass(eq=False)
class Forward:
    """One open forward to a port on a job's node."""

    job_id: str
    node: str
    port: int
    path: str | None = None  # Unix socket (proxy forwards)
    local_port: int | None = None  # 127.0.0.1 port (local forwards)
    opened_at: float = field(default_factory=time.time)
    _listener: Any = field(default=None, repr=False)
    _owner: Forwards | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        return "local" if self.local_port is not None else "proxy"

    def proxy_path(self, base_url: str = "/") -> str:
        """The URL path of this port through the Jupyter server extension."""
        return f"{base_url.rstrip('/')}/rv/proxy/{self.job_id}/{self.port}/"

    def info(self) -> dict[str, Any]:
        """JSON-able description (REST API, %rv_forward)."""
        return {
            "job_id": self.job_id,
            "node": self.node,
            "port": self.port,
            "kind": self.kind,
            "local_port": self.local_port,
            "proxy_path": self.proxy_path(),
        }

    async def aclose(self) -> None:
        """Stop listening; connections already made end with the listener."""
        if self._owner is not None:
            self._owner._forget(self)
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
            await listener.wait_closed()

    def close(self) -> None:
        """Sync face of aclose()."""
        if self._listener is not None:
            background.run_sync(self.aclose(), timeout=10)

    def __del__(self) -> None:
        # A local forward nobody holds any more closes with its last reference.
        listener = self._listener
        if listener is not None:
            with contextlib.suppress(RuntimeError):
                background.loop().call_soon_threadsafe(listener.close)
            if self.path:
                Path(self.path).unlink(missing_ok=True)

    def __repr__(self) -> str:
        where = f"127.0.0.1:{self.local_port}" if self.local_port else self.proxy_path()
        state = "open" if self._listener is not None else "closed"
        return f"<Forward {where} -> job {self.job_id} {self.node}:{self.port} ({state})>"


class Forwards:
    """The forwards of one cluster connection (one per process, like the connection)."""

    def __init__(
        self,
        connection: Connection,
        jobs: Callable[[], Awaitable[Sequence[Job]]],
    ) -> None:
        """`jobs()`: the user's queued and running jobs now."""
        self.connection, self._jobs = connection, jobs
        self._running: dict[str, str] = {}
        self._read_at = 0.0
        self._read_lock: asyncio.Lock | None = None
        self._open: list[Forward] = []  # proxy forwards: kept until closed
        # Local forwards live as long as the caller holds them (or the process runs).
        self._local: weakref.WeakSet[Forward] = weakref.WeakSet()
        self._dir: Path | None = None
        self._ports: dict[str, JobPorts] = {}  # job id -> its watcher (job_ports.py)

    # -- which node -------------------------------------------------------------------

    async def anode(self, job_id: str, *, fresh: bool = False) -> str:
        """The (first) node of your running job `job_id`; RequestError if it is not one."""
        job_id = check_job_id(job_id)
        if fresh or time.monotonic() - self._read_at > RUNNING_TTL_S or job_id not in self._running:
            await self._read_running(job_id)
        node = self._running.get(job_id)
        if node is None:
            raise UnknownJob(
                f"Job {job_id} is not one of your running jobs.",
                hint="Only ports of your own running jobs can be reached; %rv_ps lists them "
                "(a pending job has no node yet).",
            )
        return node

    async def _read_running(self, job_id: str) -> None:
        if self._read_lock is None:
            self._read_lock = asyncio.Lock()
        async with self._read_lock:
            started = time.monotonic()
            if started - self._read_at <= RUNNING_TTL_S and job_id in self._running:
                return  # another request read it while we waited
            running: dict[str, str] = {}
            for job in await self._jobs():
                if job.state is JobState.running and job.node_list:
                    nodes = expand_hostlist(job.node_list)
                    if nodes:
                        running[job.job_id] = nodes[0]
            self._running, self._read_at = running, started

    # -- forwards -----------------------------------------------------------------------

    async def aproxy_socket(self, job_id: str, port: int) -> Forward:
        """The Unix-socket forward to `port` on the node of `job_id` (opened once, reused)."""
        port = check_port(port)
        node = await self.anode(job_id)
        for fwd in self._open:
            if fwd.path and (fwd.job_id, fwd.node, fwd.port) == (job_id, node, port):
                return fwd
        path = str(self._socket_dir() / f"{job_id}-{port}.sock")
        Path(path).unlink(missing_ok=True)
        listener = await self._listener(job_id, node, port).aunix(path)
        fwd = Forward(job_id, node, port, path=path, _listener=listener, _owner=self)
        self._open.append(fwd)
        return fwd

    async def alocal(self, job_id: str, port: int, local_port: int = 0) -> Forward:
        """A plain TCP forward 127.0.0.1:local_port -> the job's port (0: any free port);
        PortClosed if the job listens on no such port now."""
        port = check_port(port)
        if local_port:
            local_port = check_port(local_port)
        node = await self.anode(job_id, fresh=True)
        try:
            await self._watcher(job_id, node).alocate(port)
        except RvError:
            if not any(f.job_id == job_id for f in self.list()):
                self._close_watcher(job_id)
            raise
        try:
            listener = await self._listener(job_id, node, port).atcp("127.0.0.1", local_port)
        except OSError as exc:
            raise RequestError(
                f"Cannot listen on local port {local_port}: {exc.strerror or exc}.",
                hint="Pick another --local port, or omit it to get a free one.",
            ) from exc
        fwd = Forward(
            job_id, node, port, local_port=listener.get_port(), _listener=listener, _owner=self
        )
        self._local.add(fwd)
        return fwd

    async def alocate(self, job_id: str, port: int) -> Target:
        """Where a connection to `port` reaches the job's own listener now; PortClosed
        if the job listens on no such port, UnknownJob if it is no longer running."""
        node = await self.anode(job_id)
        return await self._watcher(job_id, node).alocate(port)

    async def alistening(self, job_id: str) -> list[ListeningPort]:
        """TCP ports the processes of your running job listen on (on its first node)."""
        node = await self.anode(job_id, fresh=True)
        try:
            return await self._watcher(job_id, node).alistening()
        finally:
            if not any(f.job_id == job_id for f in self.list()):
                self._close_watcher(job_id)  # no forward of the job needs it

    def _listener(self, job_id: str, node: str, port: int) -> NodePortListener:
        async def locate() -> Target:
            return await self._watcher(job_id, node).alocate(port)

        return NodePortListener(self.connection, node, port, locate=locate)

    def _watcher(self, job_id: str, node: str) -> JobPorts:
        ports = self._ports.get(job_id)
        if ports is None or ports.node != node:
            if ports is not None:
                ports.close()
            ports = self._ports[job_id] = JobPorts(self.connection, job_id, node)
            ports.on_end = self._watcher_ended
        return ports

    def _watcher_ended(self, ports: JobPorts) -> None:
        # The job may have ended: the next request reads squeue again.
        self._read_at = 0.0

    def list(self) -> list[Forward]:
        """Forwards open now."""
        return [*self._open, *self._local]

    async def aclose_all(self, job_id: str | None = None) -> int:
        """Close every forward (of `job_id`, if given); returns how many."""
        closing = [f for f in self.list() if job_id is None or f.job_id == job_id]
        for fwd in closing:
            await fwd.aclose()
        return len(closing)

    def _forget(self, fwd: Forward) -> None:
        if fwd in self._open:
            self._open.remove(fwd)
        self._local.discard(fwd)
        if fwd.path:
            Path(fwd.path).unlink(missing_ok=True)
        if not any(f.job_id == fwd.job_id for f in self.list()):
            self._close_watcher(fwd.job_id)

    def _close_watcher(self, job_id: str) -> None:
        ports = self._ports.pop(job_id, None)
        if ports is not None:
            ports.close()

    def _socket_dir(self) -> Path:
        if self._dir is None or not self._dir.exists():
            # mkdtemp makes it 0700: the sockets in it are this user's alone.
            self._dir = Path(tempfile.mkdtemp(prefix="rv-fwd-"))
        return self._dir

    def __del__(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
