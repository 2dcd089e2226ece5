"""The laptop side of a remote kernel's traffic: local ports that lead to the kernel.

The kernel listens on its node's loopback only, which the login node cannot reach. Local
listeners on 127.0.0.1 (the ports in the connection file Jupyter reads, exactly as for a
local kernel) carry each ZMQ connection to it one of two ways:

- SSH to the node, tunnelled through the login connection, and a direct-tcpip channel to
  the kernel's port on the node's loopback (what `ssh -J` does; Rivanna lets a user onto
  a node where they have a job). This is the fast way.
- Otherwise (the node refuses SSH, or its host key is not known), the agent's relay
  (`srun --jobid J --overlap ... agent.py relay PORTS`), one SSH channel multiplexing all
  five. Slurm's stdio forwarding holds small writes back (~40 ms per reply), so this is
  only the fallback; the direct way is tried again after a while.

Both ways join the local socket with the same protocol pair as forwarded job ports
(remote/joiner.py): bytes go straight from one end's transport to the other's, and a
slow reader on either side holds the sender back.

If a channel drops (network, laptop asleep), open connections close, ZMQ reconnects by
itself, and the next connection opens a new way: the kernel on the node never notices.

Runs on the background loop, like the SSH connection it uses.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import struct
import time
from typing import TYPE_CHECKING, Any

from rv_jupyter.errors import NodeLinkError
from rv_jupyter.remote.failures import STREAM_ENDED
from rv_jupyter.remote.joiner import End

if TYPE_CHECKING:
    from rv_jupyter.remote.connection import Connection

HEAD = struct.Struct("!cII")  # agent.py's frame header: kind, connection id, length
SRUN_FOR_S = 300.0  # after SSH to the node failed, how long to use the relay before retrying
# Bytes queued towards the relay before the local socket is read no more: ZMQ messages
# are small, so this is only reached by a large transfer over a slow link.
RELAY_BACKLOG = 1 << 20
log = logging.getLogger(__name__)


class Tunnel:
    """Local listeners for a kernel's channels, relayed to its ports on the node."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.local: dict[str, int] = {}
        self.remote: dict[str, int] = {}
        self.relay_command: str | None = None
        self.node: str | None = None
        self.relays_started = 0
        self.transport = "none"  # "ssh" or "srun": how the last connection went
        self._srun_until = 0.0
        self._locals: set[End] = set()  # every local connection still open
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._proc: Any = None
        self._reader_task: asyncio.Task[None] | None = None
        self._legs: dict[int, End] = {}  # relay connection id -> its relay-side end
        self._held: set[int] = set()  # relay connections whose local socket is full
        self._resumed = asyncio.Event()
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()

    async def alisten(self, channels: dict[str, int]) -> dict[str, int]:
        """Listen on 127.0.0.1 for each channel (port 0: any free one); the bound ports."""
        loop = asyncio.get_running_loop()
        for name, port in channels.items():
            server = await loop.create_server(
                functools.partial(self._local_end, name), "127.0.0.1", port
            )
            self._servers.append(server)
            self.local[name] = server.sockets[0].getsockname()[1]
        return dict(self.local)

    def target(self, relay_command: str, remote: dict[str, int], node: str | None) -> None:
        """Where connections go from now on (a new kernel after a restart, say)."""
        self._let_node_go()
        self.relay_command, self.remote, self.node = relay_command, dict(remote), node
        if node:
            self.connection.nodes.hold(node)
        self._drop_relay()
        self._drop_local()

    async def aclose(self) -> None:
        """Stop listening and end the relay (the kernel itself is not touched)."""
        for server in self._servers:
            server.close()
        self._servers.clear()
        self._drop_relay()
        self._drop_local()
        self._let_node_go()

    def _let_node_go(self) -> None:
        if self.node:
            self.connection.nodes.release(self.node)
            self.node = None

    # -- internals ----------------------------------------------------------------------

    def _local_end(self, name: str) -> End:
        return End(on_made=functools.partial(self._accepted, name), on_lost=self._locals.discard)

    def _accepted(self, name: str, local: End) -> None:
        local.transport.pause_reading()  # until the far end is there to take the bytes
        self._locals.add(local)
        task = asyncio.ensure_future(self._attach(name, local))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attach(self, name: str, local: End) -> None:
        port = self.remote.get(name)
        if port is None or self.relay_command is None:
            local.transport.close()  # no kernel yet: ZMQ will retry
            return
        if self.node and time.monotonic() >= self._srun_until:
            try:
                _, far = await self.connection.nodes.create(End, self.node, port)
            except NodeLinkError as exc:
                log.warning("rv-jupyter: kernel traffic goes through srun (slower): %s", exc)
                self._srun_until = time.monotonic() + SRUN_FOR_S
            except Exception as exc:  # a passing failure: ZMQ reconnects and we try again
                log.info("rv-jupyter: no way to the kernel on %s now: %s", self.node, exc)
                local.transport.close()
                return
            else:
                self.transport = "ssh"
                _join(local, far)
                return
        try:
            proc = await self._relay()
        except Exception as exc:  # the relay could not start: the client retries later
            log.warning("rv-jupyter: kernel relay did not start: %s", exc)
            local.transport.close()
            return
        self.transport = "srun"
        conn = next(self._ids)
        leg = End()
        leg.transport = _RelayLeg(self, proc, conn, local)
        self._legs[conn] = leg
        try:
            proc.stdin.write(HEAD.pack(b"O", conn, len(str(port))) + str(port).encode())
        except STREAM_ENDED as exc:  # the relay went meanwhile: ZMQ reconnects
            log.debug("rv-jupyter: relay gone before connection %d opened: %r", conn, exc)
            self._legs.pop(conn, None)
            local.transport.close()
            return
        _join(local, leg)

    def _drop_local(self) -> None:
        for local in list(self._locals):
            local.transport.close()  # its connection_lost closes the far end too
        self._locals.clear()

    async def _relay(self) -> Any:
        async with self._lock:
            if self._proc is not None and not self._proc.is_closing():
                return self._proc
            assert self.relay_command is not None
            proc = await self.connection.open_process(self.relay_command, retry=True)
            self.relays_started += 1
            self._proc = proc
            self._reader_task = asyncio.ensure_future(self._demux(proc))
            return proc

    async def _demux(self, proc: Any) -> None:
        try:
            while True:
                # A local socket that cannot take more holds the relay back (it carries
                # every channel, so all wait: as a TCP connection would).
                while self._held:
                    self._resumed.clear()
                    await self._resumed.wait()
                kind, conn, n = HEAD.unpack(await proc.stdout.readexactly(HEAD.size))
                data = await proc.stdout.readexactly(n) if n else b""
                leg = self._legs.get(conn)
                if leg is None:
                    continue
                if kind == b"D":
                    leg.data_received(data)
                elif kind == b"C":
                    self._legs.pop(conn, None)
                    leg.transport.ended_by_relay()
        except STREAM_ENDED as exc:  # the relay ended: connections reopen
            log.debug("rv-jupyter: kernel relay ended: %r", exc)
        finally:
            if self._proc is proc:
                self._drop_relay()

    def _drop_relay(self) -> None:
        proc, self._proc = self._proc, None
        legs, self._legs = list(self._legs.values()), {}
        self._held.clear()
        self._resumed.set()
        for leg in legs:
            leg.transport.ended_by_relay()
        if proc is not None:
            try:
                proc.close()
            except STREAM_ENDED as exc:  # closing what already broke
                log.debug("rv-jupyter: closing the kernel relay: %r", exc)


def _join(local: End, far: End) -> None:
    """Pair the two ends and let the local socket be read."""
    local.peer, far.peer = far, local
    if local.transport.is_closing():
        far.transport.close()
    else:
        local.transport.resume_reading()


class _RelayLeg:
    """One local connection's way through the relay, as a transport for its End: what is
    written goes out as the agent's frames; closing sends the agent a close frame."""

    def __init__(self, tunnel: Tunnel, proc: Any, conn: int, local: End) -> None:
        self.tunnel, self.proc, self.conn, self.local = tunnel, proc, conn, local
        self._closed = False
        self._draining = False

    def write(self, data: bytes) -> None:
        if self._closed:
            return
        try:
            self.proc.stdin.write(HEAD.pack(b"D", self.conn, len(data)) + data)
        except STREAM_ENDED as exc:  # the relay went: the connection ends, ZMQ reconnects
            log.debug("rv-jupyter: relay gone under connection %d: %r", self.conn, exc)
            self.ended_by_relay()
            return
        channel = self.proc.stdin.channel
        if not self._draining and channel.get_write_buffer_size() > RELAY_BACKLOG:
            self._draining = True
            self.local.transport.pause_reading()
            task = asyncio.ensure_future(self._drain())
            self.tunnel._tasks.add(task)
            task.add_done_callback(self.tunnel._tasks.discard)

    async def _drain(self) -> None:
        try:
            await self.proc.stdin.drain()
        except STREAM_ENDED as exc:
            log.debug("rv-jupyter: relay gone under connection %d: %r", self.conn, exc)
        finally:
            self._draining = False
            if not self._closed and not self.local.transport.is_closing():
                self.local.transport.resume_reading()

    def write_eof(self) -> None:
        self.close()  # the agent's frames have no half-close: the connection ends

    def close(self) -> None:
        """The local side ended: tell the agent, then end the local socket."""
        if self._closed:
            return
        self._closed = True
        t = self.tunnel
        if t._legs.pop(self.conn, None) is not None and t._proc is self.proc:
            try:
                self.proc.stdin.write(HEAD.pack(b"C", self.conn, 0))
            except STREAM_ENDED as exc:  # the relay is gone: nothing left to tell
                log.debug("rv-jupyter: relay gone before connection %d closed: %r", self.conn, exc)
        self.local.transport.close()

    def ended_by_relay(self) -> None:
        """The agent closed the connection (or the relay ended): end the local socket."""
        self._closed = True
        self.resume_reading()
        self.local.flush()
        self.local.transport.close()

    def is_closing(self) -> bool:
        return self._closed

    def pause_reading(self) -> None:
        self.tunnel._held.add(self.conn)

    def resume_reading(self) -> None:
        self.tunnel._held.discard(self.conn)
        if not self.tunnel._held:
            self.tunnel._resumed.set()
