"""The Jupyter server extension in a real `jupyter server` process, against the mini-Rivanna:
the REST API (authentication, the user's own jobs only) and web ports of jobs through
/rv/proxy/ (HTTP and WebSocket to an app running inside a job)."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import random
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from tornado import httpclient, websocket

from rv_jupyter.cluster.handle import Cluster
from tests.cluster.conftest import (
    OTHER_USER,
    as_admin,
    foreign_job,
    start_neighbours_web_app,
    start_web_app,
    stop_neighbours,
    wait_running,
)
from tests.jupyter_servers import Server, jupyter

pytestmark = pytest.mark.usefixtures("no_jobs_left")


@dataclass
class Reply:
    status: int
    body: bytes
    headers: http.client.HTTPMessage

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    server: Server, method: str, path: str, *, token: bool = True, body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:  # fmt: skip
    """One HTTP request to the server, redirects not followed."""
    conn = http.client.HTTPConnection(*server.address, timeout=60)
    all_headers = dict(headers or {})
    if token:
        all_headers["Authorization"] = f"token {server.token}"
    conn.request(method, path, body=body, headers=all_headers)
    resp = conn.getresponse()
    reply = Reply(resp.status, resp.read(), resp.headers)
    conn.close()
    return reply


@pytest.fixture
def a_server(tmp_path: Path, a_config_path: Path) -> Iterator[Server]:
    """A real `jupyter server` with the extension enabled by its installed config file."""
    root = tmp_path / "srv"
    root.mkdir()
    env = dict(os.environ, RV_CONFIG=str(a_config_path))
    with jupyter("jupyter_server", root, tmp_path / "server.log", env=env) as server:
        yield server


# -- REST API ----------------------------------------------------------------------------


def test_api_needs_jupyters_authentication(a_server: Server) -> None:
    paths = [("GET", "/rv/api/state"), ("GET", "/rv/api/jobs"),
             ("POST", "/rv/api/jobs/1/cancel"), ("GET", "/rv/api/forwards")]  # fmt: skip
    for method, path in paths:
        body = b"" if method == "POST" else None
        assert call(a_server, method, path, token=False, body=body).status == 403, path
    reply = call(a_server, "GET", "/rv/api/state")
    assert reply.status == 200
    state = reply.json()
    assert state["state"]["user"] == "rvtest"
    assert state["stale"] is False
    assert {g["gpu_type"] for g in state["state"]["gpus"]} >= {"a100_80", "mig"}


def test_jobs_listed_and_only_own_jobs_cancelled(a_server: Server, a_cluster: Cluster) -> None:
    mine = a_cluster.run("sbatch --parsable -p standard -t 5 -J mine --wrap 'sleep 300'")
    mine = mine.strip().split(";")[0]
    theirs = foreign_job()
    try:
        jobs = call(a_server, "GET", "/rv/api/jobs").json()
        assert [j["job_id"] for j in jobs] == [mine]
        refused = call(a_server, "POST", f"/rv/api/jobs/{theirs}/cancel", body=b"")
        assert refused.status == 404
        assert theirs in refused.json()["message"]
        assert as_admin("squeue", "-h", "-j", theirs, "-o", "%T").strip() == "RUNNING"
        done = call(a_server, "POST", f"/rv/api/jobs/{mine}/cancel", body=b"")
        assert done.status == 200
        assert done.json() == {"cancelled": [mine]}
        deadline = time.monotonic() + 15  # squeue may show it completing for a moment
        while mine in [j["job_id"] for j in call(a_server, "GET", "/rv/api/jobs").json()]:
            assert time.monotonic() < deadline, "the cancelled job stayed in the queue"
            time.sleep(0.5)
    finally:
        as_admin("scancel", theirs)


# -- web ports of jobs ----------------------------------------------------------------------


def test_proxy_reaches_an_app_in_the_job_without_our_credentials(
    a_server: Server, a_web_job: tuple[str, int]
) -> None:
    job_id, port = a_web_job
    base = f"/rv/proxy/{job_id}/{port}"
    reply = call(
        a_server, "GET", f"{base}/hello?x=1&token={a_server.token}",
        headers={"Cookie": "_xsrf=ours; app_cookie=theirs"},
    )  # fmt: skip
    assert reply.status == 200, reply.body
    hello = reply.json()
    node = as_admin("squeue", "-h", "-j", job_id, "-o", "%N").strip()
    assert hello["host"] == node
    assert hello["query"] == "x=1"
    assert hello["headers"].get("cookie") == "app_cookie=theirs"
    assert a_server.token not in json.dumps(hello)

    posted = call(a_server, "POST", f"{base}/echo", body=b"x" * 100_000,
                  headers={"Content-Type": "application/x-test"})  # fmt: skip
    assert (posted.status, posted.body, posted.headers["Content-Type"]) == (
        200, b"x" * 100_000, "application/x-test")  # fmt: skip
    big = call(a_server, "GET", f"{base}/bytes?mb=8")
    assert big.status == 200
    assert len(big.body) == 8 << 20
    assert big.headers["Content-Length"] == str(8 << 20)  # a download shows its progress
    head = call(a_server, "HEAD", f"{base}/bytes?mb=8")
    assert (head.status, head.body, head.headers["Content-Length"]) == (200, b"", str(8 << 20))
    assert call(a_server, "GET", f"{base}/nothing-here").status == 404  # the app's own 404

    unauthenticated = call(a_server, "GET", f"{base}/hello", token=False)
    assert unauthenticated.status in (302, 403)
    assert b"rvtest" not in unauthenticated.body and node.encode() not in unauthenticated.body


def test_a_slow_download_is_not_buffered_by_the_server(
    a_server: Server, a_web_job: tuple[str, int]
) -> None:
    # A browser that reads slowly (or a paused download) must hold the app back through
    # the proxy, not make the Jupyter server keep the rest of the response in memory.
    job_id, port = a_web_job
    url = urlsplit(a_server.url)
    rss_before = rss_mb(a_server.proc.pid)
    sock = socket.create_connection(a_server.address, timeout=30)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    sock.sendall(
        f"GET /rv/proxy/{job_id}/{port}/bytes?mb=400 HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: token {a_server.token}\r\n\r\n".encode()
    )
    try:
        got = 0
        while got < 4 << 20:  # the first 4 MiB, then the reader stalls
            got += len(sock.recv(1 << 16))
        time.sleep(5)  # unthrottled, the proxy would pull all 400 MiB meanwhile
        grown = rss_mb(a_server.proc.pid) - rss_before
        assert grown < 100, f"the server grew by {grown:.0f} MB for a stalled download"
        while got < 40 << 20:  # and the download goes on when the reader does
            chunk = sock.recv(1 << 20)
            assert chunk, "the proxy ended the stalled download"
            got += len(chunk)
    finally:
        sock.close()


def test_long_streams_do_not_hold_up_other_requests(
    a_server: Server, a_web_job: tuple[str, int]
) -> None:
    # Event streams stay open for as long as their page does: more of them than the
    # 64 requests the server's HTTP client once took at a time must not queue the rest.
    job_id, port = a_web_job
    url = urlsplit(a_server.url)
    streams = []
    try:
        for _ in range(72):
            sock = socket.create_connection(a_server.address, timeout=30)
            sock.sendall(
                f"GET /rv/proxy/{job_id}/{port}/stream HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"Authorization: token {a_server.token}\r\n\r\n".encode()
            )
            streams.append(sock)
        for sock in streams:
            got = b""
            while b"data: tick" not in got:
                chunk = sock.recv(4096)
                assert chunk, "an event stream ended"
                got += chunk
        started = time.monotonic()
        reply = call(a_server, "GET", f"/rv/proxy/{job_id}/{port}/hello")
        assert reply.status == 200, reply.body
        assert time.monotonic() - started < 5
    finally:
        for sock in streams:
            sock.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def test_proxy_carries_websockets(a_server: Server, a_web_job: tuple[str, int]) -> None:
    job_id, port = a_web_job

    async def talk() -> list[str | bytes | None]:
        url = a_server.url.replace("http", "ws", 1) + f"/rv/proxy/{job_id}/{port}/ws"
        request = httpclient.HTTPRequest(url, headers={"Authorization": f"token {a_server.token}"})
        ws = await websocket.websocket_connect(request)
        got = [await ws.read_message()]
        await ws.write_message("ping through the proxy")
        got.append(await ws.read_message())
        await ws.write_message(b"\x00\x01" * 40_000, binary=True)
        got.append(await ws.read_message())
        ws.close()
        return got

    got = asyncio.run(talk())
    assert got == ["hello", "ping through the proxy", b"\x00\x01" * 40_000]


def test_proxy_refuses_what_is_not_a_running_job_of_yours(
    a_server: Server, a_cluster: Cluster, a_web_job: tuple[str, int]
) -> None:
    job_id, port = a_web_job
    theirs = foreign_job()
    pending = a_cluster.run(
        "sbatch --parsable -p standard -t 5 --begin=now+1hour -J later --wrap 'sleep 1'"
    ).strip()
    try:
        for path, status in [
            (f"/rv/proxy/{theirs}/{port}/hello", 404),
            (f"/rv/proxy/{pending}/{port}/hello", 404),
            (f"/rv/proxy/99999999/{port}/hello", 404),
            (f"/rv/proxy/{job_id}/0/hello", 400),
            (f"/rv/proxy/{job_id}/70000/hello", 400),
            (f"/rv/proxy/udc-a100-1/{port}/hello", 404),  # a host name is never a target
        ]:
            assert call(a_server, "GET", path).status == status, path
        # Not a proxy route at all: Jupyter's trailing-slash redirect, then its 404.
        sneaky = call(a_server, "GET", f"/rv/proxy/{job_id}/{port}@10.213.0.11:22/")
        if sneaky.status == 302:
            assert sneaky.headers["Location"].startswith("/rv/proxy/")
            sneaky = call(a_server, "GET", sneaky.headers["Location"])
        assert sneaky.status == 404
        refused = call(a_server, "POST", "/rv/api/forwards",
                       body=json.dumps({"job_id": theirs, "port": 22}).encode())  # fmt: skip
        assert refused.status == 404
        assert "not one of your running jobs" in refused.json()["message"]
        opened = call(a_server, "POST", "/rv/api/forwards",
                      body=json.dumps({"job_id": job_id, "port": port}).encode())  # fmt: skip
        assert opened.status == 201
        assert opened.json()["proxy_path"] == f"/rv/proxy/{job_id}/{port}/"
    finally:
        as_admin("scancel", theirs)
    server_log = a_server.log.read_text()
    assert a_server.token not in server_log


def test_proxy_never_reaches_a_neighbours_server_on_the_same_node_and_port(
    a_server: Server, a_cluster: Cluster
) -> None:
    # Ours on the node's loopback; another user's job on the same node listens on the
    # node's address at the same port, and on one more port where only it listens.
    job_id, port = start_web_app(a_cluster, bind="127.0.0.1")
    node = as_admin("squeue", "-h", "-j", job_id, "-o", "%N").strip()
    try:
        start_neighbours_web_app(node, port, node)
        start_neighbours_web_app(node, port + 1, node)
        for _ in range(5):
            reply = call(a_server, "GET", f"/rv/proxy/{job_id}/{port}/hello")
            assert reply.status == 200, reply.body
            assert (reply.json()["user"], reply.json()["host"]) == ("rvtest", node)
        theirs = call(a_server, "GET", f"/rv/proxy/{job_id}/{port + 1}/hello")
        assert theirs.status == 502
        assert OTHER_USER.encode() not in theirs.body
        assert f"Job {job_id} has nothing listening on port {port + 1}".encode() in theirs.body
    finally:
        stop_neighbours()


def test_proxy_refuses_the_port_of_a_job_that_just_ended(
    a_server: Server, a_cluster: Cluster
) -> None:
    # The neighbour's app waits for the port and takes it the moment our job ends, well
    # within the few seconds the server trusts its last read of squeue.
    job_id, port = start_web_app(a_cluster, bind="0.0.0.0")
    node = as_admin("squeue", "-h", "-j", job_id, "-o", "%N").strip()
    try:
        start_neighbours_web_app(node, port, node, "--retry")
        assert call(a_server, "GET", f"/rv/proxy/{job_id}/{port}/hello").json()["user"] == "rvtest"
        as_admin("scancel", job_id)
        log = Path(f"/home/{OTHER_USER}/neighbour-{port}.log")
        deadline = time.monotonic() + 30
        while "listening" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "the neighbour did not take the port"
            time.sleep(0.05)
        for _ in range(3):
            reply = call(a_server, "GET", f"/rv/proxy/{job_id}/{port}/hello")
            assert OTHER_USER.encode() not in reply.body
            assert reply.status in (404, 502), reply.body
    finally:
        stop_neighbours()


def test_a_cross_site_post_does_not_reach_the_app(
    a_server: Server, a_web_job: tuple[str, int]
) -> None:
    job_id, port = a_web_job
    echo = f"/rv/proxy/{job_id}/{port}/echo"
    login = call(a_server, "GET", "/api/status").headers["Set-Cookie"].split(";")[0]
    for headers in (
        {"Cookie": login, "Origin": "http://evil.example"},  # a form or fetch on another site
        {"Cookie": login, "Referer": "http://evil.example/page"},
        {"Cookie": login},  # nothing says where it came from
    ):
        refused = call(a_server, "POST", echo, token=False, body=b"rm -rf", headers=headers)
        assert refused.status in (403, 404), (headers, refused.body)  # Jupyter's own refusals
        assert b"rm -rf" not in refused.body
    same_site = {"Cookie": login, "Origin": a_server.url}
    for method in ("POST", "PUT", "DELETE"):
        reply = call(a_server, method, echo, token=False, body=b"", headers=same_site)
        assert reply.status != 403, (method, reply.body)
    assert call(a_server, "POST", echo, token=False, body=b"ok", headers=same_site).body == b"ok"
    assert call(a_server, "POST", echo, body=b"token").body == b"token"  # token-authenticated
    assert call(a_server, "GET", f"/rv/proxy/{job_id}/{port}/hello", token=False,
                headers={"Cookie": login}).status == 200  # fmt: skip


def test_a_jupyter_server_in_a_job_works_through_the_proxy(
    a_server: Server, a_cluster: Cluster
) -> None:
    port, token = random.randint(20000, 40000), uuid.uuid4().hex
    # The remote server's token reaches it through the job's environment, read from stdin.
    out = a_cluster.run(
        "read -r JUPYTER_TOKEN; export JUPYTER_TOKEN; "
        f"sbatch --parsable -p standard -t 10 -J remote-jupyter -o /home/rvtest/rj-%j.log "
        f"--wrap 'exec python3 -m notebook --no-browser --ip=0.0.0.0 --port={port} "
        f"--NotebookApp.base_url=/rv/proxy/absolute/$SLURM_JOB_ID/{port}/ "
        "--notebook-dir=/home/rvtest'",
        stdin=token + "\n",
    )
    job_id = out.strip().split(";")[0]
    wait_running(job_id)
    base = f"/rv/proxy/absolute/{job_id}/{port}"
    # As in a browser: logged in to our server by cookie, the remote one's token in the URL
    # (both servers read ?token=, so ours is not given there).
    login = call(a_server, "GET", "/api/status").headers["Set-Cookie"].split(";")[0]
    as_browser = {"Cookie": login}
    deadline = time.monotonic() + 60
    while call(a_server, "GET", f"{base}/api/status?token={token}", token=False,
               headers=as_browser).status != 200:  # fmt: skip
        assert time.monotonic() < deadline, "the Jupyter in the job did not answer"
        time.sleep(1)
    # Its own token guards it: through the proxy, our login alone does not open it.
    assert call(a_server, "GET", f"{base}/api/kernels", token=False,
                headers=as_browser).status == 403  # fmt: skip
    # A browser sends Origin with a POST: ours, for a page of the app through the proxy.
    started = call(a_server, "POST", f"{base}/api/kernels?token={token}", body=b"{}",
                   token=False, headers={**as_browser, "Origin": a_server.url})  # fmt: skip
    assert started.status == 201, started.body
    kernel_id = started.json()["id"]

    async def execute() -> str:
        url = (a_server.url.replace("http", "ws", 1)
               + f"{base}/api/kernels/{kernel_id}/channels?token={token}")  # fmt: skip
        ws = await websocket.websocket_connect(httpclient.HTTPRequest(
            url, headers={**as_browser, "Origin": a_server.url}
        ))  # fmt: skip
        msg_id = uuid.uuid4().hex
        ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "t",
                       "session": uuid.uuid4().hex, "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": "import socket; print(socket.gethostname())",
                        "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }))  # fmt: skip
        while True:
            msg = json.loads(await asyncio.wait_for(ws.read_message(), 60))  # type: ignore[arg-type]
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
                ws.close()
                return str(msg["content"]["text"])

    node = as_admin("squeue", "-h", "-j", job_id, "-o", "%N").strip()
    assert asyncio.run(execute()).strip() == node


def test_tensorboard_in_a_job_through_the_proxy(a_server: Server, a_cluster: Cluster) -> None:
    port = random.randint(20000, 39000)
    tb = "/opt/rv-tensorboard/bin/tensorboard --logdir /home/rvtest/tb"
    # As it starts (paths below the proxy's; on the node's loopback only, TensorBoard's
    # default), and on all addresses with --path_prefix (the whole path).
    out = a_cluster.run(
        f"mkdir -p /home/rvtest/tb && sbatch --parsable -p standard -t 10 -J tensorboard "
        f"--wrap '{tb} --port {port} & exec {tb} --bind_all --port {port + 1} "
        f"--path_prefix /rv/proxy/absolute/$SLURM_JOB_ID/{port + 1}'"
    )
    job_id = out.strip().split(";")[0]
    wait_running(job_id)
    for base in (f"/rv/proxy/{job_id}/{port}", f"/rv/proxy/absolute/{job_id}/{port + 1}"):
        deadline = time.monotonic() + 90
        while (page := call(a_server, "GET", f"{base}/")).status != 200:
            assert time.monotonic() < deadline, f"TensorBoard at {base} did not answer"
            time.sleep(1)
        assert b"<tf-tensorboard" in page.body or b"TensorBoard" in page.body
        env = call(a_server, "GET", f"{base}/data/environment")
        assert env.status == 200, env.body
        assert env.json()["data_location"] == "/home/rvtest/tb"
