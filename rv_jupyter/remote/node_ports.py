"""Local listeners whose connections reach a port of a compute node, however the program
there listens.

Each connection first goes through the login node to the node's address (one SSH hop:
the fastest way); if nothing answers there, into the node over SSH to its loopback, where
programs that bind 127.0.0.1 only listen (TensorBoard does by default, and that is the
safe way on a shared cluster). Deciding per connection means a program that starts, or
restarts with another binding, after the listener opened is still reached.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from rv_jupyter.errors import NodeLinkError, PortClosed, SshError

if TYPE_CHECKING:
    from rv_jupyter.remote.connection import Connection


class _End(asyncio.Protocol):
    """One end of a forwarded connection: the local socket, or the SSH channel (asyncssh
    calls the same methods on a session). Bytes go straight to the other end's transport,
    with no task or copy per chunk, and each end's flow control pauses the other's
    reading, so a slow reader holds the sender back instead of filling memory."""

    def __init__(self, on_made: Any = None, on_lost: Any = None) -> None:
        self.transport: Any = None
        self.peer: _End | None = None
        self._on_made, self._on_lost = on_made, on_lost

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if self._on_made is not None:
            self._on_made(self)

    def session_started(self) -> None:  # asyncssh's session interface
        pass

    def data_received(self, data: bytes, datatype: Any = None) -> None:
        if self.peer is not None:
            self.peer.transport.write(data)

    def eof_received(self) -> bool:
        if self.peer is not None:
            with contextlib.suppress(Exception):
                self.peer.transport.write_eof()
        return True  # keep the other direction open until it ends too

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()
        if self._on_lost is not None:
            self._on_lost(self)

    def pause_writing(self) -> None:
        if self.peer is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer.transport.resume_reading()


class NodePortListener:
    """Listens on a Unix socket or a local TCP port; each connection reaches node:port."""

    def __init__(self, connection: Connection, node: str, port: int) -> None:
        self.connection, self.node, self.port = connection, node, port
        self.via_node = 0  # connections that went to the node's loopback
        self._server: asyncio.Server | None = None
        self._held = False
        self._locals: set[_End] = set()  # connections made (the local ends)
        self._tasks: set[asyncio.Task[None]] = set()

    async def aunix(self, path: str) -> NodePortListener:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(self._local_end, path)
        return self

    async def atcp(self, host: str, port: int) -> NodePortListener:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._local_end, host, port)
        return self

    def get_port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def close(self) -> None:
        """Stop listening and end the connections made through it."""
        if self._server is not None:
            self._server.close()
        for local in list(self._locals):
            local.transport.close()
        self._locals.clear()
        if self._held:
            self._held = False
            self.connection.nodes.release(self.node)

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()

    def _local_end(self) -> _End:
        return _End(on_made=self._accepted, on_lost=self._locals.discard)

    def _accepted(self, local: _End) -> None:
        local.transport.pause_reading()  # until the far end is there to take the bytes
        self._locals.add(local)
        task = asyncio.ensure_future(self._attach(local))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attach(self, local: _End) -> None:
        try:
            remote = await self._open()
        except SshError:
            local.transport.close()  # the client sees the connection refused, as there
            return
        local.peer, remote.peer = remote, local
        if local.transport.is_closing():
            remote.transport.close()
        else:
            local.transport.resume_reading()

    async def _open(self) -> _End:
        try:
            _, end = await self.connection.create_tcp(_End, self.node, self.port)
            return end
        except PortClosed:
            pass
        if not self._held:
            self._held = True
            self.connection.nodes.hold(self.node)
        try:
            _, end = await self.connection.nodes.create(_End, self.node, self.port)
        except NodeLinkError as exc:  # the node's loopback is out of reach: say the first
            raise PortClosed(f"Nothing answers on {self.node}:{self.port}.") from exc
        self.via_node += 1
        return end
