"""Remote kernels in a real `jupyter server`: started over its REST API, used over its
WebSocket as a notebook would, pending with a reason, cancelled, reattached after the
server restarts or is killed, and what a killed server left pending cancelled by the
next one (never by a second server that runs beside it)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
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


def rv_jobs(name: str = "rv-k-") -> list[str]:
    """Queued or running kernel jobs (named rv-k-<notebook or request>), or those of `name`."""
    out = as_admin("squeue", "-h", "-u", "rvtest", "-o", "%i %j")
    rows = [line.split(maxsplit=1) for line in out.splitlines() if line.strip()]
    return [i for i, n in rows if n.startswith(name)]


def new_session(server: Server, path: str, kernel: str) -> str:
    """Open a notebook's session as JupyterLab does; its kernel's id."""
    body = {"path": path, "name": path.rsplit("/", 1)[-1], "type": "notebook",
            "kernel": {"name": kernel}}  # fmt: skip
    reply = call(server, "POST", "/api/sessions", body=json.dumps(body).encode())
    assert reply.status == 201, reply.body
    return str(reply.json()["kernel"]["id"])


def wait_pending(server: Server, kernel_id: str) -> dict[str, Any]:
    """Until Slurm has said why the kernel's job waits; the kernel as the extension lists it."""
    deadline = time.monotonic() + 60
    while True:
        listed = {k["kernel_id"]: k for k in call(server, "GET", "/rv/api/kernels").json()}
        rows = listed[kernel_id]["strategies"] if kernel_id in listed else []
        if any(r["state"] == "pending" and r["reason"] for r in rows):
            return listed[kernel_id]
        assert time.monotonic() < deadline, f"no pending status: {listed}"
        time.sleep(0.5)


def wait_for(what: str, ready: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def sigkill(server: Server) -> None:
    """The server dies at once: no shutdown hook, no cancel, no clean-up of any kind."""
    server.proc.kill()
    server.proc.wait()


def phase(env: dict[str, str], kernel_id: str) -> str | None:
    path = Path(env["RV_STATE_DIR"]) / "kernels" / f"{kernel_id}.json"
    try:
        return str(json.loads(path.read_text())["phase"])
    except (OSError, ValueError, KeyError):
        return None


def record(env: dict[str, str], kernel_id: str) -> dict[str, Any]:
    path = Path(env["RV_STATE_DIR"]) / "kernels" / f"{kernel_id}.json"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


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
    listed = {kernel_id: wait_pending(s, kernel_id)}
    rows = listed[kernel_id]["strategies"]
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


def test_a_killed_servers_pending_kernel_is_cancelled_by_the_next_server(
    tmp_path: Path, server_env: dict[str, str], a_cluster: Any
) -> None:
    root = tmp_path / "srv"
    root.mkdir()
    block(a_cluster, "gpu-a40", "a40", 8)
    with jupyter("jupyter_server", root, tmp_path / "first.log", env=server_env) as first:
        kernel_id = new_session(first, "work/Pending Run.ipynb", "rv-1x-a40-20m")
        wait_pending(first, kernel_id)
        jobs = rv_jobs("rv-k-Pending-Run")  # named after the notebook
        assert jobs, rv_jobs()
        # Recorded before its first sbatch, with the tag its jobs carry.
        pending = record(server_env, kernel_id)
        assert pending["phase"] == "waiting" and pending["tag"].startswith("rv:")
        assert pending["owner"]["pid"] == first.proc.pid
        sigkill(first)
    assert rv_jobs("rv-k-Pending-Run") == jobs, "the orphan is still queued, for now"
    log = tmp_path / "second.log"
    with jupyter("jupyter_server", root, log, env=server_env):
        wait_for("the next server left the orphan queued", lambda: not rv_jobs())
        wait_for("the log did not say so", lambda: "was still starting" in log.read_text())
        said = next(ln for ln in log.read_text().splitlines() if "was still starting" in ln)
        assert kernel_id in said and str(pending["owner"]["pid"]) in said
        assert "cancelled its job" in said and all(j in said for j in jobs), said
        assert not (Path(server_env["RV_STATE_DIR"]) / "kernels" / f"{kernel_id}.json").exists()


def test_a_second_live_server_leaves_the_first_ones_pending_kernel_alone(
    tmp_path: Path, server_env: dict[str, str], a_cluster: Any
) -> None:
    root = tmp_path / "srv"
    root.mkdir()
    block(a_cluster, "gpu-a40", "a40", 8)
    with jupyter("jupyter_server", root, tmp_path / "first.log", env=server_env) as first:
        kernel_id = new_kernel(first, "rv-1x-a40-20m")
        wait_pending(first, kernel_id)
        jobs = rv_jobs()
        log = tmp_path / "second.log"
        with jupyter("jupyter_server", root, log, env=server_env):
            wait_for(
                "the second server did not look at the first one's kernel",
                lambda: "belongs to another running process" in log.read_text(),
            )
            assert f"(pid {first.proc.pid})" in log.read_text()
            assert rv_jobs() == jobs
        assert rv_jobs() == jobs, "the second server's exit must not touch it either"
        assert call(first, "GET", "/rv/api/kernels").json()[0]["pending"] is True
    # The first server's own orderly stop cancels its pending start.
    wait_for("the first server's stop left its pending job", lambda: not rv_jobs(), 30)


def test_a_killed_servers_running_kernel_is_reattached_with_its_state(
    tmp_path: Path, server_env: dict[str, str]
) -> None:
    root = tmp_path / "srv"
    root.mkdir()
    port, token = free_port(), uuid.uuid4().hex
    log = tmp_path / "server.log"
    with jupyter("jupyter_server", root, log, env=server_env, port=port, token=token) as s:
        kernel_id = new_session(s, "Train Model.ipynb", "rv-1x-mig-20m")
        wait_running(s, kernel_id)
        assert run_code(s, kernel_id, "x = 41; print('set')") == "set\n"
        assert rv_jobs("rv-k-Train-Model")
        assert record(server_env, kernel_id)["phase"] == "running"
        sigkill(s)
    with jupyter("jupyter_server", root, log, env=server_env, port=port, token=token) as s:
        wait_for(
            "the restarted server did not reattach",
            lambda: kernel_id in [k["id"] for k in call(s, "GET", "/api/kernels").json()],
        )
        assert run_code(s, kernel_id, "print(x + 1)") == "42\n"
        assert record(server_env, kernel_id)["owner"]["pid"] == s.proc.pid  # its own now
        assert call(s, "DELETE", f"/api/kernels/{kernel_id}").status == 204
        wait_for("shutting the kernel down left its job", lambda: not rv_jobs(), 30)


def test_a_kernel_killed_while_it_launched_has_its_job_cancelled(
    tmp_path: Path, server_env: dict[str, str], a_cluster: Any, a_config_variant: Any
) -> None:
    # A Python on the node that takes 30 s to start (a cold conda env on a parallel
    # filesystem): the server dies after the job started and before the kernel did.
    slow = f"/scratch/rvtest/rv-test-slowpy-{uuid.uuid4().hex[:8]}"
    a_cluster.run(
        f"cat > {slow} && chmod 700 {slow}", stdin='#!/bin/sh\nsleep 30\nexec python3 "$@"\n'
    )
    config = a_config_variant(kernels={"python": slow})
    env = dict(server_env, RV_CONFIG=str(config))
    spec = kernel_json(gpus=1, gpu_type="mig", time="20m", rv_config=str(config))
    install(spec, Path(server_env["JUPYTER_PATH"]) / "kernels", replace=True)
    root = tmp_path / "srv"
    root.mkdir()
    try:
        with jupyter("jupyter_server", root, tmp_path / "first.log", env=env) as first:
            kernel_id = new_kernel(first, "rv-1x-mig-20m")
            wait_for(
                "the kernel did not reach its launch",
                lambda: phase(env, kernel_id) == "launching",
            )
            jobs = rv_jobs()
            assert len(jobs) == 1
            sigkill(first)
        log = tmp_path / "second.log"
        with jupyter("jupyter_server", root, log, env=env):
            wait_for("the log did not say so", lambda: "was still starting" in log.read_text())
            assert f"cancelled its job {jobs[0]}" in log.read_text()
            wait_for("the job of the kernel that never started is still there",
                     lambda: not rv_jobs())  # fmt: skip
    finally:
        a_cluster.run(f"rm -f {slow}")


def test_kernelspecs_installed_by_the_cli_show_a_chip_logo_and_their_cost(
    tmp_path: Path, a_config_path: Path
) -> None:
    data = tmp_path / "jupyter-data"
    env = dict(os.environ, RV_CONFIG=str(a_config_path), JUPYTER_DATA_DIR=str(data),
               JUPYTER_PATH=str(data), RV_STATE_DIR=str(tmp_path / "rv-state"))  # fmt: skip
    cli = [sys.executable, "-m", "rv_jupyter", "kernelspec", "install"]
    done = subprocess.run([*cli, "--type", "a40", "--time", "1h"], env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "rv-1x-a40-1h\n"), done.stderr
    root = tmp_path / "srv"
    root.mkdir()
    with jupyter("jupyter_server", root, tmp_path / "server.log", env=env) as s:
        rv = call(s, "GET", "/api/kernelspecs").json()["kernelspecs"]["rv-1x-a40-1h"]
        assert rv["spec"]["display_name"] == "Rivanna GPU: 1x A40, 1 h (~187 SU)"
        assert {"logo-32x32", "logo-64x64", "logo-svg"} <= set(rv["resources"]), rv
        png = call(s, "GET", rv["resources"]["logo-64x64"])
        assert png.status == 200 and png.body.startswith(b"\x89PNG\r\n\x1a\n")
        svg = call(s, "GET", rv["resources"]["logo-svg"])
        assert svg.status == 200 and b"<svg" in svg.body
