"""One shared poller per cluster: panels share reads, idle backs off, failures go stale."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rv_jupyter.cluster.background import run_sync
from rv_jupyter.cluster.handle import Cluster
from rv_jupyter.cluster.poller import Poller
from rv_jupyter.widgets import Panel
from tests.cluster.conftest import MINI

pytestmark = pytest.mark.usefixtures("no_jobs_left")


def wait_until(predicate, limit: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def a_fast_poller(a_cluster: Cluster, tmp_path: Path) -> Iterator[Poller]:
    """A poller with short intervals, so a test sees several of them.

    It shares reads only through its own directory: other processes testing on this
    machine at the same time must not change what this test counts.
    """
    poller = Poller(a_cluster, fast_s=0.3, idle_s=0.6, max_idle_s=0.6, shared=tmp_path)
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


def test_idle_backs_off_and_a_pending_job_speeds_it_up(a_cluster: Cluster, tmp_path: Path) -> None:
    poller = Poller(a_cluster, fast_s=0.2, idle_s=0.4, max_idle_s=1.6, shared=tmp_path)
    times: list[float] = []
    sub = poller.subscribe(lambda snap: times.append(time.monotonic()))
    try:
        wait_until(lambda: len(times) >= 5)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert gaps[-1] > gaps[0] * 2, f"idle intervals should grow: {gaps}"
        # A job that cannot start (over the H200 per-user limit) stays pending.
        a_cluster.run("sbatch -p gpu-h200 --gres=gpu:h200:5 -t 5 -J stuck --wrap true")
        poller.poke()
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
        assert "stale since" in panel.connection.value
        assert "Cannot reach" in panel.message.value
        assert "gpu-a6000" in panel.gpus.value, "the last good data stays on screen"
    finally:
        panel.close()


def record_read_starts(cluster: Cluster) -> list[float]:
    """Note when each state read starts (wrapping the real read, not replacing it)."""
    starts: list[float] = []
    real = cluster.astate

    async def astate():  # type: ignore[no-untyped-def]
        starts.append(time.monotonic())
        return await real()

    cluster.astate = astate  # type: ignore[method-assign]
    return starts


def test_on_demand_reads_and_the_loop_make_one_read_per_interval(
    a_cluster: Cluster, tmp_path: Path
) -> None:
    a_cluster.state()
    channels = a_cluster.connection.channels_opened
    starts = record_read_starts(a_cluster)
    poller = Poller(a_cluster, fast_s=0.5, idle_s=0.5, max_idle_s=0.5, shared=tmp_path)
    subs = [poller.subscribe(lambda snap: None) for _ in range(3)]
    stop = threading.Event()

    def ask_on_demand() -> None:  # the REST API, a Lab front end, rv's own pokes
        while not stop.is_set():
            run_sync(poller.afresh(max_age_s=0))
            poller.poke()
            time.sleep(0.02)

    askers = [threading.Thread(target=ask_on_demand) for _ in range(3)]
    t0 = time.monotonic()
    for t in askers:
        t.start()
    try:
        time.sleep(8)
    finally:
        stop.set()
        for t in askers:
            t.join()
        for sub in subs:
            sub.close()
    took = time.monotonic() - t0
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    print(f"{len(starts)} reads in {took:.1f} s, shortest gap {min(gaps):.3f} s")
    assert min(gaps) >= 0.5 - 0.01, "two reads started within one interval"
    assert len(starts) <= took / 0.5 + 1
    assert len(starts) >= took / 0.5 / 3, "asking all the time should read every interval"
    assert a_cluster.connection.channels_opened - channels == poller.reads == len(starts)


def test_a_poke_reads_at_once_instead_of_after_the_back_off(
    a_cluster: Cluster, tmp_path: Path
) -> None:
    poller = Poller(a_cluster, fast_s=0.3, idle_s=60, max_idle_s=60, shared=tmp_path)
    sub = poller.subscribe(lambda snap: None)
    try:
        wait_until(lambda: poller.reads == 1)
        time.sleep(1)
        assert poller.reads == 1, "idle: the next read is a minute away"
        poller.poke()
        wait_until(lambda: poller.reads == 2, limit=3)
    finally:
        sub.close()


def test_a_poke_in_one_process_reaches_the_pollers_of_the_others(
    a_cluster: Cluster, tmp_path: Path
) -> None:
    # Two pollers on one shared directory behave as two processes: separate records,
    # separate flocks (flock belongs to the open file, not the process).
    watching = Poller(a_cluster, fast_s=0.3, idle_s=60, max_idle_s=60, shared=tmp_path)
    acting = Poller(a_cluster, fast_s=0.3, idle_s=60, max_idle_s=60, shared=tmp_path)
    seen: list[object] = []
    sub = watching.subscribe(seen.append)
    try:
        wait_until(lambda: watching.reads == 1)
        time.sleep(0.5)
        n = len(seen)
        acting.poke()  # e.g. %rv_up in another notebook, with no panel of its own
        wait_until(lambda: len(seen) > n, limit=4)
        assert watching.reads == 2
    finally:
        sub.close()


_A_KERNEL = """
import json, sys, time
from pathlib import Path
import rv_jupyter
from rv_jupyter.cluster.poller import Poller
cluster = rv_jupyter.connect(sys.argv[1])
cluster.state()  # connected before counting
starts = []
real = cluster.astate
async def astate():
    starts.append(time.time())
    return await real()
cluster.astate = astate
poller = Poller(cluster, fast_s=0.5, idle_s=0.5, max_idle_s=0.5, shared=Path(sys.argv[2]))
seen = []
print("ready", flush=True)
sys.stdin.readline()
sub = poller.subscribe(seen.append)
time.sleep(float(sys.argv[3]))
sub.close()
print(json.dumps({"starts": starts, "seen": len(seen)}), flush=True)
"""


def test_kernels_of_one_user_on_one_machine_share_reads(
    a_config_path: Path, tmp_path: Path
) -> None:
    script = tmp_path / "kernel.py"
    script.write_text(_A_KERNEL)
    argv = [sys.executable, str(script), str(a_config_path), str(tmp_path / "shared"), "8"]
    kernels = [
        subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    for k in kernels:
        assert k.stdout is not None and k.stdout.readline().strip() == "ready"
    for k in kernels:  # all subscribe at (nearly) the same moment
        assert k.stdin is not None
        k.stdin.write("go\n")
        k.stdin.flush()
    results = [json.loads(k.communicate(timeout=60)[0].splitlines()[-1]) for k in kernels]
    starts = sorted(t for r in results for t in r["starts"])
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    print(f"reads per kernel: {[len(r['starts']) for r in results]}, shortest gap {min(gaps):.3f}")
    assert min(gaps) >= 0.5 - 0.05, "two kernels read within one interval"
    assert len(starts) <= (starts[-1] - starts[0]) / 0.5 + 1
    for r in results:  # each kernel's panels saw fresh data, most of it read by others
        assert r["seen"] >= 8
