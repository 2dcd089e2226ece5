"""The proxy's one HTTP client to the forwards' Unix sockets (server/proxy.py uses it).

Bounded so that nothing holds up everything else: a request may take CONNECT_TIMEOUT_S to
reach the forward and ANSWER_TIMEOUT_S for the app to start answering (then 504); once it
has, a download or an event stream takes as long as it takes, and since each request has
a connection of its own (up to MAX_CLIENTS at once), a long one holds up no other.
"""

from __future__ import annotations

import socket
from typing import Any

from tornado import httputil
from tornado.http1connection import HTTP1Connection, HTTP1ConnectionParameters
from tornado.iostream import IOStream
from tornado.netutil import Resolver
from tornado.simple_httpclient import SimpleAsyncHTTPClient, _HTTPConnection

CONNECT_TIMEOUT_S = 20.0
ANSWER_TIMEOUT_S = 300.0
MAX_CLIENTS = 4096  # requests in flight at once; beyond, they wait CONNECT_TIMEOUT_S
BODY_CHUNK = 1 << 20  # the most of a response handed on at once
# One read of the forward's socket: about what its kernel buffer holds (tornado allocates
# a buffer this size for every read, so larger costs more than it saves).
READ_CHUNK = 1 << 18


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


class _Connection(_HTTPConnection):
    """Tornado's client connection, whose request timeout ends when the answer starts,
    reading the forward's socket in large chunks (fewer reads, callbacks and writes)."""

    def _create_connection(self, stream: IOStream) -> HTTP1Connection:
        stream.read_chunk_size = READ_CHUNK
        return HTTP1Connection(
            stream,
            True,
            HTTP1ConnectionParameters(
                no_keep_alive=True,
                max_header_size=self.max_header_size,
                max_body_size=self.max_body_size,
                decompress=bool(self.request.decompress_response),
                chunk_size=BODY_CHUNK,
            ),
            self._sockaddr,
        )

    async def headers_received(
        self,
        first_line: httputil.ResponseStartLine | httputil.RequestStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        self._remove_timeout()
        await super().headers_received(first_line, headers)


class Client(SimpleAsyncHTTPClient):
    """Tornado's simple client with the connections above."""

    def _connection_class(self) -> type:
        return _Connection


_resolver: SocketResolver | None = None
_client: SimpleAsyncHTTPClient | None = None


def http() -> tuple[SocketResolver, SimpleAsyncHTTPClient]:
    """The process's resolver (made-up host name -> socket path) and client."""
    global _resolver, _client
    if _resolver is None or _client is None:
        _resolver = SocketResolver()
        _client = Client(
            force_instance=True, resolver=_resolver, max_clients=MAX_CLIENTS,
            max_body_size=1 << 40,
        )  # fmt: skip
    return _resolver, _client
