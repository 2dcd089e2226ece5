"""Remote kernels in a real `jupyter server`: started over its REST API, used over its
WebSocket as a notebook would, pending with a reason, cancelled, and reattached after
the server restarts."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado import httpclient, websocket

from rv_jupyter.kernels.spec import install, kernel_json
from tests.cluster.conftest import as_admin
from tests.cluster.test_allocator import block
from tests.cluster.test_server import call
from tests.jupyter_servers import Server, free_port, jupyter

pytestmark = pytest.mark.usefixtures("no_jobs_left")


@pytest.fixture
def server_env(tmp_path: Path, a_config_path: Path) -> dict[str, str]:
    """Environment of the servers: the mini-Rivanna's config, kernelspecs and state here."""
    data = tmp_path / "jupyter-data"
    (data / "kernels").mkdir(parents=True)
    for gpu_type in ("mig", "a40"):
        spec = kernel_json(gpus=1, gpu_type=gpu_type, time="20m", rv_config=str(a_config_path))
        install(spec, data / "kernels")
    return dict(os.environ, RV_CONFIG=str(a_config_path), JUPYTER_PATH=str(data),
                RV_STATE_DIR=str(tmp_path / "rv-state"))  # fmt: skip


@pytest.fixture
def a_server_with_kernels(tmp_path: Path, server_env: dict[str, str]) -> Iterator[Server]:
    root = tmp_path / "srv"
    root.mkdir()
    with jupyter("jupyter_server", root, tmp_path / "server.log", env=server_env) as server:
        yield server


def new_kernel(server: Server, name: str) -> str:
    reply = call(server, "POST", "/api/kernels", body=json.dumps({"name": name}).encode())
    assert reply.status == 201, reply.body
    return str(reply.json()["id"])


def wait_running(server: Server, kernel_id: str, timeout: float = 120) -> None:
    """Until the extension says the kernel runs on its node (Jupyter says "starting")."""
    deadline = time.monotonic() + timeout
    while True:
        listed = {k["kernel_id"]: k for k in call(server, "GET", "/rv/api/kernels").json()}
        if kernel_id in listed and listed[kernel_id]["status"].startswith("running on"):
            return
        assert time.monotonic() < deadline, f"kernel {kernel_id} did not start: {listed}"
        time.sleep(0.5)


def run_code(server: Server, kernel_id: str, code: str) -> str:
    """Execute over the server's kernel WebSocket, as a notebook does; the stdout."""

    async def go() -> str:
        url = f"{server.url.replace('http', 'ws', 1)}/api/kernels/{kernel_id}/channels"
        ws = await websocket.websocket_connect(
            httpclient.HTTPRequest(url, headers={"Authorization": f"token {server.token}"})
        )
        msg_id = uuid.uuid4().hex
        ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "t",
                       "session": uuid.uuid4().hex, "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        }))  # fmt: skip
        out, replied, idle = [], False, False
        # The reply (shell) may overtake the output (iopub); idle comes after all output.
        while not (replied and idle):
            raw = await asyncio.wait_for(ws.read_message(), 60)
            assert raw is not None, "the kernel's WebSocket closed"
            msg: dict[str, Any] = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            replied = replied or msg["msg_type"] == "execute_reply"
            idle = idle or (
                msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"
            )
        ws.close()
        return "".join(out)

    return asyncio.run(go())


def rv_jobs() -> list[str]:
    return as_admin("squeue", "-h", "-u", "rvtest", "-n", "rv-kernel", "-o", "%i").split()


def test_kernel_survives_a_server_restart(tmp_path: Path, server_env: dict[str, str]) -> None:
    root = tmp_path / "srv"
    root.mkdir()
    port, token = free_port(), uuid.uuid4().hex
    log = tmp_path / "server.log"
    with jupyter("jupyter_server", root, log, env=server_env, port=port, token=token) as s:
        kernel_id = new_kernel(s, "rv-1x-mig-20m")
        wait_running(s, kernel_id)
        assert run_code(s, kernel_id, "x = 41; print('set')") == "set\n"
        job = rv_jobs()
        state = Path(server_env["RV_STATE_DIR"]) / "kernels" / f"{kernel_id}.json"
        key = json.loads(state.read_text())["connection_info"]["key"]
        assert oct(state.stat().st_mode & 0o777) == "0o600"
    assert rv_jobs() == job, "stopping the server must not end the kernel's job"
    with jupyter("jupyter_server", root, log, env=server_env, port=port, token=token) as s:
        deadline = time.monotonic() + 60  # the server reattaches as it starts
        while kernel_id not in [k["id"] for k in call(s, "GET", "/api/kernels").json()]:
            assert time.monotonic() < deadline, "the restarted server did not reattach"
            time.sleep(0.5)
        assert run_code(s, kernel_id, "print(x + 1)") == "42\n"
        assert call(s, "DELETE", f"/api/kernels/{kernel_id}").status == 204
        deadline = time.monotonic() + 30
        while rv_jobs():
            assert time.monotonic() < deadline, "shutting the kernel down left its job"
            time.sleep(0.5)
    assert token not in log.read_text()
    assert key not in log.read_text()


def test_pending_kernel_is_listed_with_its_reason_and_shutdown_cancels_it(
    a_server_with_kernels: Server, a_cluster: Any
) -> None:
    s = a_server_with_kernels
    block(a_cluster, "gpu-a40", "a40", 8)
    kernel_id = new_kernel(s, "rv-1x-a40-20m")  # returns at once: pending kernels
    deadline = time.monotonic() + 60
    while True:
        listed = {k["kernel_id"]: k for k in call(s, "GET", "/rv/api/kernels").json()}
        rows = listed[kernel_id]["strategies"] if kernel_id in listed else []
        if any(r["state"] == "pending" and r["reason"] for r in rows):  # Slurm has said why
            break
        assert time.monotonic() < deadline, f"no pending status: {listed}"
        time.sleep(0.5)
    assert listed[kernel_id]["pending"] is True
    assert "gpu-a40" in listed[kernel_id]["status"]
    assert "waiting for a GPU" in listed[kernel_id]["status"]
    assert all(r["partition"] == "gpu-a40" and r["job"] for r in rows), rows
    assert rv_jobs(), "its job should be queued"
    t0 = time.monotonic()
    assert call(s, "DELETE", f"/api/kernels/{kernel_id}").status == 204
    assert time.monotonic() - t0 < 30, "shutting down a pending kernel must not wait for Slurm"
    assert rv_jobs() == []
    deadline = time.monotonic() + 30  # pending kernels are removed in the background
    while kernel_id in [k["id"] for k in call(s, "GET", "/api/kernels").json()]:
        assert time.monotonic() < deadline, "the cancelled kernel stayed listed"
        time.sleep(0.5)
