"""%rv_forward in a real IPython shell against a web app running in a job."""

from __future__ import annotations

import gc
import json
import time
import urllib.request
from pathlib import Path

import pytest
from IPython.core.error import UsageError

from rv_jupyter.cluster.forwards import Forward
from tests.cluster.conftest import (
    OTHER_USER,
    as_admin,
    foreign_job,
    start_neighbours_web_app,
    start_web_app,
    stop_neighbours,
)

pytestmark = pytest.mark.usefixtures("no_jobs_left")


def test_auto_finds_the_jobs_ports_and_links_them(a_shell, a_web_job) -> None:  # type: ignore[no-untyped-def]
    job_id, port = a_web_job
    links = a_shell.run_line_magic("rv_forward", f"{job_id} --auto")
    assert [p.port for p in links.ports] == [port]
    assert links.ports[0].process.startswith("python")
    assert links.urls == [f"/rv/proxy/{job_id}/{port}/"]
    assert f"href='/rv/proxy/{job_id}/{port}/'" in links._repr_html_()
    explicit = a_shell.run_line_magic("rv_forward", f"{job_id} {port}")
    assert explicit.urls == links.urls


def test_local_forward_lives_as_long_as_its_object(a_shell, a_web_job) -> None:  # type: ignore[no-untyped-def]
    job_id, port = a_web_job
    fwd = a_shell.run_line_magic("rv_forward", f"{job_id} {port} --local")
    assert isinstance(fwd, Forward)
    url = f"http://127.0.0.1:{fwd.local_port}/hello"
    hello = json.loads(urllib.request.urlopen(url, timeout=30).read())
    assert hello["host"] == as_admin("squeue", "-h", "-j", job_id, "-o", "%N").strip()
    a_shell.user_ns.pop("_", None)  # IPython's output cache must not keep it alive
    del fwd
    gc.collect()
    deadline = time.monotonic() + 10
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).read()
        except OSError:
            break
        assert time.monotonic() < deadline, "the local forward outlived its object"
        time.sleep(0.3)


def test_a_port_on_the_nodes_loopback_only_is_reached_too(a_shell, a_cluster) -> None:  # type: ignore[no-untyped-def]
    # Bound to 127.0.0.1 (TensorBoard's default, and what keeps other cluster users out):
    # the login node cannot reach it, so rv goes over SSH into the node.
    job_id, port = start_web_app(a_cluster, bind="127.0.0.1")
    links = a_shell.run_line_magic("rv_forward", f"{job_id} --auto")
    assert [(p.port, p.loopback_only) for p in links.ports] == [(port, True)]
    assert links.urls == [f"/rv/proxy/{job_id}/{port}/"]
    fwd = a_shell.run_line_magic("rv_forward", f"{job_id} {port} --local")
    url = f"http://127.0.0.1:{fwd.local_port}/hello"
    hello = json.loads(urllib.request.urlopen(url, timeout=30).read())
    assert hello["host"] == as_admin("squeue", "-h", "-j", job_id, "-o", "%N").strip()
    assert fwd._listener.via_node == 1
    deadline = time.monotonic() + 10  # an ended connection is not kept
    while fwd._listener._locals:
        assert time.monotonic() < deadline, "the listener kept an ended connection"
        time.sleep(0.2)
    fwd.close()


def test_bad_requests_fail_with_one_clear_line(a_shell, a_web_job) -> None:  # type: ignore[no-untyped-def]
    job_id, port = a_web_job
    theirs = foreign_job()
    try:
        for line, says in [
            (f"{theirs} {port}", "not one of your running jobs"),
            (f"udc-a100-1 {port}", "is not a job id"),
            (f"{job_id} 70000", "is not a port number"),
            (f"{job_id} {port} --auto", "Give a port or --auto"),
            (f"{job_id}", "Give a port or --auto"),
            (f"{job_id} --auto --local", "--local needs the job's port"),
        ]:
            with pytest.raises(UsageError, match=says):
                a_shell.run_line_magic("rv_forward", line)
    finally:
        as_admin("scancel", theirs)


def hello(url: str) -> dict:  # type: ignore[type-arg]
    return dict(json.loads(urllib.request.urlopen(url, timeout=30).read()))


def test_another_users_server_on_the_same_node_and_port_is_never_reached(  # type: ignore[no-untyped-def]
    a_shell, a_cluster
) -> None:
    # Ours on the node's loopback; the neighbour's on the node's address, same port (the
    # kernel allows both), and one more port only the neighbour listens on.
    job_id, port = start_web_app(a_cluster, bind="127.0.0.1")
    node = as_admin("squeue", "-h", "-j", job_id, "-o", "%N").strip()
    try:
        start_neighbours_web_app(node, port, node)
        start_neighbours_web_app(node, port + 1, node)
        fwd = a_shell.run_line_magic("rv_forward", f"{job_id} {port} --local")
        for _ in range(5):
            got = hello(f"http://127.0.0.1:{fwd.local_port}/hello")
            assert (got["user"], got["host"]) == ("rvtest", node)
        assert fwd._listener.via_node == 5
        # Each connection asked the job, all through one watcher step in it.
        assert a_cluster.forwards._ports[job_id].starts == 1
        links = a_shell.run_line_magic("rv_forward", f"{job_id} --auto")
        assert [(p.port, p.loopback_only) for p in links.ports] == [(port, True)]
        with pytest.raises(
            UsageError, match=f"Job {job_id} has nothing listening on port {port + 1}"
        ):
            a_shell.run_line_magic("rv_forward", f"{job_id} {port + 1} --local")
        fwd.close()
    finally:
        stop_neighbours()


def test_a_port_the_job_gave_up_is_not_reached_once_a_neighbour_takes_it(  # type: ignore[no-untyped-def]
    a_shell, a_cluster
) -> None:
    job_id, port = start_web_app(a_cluster, bind="0.0.0.0", outlive=True)
    node = as_admin("squeue", "-h", "-j", job_id, "-o", "%N").strip()
    try:
        # The neighbour's app waits for the port and takes it the moment ours lets go.
        theirs = start_neighbours_web_app(node, port, node, "--retry")
        fwd = a_shell.run_line_magic("rv_forward", f"{job_id} {port} --local")
        url = f"http://127.0.0.1:{fwd.local_port}"
        assert hello(f"{url}/hello")["user"] == "rvtest"
        urllib.request.urlopen(f"{url}/quit", timeout=30).read()
        log = Path(f"/home/{OTHER_USER}/neighbour-{port}.log")
        deadline = time.monotonic() + 30
        while "listening" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "the neighbour did not take the port"
            time.sleep(0.1)
        assert as_admin("squeue", "-h", "-j", theirs, "-o", "%N").strip() == node
        for _ in range(3):  # the forward, open all along, refuses: it asks the job each time
            with pytest.raises(OSError):
                hello(f"{url}/hello")
        assert f"Job {job_id} has nothing listening on port {port}" in str(fwd._listener.last_error)
        fwd.close()
    finally:
        stop_neighbours()
