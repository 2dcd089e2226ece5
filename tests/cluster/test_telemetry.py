"""GPU telemetry of a 2-node job: per node, one channel each, gaps marked, nothing left."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import pytest

from rv_jupyter.cluster.background import run_sync
from rv_jupyter.cluster.handle import Cluster
from rv_jupyter.telemetry.sampler import JobSampler
from tests.cluster.conftest import wait_running

pytestmark = pytest.mark.usefixtures("no_jobs_left")


def until(check: Callable[[], bool], timeout: float = 20, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def samplers_on_nodes() -> list[str]:
    out = subprocess.run(["pgrep", "-u", "rvtest", "-f", "nvidia-smi --query"],
                         capture_output=True, text=True).stdout  # fmt: skip
    return out.split()


def util(sampler: JobSampler, node: str) -> list[float | None]:
    frame = sampler.latest()
    return list(frame[frame["node"] == node]["util_pct"])


def test_two_nodes_loaded_one_drop_marked_and_nothing_left(a_cluster: Cluster) -> None:
    job = a_cluster.run(
        "sbatch --parsable -p gpu-a6000 -N2 --gres=gpu:a6000:2 -t 5 -o /dev/null --wrap 'sleep 300'"
    ).strip()
    wait_running(job)
    sampler = JobSampler(a_cluster, job, interval_s=0.5)
    run_sync(sampler.awatch())
    first, second = sorted(sampler.nodes)
    until(lambda: util(sampler, first) == [0, 0] and util(sampler, second) == [0, 0],
          what=f"idle samples of both nodes ({sampler.gaps})")  # fmt: skip
    assert sampler.channels_opened == 2  # one channel per node, not one exec per sample
    a_cluster.run(
        f"srun --jobid={job} --overlap -w {second} -N1 -n1 sh -c "
        f"'rv-fake-load --util 90 --mem 8G --seconds 60 --gpu 0 >/dev/null 2>&1 &'"
    )
    until(lambda: util(sampler, second) == [90, 0], what="the load on the second node")
    assert util(sampler, first) == [0, 0]

    def processes() -> str:
        frame = sampler.latest()
        return str(frame[frame["node"] == second].iloc[0]["processes"])

    until(lambda: processes().startswith("python3:"), what="the load's process")
    # A dropped connection: a gap is marked, then samples resume.
    subprocess.run(["pkill", "-KILL", "-f", "^sshd: rvtest"], check=False)
    until(lambda: bool(sampler.gaps), what="a gap")
    until(lambda: all(g.end is not None for g in sampler.gaps), timeout=30, what="resumption")
    n = len(sampler.samples(first))
    until(lambda: len(sampler.samples(first)) > n + 2, what="new samples after the gap")
    # The last watcher leaves: the steps end on the nodes.
    assert samplers_on_nodes()
    run_sync(sampler.aunwatch())
    until(lambda: not samplers_on_nodes(), timeout=15, what="nvidia-smi to end on the nodes")
    assert not sampler.running
