"""The REST the Lab UI's launcher and job pages use, from a real `jupyter server` on the
mini-Rivanna: a plan and its cost with nothing submitted, a kernelspec for the launcher
outside the user's own, a job's facts and web ports, its log as it grows; only the
user's own jobs."""

from __future__ import annotations

import http.client
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rv_jupyter.cluster.handle import Cluster
from rv_jupyter.facts.rivanna import RemotePaths
from tests.cluster.conftest import as_admin, start_neighbours_web_app, stop_neighbours, wait_running
from tests.cluster.test_server import call
from tests.jupyter_servers import Server, jupyter

pytestmark = pytest.mark.usefixtures("no_jobs_left")


@pytest.fixture
def a_server(tmp_path: Path, a_config_path: Path) -> Iterator[Server]:
    root = tmp_path / "srv"
    root.mkdir()
    data = tmp_path / "jupyter-data"
    (data / "kernels").mkdir(parents=True)
    env = dict(os.environ, RV_CONFIG=str(a_config_path), JUPYTER_PATH=str(data),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))  # fmt: skip
    with jupyter("jupyter_server", root, tmp_path / "server.log", env=env) as server:
        yield server


def post(server: Server, path: str, body: dict[str, Any]) -> Any:
    return call(server, "POST", path, body=json.dumps(body).encode())


def my_jobs() -> list[str]:
    return as_admin("squeue", "-h", "-u", "rvtest", "-o", "%i").split()


def test_the_plan_and_cost_submit_nothing(a_server: Server) -> None:
    reply = post(a_server, "/rv/api/launch/plan", {"gpus": 1, "gpu_type": "mig", "time": "20m"})
    assert reply.status == 200, reply.body
    plan = reply.json()
    assert plan["strategies"] and plan["strategies"][0]["partition"] == "gpu-mig"
    assert plan["strategies"][0]["starts"] == "now"
    assert plan["cost"]["cheapest"] == 0  # MIG slices cost no SUs
    assert my_jobs() == []
    a6000 = post(a_server, "/rv/api/launch/plan", {"gpus": 2, "gpu_type": "a6000", "time": "1h"})
    row = a6000.json()["strategies"][0]
    assert row["sus"] == pytest.approx(2 * 142.73, abs=0.01)


@pytest.mark.parametrize(
    ("body", "words"),
    [({"gpus": 99}, "gpus"), ({"time": "soon"}, "time"), ({"gpu_type": "b9000"}, "b9000"),
     ({"colour": "red"}, "Unknown field")],
)  # fmt: skip
def test_a_bad_value_is_a_one_line_400(a_server: Server, body: dict[str, Any], words: str) -> None:
    for path in ("/rv/api/launch/plan", "/rv/api/launch/kernelspec"):
        reply = post(a_server, path, body)
        assert reply.status == 400, (path, reply.body)
        message = reply.json()["message"]
        assert words.lower() in message.lower() and "\n" not in message
        assert "Traceback" not in message
    assert my_jobs() == []


def test_the_launcher_kernelspec_is_the_servers_not_the_users(
    a_server: Server, tmp_path: Path
) -> None:
    reply = post(
        a_server, "/rv/api/launch/kernelspec", {"gpus": 1, "gpu_type": "mig", "time": "20m"}
    )
    assert reply.status == 201, reply.body
    name = reply.json()["name"]
    specs = call(a_server, "GET", "/api/kernelspecs").json()["kernelspecs"]
    assert name in specs
    assert specs[name]["spec"]["metadata"]["kernel_provisioner"]["provisioner_name"] == "rv-slurm"
    assert list((tmp_path / "jupyter-data" / "kernels").iterdir()) == []  # nothing installed
    where = tmp_path / "runtime" / "rv-launcher" / "kernels"
    assert (where / name / "kernel.json").exists()
    assert my_jobs() == []


def test_a_job_page_has_its_facts_and_ports_and_only_for_my_jobs(
    a_server: Server, a_web_job: tuple[str, int]
) -> None:
    job, port = a_web_job
    reply = call(a_server, "GET", f"/rv/api/jobs/{job}")
    assert reply.status == 200, reply.body
    page = reply.json()
    assert page["job"]["state"] == "running" and page["job"]["node_list"]
    assert port in [p["port"] for p in page["ports"]]
    theirs = start_neighbours_web_app(page["job"]["node_list"], port + 1, "127.0.0.1")
    try:
        assert call(a_server, "GET", f"/rv/api/jobs/{theirs}").status == 404
        assert call(a_server, "GET", "/rv/api/jobs/99999999").status == 404
    finally:
        stop_neighbours()


def test_the_log_stream_follows_a_growing_log_to_the_jobs_end(
    a_server: Server, a_cluster: Cluster
) -> None:
    logs = RemotePaths("rvtest").logs
    a_cluster.run(f"mkdir -p {logs}")
    job = (
        a_cluster.run(
            f"sbatch --parsable -p standard -t 5 -J grow -o {logs}/%x-%j.out "
            "--wrap 'for i in 1 2 3 4 5 6; do echo line $i; sleep 1; done'"
        )
        .strip()
        .split(";")[0]
    )
    wait_running(job)
    conn = http.client.HTTPConnection(*a_server.address, timeout=60)
    conn.request(
        "GET", f"/rv/api/jobs/{job}/log", headers={"Authorization": f"token {a_server.token}"}
    )
    resp = conn.getresponse()
    assert resp.status == 200
    texts, events, name, t0 = [], [], "", time.monotonic()
    while time.monotonic() - t0 < 60:
        line = resp.fp.readline().decode()
        if not line:
            break
        if line.startswith("event: "):
            name = line[7:].strip()
            events.append((time.monotonic() - t0, name))
        elif line.startswith("data: ") and name == "text":
            texts.append(json.loads(line[6:]))
        if name == "end":
            break
    conn.close()
    text = "".join(texts)
    assert text.splitlines() == [f"line {i}" for i in range(1, 7)], text
    assert events[-1][1] == "end"
    # It came as it grew, not all at the end.
    assert len([e for e in events if e[1] == "text"]) >= 3, events
