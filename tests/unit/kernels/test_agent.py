"""The node agent's relay, as a real process speaking its framed protocol on stdio
(the same bytes the tunnel sends through srun), to real sockets on loopback."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import rv_jupyter.kernels.agent as agent_module

HEAD = struct.Struct("!cII")
AGENT = Path(agent_module.__file__)


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data.upper())

    threading.Thread(target=serve, daemon=True).start()
    yield port
    server.close()


def frame(kind: bytes, conn: int, data: bytes = b"") -> bytes:
    return HEAD.pack(kind, conn, len(data)) + data


def read_frame(stream) -> tuple[bytes, int, bytes]:  # type: ignore[no-untyped-def]
    kind, conn, n = HEAD.unpack(stream.read(HEAD.size))
    return kind, conn, stream.read(n)


def test_relay_carries_connections_to_the_named_ports_only(echo_port: int) -> None:
    with socket.create_server(("127.0.0.1", 0)) as other:
        forbidden = other.getsockname()[1]
        relay = subprocess.Popen(
            [sys.executable, str(AGENT), "relay", str(echo_port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        assert relay.stdin and relay.stdout
        try:
            big = b"x" * 200_000
            relay.stdin.write(frame(b"O", 7, str(echo_port).encode()) + frame(b"D", 7, big))
            relay.stdin.write(frame(b"O", 8, str(forbidden).encode()))
            relay.stdin.flush()
            got = b""
            closed = []
            while len(got) < len(big):
                kind, conn, data = read_frame(relay.stdout)
                if kind == b"C":
                    closed.append(conn)
                else:
                    assert (kind, conn) == (b"D", 7)
                    got += data
            assert got == big.upper()
            if 8 not in closed:  # a port not on its command line: closed at once
                assert read_frame(relay.stdout)[:2] == (b"C", 8)
        finally:
            relay.stdin.close()
            assert relay.wait(10) == 0  # stdin's end ends the relay, nothing else
