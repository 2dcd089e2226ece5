"""A small web app that runs inside a job on the mini-Rivanna (stdlib only: the node's
python3 has nothing else), for the proxy's tests and benchmark.

    python3 web_app.py PORT [BIND [--retry]]
        BIND: 0.0.0.0, 127.0.0.1 for the loopback only, or the node's name for its address;
        --retry: wait until the port is free (to take it the moment another program ends)

GET /hello        JSON: the node's host name, the user, the request's path, query and headers
GET /quit         stop listening and exit
GET /stream       an event stream: one event at once, then one every 5 s, for ever
GET /bytes?mb=N   N MiB of data, streamed in 1 MiB chunks (with Content-Length)
POST /echo        the request body back
GET /ws           WebSocket (RFC 6455) echo of text and binary messages; says "hello" first
"""

from __future__ import annotations

import asyncio
import base64
import getpass
import hashlib
import json
import socket
import struct
import sys
from urllib.parse import parse_qs, urlsplit

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CHUNK = b"\x5a" * (1 << 20)


async def read_head(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str]]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    first, *lines = head.split("\r\n")
    method, target, _ = first.split(" ", 2)
    headers = {}
    for line in lines:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return method, target, headers


def respond(status: str, body: bytes, ctype: str = "application/json") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body


async def ws_send(writer: asyncio.StreamWriter, opcode: int, data: bytes) -> None:
    n = len(data)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    writer.write(head + data)
    await writer.drain()


async def ws_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: str) -> None:
    accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    writer.write(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
        ).encode()
    )
    await ws_send(writer, 0x1, b"hello")
    while True:
        b1, b2 = await reader.readexactly(2)
        opcode, n = b1 & 0x0F, b2 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await reader.readexactly(8))
        mask = await reader.readexactly(4) if b2 & 0x80 else b"\0\0\0\0"
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(n)))
        if opcode == 0x8:
            await ws_send(writer, 0x8, data[:2])
            return
        if opcode == 0x9:
            await ws_send(writer, 0xA, data)
        elif opcode in (0x1, 0x2):
            await ws_send(writer, opcode, data)


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        method, target, headers = await read_head(reader)
        url = urlsplit(target)
        if url.path == "/ws" and headers.get("upgrade", "").lower() == "websocket":
            await ws_echo(reader, writer, headers["sec-websocket-key"])
        elif url.path == "/hello":
            info = {"host": socket.gethostname(), "user": getpass.getuser(), "path": url.path,
                    "query": url.query, "method": method, "headers": headers}  # fmt: skip
            writer.write(respond("200 OK", json.dumps(info).encode()))
        elif url.path == "/stream":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
            while True:
                writer.write(b"data: tick\n\n")
                await writer.drain()
                await asyncio.sleep(5)
        elif url.path == "/quit":
            writer.write(respond("200 OK", b'{"bye": true}'))
            await writer.drain()
            asyncio.get_running_loop().call_soon(QUIT.set)
        elif url.path == "/bytes":
            mb = int(parse_qs(url.query).get("mb", ["1"])[0])
            writer.write(
                (
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                    f"Content-Length: {mb << 20}\r\nConnection: close\r\n\r\n"
                ).encode()
            )
            for _ in range(mb):
                writer.write(CHUNK)
                await writer.drain()
        elif url.path == "/echo" and method == "POST":
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            writer.write(respond("200 OK", body, headers.get("content-type", "text/plain")))
        else:
            writer.write(respond("404 Not Found", b'{"error": "no such path"}'))
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


QUIT = asyncio.Event()


async def main(port: int, bind: str, retry: bool) -> None:
    while True:
        try:
            server = await asyncio.start_server(handle, bind, port)
            break
        except OSError:
            if not retry:
                raise
            await asyncio.sleep(0.02)
    print(f"listening on {socket.gethostname()}:{port}", flush=True)
    async with server:
        await QUIT.wait()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(int(args[0]), args[1] if len(args) > 1 else "0.0.0.0", "--retry" in args))
