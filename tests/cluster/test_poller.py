"""One shared poller per cluster: panels share reads, idle backs off, failures go stale."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rv_jupyter.poller import Poller
from rv_jupyter.session import Cluster
from rv_jupyter.widgets import Panel
from tests.cluster.conftest import MINI

pytestmark = pytest.mark.usefixtures("no_jobs_left")


def wait_until(predicate, limit: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def a_fast_poller(a_cluster: Cluster) -> Iterator[Poller]:
    """A poller with short intervals, so a test sees several of them."""
    poller = Poller(a_cluster, fast_s=0.3, idle_s=0.6, max_idle_s=0.6)
    yield poller
    for sub in list(poller._subs):
        sub.close()


def test_two_panels_share_one_read_per_interval(a_cluster: Cluster, a_fast_poller: Poller) -> None:
    a_cluster.state()  # connected already: count reads, not the handshake
    channels = a_cluster.connection.channels_opened
    panels = [Panel(a_cluster, poller=a_fast_poller) for _ in range(2)]
    try:
        wait_until(lambda: all(p.shown is not None for p in panels))
        time.sleep(3)
        reads = a_fast_poller.reads
        print(f"poller reads in ~3 s with two panels at a 0.6 s idle interval: {reads}")
        assert 3 <= reads <= 3 / 0.6 + 2, "two panels must not double the reads"
        assert a_cluster.connection.channels_opened - channels == reads
        assert panels[0].shown is panels[1].shown
        # Hidden panels need no reads: the poller pauses.
        for p in panels:
            p.set_visible(False)
        time.sleep(0.8)
        paused_at = a_fast_poller.reads
        time.sleep(1.5)
        assert a_fast_poller.reads == paused_at
        panels[0].set_visible(True)
        wait_until(lambda: a_fast_poller.reads > paused_at)
    finally:
        for p in panels:
            p.close()
    assert a_fast_poller.subscribers == 0


def test_idle_backs_off_and_a_pending_job_speeds_it_up(a_cluster: Cluster) -> None:
    poller = Poller(a_cluster, fast_s=0.2, idle_s=0.4, max_idle_s=1.6)
    times: list[float] = []
    sub = poller.subscribe(lambda snap: times.append(time.monotonic()))
    try:
        wait_until(lambda: len(times) >= 5)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert gaps[-1] > gaps[0] * 2, f"idle intervals should grow: {gaps}"
        # A job that cannot start (over the H200 per-user limit) stays pending.
        a_cluster.run("sbatch -p gpu-h200 --gres=gpu:h200:5 -t 5 -J stuck --wrap true")
        poller.wake()
        wait_until(lambda: any(j.state.value == "pending" for j in poller.snapshot.state.jobs))  # type: ignore[union-attr]
        n = len(times)
        # Idle, it would read at most twice in 3 s (1.6 s apart); pending, every 0.2 s
        # plus the read's own time, which a loaded 2-core CI machine stretches.
        time.sleep(3.0)
        assert len(times) - n >= 4, "pending jobs should be polled every fast interval"
    finally:
        sub.close()


@pytest.fixture
def a_stopped_ssh_server() -> Iterator[None]:
    """Stop the login node's sshd (and its sessions); bring it back afterwards."""
    pid = int((MINI / "pids" / "sshd-login.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    subprocess.run(["pkill", "-KILL", "-f", "^sshd: rvtest"], check=False)
    yield
    up = Path(__file__).parent / "up"
    subprocess.run([str(up)], check=True, capture_output=True, timeout=120)


def test_a_failed_read_keeps_the_last_state_marked_stale(
    a_cluster: Cluster, a_fast_poller: Poller, request: pytest.FixtureRequest
) -> None:
    panel = Panel(a_cluster, poller=a_fast_poller)
    try:
        wait_until(lambda: panel.shown is not None and panel.shown.state is not None)
        good = panel.shown.state  # type: ignore[union-attr]
        request.getfixturevalue("a_stopped_ssh_server")
        wait_until(lambda: panel.shown is not None and panel.shown.stale, limit=40)
        assert panel.shown.state is good  # type: ignore[union-attr]
        assert "stale" in panel.connection.value
        assert "Cannot reach" in panel.message.value
        assert "gpu-a6000" in panel.gpus.value, "the last good data stays on screen"
    finally:
        panel.close()
