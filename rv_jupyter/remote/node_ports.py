"""Local listeners whose connections reach a job's port on a compute node, however the
program there listens.

Each connection asks `locate()` where to go (forwards.py asks the job itself which
address its own process listens on: port_choice.py) and goes exactly there: through the
login node to an address of the node (one SSH hop: the fastest way), or into the node over
SSH to its loopback, where programs that bind 127.0.0.1 only listen (TensorBoard does by
default, and that is the safe way on a shared cluster). Nothing falls through to another
address: on a shared node, what answers there may be another user's. Deciding per
connection means a program that starts, or restarts with another binding, after the
listener opened is still reached, and one that stopped listening is not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from rv_jupyter.errors import NodeLinkError, PortClosed, RvError
from rv_jupyter.remote.joiner import End

if TYPE_CHECKING:
    from rv_jupyter.remote.connection import Connection
    from rv_jupyter.remote.port_choice import Target


class NodePortListener:
    """Listens on a Unix socket or a local TCP port; each connection reaches the job's
    listener on node:port where `locate()` says (without it, every connection is refused)."""

    def __init__(
        self,
        connection: Connection,
        node: str,
        port: int,
        *,
        locate: Callable[[], Awaitable[Target]] | None = None,
    ) -> None:
        self.connection, self.node, self.port = connection, node, port
        self._locate = locate
        self.via_node = 0  # connections that went to the node's loopback
        self.refused = 0  # connections refused (nothing of the job's there)
        self.last_error: RvError | None = None  # why the last one was refused
        self._server: asyncio.Server | None = None
        self._held = False
        self._locals: set[End] = set()  # connections made (the local ends)
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

    def _local_end(self) -> End:
        return End(on_made=self._accepted, on_lost=self._locals.discard)

    def _accepted(self, local: End) -> None:
        local.transport.pause_reading()  # until the far end is there to take the bytes
        self._locals.add(local)
        task = asyncio.ensure_future(self._attach(local))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aconnect(self, to: Any) -> End:
        """One connection to the job's port without a local socket: what the job sends
        is written to `to` (an asyncio transport's write, write_eof, close, is_closing,
        pause_reading, resume_reading, called on this loop); the channel's end is
        returned, whose transport takes bytes the other way. RvError if refused."""
        remote = await self._checked_open()
        local = End(on_lost=self._locals.discard)
        local.transport, local.peer, remote.peer = to, remote, local
        self._locals.add(local)  # close() ends it with the listener's other connections
        return remote

    def swap(self, old: End, new: End) -> None:
        """`new` replaces `old` as the local end of one of this listener's connections."""
        self._locals.discard(old)
        self._locals.add(new)
        new._on_lost = self._locals.discard

    async def _checked_open(self) -> End:
        try:
            return await self._open()
        except RvError as err:
            self.refused += 1
            self.last_error = err
            raise

    async def _attach(self, local: End) -> None:
        try:
            remote = await self._checked_open()
        except RvError:
            local.transport.close()  # the client sees the connection refused, as there
            return
        local.peer, remote.peer = remote, local
        if local.transport.is_closing():
            remote.transport.close()
        else:
            local.transport.resume_reading()

    async def _open(self) -> End:
        if self._locate is None:
            raise PortClosed(f"No check of what listens on {self.node}:{self.port} was given.")
        target = await self._locate()
        if not target.via_node:
            _, end = await self.connection.create_tcp(End, target.host, self.port)
            return end
        if not self._held:
            self._held = True
            self.connection.nodes.hold(self.node)
        try:
            _, end = await self.connection.nodes.create(End, self.node, self.port)
        except NodeLinkError as exc:
            raise PortClosed(
                f"Port {self.port} listens on {self.node}'s loopback only, and {self.node} "
                f"cannot be reached over SSH: {exc.message}",
                hint="Bind the server to all addresses (0.0.0.0), or fix the SSH access "
                "the message names.",
            ) from exc
        self.via_node += 1
        return end
