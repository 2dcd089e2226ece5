"""The proxy's bounds, and the resolver its WebSocket client reaches the forwards with.

Bounded so that nothing holds up everything else: a request may take CONNECT_TIMEOUT_S to
reach the job's port and ANSWER_TIMEOUT_S for the app to start answering (then 504);
once it has, a download or an event stream takes as long as it takes. Each request has
an SSH channel of its own (server/channel_link.py), so a long one holds up no other.
"""

from __future__ import annotations

import socket
from typing import Any

from tornado.netutil import Resolver

CONNECT_TIMEOUT_S = 20.0
ANSWER_TIMEOUT_S = 300.0
BODY_CHUNK = 1 << 20  # the most of a response handed on at once


class SocketResolver(Resolver):
    """Resolves the proxy's made-up host names to the forwards' Unix sockets."""

    def initialize(self) -> None:
        self.paths: dict[str, str] = {}

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        path = self.paths.get(host)
        if path is None:
            raise OSError(f"no forward for {host}")
        return [(socket.AF_UNIX, path)]


_resolver: SocketResolver | None = None


def resolver() -> SocketResolver:
    """The process's resolver (made-up host name -> socket path)."""
    global _resolver
    if _resolver is None:
        _resolver = SocketResolver()
    return _resolver
