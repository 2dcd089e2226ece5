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
from rv_jupyter.remote.splice import splice

if TYPE_CHECKING:
    from rv_jupyter.remote.connection import Connection

HEAD = struct.Struct("!cII")  # agent.py's frame header: kind, connection id, length
SRUN_FOR_S = 300.0  # after SSH to the node failed, how long to use the relay before retrying
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
        self._direct: set[Any] = set()
        self._servers: list[asyncio.Server] = []
        self._proc: Any = None
        self._reader_task: asyncio.Task[None] | None = None
        self._writers: dict[int, asyncio.StreamWriter] = {}
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()

    async def alisten(self, channels: dict[str, int]) -> dict[str, int]:
        """Listen on 127.0.0.1 for each channel (port 0: any free one); the bound ports."""
        for name, port in channels.items():
            server = await asyncio.start_server(
                functools.partial(self._accept, name), "127.0.0.1", port
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
        self._drop_direct()

    async def aclose(self) -> None:
        """Stop listening and end the relay (the kernel itself is not touched)."""
        for server in self._servers:
            server.close()
        self._servers.clear()
        self._drop_relay()
        self._drop_direct()
        self._let_node_go()

    def _let_node_go(self) -> None:
        if self.node:
            self.connection.nodes.release(self.node)
            self.node = None

    # -- internals ----------------------------------------------------------------------

    async def _accept(
        self, name: str, reader: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        port = self.remote.get(name)
        if port is None or self.relay_command is None:
            w.close()  # no kernel yet: ZMQ will retry
            return
        if self.node and time.monotonic() >= self._srun_until:
            try:
                remote = await self.connection.nodes.open(self.node, port)
            except NodeLinkError as exc:
                log.warning("rv-jupyter: kernel traffic goes through srun (slower): %s", exc)
                self._srun_until = time.monotonic() + SRUN_FOR_S
            except Exception as exc:  # a passing failure: ZMQ reconnects and we try again
                log.info("rv-jupyter: no way to the kernel on %s now: %s", self.node, exc)
                w.close()
                return
            else:
                self.transport = "ssh"
                await self._splice(reader, w, *remote)
                return
        try:
            proc = await self._relay()
        except Exception as exc:  # the relay could not start: the client retries later
            log.warning("rv-jupyter: kernel relay did not start: %s", exc)
            w.close()
            return
        self.transport = "srun"
        conn = next(self._ids)
        self._writers[conn] = w
        proc.stdin.write(HEAD.pack(b"O", conn, len(str(port))) + str(port).encode())
        try:
            while data := await reader.read(1 << 16):
                proc.stdin.write(HEAD.pack(b"D", conn, len(data)) + data)
                await proc.stdin.drain()
        except STREAM_ENDED as exc:  # the client or the relay went: ZMQ reconnects
            log.debug("rv-jupyter: kernel connection %d ended: %r", conn, exc)
        finally:
            if self._writers.pop(conn, None) is not None and self._proc is proc:
                try:
                    proc.stdin.write(HEAD.pack(b"C", conn, 0))
                except STREAM_ENDED as exc:  # the relay is gone: nothing left to tell
                    log.debug("rv-jupyter: relay gone before connection %d closed: %r", conn, exc)
            w.close()

    async def _splice(self, reader: Any, w: Any, r_reader: Any, r_writer: Any) -> None:
        pair = (w, r_writer)
        self._direct.add(pair)
        try:
            await splice(reader, w, r_reader, r_writer)
        finally:
            self._direct.discard(pair)

    def _drop_direct(self) -> None:
        for pair in list(self._direct):
            for writer in pair:
                try:
                    writer.close()
                except STREAM_ENDED as exc:  # closing what already broke
                    log.debug("rv-jupyter: closing a kernel connection: %r", exc)
        self._direct.clear()

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
                kind, conn, n = HEAD.unpack(await proc.stdout.readexactly(HEAD.size))
                data = await proc.stdout.readexactly(n) if n else b""
                w = self._writers.get(conn)
                if w is None:
                    continue
                if kind == b"D":
                    w.write(data)
                    await w.drain()
                elif kind == b"C":
                    self._writers.pop(conn, None)
                    w.close()
        except STREAM_ENDED as exc:  # the relay ended or a client went: connections reopen
            log.debug("rv-jupyter: kernel relay ended: %r", exc)
        finally:
            if self._proc is proc:
                self._drop_relay()

    def _drop_relay(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.close()
            except STREAM_ENDED as exc:  # closing what already broke
                log.debug("rv-jupyter: closing the kernel relay: %r", exc)
        for w in self._writers.values():
            w.close()
        self._writers.clear()
