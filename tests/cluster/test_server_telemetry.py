"""GPU telemetry through the server extension: JSON and server-sent events, authenticated."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any

import pytest

from rv_jupyter.cluster.handle import Cluster
from tests.cluster import test_server
from tests.cluster.conftest import as_admin, foreign_job, wait_running
from tests.cluster.test_server import call
from tests.jupyter_servers import Server

a_server = test_server.a_server  # the same real Jupyter server fixture

pytestmark = pytest.mark.usefixtures("no_jobs_left")


def a_gpu_job(cluster: Cluster) -> str:
    job = cluster.run(
        "sbatch --parsable -p gpu-a40 --gres=gpu:a40:2 -t 5 -o /dev/null --wrap 'sleep 300'"
    ).strip()
    wait_running(job)
    return job


def test_gpus_of_a_job_as_json_after_authentication(a_server: Server, a_cluster: Cluster) -> None:
    job = a_gpu_job(a_cluster)
    path = f"/rv/api/jobs/{job}/gpus"
    assert call(a_server, "GET", path, token=False).status == 403
    deadline = time.monotonic() + 30
    while True:
        body = call(a_server, "GET", path).json()
        if len(body["latest"]) == 2:
            break
        assert time.monotonic() < deadline, body
        time.sleep(0.5)
    first = body["latest"][0]
    assert first["name"] == "NVIDIA A40" and first["mem_total_mib"] == 46068
    assert first["util_pct"] == 0
    since = max(r["time"] for r in body["history"])
    time.sleep(2.5)
    newer = call(a_server, "GET", f"{path}?since={since}").json()["history"]
    assert newer and all(r["time"] > since for r in newer)
    assert call(a_server, "GET", f"{path}?since=soon").status == 400
    # Someone else's job is not yours to watch.
    theirs = foreign_job()
    try:
        refused = call(a_server, "GET", f"/rv/api/jobs/{theirs}/gpus")
        assert refused.status == 404 and b"not one of your running jobs" in refused.body
        # Refused once, it stays refused (a failed start must not count as a watcher).
        assert call(a_server, "GET", f"/rv/api/jobs/{theirs}/gpus").status == 404
    finally:
        as_admin("scancel", theirs)


def test_gpu_samples_stream_as_server_sent_events(a_server: Server, a_cluster: Cluster) -> None:
    job = a_gpu_job(a_cluster)
    conn = http.client.HTTPConnection(*a_server.address, timeout=30)
    conn.request("GET", f"/rv/api/jobs/{job}/gpus/stream",
                 headers={"Authorization": f"token {a_server.token}"})  # fmt: skip
    resp = conn.getresponse()
    assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
    events: list[list[dict[str, Any]]] = []  # each: one row per GPU
    while len(events) < 2:
        line = resp.readline().decode()
        if line.startswith("data: "):
            events.append(json.loads(line[6:]))
    conn.close()
    assert all(r["name"] == "NVIDIA A40" for e in events for r in e)
    assert events[1][0]["time"] > events[0][0]["time"]
