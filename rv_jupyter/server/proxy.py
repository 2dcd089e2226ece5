"""Web ports of your running jobs: /rv/proxy/<jobid>/<port>/... (HTTP and WebSocket).

The target is never a host name from the request: the job id is checked against your own
running jobs (forwards.Forwards.anode) and the port reached where the job's own process
listens on it (port_choice.py), decided for each connection by the job's forward
(remote/node_ports.py) over the one SSH connection. HTTP goes over an SSH channel handed
to this loop in memory (channel_link.py, upstream_http.py), and a download's body
straight from the channel to the browser's socket; WebSockets go through the forward's
Unix socket (tornado's WebSocket client needs a socket).
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

import asyncio
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from jupyter_server.base.handlers import JupyterHandler
from tornado import httpclient, httputil, web, websocket
from tornado.iostream import IOStream, StreamClosedError
from tornado.simple_httpclient import HTTPTimeoutError

from rv_jupyter.cluster import background
from rv_jupyter.cluster.forwards import Forward
from rv_jupyter.errors import RvError
from rv_jupyter.server.api import cluster_of, error_status
from rv_jupyter.server.channel_link import ChannelLink
from rv_jupyter.server.proxy_client import ANSWER_TIMEOUT_S, BODY_CHUNK, CONNECT_TIMEOUT_S, resolver
from rv_jupyter.server.upstream_http import (
    AnswerTimeout,
    body,
    exchange,
    has_body,
    request_head,
)

# Answers this long go straight to the browser's socket (ChannelLink.asplice): below it,
# the hand-over costs more than it saves.
SPLICE_MIN = 1 << 20
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
        host = f"rv-{fwd.job_id.replace('_', '-')}-{fwd.port}.invalid"
        resolver().paths[host] = fwd.path or ""
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
        return f"{scheme}://{host}{self._upstream_target(path)}"

    def _upstream_target(self, path: str) -> str:
        """The path and query the app is asked for (without our token)."""
        if self.absolute:
            path = self.request.path.lstrip("/")
        query = self.request.query
        if query:
            token = self.token
            pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True)]
            query = urlencode([(k, v) for k, v in pairs if not (k == "token" and v == token)])
        return f"/{path}" + (f"?{query}" if query else "")

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
        await self._target(job_id, port)
        method = self.request.method or "GET"
        body = self.request.body if method in ("POST", "PUT", "PATCH", "DELETE") else None
        if method in ("POST", "PUT", "PATCH") and body is None:
            body = b""
        try:
            head = request_head(
                method, self._upstream_target(path or ""),
                list(self._upstream_headers().items()), body,
            )  # fmt: skip
        except ValueError as exc:
            raise _failed(400, f"This request cannot be passed on to the app: {exc}.") from exc
        link = await self._connect(job_id, port)
        try:
            try:
                start, headers = await exchange(
                    link, head + body if body else head, ANSWER_TIMEOUT_S
                )
            except AnswerTimeout as exc:
                raise _failed(
                    504, f"Port {port} of job {job_id} took too long to start answering "
                    f"(more than {ANSWER_TIMEOUT_S:g} s).",
                ) from exc  # fmt: skip
            except OSError as exc:
                raise _failed(
                    502, f"Nothing answers on port {port} of job {job_id}: {exc}."
                ) from exc
            self._answer_head(start, headers)
            if has_body(method, start.code):
                await self._pass_body(link, headers)
        finally:
            link.close()
        if not self._finished:  # a download handed to the browser's socket is finished
            self.finish()

    async def _connect(self, job_id: str, port: str) -> ChannelLink:
        """A connection to the job's own listener on `port` (decided now), or the
        HTTP error saying why there is none."""
        listener = self.forward._listener if self.forward is not None else None
        if listener is None:  # closed since _target() found it
            raise _failed(502, f"The forward to port {port} of job {job_id} was closed.")
        try:
            return await asyncio.wait_for(ChannelLink.aopen(listener), CONNECT_TIMEOUT_S)
        except asyncio.TimeoutError as exc:
            raise _failed(
                504, f"Port {port} of job {job_id} took too long to connect "
                f"(more than {CONNECT_TIMEOUT_S:g} s).",
            ) from exc  # fmt: skip
        except RvError as err:
            raise _failed(error_status(err), err) from err

    def _answer_head(
        self, start: httputil.ResponseStartLine, headers: httputil.HTTPHeaders
    ) -> None:
        self.clear()
        self._headers.clear()  # ours (Content-Type, Server) are not the app's
        self.set_status(start.code, start.reason or None)
        code = start.code
        chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        for name, value in headers.get_all():
            low = name.lower()
            if low not in HOP_BY_HOP:
                self.add_header(name, value)
            elif low == "content-length" and code >= 200 and code not in (204, 304) and not chunked:
                # Kept: the browser shows a download's progress, and the body goes on
                # unframed (no chunked encoding to add).
                self.set_header("Content-Length", value)

    async def _pass_body(self, link: ChannelLink, headers: httputil.HTTPHeaders) -> None:
        length = self._get_headers_length()
        stream = getattr(self.request.connection, "stream", None)
        if length is not None and length >= SPLICE_MIN and type(stream) is IOStream:
            # A download: its body goes from the channel to the browser's socket on
            # rv's loop, the server's loop out of the way (plain HTTP only: TLS would
            # need tornado's stream). The connection ends with the body.
            self.set_header("Connection", "close")
            try:
                await self.flush()
            except StreamClosedError:
                return  # the browser went away
            await link.asplice(self.detach(), length)
            self.application.log_request(self)  # finish() would have, had tornado kept it
            return
        # Waiting for each flush holds the app back while the browser is slower (the
        # link pauses its channel): a paused download is not buffered here in full.
        try:
            async for chunk in body(link, headers, BODY_CHUNK):
                self.write(chunk)
                await self.flush()
        except OSError:  # the app's answer broke off (or the browser went away)
            # ... so does ours, so the browser sees it incomplete.
            if stream is not None:
                stream.close()

    def _get_headers_length(self) -> int | None:
        """The answer's Content-Length as passed on (None if it is not)."""
        value = self._headers.get("Content-Length")
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None

    # -- WebSocket ----------------------------------------------------------------------

    async def _open_upstream(self, host: str, job_id: str, port: str, path: str | None) -> None:
        path = path or ""
        refused = self._refusals()
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
                resolver=resolver(),
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
