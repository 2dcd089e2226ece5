"""One HTTP/1.1 exchange with a job's app over a ChannelLink: the request out, the
answer's head parsed, its body handed on as it arrives (chunked or not, decoded).

One request per connection (`Connection: close`), as the proxy always did: the app's
answer then ends with its length, its last chunk, or the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from tornado import httputil

from rv_jupyter.server.channel_link import ChannelLink, LinkClosed

MAX_HEAD = 1 << 16  # the answer's status line and headers (tornado's client took 64 KiB)
MAX_LINE = 1 << 12  # a chunk's size line, or a trailer


class BadAnswer(OSError):
    """The app's answer is not HTTP the proxy can pass on."""


class AnswerTimeout(OSError):
    """The app did not start answering in time."""


def request_head(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes | None
) -> bytes:
    """The request line and headers; ValueError for what would split the message."""
    # tornado parsed the browser's request, but a CR or LF in a header or the path
    # would let one request smuggle another to the app: never send one.
    fields = [method, target, *(part for header in headers for part in header)]
    if any(c in field for field in fields for c in "\r\n\0") or " " in target:
        raise ValueError("a line break or space where HTTP allows none")
    lines = [f"{method} {target} HTTP/1.1", *(f"{name}: {value}" for name, value in headers)]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def exchange(
    link: ChannelLink, head: bytes, timeout: float
) -> tuple[httputil.ResponseStartLine, httputil.HTTPHeaders]:
    """Send the request (`head` and body), and read the answer's head; AnswerTimeout
    if it has not come within `timeout` s. Only its start is bounded: a download or an
    event stream that has started takes as long as it takes."""
    link.write(head)
    try:
        return await asyncio.wait_for(read_head(link), timeout)
    except asyncio.TimeoutError as exc:
        raise AnswerTimeout(f"no answer within {timeout:g} s") from exc


async def read_head(link: ChannelLink) -> tuple[httputil.ResponseStartLine, httputil.HTTPHeaders]:
    """The answer's status line and headers (interim 1xx answers other than 101 skipped)."""
    while True:
        try:
            raw = await link.readuntil(b"\r\n\r\n", MAX_HEAD)
        except LinkClosed as exc:
            raise LinkClosed("the app closed the connection without answering") from exc
        except ValueError as exc:
            raise BadAnswer(f"the answer's headers exceed {MAX_HEAD} bytes") from exc
        text = raw.decode("latin-1")
        first, _, rest = text.partition("\r\n")
        try:
            start = httputil.parse_response_start_line(first)
            headers = httputil.HTTPHeaders.parse(rest)
        except (httputil.HTTPInputError, ValueError) as exc:
            raise BadAnswer(f"not an HTTP answer: {first[:80]!r}") from exc
        if 100 <= start.code < 200 and start.code != 101:
            continue
        return start, headers


def has_body(method: str, code: int) -> bool:
    """Whether an answer to `method` with status `code` has a body (RFC 9112, 6.3)."""
    return method != "HEAD" and code >= 200 and code not in (204, 304)


async def body(
    link: ChannelLink, headers: httputil.HTTPHeaders, chunk: int
) -> AsyncIterator[bytes]:
    """The answer's body as it arrives (pieces of at most `chunk` bytes, or what came);
    LinkClosed if it breaks off before its end."""
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        async for piece in _chunked(link, chunk):
            yield piece
        return
    length = headers.get("Content-Length")
    if length is None:
        while data := await link.read(chunk):
            yield data
        return
    try:
        left = int(length.split(",")[0].strip())
    except ValueError as exc:
        raise BadAnswer(f"Content-Length {length!r} is not a number") from exc
    while left > 0:
        data = await link.read(min(left, chunk))
        if not data:
            raise LinkClosed(f"the answer broke off {left} bytes before its end")
        left -= len(data)
        yield data


async def _chunked(link: ChannelLink, chunk: int) -> AsyncIterator[bytes]:
    # Parsed in what has arrived, with an index: an answer of many small chunks costs
    # no copy of the rest per chunk. What is decoded goes on once per arrival.
    buf, pos, out = b"", 0, list[bytes]()

    async def more() -> None:
        nonlocal buf, pos
        data = await link.read(chunk)
        if not data:
            raise LinkClosed("the answer broke off inside its chunks")
        buf, pos = buf[pos:] + data, 0

    async def line() -> bytes:
        nonlocal pos
        while (end := buf.find(b"\r\n", pos)) < 0:
            if len(buf) - pos > MAX_LINE:
                raise BadAnswer("a line of the chunked body is too long")
            await more()
        text, pos = buf[pos:end], end + 2
        return text

    while True:
        if out and buf.find(b"\r\n", pos) < 0:  # what is decoded goes before a wait
            yield b"".join(out)
            out = []
        size_line = await line()
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise BadAnswer(f"not a chunk size: {size_line[:40]!r}") from exc
        if size == 0:
            if out:
                yield b"".join(out)
            while await line():
                pass  # trailers: not passed on (tornado's client dropped them too)
            return
        while size > 0:
            if pos >= len(buf):
                if out:
                    yield b"".join(out)
                    out = []
                await more()
            take = min(size, len(buf) - pos)
            out.append(buf[pos : pos + take])
            pos += take
            size -= take
        if out and len(buf) - pos < 2:
            yield b"".join(out)
            out = []
        while len(buf) - pos < 2:
            await more()
        if buf[pos : pos + 2] != b"\r\n":
            raise BadAnswer("a chunk does not end with CRLF")
        pos += 2
