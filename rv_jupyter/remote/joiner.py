"""Joining two connections both ways: a local socket and an SSH channel, or two channels.

Used by forwarded job ports (node_ports.py) and by remote kernels' tunnels (kernels/
tunnel.py): one protocol class for both ends, so flow control and the batching of small
writes are the same everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


class End(asyncio.Protocol):
    """One end of a forwarded connection: the local socket, or the SSH channel (asyncssh
    calls the same methods on a session). Bytes go straight to the other end's transport,
    with no task per chunk, and each end's flow control pauses the other's reading, so a
    slow reader holds the sender back instead of filling memory. What arrives in one turn
    of the event loop goes on in one write: asyncssh hands over each SSH packet (32 KiB)
    on its own, and a system call per packet cost a fifth of the proxy's throughput."""

    def __init__(self, on_made: Any = None, on_lost: Any = None) -> None:
        self.transport: Any = None
        self.peer: End | None = None
        self._on_made, self._on_lost = on_made, on_lost
        self._pending: list[bytes] | None = None  # for this end's transport, this turn

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if self._on_made is not None:
            self._on_made(self)

    def session_started(self) -> None:  # asyncssh's session interface
        pass

    def data_received(self, data: bytes, datatype: Any = None) -> None:
        peer = self.peer
        if peer is None:
            return
        if peer._pending is None:
            peer._pending = [data]
            asyncio.get_running_loop().call_soon(peer.flush)
        else:
            peer._pending.append(data)

    def flush(self) -> None:
        """Write what arrived for this end."""
        pending, self._pending = self._pending, None
        if pending and self.transport is not None and not self.transport.is_closing():
            self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def eof_received(self) -> bool:
        if self.peer is not None:
            self.peer.flush()
            with contextlib.suppress(Exception):
                self.peer.transport.write_eof()
        return True  # keep the other direction open until it ends too

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.flush()
            self.peer.transport.close()
        if self._on_lost is not None:
            self._on_lost(self)

    def pause_writing(self) -> None:
        if self.peer is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer.transport.resume_reading()
