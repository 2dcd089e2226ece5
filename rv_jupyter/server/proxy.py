"""Web ports of your running jobs: /rv/proxy/<jobid>/<port>/... (HTTP and WebSocket).

The target is never a host name from the request: the job id is checked against your own
running jobs (forwards.Forwards.anode) and the port reached on that job's node, through
a Unix-socket forward of the one SSH connection. Requests must carry Jupyter's
authentication; the local server's own credentials (token, login cookie, XSRF cookie) are
not passed on to the proxied app.

The proxied app keeps its own XSRF protection (a Jupyter server in a job checks its
own `_xsrf`); ours would compare the wrong cookie, because both are named `_xsrf` on one
origin, so proxy routes skip it, as jupyter-server-proxy does. Authentication is still
required on every request.
"""

from __future__ import annotations

import socket
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from jupyter_server.base.handlers import JupyterHandler
from tornado import httpclient, web, websocket
from tornado.netutil import Resolver
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from rv_jupyter import background
from rv_jupyter.errors import RvError
from rv_jupyter.server.api import cluster_of, error_status

# Not forwarded in either direction: they describe one hop, not the message.
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE",
        "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length",
    )
)  # fmt: skip
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class _SocketResolver(Resolver):
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


_resolver: _SocketResolver | None = None
_client: SimpleAsyncHTTPClient | None = None


def _http() -> tuple[_SocketResolver, SimpleAsyncHTTPClient]:
    global _resolver, _client
    if _resolver is None or _client is None:
        _resolver = _SocketResolver()
        _client = SimpleAsyncHTTPClient(
            force_instance=True, resolver=_resolver, max_clients=64, max_body_size=1 << 40
        )
    return _resolver, _client


class ProxyHandler(websocket.WebSocketHandler, JupyterHandler):
    """HTTP and WebSocket to a port on the node of one of your running jobs."""

    # False: the app sees paths below /rv/proxy/<job>/<port>/ (a plain web server,
    # TensorBoard as it starts). True: the whole path, for apps started with that base
    # URL (a Jupyter server's base_url, TensorBoard's --path_prefix); /rv/proxy/absolute/.
    absolute = False
    upstream: websocket.WebSocketClientConnection | None = None
    # Messages the app sent before the browser's side of the WebSocket was open.
    early: list[str | bytes] | None = None

    def check_xsrf_cookie(self) -> None:
        return  # see the module docstring: the proxied app checks its own

    async def _target(self, job_id: str, port: str) -> str:
        """The made-up host name of the forward to job:port (opened on first use)."""
        cluster = cluster_of(self.settings)
        try:
            fwd = await background.on_loop(cluster.forwards.aproxy_socket(job_id, port))
        except RvError as err:
            raise web.HTTPError(error_status(err), reason=None, log_message=err.message) from err
        resolver, _ = _http()
        host = f"rv-{fwd.job_id.replace('_', '-')}-{fwd.port}.invalid"
        resolver.paths[host] = fwd.path or ""
        return host

    def _upstream_url(self, scheme: str, host: str, path: str) -> str:
        if self.absolute:
            path = self.request.path.lstrip("/")
        query = self.request.query
        if query:
            token = self.token
            pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True)]
            query = urlencode([(k, v) for k, v in pairs if not (k == "token" and v == token)])
        return f"{scheme}://{host}/{path}" + (f"?{query}" if query else "")

    def _upstream_headers(self) -> dict[str, str]:
        ours = {self.cookie_name, "_xsrf"}
        headers: dict[str, str] = {}
        for name, value in self.request.headers.get_all():
            low = name.lower()
            if low in HOP_BY_HOP or low.startswith("sec-websocket"):
                continue
            if low == "cookie":
                jar = SimpleCookie()
                jar.load(value)
                kept = "; ".join(f"{k}={m.value}" for k, m in jar.items() if k not in ours)
                if not kept:
                    continue
                value = kept
            if low == "authorization" and self.token and self.token in value:
                continue
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        # Host stays the browser's: apps compare it with Origin (a Jupyter in a job
        # refuses a WebSocket otherwise) and build their absolute URLs from it.
        headers["X-Forwarded-Proto"] = self.request.protocol
        headers["X-Forwarded-Host"] = self.request.host
        return headers

    # -- HTTP -------------------------------------------------------------------------------

    @web.authenticated
    async def get(  # type: ignore[override]
        self, job_id: str, port: str, path: str | None = None
    ) -> None:
        if path is None:
            # Apps link relative to their root: /rv/proxy/1/6006 must become .../6006/.
            query = f"?{self.request.query}" if self.request.query else ""
            self.redirect(f"{self.request.path}/{query}", permanent=True)
            return
        if self.request.headers.get("Upgrade", "").lower() == "websocket":
            host = await self._target(job_id, port)
            self.early = []
            await self._open_upstream(host, path)
            await super().get(job_id, port, path)
            return
        await self._http(job_id, port, path)

    @web.authenticated
    async def head(self, job_id: str, port: str, path: str | None = None) -> None:
        await self._http(job_id, port, path)

    @web.authenticated
    async def post(self, job_id: str, port: str, path: str | None = None) -> None:
        await self._http(job_id, port, path)

    @web.authenticated
    async def put(self, job_id: str, port: str, path: str | None = None) -> None:
        await self._http(job_id, port, path)

    @web.authenticated
    async def patch(self, job_id: str, port: str, path: str | None = None) -> None:
        await self._http(job_id, port, path)

    @web.authenticated
    async def delete(self, job_id: str, port: str, path: str | None = None) -> None:
        await self._http(job_id, port, path)

    @web.authenticated
    async def options(self, job_id: str, port: str, path: str | None = None) -> None:
        await self._http(job_id, port, path)

    async def _http(self, job_id: str, port: str, path: str | None) -> None:
        path = path or ""
        host = await self._target(job_id, port)
        _, client = _http()
        method = self.request.method or "GET"
        body = self.request.body if method in ("POST", "PUT", "PATCH", "DELETE") else None
        if method in ("POST", "PUT", "PATCH") and body is None:
            body = b""
        request = httpclient.HTTPRequest(
            self._upstream_url("http", host, path),
            method=method,
            headers=self._upstream_headers(),
            body=body,
            allow_nonstandard_methods=True,
            follow_redirects=False,
            decompress_response=False,
            connect_timeout=20,
            request_timeout=0,  # long downloads and event streams are fine
            header_callback=self._on_header,
            streaming_callback=self._on_chunk,
        )
        self._status_seen = False
        try:
            response = await client.fetch(request, raise_error=False)
        except OSError as exc:
            raise web.HTTPError(
                502, log_message=f"Nothing answers on port {port} of job {job_id}: {exc}"
            ) from exc
        if response.code == 599 and not self._status_seen:
            reason = str(response.error) if response.error else "no answer"
            raise web.HTTPError(
                502, log_message=f"Nothing answers on port {port} of job {job_id}: {reason}"
            )
        self.finish()

    def _on_header(self, line: str) -> None:
        line = line.rstrip("\r\n")
        if line.startswith("HTTP/"):
            parts = line.split(" ", 2)
            self._status_seen = True
            self.clear()
            self._headers.clear()  # ours (Content-Type, Server) are not the app's
            self.set_status(int(parts[1]), parts[2] if len(parts) > 2 else None)
        elif line and ":" in line:
            name, value = line.split(":", 1)
            if name.strip().lower() not in HOP_BY_HOP:
                self.add_header(name.strip(), value.strip())

    def _on_chunk(self, chunk: bytes) -> Any:
        # Returning the flush makes tornado's client read no more from the app until the
        # browser has taken this chunk: a slow browser (or a paused download) holds the
        # app back, instead of the server buffering the whole response in memory.
        self.write(chunk)
        return self.flush()

    # -- WebSocket ----------------------------------------------------------------------

    async def _open_upstream(self, host: str, path: str | None) -> None:
        path = path or ""
        resolver, _ = _http()
        protocols = self.request.headers.get("Sec-WebSocket-Protocol")
        request = httpclient.HTTPRequest(
            self._upstream_url("ws", host, path),
            headers=self._upstream_headers(),
            connect_timeout=20,
        )
        try:
            self.upstream = await websocket.websocket_connect(
                request,
                resolver=resolver,
                subprotocols=[p.strip() for p in protocols.split(",")] if protocols else None,
                max_message_size=1 << 30,
                on_message_callback=self._from_upstream,
            )
        except (OSError, httpclient.HTTPClientError) as exc:
            raise web.HTTPError(502, log_message=f"WebSocket to the job failed: {exc}") from exc

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return self.upstream.selected_subprotocol if self.upstream else None

    def open(self, *args: Any) -> None:
        early, self.early = self.early or [], None
        for message in early:
            self.write_message(message, binary=isinstance(message, bytes))

    def _from_upstream(self, message: str | bytes | None) -> None:
        if message is None:
            if self.ws_connection is not None:
                self.close()
            return
        if self.ws_connection is None or self.early is not None:
            self.early = [*(self.early or []), message]
            return
        self.write_message(message, binary=isinstance(message, bytes))

    async def on_message(self, message: str | bytes) -> None:
        if self.upstream is not None:
            await self.upstream.write_message(message, binary=isinstance(message, bytes))

    def on_close(self) -> None:
        if self.upstream is not None:
            self.upstream.close()
            self.upstream = None

    def check_origin(self, origin: str = "") -> bool:
        return JupyterHandler.check_origin(self, origin)


class AbsoluteProxyHandler(ProxyHandler):
    """The same, passing the whole path on (see ProxyHandler.absolute)."""

    absolute = True


ROUTES: list[tuple[str, type]] = [
    # The port ends the segment: /rv/proxy/1/80@host:22/ matches nothing.
    (r"/rv/proxy/([0-9_]+)/([0-9]+)(?:/(.*))?", ProxyHandler),
    (r"/rv/proxy/absolute/([0-9_]+)/([0-9]+)(?:/(.*))?", AbsoluteProxyHandler),
]
