"""The proxy's bounds on a request (server/upstream_http.exchange): the answer timeout
covers the wait for the answer to start, never a download or event stream that has
started. The app is a stand-in feeding the channel on rv's background loop (see
test_upstream_http.py)."""

from __future__ import annotations

import pytest

from rv_jupyter.cluster import background
from rv_jupyter.server.upstream_http import AnswerTimeout, body, exchange
from tests.unit.test_upstream_http import opened


async def test_an_answer_that_does_not_start_in_time_times_out() -> None:
    link, app = await opened()
    background.loop().call_later(1.0, app.remote.data_received, b"HTTP/1.1 200 OK\r\n\r\n")
    with pytest.raises(AnswerTimeout):
        await exchange(link, b"GET /late HTTP/1.1\r\n\r\n", 0.5)
    assert b"".join(app.channel.sent) == b"GET /late HTTP/1.1\r\n\r\n"


async def test_an_answer_that_started_takes_as_long_as_it_takes() -> None:
    link, app = await opened()
    app.send(b"HTTP/1.1 200 OK\r\nContent-Length: 6000\r\n\r\n")
    for i in range(6):  # answers at once, then takes 1.5 s to finish
        background.loop().call_later(0.25 * (i + 1), app.remote.data_received, b"x" * 1000)
    start, headers = await exchange(link, b"GET /stream HTTP/1.1\r\n\r\n", 0.5)
    got = b"".join([piece async for piece in body(link, headers, 1 << 20)])
    assert (start.code, got) == (200, b"x" * 6000)
