"""A connection to a job's port for the Jupyter server's loop, with no local socket.

The SSH connection lives on rv's background loop (background.py), the proxy's handlers on
the Jupyter server's. Through a Unix socket, every byte was written by one thread, read
back by the other and parsed by tornado's HTTP client, which cost the proxy a fifth of
its speed. Here the channel's bytes are handed over in memory: the background loop
appends to a queue (one append is atomic under the GIL) and wakes the server's loop only
when its reader waits, since each wake-up is a system call and a thread switch. Past
HIGH bytes not yet taken the channel pauses: the SSH window then holds the app back, so
a stalled browser does not make the server keep a whole download.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections import deque
from typing import TYPE_CHECKING, Any

from tornado.iostream import IOStream

from rv_jupyter.cluster import background
from rv_jupyter.remote.joiner import End

if TYPE_CHECKING:
    from rv_jupyter.remote.node_ports import NodePortListener

# Buffered here and not yet taken by the handler: beyond HIGH the channel pauses, and
# resumes below LOW (the SSH window, 2 MiB, is then all that waits on the way).
HIGH = 4 << 20
LOW = 1 << 20


class LinkClosed(OSError):
    """The job's side ended the connection before the answer was complete."""


class _ToServer:
    """The transport the channel's bytes are written to (called on the background loop)."""

    def __init__(self, link: ChannelLink) -> None:
        self._link = link
        self._closing = False
        self.remote: Any = None  # the channel's end (node_ports.End), once open

    def write(self, data: bytes) -> None:
        self._link._give(data)

    def write_eof(self) -> None:
        self._link._give_end()

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._link._give_end()
        remote = self.remote
        if remote is not None and remote.peer is not None:
            remote.peer.connection_lost(None)  # ends the channel (after what it still has)

    def is_closing(self) -> bool:
        return self._closing

    def pause_reading(self) -> None:  # the request's body is in memory already
        pass

    def resume_reading(self) -> None:
        pass


class ChannelLink:
    """Bytes to and from one connection to a job's port, for the server's loop.

    Shared between the threads: `_incoming` (appended by the background loop, emptied by
    the server's), `_fed` and `_taken` (byte counts, each written by one side only),
    `_ended`, `_waiting` and `_paused` (each set by one side, read by the other).
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._bg = background.loop()
        self._to = _ToServer(self)
        self._incoming: deque[bytes] = deque()
        self._fed = 0
        self._ended = False
        self._paused = False  # the channel's reading (background side)
        self._taken = 0
        self._waiting = False
        self._resume_asked = False
        self._chunks: deque[bytes] = deque()  # the server side's, from _incoming
        self._waiter: asyncio.Future[None] | None = None
        self._listener: NodePortListener | None = None

    @classmethod
    async def aopen(cls, listener: NodePortListener) -> ChannelLink:
        """A connection through `listener` (its job's own listener, decided now);
        the listener's RvError if it refuses."""
        link = cls()
        link._listener = listener

        async def connect() -> None:
            link._to.remote = await listener.aconnect(link._to)

        await background.on_loop(connect())
        return link

    # -- on the background loop -------------------------------------------------------

    def _give(self, data: bytes) -> None:
        self._incoming.append(data)
        self._fed += len(data)
        if not self._paused and self._fed - self._taken > HIGH:
            self._paused = True
            self._channel("pause_reading")
        if self._waiting:
            self._post_wake()

    def _give_end(self) -> None:
        self._ended = True
        self._post_wake()

    def _post_wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # the server's loop closed: nobody reads
            self._loop.call_soon_threadsafe(self._wake)

    def _resume(self) -> None:
        self._resume_asked = False
        if self._paused and self._fed - self._taken < LOW:
            self._paused = False
            self._channel("resume_reading")

    def _channel(self, method: str) -> None:
        remote = self._to.remote
        if remote is not None and remote.transport is not None:
            getattr(remote.transport, method)()

    # -- on the server's loop ---------------------------------------------------------

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _drain(self) -> bool:
        """Move what arrived to this side; whether the connection has ended (and all
        it sent is here)."""
        ended = self._ended  # read first: what came before the end is in _incoming then
        incoming = self._incoming
        while incoming:
            self._chunks.append(incoming.popleft())
        return ended

    async def _wait(self, have: int = 0) -> None:
        """Until more than `have` bytes are here, or the connection ended."""
        while True:
            if self._drain() or self._here() > have:
                return
            self._waiting = True  # then look again: the other side checks it after appending
            if self._drain() or self._here() > have:
                self._waiting = False
                return
            self._maybe_resume()  # what is here is all there is: a pause must end
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiting = False

    def _here(self) -> int:
        return sum(map(len, self._chunks))

    def _took(self, n: int) -> None:
        self._taken += n
        self._maybe_resume()

    def _maybe_resume(self) -> None:
        if self._paused and not self._resume_asked and self._fed - self._taken < LOW:
            self._resume_asked = True
            self._bg.call_soon_threadsafe(self._resume)

    async def read(self, limit: int) -> bytes:
        """What has arrived, up to `limit` bytes, waiting for some; b"" at the end."""
        await self._wait()
        chunks = self._chunks
        if not chunks:
            return b""
        first = chunks.popleft()
        if len(first) > limit:
            chunks.appendleft(first[limit:])
            first = first[:limit]
        parts, size = [first], len(first)
        while chunks and size + len(chunks[0]) <= limit:
            parts.append(chunks.popleft())
            size += len(parts[-1])
        self._took(size)
        return first if len(parts) == 1 else b"".join(parts)

    async def readuntil(self, separator: bytes, limit: int) -> bytes:
        """Up to and including `separator`; LinkClosed if the connection ends first,
        ValueError past `limit` bytes."""
        while True:
            ended = self._drain()
            joined = b"".join(self._chunks)
            self._chunks.clear()
            at = joined.find(separator)
            if at >= 0:
                end = at + len(separator)
                if end < len(joined):
                    self._chunks.append(joined[end:])
                self._took(end)
                return joined[:end]
            if joined:
                self._chunks.append(joined)
            if len(joined) > limit:
                raise ValueError(f"no {separator!r} in the first {limit} bytes")
            if ended:
                raise LinkClosed("the connection ended")
            await self._wait(len(joined))

    async def readexactly(self, n: int) -> bytes:
        """`n` bytes; LinkClosed if the connection ends first."""
        parts = []
        while n > 0:
            data = await self.read(n)
            if not data:
                raise LinkClosed("the connection ended")
            parts.append(data)
            n -= len(data)
        return b"".join(parts)

    def write(self, data: bytes) -> None:
        """Send `data` to the job's port (the channel buffers what its window holds back)."""
        if not data:
            return

        def call() -> None:
            remote = self._to.remote
            if remote is not None and not remote.transport.is_closing():
                remote.transport.write(data)

        self._bg.call_soon_threadsafe(call)

    def close(self) -> None:
        """End the connection (idempotent)."""
        self._chunks.clear()
        with contextlib.suppress(RuntimeError):  # the background loop is gone, and the channel
            self._bg.call_soon_threadsafe(self._to.close)

    # -- a body straight to the browser -----------------------------------------------

    async def asplice(self, stream: IOStream, length: int) -> None:
        """Send the rest of the answer's body (`length` bytes from what is here) straight
        to the browser's connection `stream`, taken from tornado, on the background loop;
        then close it. The server's loop and its hand-offs are then out of the way."""
        self._drain()
        first = list(self._chunks)
        self._chunks.clear()
        if stream.closed() or stream.socket is None:
            return  # the browser went away
        fd = os.dup(stream.socket.fileno())  # tornado closes its own; this one goes on
        stream.close()
        await background.on_loop(self._splice_on_bg(fd, first, length))

    async def _splice_on_bg(self, fd: int, first: list[bytes], length: int) -> None:
        remote, listener = self._to.remote, self._listener
        sock = socket.socket(fileno=fd)
        if remote is None or listener is None:
            sock.close()
            return
        browser = _Browser(length)
        ended = self._ended or remote.transport.is_closing()
        if not ended:
            remote.transport.pause_reading()
        try:
            await asyncio.get_running_loop().connect_accepted_socket(lambda: browser, sock)
        except OSError:
            sock.close()
            self._to.close()  # and the channel with it
            return
        old = remote.peer
        old.flush()  # what the last turn of the loop left for the link
        self._to._closing = True  # from now on, closing the link leaves the channel alone
        while self._incoming:
            first.append(self._incoming.popleft())
        browser._pending = first  # before what resuming may deliver at once
        if self._ended or remote.transport.is_closing():
            browser.flush()  # all the app sent is here
            browser.transport.close()
            remote.transport.close()
            return
        listener.swap(old, browser)  # closing the forward ends it, as any connection
        browser.peer, remote.peer = remote, browser
        remote.transport.resume_reading()
        browser.flush()


class _Browser(End):
    """The browser's connection once a body goes straight to it: it takes `left` bytes,
    then closes. What the browser sends is not passed on: a second request on this
    connection would reach the app without Jupyter's authentication."""

    def __init__(self, left: int) -> None:
        super().__init__()
        self.left = left

    def data_received(self, data: bytes, datatype: Any = None) -> None:
        pass

    def eof_received(self) -> bool:
        return True  # the browser is done sending; the body goes on

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        transport = self.transport
        if not pending or transport is None or transport.is_closing():
            return
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        data = data[: self.left]
        self.left -= len(data)
        transport.write(data)
        if self.left <= 0:
            transport.close()  # after what it still has to send
