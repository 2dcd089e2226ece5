"""Remote kernels: jupyter_client starts a kernel through the rv-slurm provisioner; it runs
on the compute node inside a Slurm job of the mini-Rivanna, reached over real SSH."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager, KernelManager

from rv_jupyter import config as rv_config
from rv_jupyter.errors import RvError
from rv_jupyter.kernels.provisioner import RvProvisioner
from rv_jupyter.kernels.spec import install, kernel_json
from rv_jupyter.kernels.tunnel import Tunnel
from tests.cluster.conftest import as_admin
from tests.cluster.test_allocator import block

pytestmark = pytest.mark.usefixtures("no_jobs_left", "a_kernel_registry")


def rv(km: KernelManager | AsyncKernelManager) -> RvProvisioner:
    """The kernel's provisioner: rv's (the kernelspec names it)."""
    assert isinstance(km.provisioner, RvProvisioner), km.provisioner
    return km.provisioner


def tunnel_of(km: KernelManager | AsyncKernelManager) -> Tunnel:
    """The started kernel's tunnel."""
    tunnel = rv(km).tunnel
    assert tunnel is not None, "the kernel has no tunnel: not started?"
    return tunnel


def job_of(km: KernelManager | AsyncKernelManager) -> str:
    """The started kernel's job id."""
    job = rv(km).job
    assert job, "the kernel has no job: not started?"
    return job


@pytest.fixture
def a_kernel_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The kernels' on-disk registry of this test alone (not the user's ~/.rv/kernels)."""
    monkeypatch.setenv("RV_STATE_DIR", str(tmp_path / "rv-state"))
    return tmp_path / "rv-state" / "kernels"


@pytest.fixture
def kernels_dir(tmp_path: Path, a_config_path: Path) -> Iterator[Path]:
    """A Jupyter data dir of its own holding the kernelspecs a test installs."""
    data = tmp_path / "jupyter-data"
    (data / "kernels").mkdir(parents=True)
    yield data / "kernels"


@contextlib.contextmanager
def running(kernels: Path, spec: dict[str, Any]) -> Iterator[tuple[KernelManager, Any]]:
    """A started kernel and its client, shut down (job and all) when the block ends."""
    km, kc = start(kernels, spec)
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


def start(kernels: Path, spec: dict[str, Any]) -> tuple[KernelManager, Any]:
    name = install(spec, kernels).name
    ksm = KernelSpecManager(kernel_dirs=[str(kernels)])
    km = KernelManager(kernel_name=name, kernel_spec_manager=ksm)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    return km, kc


def execute(kc: Any, code: str, timeout: float = 60) -> tuple[str, dict[str, Any]]:
    """Run code; its stdout and the execute_reply content."""
    msg_id = kc.execute(code)
    out = []
    deadline = time.monotonic() + timeout
    while True:
        msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    reply = kc.get_shell_msg(timeout=timeout)
    return "".join(out), reply["content"]


def wait_output(kc: Any, msg_id: str, text: str, timeout: float = 30) -> None:
    """Read IOPub until the request `msg_id` has printed `text`."""
    deadline = time.monotonic() + timeout
    seen = ""
    while text not in seen:
        msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            seen += msg["content"]["text"]


def wait_idle(kc: Any, msg_id: str, timeout: float = 30) -> None:
    """Read IOPub until the kernel reports idle after the request `msg_id`."""
    deadline = time.monotonic() + timeout
    while True:
        msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if (
            msg["parent_header"].get("msg_id") == msg_id
            and msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "idle"
        ):
            return


def test_kernel_runs_in_the_job_and_stops_with_it(kernels_dir: Path, a_config_path: Path) -> None:
    spec = kernel_json(gpus=1, gpu_type="mig", time="20m", rv_config=str(a_config_path))
    with running(kernels_dir, spec) as (km, kc):
        out, reply = execute(
            kc,
            "import os, socket; print(os.environ.get('SLURM_JOB_ID'), socket.gethostname(), "
            "os.environ.get('CUDA_VISIBLE_DEVICES'))",
        )
        assert reply["status"] == "ok", reply
        job, host, cuda = out.split()
        # Other jobs of the (shared) test user may come and go: look at kernel jobs only.
        assert rv_kernel_jobs() == [job]
        # Started outside a notebook session: named after the request.
        assert as_admin("squeue", "-h", "-j", job, "-o", "%j").strip() == "rv-k-1x-mig"
        assert host == "udc-mig-1"
        assert cuda == "0"
        assert rv(km).node == host
        # Its traffic goes by SSH into the node, not through srun's slow stdio.
        assert tunnel_of(km).transport == "ssh"
        assert tunnel_of(km).relays_started == 0
        connection = tunnel_of(km).connection
        assert connection.nodes.linked == [host]

        # The stop button: interrupt_request by message; the kernel and its variables stay.
        execute(kc, "x = 41")
        msg_id = kc.execute("import time; print('asleep', flush=True); time.sleep(600)")
        wait_output(kc, msg_id, "asleep")  # the interrupt must find the cell running
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=30)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        # After an error ipykernel aborts the requests already queued until it goes
        # idle; a request sent before that (easy on a fast link) comes back "aborted".
        wait_idle(kc, msg_id)
        out, reply = execute(kc, "print(x + 1)")
        assert (reply["status"], out.strip()) == ("ok", "42"), reply

        # Restart: a new kernel in the same job.
        km.restart_kernel(now=False)
        kc.wait_for_ready(timeout=120)
        out, _ = execute(kc, "import os; print('x' in globals(), os.environ['SLURM_JOB_ID'])")
        assert out.split() == ["False", job]
    assert connection.nodes.linked == []  # the kernel gone, its SSH link into the node too
    deadline = time.monotonic() + 30
    while rv_kernel_jobs():
        assert time.monotonic() < deadline, "shutdown left the job in the queue"
        time.sleep(0.5)


def test_attached_kernel_leaves_the_job_running(kernels_dir: Path, a_cluster) -> None:  # type: ignore[no-untyped-def]
    job = a_cluster.run(
        "sbatch --parsable -p gpu-mig --gres=gpu:1g.10gb:1 -t 30 --wrap 'sleep 1800'"
    )
    job = job.strip().split(";")[0]
    deadline = time.monotonic() + 30
    while as_admin("squeue", "-h", "-j", job, "-o", "%T").strip() != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    spec = kernel_json(job_id=job, rv_config=os.environ["RV_CONFIG"])
    with running(kernels_dir, spec) as (_km, kc):
        out, _ = execute(kc, "import os; print(os.environ['SLURM_JOB_ID'])")
        assert out.strip() == job
    assert as_admin("squeue", "-h", "-j", job, "-o", "%T").strip() == "RUNNING"


def test_the_key_is_in_no_command_line_script_or_log(
    kernels_dir: Path, a_config_path: Path
) -> None:
    spec = kernel_json(gpus=1, gpu_type="mig", time="20m", rv_config=str(a_config_path))
    km, kc = start(kernels_dir, spec)
    key = km.session.key.decode()
    try:
        execute(kc, "y = 1")
        cmdlines = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    cmdlines.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
                    cmdlines.append((proc / "environ").read_bytes().replace(b"\0", b" ").decode())
                except OSError:
                    pass
        assert not [c for c in cmdlines if key in c]
        job = job_of(km)
        scripts = as_admin("scontrol", "write", "batch_script", job, "-")
        assert key not in scripts
        leftovers = subprocess.run(
            ["grep", "-rl", key, "/scratch/rvtest", "/home/rvtest", "/var/lib/rv-mini/logs"],
            capture_output=True, text=True,
        ).stdout  # fmt: skip
        assert leftovers == ""
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


def rv_kernel_jobs(state: str = "") -> list[str]:
    """Kernel jobs (named rv-k-<notebook or request>), queued or running, or in `state`."""
    args = ["squeue", "-h", "-u", "rvtest", "-o", "%i %j"]
    out = as_admin(*args, *(["-t", state] if state else []))
    rows = [line.split(maxsplit=1) for line in out.splitlines() if line.strip()]
    return [i for i, name in rows if name.startswith("rv-k-")]


async def test_a_pending_start_shows_why_and_cancels_cleanly(  # type: ignore[no-untyped-def]
    kernels_dir: Path, a_cluster, a_config_path: Path, a_kernel_registry: Path
) -> None:
    block(a_cluster, "gpu-a40", "a40", 8)
    spec = kernel_json(gpus=1, gpu_type="a40", time="20m", rv_config=str(a_config_path))
    ksm = KernelSpecManager(kernel_dirs=[str(kernels_dir)])
    km = AsyncKernelManager(kernel_name=install(spec, kernels_dir).name, kernel_spec_manager=ksm)
    start: asyncio.Future[None] = asyncio.ensure_future(km.start_kernel())
    deadline = time.monotonic() + 60
    while not (km.provisioner and "pending" in rv(km).status):
        assert not start.done(), start
        assert time.monotonic() < deadline, "the start never showed the queued job"
        await asyncio.sleep(0.3)
    assert rv_kernel_jobs("PD"), "the kernel's job should be queued"
    info = rv(km).info()
    assert info["pending"] is True and "gpu-a40" in info["status"]
    await asyncio.sleep(3)
    assert not start.done(), "a queued job is not a timeout"
    # The registry has the start (for a server that outlives this process) and its job.
    pending = json.loads((a_kernel_registry / f"{km.kernel_id}.json").read_text())
    assert pending["phase"] == "waiting" and pending["jobs"] == rv_kernel_jobs("PD")
    assert rv(km).cancel_start()
    with pytest.raises(RvError, match="cancelled"):
        await start
    assert rv_kernel_jobs() == []
    assert not (a_kernel_registry / f"{km.kernel_id}.json").exists()

    # Once the GPUs free up, the next start runs.
    as_admin("scancel", "-u", "rvtest", "-n", "blocker")
    km2 = AsyncKernelManager(kernel_name=km.kernel_name, kernel_spec_manager=ksm)
    await km2.start_kernel()
    kc = km2.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=120)
        assert rv(km2).node == "udc-a40-1"
    finally:
        kc.stop_channels()
        await km2.shutdown_kernel(now=False)
    deadline = time.monotonic() + 30  # squeue shows it completing for a moment
    while rv_kernel_jobs():
        assert time.monotonic() < deadline, "shutdown left the job in the queue"
        await asyncio.sleep(0.5)


def cell_streams(kc: Any, code: str) -> dict[str, str]:
    """Run a cell; what it wrote to stdout and stderr."""
    msg_id = kc.execute(code)
    streams: dict[str, str] = {"stdout": "", "stderr": ""}
    while True:
        msg = kc.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            streams[msg["content"]["name"]] += msg["content"]["text"]
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return streams


def test_a_ten_minute_job_is_not_warned_in_its_first_cell(
    kernels_dir: Path, a_config_path: Path
) -> None:
    # 10 minutes with the default warning at 10: warned 2 minutes (a fifth) before the end,
    # not at once.
    spec = kernel_json(gpus=1, gpu_type="mig", time="10m", rv_config=str(a_config_path))
    with running(kernels_dir, spec) as (_km, kc):
        assert cell_streams(kc, "print('hello')") == {"stdout": "hello\n", "stderr": ""}


def test_the_notebook_is_warned_before_the_walltime(kernels_dir: Path, a_cluster: Any) -> None:
    # A 1-minute job of the user's, attached: warned a fifth of it (12 s) before its end.
    job = a_cluster.run(
        "sbatch --parsable -p gpu-mig --gres=gpu:1g.10gb:1 -t 1 -J walltime-test "
        "-o /dev/null --wrap 'sleep 600'"
    ).strip()
    deadline = time.monotonic() + 30
    while as_admin("squeue", "-h", "-j", job, "-o", "%T").strip() != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    end = datetime.fromisoformat(as_admin("squeue", "-h", "-j", job, "-o", "%e").strip())
    spec = kernel_json(job_id=job, rv_config=os.environ["RV_CONFIG"])
    with running(kernels_dir, spec) as (_km, kc):
        early = cell_streams(kc, "print('hello')")
        assert early == {"stdout": "hello\n", "stderr": ""}, early
        time.sleep(max(0.0, (end - datetime.now()).total_seconds() - 8))
        late = cell_streams(kc, "print('late')")
        assert late["stdout"] == "late\n"
        assert f"job {job} reaches its walltime in 0 min" in late["stderr"], late
        assert cell_streams(kc, "print('again')")["stderr"] == ""  # once per mark


def test_a_job_ended_from_outside_is_said_with_slurms_state(
    kernels_dir: Path, a_config_path: Path
) -> None:
    spec = kernel_json(gpus=1, gpu_type="mig", time="20m", rv_config=str(a_config_path))
    km, kc = start(kernels_dir, spec)
    km.autorestart = False  # observe the end itself, not the restarter's attempt
    try:
        job = job_of(km)
        msg_id = kc.execute("import time; time.sleep(300)")
        time.sleep(2)
        as_admin("scancel", job)
        said = ""
        deadline = time.monotonic() + 30
        while "Slurm is ending job" not in said:
            assert time.monotonic() < deadline, f"the notebook was not told: {said!r}"
            try:
                msg = kc.get_iopub_msg(timeout=1)
            except Exception:
                continue
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
                said += msg["content"]["text"]
        assert f"Slurm is ending job {job}" in said
        deadline = time.monotonic() + 60
        while km.is_alive():
            assert time.monotonic() < deadline, "the kernel still counts as alive"
            time.sleep(1)
        assert rv(km).ended in (
            f"job {job} ended: CANCELLED by 0", "the kernel exited",
        )  # fmt: skip
        with pytest.raises(RvError, match=rf"Job {job} has ended \(CANCELLED"):
            km.restart_kernel(now=True)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_two_kernels_on_two_nodes_at_once(kernels_dir: Path, a_config_path: Path) -> None:
    # Every node has its own network: nothing may lean on the login node's loopback.
    started = [
        start(
            kernels_dir, kernel_json(gpus=1, gpu_type=t, time="20m", rv_config=str(a_config_path))
        )
        for t in ("mig", "rtx3090")
    ]
    try:
        hosts = []
        for _, kc in started:
            out, reply = execute(kc, "import socket; print(socket.gethostname())")
            assert reply["status"] == "ok"
            hosts.append(out.strip())
        assert hosts == ["udc-mig-1", "udc-rtx-1"]
        for _km, kc in started:  # both still answer, interleaved
            assert execute(kc, "print(6 * 7)")[0] == "42\n"
    finally:
        for km, kc in started:
            kc.stop_channels()
            km.shutdown_kernel(now=False)


def test_a_dropped_connection_does_not_lose_the_kernel(
    kernels_dir: Path, a_config_path: Path
) -> None:
    spec = kernel_json(gpus=1, gpu_type="mig", time="20m", rv_config=str(a_config_path))
    with running(kernels_dir, spec) as (km, kc):
        execute(kc, "kept = 'still here'")
        links = tunnel_of(km).connection.nodes.connects
        # The network drops: every SSH session of the test user ends (login and node).
        subprocess.run(["pkill", "-KILL", "-f", "^sshd: rvtest"], check=False)
        time.sleep(2)
        deadline = time.monotonic() + 90
        while True:  # ZMQ reconnects by itself; the tunnel opens a new way to the node
            try:
                out, _ = execute(kc, "print(kept)", timeout=15)
                break
            except Exception:
                assert time.monotonic() < deadline, "the kernel did not come back"
        assert out == "still here\n"
        assert tunnel_of(km).connection.nodes.connects > links
        assert tunnel_of(km).transport == "ssh"


def test_without_ssh_to_the_node_the_kernel_goes_through_srun(
    kernels_dir: Path, a_config_path: Path, tmp_path: Path
) -> None:
    # A known_hosts that trusts the login node only: SSH into the node is refused (its host
    # key is unknown, and is never accepted blindly), so the kernel's traffic takes the
    # relay inside the job, and the kernel still works in full.
    known = Path(rv_config.load(a_config_path).connection.known_hosts or "")
    login_only = tmp_path / "known_hosts"
    login_only.write_text(known.read_text().splitlines()[0] + "\n")
    config = tmp_path / "rv.toml"
    config.write_text(a_config_path.read_text().replace(str(known), str(login_only)))
    spec = kernel_json(gpus=1, gpu_type="mig", time="20m", rv_config=str(config))
    with running(kernels_dir, spec) as (km, kc):
        out, reply = execute(kc, "import os; print(os.environ['SLURM_JOB_ID'])")
        assert reply["status"] == "ok" and out.strip() == rv(km).job
        tunnel = tunnel_of(km)
        assert tunnel.transport == "srun" and tunnel.relays_started >= 1
        assert rv(km).info()["transport"] == "srun"
