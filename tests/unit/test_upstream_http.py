"""The proxy's HTTP exchange with a job's app (server/upstream_http.py) over a ChannelLink
(server/channel_link.py): bytes come from the channel on rv's background loop and are
read on this test's loop, as on the Jupyter server's. The channel is a stand-in: what
the app sends is fed the way asyncssh feeds a session, on the background loop."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest
from tornado.iostream import IOStream

from rv_jupyter.cluster import background
from rv_jupyter.remote.joiner import End
from rv_jupyter.server import channel_link
from rv_jupyter.server.channel_link import ChannelLink, LinkClosed
from rv_jupyter.server.upstream_http import BadAnswer, body, read_head, request_head


class Channel:
    """The channel's transport: records what the proxy sends and how it is paused."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.paused = False
        self.pauses = 0
        self.closed = threading.Event()

    def write(self, data: bytes) -> None:
        self.sent.append(data)

    def write_eof(self) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closed.is_set()

    def close(self) -> None:
        self.closed.set()

    def pause_reading(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.paused = False


class Listener:
    """Stands for NodePortListener: each connection gets a stand-in channel."""

    def __init__(self) -> None:
        self.remote: End | None = None

    async def aconnect(self, to: Any) -> End:
        remote, local = End(), End()
        remote.transport, local.transport = Channel(), to
        remote.peer, local.peer = local, remote
        self.remote = remote
        return remote

    def swap(self, old: End, new: End) -> None:
        self.swapped = (old, new)


class App:
    """The app's side: feeds the channel's end on the background loop."""

    def __init__(self, listener: Listener) -> None:
        assert listener.remote is not None
        self.remote = listener.remote
        self.channel: Channel = listener.remote.transport

    def send(self, *pieces: bytes) -> None:
        # One call per piece, each its own turn of the loop (a packet each).
        for piece in pieces:
            background.loop().call_soon_threadsafe(self.remote.data_received, piece)

    def stream(self, piece: bytes, count: int) -> None:
        """`count` pieces, as the channel delivers them: none while it is paused."""

        async def feed() -> None:
            sent = 0
            while sent < count:
                if not self.channel.paused:
                    self.remote.data_received(piece)
                    sent += 1
                await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(feed(), background.loop())

    def end(self) -> None:
        def lost() -> None:
            self.remote.eof_received()
            self.remote.connection_lost(None)

        background.loop().call_soon_threadsafe(lost)


async def opened() -> tuple[ChannelLink, App]:
    listener = Listener()
    link = await ChannelLink.aopen(listener)  # type: ignore[arg-type]
    return link, App(listener)


async def answer(link: ChannelLink) -> tuple[int, bytes]:
    start, headers = await asyncio.wait_for(read_head(link), 5)
    got = b"".join([piece async for piece in body(link, headers, 1 << 20)])
    return start.code, got


async def test_a_body_with_a_length_arrives_whole_and_nothing_after_it() -> None:
    link, app = await opened()
    app.send(b"HTTP/1.1 200 OK\r\nContent-Le", b"ngth: 10\r\n\r\n01234", b"56789extra")
    assert await answer(link) == (200, b"0123456789")


async def test_a_chunked_body_is_decoded_and_its_trailers_dropped() -> None:
    link, app = await opened()
    app.send(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"5;ext=1\r\nhello\r\n", b"6\r\n wor", b"ld\r\n0\r\nX-Trailer: t\r\n\r\n",
    )  # fmt: skip
    assert await answer(link) == (200, b"hello world")


async def test_a_body_without_a_length_ends_with_the_connection() -> None:
    link, app = await opened()
    app.send(b"HTTP/1.0 200 OK\r\n\r\nall of ", b"it")
    app.end()
    assert await answer(link) == (200, b"all of it")


async def test_an_interim_answer_is_skipped() -> None:
    link, app = await opened()
    app.send(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
    assert await answer(link) == (201, b"ok")


async def test_a_body_cut_short_is_an_error_not_an_end() -> None:
    link, app = await opened()
    app.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
    app.end()
    with pytest.raises(LinkClosed):
        await answer(link)


async def test_what_is_not_http_is_a_bad_answer() -> None:
    link, app = await opened()
    app.send(b"SSH-2.0-OpenSSH\r\n\r\n")
    with pytest.raises(BadAnswer):
        await answer(link)
    link, app = await opened()
    app.end()
    with pytest.raises(LinkClosed):
        await answer(link)


async def test_a_reader_that_does_not_read_pauses_the_channel() -> None:
    link, app = await opened()
    piece = b"x" * (1 << 18)
    app.send(b"HTTP/1.1 200 OK\r\n\r\n")
    app.stream(piece, 40)  # 10 MiB
    await read_head(link)
    deadline = asyncio.get_running_loop().time() + 5
    while not app.channel.paused:
        assert asyncio.get_running_loop().time() < deadline, "the channel was never paused"
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    assert link._fed - link._taken <= channel_link.HIGH + len(piece)  # no more came
    got = 0
    while got < 40 * len(piece):
        got += len(await link.read(1 << 20))
    # Taken: the channel reads again. The resume is handed to the SSH side's loop
    # (call_soon_threadsafe), so it comes a moment after the read that allowed it.
    deadline = asyncio.get_running_loop().time() + 5
    while app.channel.paused:
        assert asyncio.get_running_loop().time() < deadline, "the channel never resumed"
        await asyncio.sleep(0.01)
    assert app.channel.pauses >= 1


async def test_the_request_reaches_the_channel_and_closing_ends_it() -> None:
    link, app = await opened()
    link.write(b"GET / HTTP/1.1\r\n\r\n")
    link.close()
    assert await asyncio.to_thread(app.channel.closed.wait, 5)
    assert b"".join(app.channel.sent) == b"GET / HTTP/1.1\r\n\r\n"


@pytest.mark.parametrize(
    ("target", "headers"),
    [
        ("/a\r\nX-Smuggled: 1", []),
        ("/a b", []),
        ("/", [("X-Value", "v\r\nGET /admin HTTP/1.1")]),
        ("/", [("X-Na\nme", "v")]),
    ],
)
def test_a_request_that_would_split_in_two_is_never_sent(
    target: str, headers: list[tuple[str, str]]
) -> None:
    with pytest.raises(ValueError):
        request_head("GET", target, headers, None)


def test_a_request_head_says_its_length_and_one_request_per_connection() -> None:
    head = request_head("POST", "/echo?x=1", [("Host", "h")], b"abc")
    assert head == (
        b"POST /echo?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: close\r\n\r\n"
    )


async def test_a_chunk_goes_on_before_the_rest_of_the_answer_arrives() -> None:
    # An event stream: each event must reach the browser when it comes, not with the next.
    link, app = await opened()
    app.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"5\r\nhello")
    _, headers = await read_head(link)
    pieces = body(link, headers, 1 << 20)
    assert await asyncio.wait_for(anext(pieces), 2) == b"hello"
    app.send(b"\r\n3\r\nabc")
    assert await asyncio.wait_for(anext(pieces), 2) == b"abc"


async def test_many_small_chunks_cost_no_copy_each() -> None:
    link, app = await opened()
    app.send(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"a\r\n0123456789\r\n" * 50_000
    )
    app.send(b"0\r\n\r\n")
    started = asyncio.get_running_loop().time()
    assert await answer(link) == (200, b"0123456789" * 50_000)
    assert asyncio.get_running_loop().time() - started < 2


async def spliced(link: ChannelLink, length: int, then: Any = None) -> bytes:
    """What a browser's socket gets once the body goes straight to it (asplice)."""
    browser, ours = socket.socketpair()
    stream = IOStream(ours)
    await link.asplice(stream, length)
    if then is not None:
        then(browser)

    def read_all() -> bytes:
        browser.settimeout(5)
        got = b""
        while data := browser.recv(1 << 16):
            got += data
        return got

    try:
        return await asyncio.to_thread(read_all)
    finally:
        browser.close()


async def test_a_spliced_body_that_had_all_arrived_still_reaches_the_browser() -> None:
    link, app = await opened()
    whole = bytes(range(256)) * 8192  # 2 MiB
    app.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(whole), whole)
    app.end()
    await read_head(link)
    await asyncio.sleep(0.1)  # the channel has ended before the hand-over
    assert await spliced(link, len(whole)) == whole


async def test_a_spliced_body_ends_with_its_length_and_the_browser_is_not_heard() -> None:
    link, app = await opened()
    app.send(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc")
    await read_head(link)

    def then(browser: socket.socket) -> None:
        browser.sendall(b"GET /admin HTTP/1.1\r\n\r\n")  # unauthenticated
        app.send(b"def", b"and more")

    got = await spliced(link, 6, then=then)
    assert got == b"abcdef"  # and the browser's socket closed after it
    assert app.channel.sent == []  # nothing of the browser's reached the app
