"""The proxy's HTTP client (server/proxy.py): its request timeout covers the wait for the
answer to start, never a download or event stream that has started. Against a real
tornado server on a Unix socket, as the proxy reaches a forward."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tornado import httpclient, httpserver, netutil, web
from tornado.simple_httpclient import HTTPTimeoutError

from rv_jupyter.server.proxy_client import Client, SocketResolver


class Slow(web.RequestHandler):
    async def get(self, what: str) -> None:
        if what == "late":  # starts answering after a second
            await asyncio.sleep(1.0)
            self.finish("late")
            return
        for _ in range(6):  # answers at once, then takes 1.5 s to finish
            self.write("x" * 1000)
            await self.flush()
            await asyncio.sleep(0.25)


def test_the_timeout_ends_when_the_answer_starts(tmp_path: Path) -> None:
    async def main() -> tuple[object, bytes]:
        path = str(tmp_path / "app.sock")
        server = httpserver.HTTPServer(web.Application([(r"/(\w+)", Slow)]))
        server.add_socket(netutil.bind_unix_socket(path))
        resolver = SocketResolver()
        resolver.paths["app.invalid"] = path
        client = Client(force_instance=True, resolver=resolver)
        try:
            chunks: list[bytes] = []

            def fetch(what: str) -> asyncio.Future[httpclient.HTTPResponse]:
                return client.fetch(
                    httpclient.HTTPRequest(f"http://app.invalid/{what}", request_timeout=0.5,
                                           streaming_callback=chunks.append),
                    raise_error=False,
                )  # fmt: skip

            try:
                await fetch("late")
                late: object = None
            except HTTPTimeoutError as exc:
                late = exc
            streamed = await fetch("stream")
            assert streamed.code == 200, streamed.error
            return late, b"".join(chunks)
        finally:
            client.close()
            server.stop()

    late, body = asyncio.run(main())
    assert isinstance(late, HTTPTimeoutError), late
    assert body == b"x" * 6000
