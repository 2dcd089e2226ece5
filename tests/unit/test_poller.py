"""The poller's one read path, against a stand-in cluster (timing and pacing only)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from rv_jupyter.cluster.background import run_sync
from rv_jupyter.cluster.poller import Poller
from rv_jupyter.errors import SshError
from rv_jupyter.slurm.state import ClusterState


class StandInCluster:
    """Answers state reads after `delay_s`; fails while `failing` is set."""

    def __init__(self, delay_s: float = 0.05) -> None:
        self.target = ("stand-in", id(self))
        self.delay_s = delay_s
        self.failing = False
        self.starts: list[float] = []
        self._started = threading.Condition()

    def wait_for_reads(self, n: int, timeout: float = 10) -> None:
        """Until `n` reads have started."""
        deadline = time.monotonic() + timeout
        with self._started:
            while len(self.starts) < n:
                left = deadline - time.monotonic()
                assert left > 0, f"only {len(self.starts)} of {n} reads started"
                self._started.wait(left)

    async def astate(self) -> ClusterState:
        with self._started:
            self.starts.append(time.monotonic())
            self._started.notify_all()
        await asyncio.sleep(self.delay_s)
        if self.failing:
            raise SshError("Cannot reach stand-in: connection refused")
        return ClusterState(user="u", host="h", read_at=datetime.now(timezone.utc))


def a_poller(cluster: StandInCluster, tmp_path: Path, **intervals: float) -> Poller:
    return Poller(cluster, shared=tmp_path, **intervals)


def test_concurrent_on_demand_reads_join_the_one_in_flight(tmp_path: Path) -> None:
    cluster = StandInCluster(delay_s=0.3)
    poller = a_poller(cluster, tmp_path, fast_s=5)

    async def three_at_once() -> None:
        await asyncio.gather(*(poller.afresh(max_age_s=0) for _ in range(3)))

    run_sync(three_at_once())
    assert len(cluster.starts) == 1


def test_an_on_demand_read_within_the_interval_waits_for_its_end(tmp_path: Path) -> None:
    cluster = StandInCluster()
    poller = a_poller(cluster, tmp_path, fast_s=0.5)
    run_sync(poller.afresh(max_age_s=0))
    run_sync(poller.afresh(max_age_s=0))
    assert len(cluster.starts) == 2
    assert cluster.starts[1] - cluster.starts[0] >= 0.5


def test_a_read_on_demand_restarts_the_loops_timer(tmp_path: Path) -> None:
    cluster = StandInCluster()
    poller = a_poller(cluster, tmp_path, fast_s=0.2, idle_s=1.0, max_idle_s=1.0)
    sub = poller.subscribe(lambda snap: None)
    try:
        cluster.wait_for_reads(1)
        time.sleep(0.3)  # part way through the loop's 1 s
        run_sync(poller.afresh(max_age_s=0))
        on_demand = cluster.starts[-1]
        cluster.wait_for_reads(len(cluster.starts) + 1)
        # The loop's next read comes a whole interval after the on-demand one, not at
        # the end of the interval that was running.
        assert cluster.starts[-1] - on_demand >= 1.0 - 0.02
    finally:
        sub.close()


def test_stale_since_the_first_failure_until_a_read_succeeds(tmp_path: Path) -> None:
    cluster = StandInCluster()
    poller = a_poller(cluster, tmp_path, fast_s=0.05)
    good = run_sync(poller.afresh(max_age_s=0))
    cluster.failing = True
    first = run_sync(poller.afresh(max_age_s=0))
    second = run_sync(poller.afresh(max_age_s=0))
    assert first.stale and first.state is good.state
    assert first.failed_at is not None and second.failed_at == first.failed_at
    assert second.error and "Cannot reach" in second.error
    cluster.failing = False
    again = run_sync(poller.afresh(max_age_s=0))
    assert not again.stale and again.failed_at is None


def test_a_second_poller_takes_the_firsts_read_from_the_shared_record(tmp_path: Path) -> None:
    cluster = StandInCluster()
    one = a_poller(cluster, tmp_path, fast_s=5)
    other = a_poller(cluster, tmp_path, fast_s=5)
    read = run_sync(one.afresh())
    taken = run_sync(other.afresh())
    assert len(cluster.starts) == 1
    assert taken.state == read.state
