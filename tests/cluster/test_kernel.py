"""The magics in a real Jupyter kernel (jupyter_client), as a notebook runs them."""

from __future__ import annotations

import os
import queue
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

from rv_jupyter.cluster.handle import Cluster
from tests.cluster.conftest import as_admin
from tests.cluster.test_allocator import block

pytestmark = pytest.mark.usefixtures("no_jobs_left")


@pytest.fixture
def a_kernel(a_config_path: Path) -> Iterator[tuple[KernelManager, object]]:
    """A real IPython kernel with RV_CONFIG pointing at the mini-Rivanna."""
    km = KernelManager(kernel_name="python3")
    km.start_kernel(env={**os.environ, "RV_CONFIG": str(a_config_path)})
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def run(kc, code: str, timeout: float = 120) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    """Execute `code`; return its status and the text it printed or displayed."""
    msg_id = kc.execute(code)
    texts: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        msg = kc.get_iopub_msg(timeout=max(1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        c = msg["content"]
        if msg["msg_type"] == "stream":
            texts.append(c["text"])
        elif msg["msg_type"] in ("execute_result", "display_data"):
            texts.append(c["data"].get("text/plain", ""))
        elif msg["msg_type"] == "error":
            texts.append(c["ename"] + ": " + c["evalue"])
        elif msg["msg_type"] == "status" and c["execution_state"] == "idle":
            break
    reply = kc.get_shell_msg(timeout=10)
    return reply["content"]["status"], texts


def test_allocation_and_a_cell_in_a_kernel(a_kernel) -> None:  # type: ignore[no-untyped-def]
    _, kc = a_kernel
    assert run(kc, "%load_ext rv")[0] == "ok"
    status, out = run(kc, "alloc = %rv_up --mig --time 10m\nprint(alloc.job_id)")
    assert status == "ok", out
    status, out = run(kc, "%%rv_run --out host\nimport socket\nhost = socket.gethostname()")
    assert status == "ok", out
    assert run(kc, "print(host)")[1][-1].strip() == "udc-mig-1"


def test_interrupting_the_cell_cancels_everything_submitted_and_says_so_in_one_line(  # type: ignore[no-untyped-def]
    a_kernel, a_cluster: Cluster
) -> None:
    km, kc = a_kernel
    block(a_cluster, "gpu-a6000", "a6000", 8, nodes=2)
    run(kc, "%load_ext rv")
    msg_id = kc.execute("%rv_up --gpu 8 --type a6000 --time 10m --name interrupted")
    errors: list[dict[str, Any]] = []
    shown: list[str] = []
    # Pending: the progress table lists the queued jobs (the submission is over).
    while not any("pending" in text for text in shown):
        try:
            msg = kc.get_iopub_msg(timeout=60)
        except queue.Empty:
            pytest.fail("the allocation never showed its jobs pending")
        if msg["parent_header"].get("msg_id") == msg_id and "data" in msg["content"]:
            shown.append(msg["content"]["data"].get("text/plain", ""))
    queued = as_admin("squeue", "-h", "-n", "interrupted", "-o", "%i").split()
    km.interrupt_kernel()
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=30)
        except queue.Empty:
            pytest.fail("the kernel did not finish the interrupted cell")
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "error":
            errors.append(msg["content"])
        if msg["msg_type"] in ("display_data", "update_display_data"):
            shown.append(msg["content"]["data"].get("text/plain", ""))
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    assert len(errors) == 1, errors
    lines = errors[0]["traceback"]
    assert len(lines) == 1, "one line, no traceback through rv's internals"
    said = re.fullmatch(r"Cancelled: jobs? (\d+(?:, \d+)*) \(nothing left queued\)", lines[0])
    assert said, lines
    ids = said.group(1).split(", ")
    assert set(queued) <= set(ids), "every job seen queued is named"
    # Slurm keeps ended jobs listed for a while (MinJobAge): each named one was ours.
    names = as_admin("squeue", "-h", "-t", "all", "-j", ",".join(ids), "-o", "%j").split()
    assert names == ["interrupted"] * len(ids)
    assert as_admin("squeue", "-h", "-n", "interrupted", "-o", "%i").strip() == ""
    table = shown[-1].splitlines()
    assert len(table) == len(ids) and all(line.endswith(" cancelled") for line in table), shown
    assert run(kc, "print('still alive')")[1] == ["still alive\n"]
