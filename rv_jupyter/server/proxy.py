"""Web ports of your running jobs: /rv/proxy/<jobid>/<port>/... (HTTP and WebSocket).

The target is never a host name from the request: the job id is checked against your own
running jobs (forwards.Forwards.anode) and the port reached where the job's own process
listens on it (port_choice.py), through a Unix-socket forward of the one SSH connection.
Requests must carry Jupyter's authentication; the local server's own credentials (token,
login cookie, XSRF cookie) are not passed on to the proxied app.

Cross-site requests: GET, HEAD and OPTIONS change nothing by HTTP's rules (Jupyter's own
handlers treat them so too). A state-changing request (POST, PUT, PATCH, DELETE) must
be token-authenticated, or come from this server's own origin (its Origin header, or its
Referer when a browser sends no Origin, names this host), or carry our `_xsrf` token.
Our `_xsrf` alone cannot be required: the proxied app's pages run on this origin, where
two cookies are named `_xsrf` (ours and, for a Jupyter in a job, its own), so its scripts
cannot tell which to send back. The Origin check keeps what XSRF protection is for: a
page on another site cannot make the user's browser POST here. The proxied app keeps
its own checks on top.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from jupyter_server.base.handlers import JupyterHandler
from tornado import httpclient, web, websocket
from tornado.iostream import IOStream
from tornado.simple_httpclient import HTTPTimeoutError

from rv_jupyter import background
from rv_jupyter.errors import RvError
from rv_jupyter.forwards import Forward
from rv_jupyter.server.api import cluster_of, error_status
from rv_jupyter.server.proxy_client import ANSWER_TIMEOUT_S, CONNECT_TIMEOUT_S, http

# Not forwarded in either direction: they describe one hop, not the message.
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE",
        "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length",
    )
)  # fmt: skip
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
_open_forwards: dict[tuple[str, str], Forward] = {}  # (job id, port) as in the URL


class ProxyHandler(websocket.WebSocketHandler, JupyterHandler):
    """HTTP and WebSocket to a port on the node of one of your running jobs."""

    # False: the app sees paths below /rv/proxy/<job>/<port>/ (a plain web server,
    # TensorBoard as it starts). True: the whole path, for apps started with that base
    # URL (a Jupyter server's base_url, TensorBoard's --path_prefix); /rv/proxy/absolute/.
    absolute = False
    upstream: websocket.WebSocketClientConnection | None = None
    # Messages the app sent before the browser's side of the WebSocket was open.
    early: list[str | bytes] | None = None

    forward: Forward | None = None

    def check_xsrf_cookie(self) -> None:
        """See the module docstring."""
        if not hasattr(self, "_jupyter_current_user"):
            return  # tornado asks before authentication; prepare() asks again after it
        if self.request.method in SAFE_METHODS or self.token_authenticated:
            return
        if self._same_origin():
            return
        JupyterHandler.check_xsrf_cookie(self)

    def _same_origin(self) -> bool:
        host = self.request.headers.get("Host")
        origin = self.request.headers.get("Origin")
        if origin is None:
            origin = self.request.headers.get("Referer")
        if not host or not origin:
            return False
        return urlsplit(origin).netloc.lower() == host.lower()

    async def _target(self, job_id: str, port: str) -> str:
        """The made-up host name of the forward to job:port (opened on first use)."""
        cached = _open_forwards.get((job_id, port))
        if cached is not None and cached._listener is not None:
            fwd = cached
        else:
            # An open forward is used as it is: each of its connections asks the job
            # where it listens (and fails once the job has ended), so reading squeue
            # for every request (a round trip to rv's thread) would add nothing.
            cluster = cluster_of(self.settings)
            try:
                fwd = await background.on_loop(cluster.forwards.aproxy_socket(job_id, port))
            except RvError as err:
                raise _failed(error_status(err), err) from err
            _open_forwards[(job_id, port)] = fwd
        self.forward = fwd
        resolver, _ = http()
        host = f"rv-{fwd.job_id.replace('_', '-')}-{fwd.port}.invalid"
        resolver.paths[host] = fwd.path or ""
        return host

    def _refusals(self) -> int:
        """Connections the forward has refused so far (nothing of the job's there)."""
        listener = self.forward._listener if self.forward is not None else None
        return int(listener.refused) if listener is not None else 0

    def _no_answer(
        self, job_id: str, port: str, error: BaseException | None, refused_before: int
    ) -> web.HTTPError:
        """502/504 (or the forward's own refusal) saying why the job's port gave no answer."""
        listener = self.forward._listener if self.forward is not None else None
        if listener is not None and listener.last_error and self._refusals() > refused_before:
            return _failed(error_status(listener.last_error), listener.last_error)
        if isinstance(error, HTTPTimeoutError):
            waited = "to connect" if "connect" in str(error) else "to start answering"
            return _failed(504, f"Port {port} of job {job_id} took too long {waited} ({error}).")
        return _failed(502, f"Nothing answers on port {port} of job {job_id}: {error}.")

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
            await self._open_upstream(host, job_id, port, path)
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
        _, client = http()
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
            connect_timeout=CONNECT_TIMEOUT_S,
            request_timeout=ANSWER_TIMEOUT_S,  # until the answer starts (see _Connection)
            header_callback=self._on_header,
            streaming_callback=self._on_chunk,
        )
        self._status_seen = False
        refused = self._refusals()
        try:
            await client.fetch(request, raise_error=False)  # the app's own errors pass on
        except (OSError, httpclient.HTTPClientError) as exc:  # no answer, or one cut short
            if not self._status_seen:
                raise self._no_answer(job_id, port, exc, refused) from exc
            # The app's answer broke off: so does ours, so the browser sees it incomplete.
            stream: IOStream | None = getattr(self.request.connection, "stream", None)
            if stream is not None:
                stream.close()
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
            low = name.strip().lower()
            if low not in HOP_BY_HOP:
                self.add_header(name.strip(), value.strip())
            elif (
                low == "content-length"
                and self.get_status() >= 200
                and self.get_status() not in (204, 304)
            ):
                # Kept: the browser shows a download's progress, and the body goes on
                # unframed (no chunked encoding to add).
                self.set_header("Content-Length", value.strip())

    def _on_chunk(self, chunk: bytes) -> Any:
        # Returning the flush makes tornado's client read no more from the app until the
        # browser has taken this chunk: a slow browser (or a paused download) holds the
        # app back, instead of the server buffering the whole response in memory.
        self.write(chunk)
        return self.flush()

    # -- WebSocket ----------------------------------------------------------------------

    async def _open_upstream(self, host: str, job_id: str, port: str, path: str | None) -> None:
        path = path or ""
        refused = self._refusals()
        resolver, _ = http()
        protocols = self.request.headers.get("Sec-WebSocket-Protocol")
        request = httpclient.HTTPRequest(
            self._upstream_url("ws", host, path),
            headers=self._upstream_headers(),
            connect_timeout=CONNECT_TIMEOUT_S,
            request_timeout=ANSWER_TIMEOUT_S,
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
            if self._refusals() > refused:
                raise self._no_answer(job_id, port, exc, refused) from exc
            raise _failed(502, f"WebSocket to the job failed: {exc}.") from exc

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


def _failed(status: int, why: RvError | str) -> web.HTTPError:
    """An HTTP error whose page says why (Jupyter shows the log message on its page)."""
    text = str(why) if isinstance(why, str) else f"{why.message} {why.hint or ''}".strip()
    return web.HTTPError(status, "%s", text)


class AbsoluteProxyHandler(ProxyHandler):
    """The same, passing the whole path on (see ProxyHandler.absolute)."""

    absolute = True


ROUTES: list[tuple[str, type]] = [
    # The port ends the segment: /rv/proxy/1/80@host:22/ matches nothing.
    (r"/rv/proxy/([0-9_]+)/([0-9]+)(?:/(.*))?", ProxyHandler),
    (r"/rv/proxy/absolute/([0-9_]+)/([0-9]+)(?:/(.*))?", AbsoluteProxyHandler),
]
