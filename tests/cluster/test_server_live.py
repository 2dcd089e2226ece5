"""The Lab UI's live feed (GET /rv/api/live) from a real `jupyter server` on the
mini-Rivanna: however many tabs listen, the cluster sees one state read per interval;
a new listener gets the current view at once."""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time
from datetime import datetime
from typing import Any

import pytest

from rv_jupyter.cluster.handle import Cluster
from tests.cluster.conftest import rpc_count_of
from tests.cluster.test_server import a_server  # a real jupyter server with rv's extension
from tests.jupyter_servers import Server

__all__ = ["a_server"]
pytestmark = pytest.mark.usefixtures("no_jobs_left")


class Listener(threading.Thread):
    """One tab's stream: every `view` event it got, with the time it came."""

    def __init__(self, server: Server, *, token: bool = True) -> None:
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection(*server.address, timeout=90)
        headers = {"Authorization": f"token {server.token}"} if token else {}
        self.conn.request("GET", "/rv/api/live", headers=headers)
        self.resp = self.conn.getresponse()
        self.views: list[tuple[float, dict[str, Any]]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        name = ""
        try:
            while not self.stop.is_set():
                line = self.resp.fp.readline().decode()
                if not line:
                    return
                if line.startswith("event: "):
                    name = line[7:].strip()
                elif line.startswith("data: ") and name == "view":
                    self.views.append((time.monotonic(), json.loads(line[6:])))
        except OSError:
            pass

    def close(self) -> None:
        self.stop.set()
        self.conn.close()


def test_the_feed_needs_jupyters_authentication(a_server: Server) -> None:
    listener = Listener(a_server, token=False)
    assert listener.resp.status == 403
    listener.close()


def test_five_tabs_cost_one_state_read_per_interval(a_server: Server, a_cluster: Cluster) -> None:
    # Something pending keeps the poller at its fastest (5 s).
    job = a_cluster.run(
        "sbatch --parsable -p standard --begin=now+1hour -t 5 -o /dev/null --wrap 'sleep 1'"
    ).strip()
    user = a_cluster.state().user
    before = rpc_count_of(user)
    a_cluster.state()
    per_read = rpc_count_of(user) - before
    tabs = [Listener(a_server) for _ in range(5)]
    for t in tabs:
        assert t.resp.status == 200
        t.start()
    window = 30.0
    t0, wall0, rpcs0 = time.monotonic(), time.time(), rpc_count_of(user)
    time.sleep(window)
    spent, wall1 = rpc_count_of(user) - rpcs0, time.time()
    for t in tabs:
        t.close()
    reads = spent / per_read
    print(f"5 tabs, {window:.0f} s: {spent} slurmctld RPCs = {reads:.1f} state reads")
    # At most one read per 5 s interval (and the window's two ends), whatever the tab
    # count: five pollers would make five times as many.
    assert reads <= window / 5 + 2, (spent, per_read)
    for t in tabs:
        read = [(at, v) for at, v in t.views if v["read_at"]]
        assert read, "a tab got no view of a read"
        assert read[0][0] - t0 < 10  # a read at once, not at the end of an interval
        # (The first may be another process's read, shared, from before the sbatch.)
        mine = [j for _, v in read for j in v["jobs"] if j["job_id"] == job]
        assert mine and mine[-1]["reason_code"] == "BeginTime", read[-1][1]["jobs"]
        assert mine[-1]["reason_text"] == "its start time has not come yet"

    # Every tab saw the same reads: the server's one poller, not one per tab. (At the
    # window's ends a tab may have joined or left a moment before another.)
    def middle(t: Listener) -> set[str]:
        return {
            v["read_at"]
            for _, v in t.views
            if v["read_at"]
            and wall0 + 6 < datetime.fromisoformat(v["read_at"]).timestamp() < wall1 - 6
        }

    reads_seen = [middle(t) for t in tabs]
    assert reads_seen[0] and all(r == reads_seen[0] for r in reads_seen), reads_seen
    subprocess.run(["scancel", job], check=False)


def test_a_new_tab_gets_the_current_view_at_once(a_server: Server) -> None:
    first = Listener(a_server)
    first.start()
    deadline = time.monotonic() + 60
    while not any(v["read_at"] for _, v in first.views):
        assert time.monotonic() < deadline, "no read in 60 s"
        time.sleep(0.2)
    second = Listener(a_server)
    second.start()
    t0 = time.monotonic()
    while not second.views:
        assert time.monotonic() - t0 < 5, "the second tab waited for a read"
        time.sleep(0.05)
    assert second.views[0][1]["read_at"] is not None
    assert second.views[0][1]["connection"]["status"] == "ok"
    first.close()
    second.close()
