"""A job's page in a real JupyterLab on the mini-Rivanna: opened from the sidebar, it
shows Slurm's facts, follows the job's growing log, lists the port the job's web app
listens on and opens it through /rv/proxy/. Screenshots go to $RV_ARTIFACTS."""

from __future__ import annotations

import random
import secrets
from pathlib import Path
from typing import Any

import pytest

from rv_jupyter.cluster.handle import Cluster
from rv_jupyter.facts.rivanna import RemotePaths
from tests.browser.test_sidebar import open_sidebar
from tests.cluster.conftest import (
    WEB_APP,
    a_cluster,
    a_config,
    a_config_path,
    no_jobs_left,
    wait_running,
)  # fmt: skip
from tests.jupyter_servers import Server

__all__ = ["a_cluster", "a_config", "a_config_path", "no_jobs_left"]  # fixtures, by name
pytestmark = pytest.mark.usefixtures("no_jobs_left")


def a_job_with_a_log_and_a_port(cluster: Cluster) -> tuple[str, int]:
    """A job that serves web_app.py and writes a line a second to its rv log."""
    app = "/home/rvtest/rv-test-web_app.py"
    cluster.run(f"cat > {app}", stdin=WEB_APP.read_text())
    port = random.randint(20000, 40000)
    logs = RemotePaths("rvtest").logs
    cluster.run(f"mkdir -p {logs}")
    script = (
        f"#!/bin/bash\npython3 {app} {port} 127.0.0.1 & "
        'for i in $(seq 1 300); do echo "line $i"; sleep 1; done\n'
    )
    name = f"page-{secrets.token_hex(3)}"
    out = cluster.run(
        f"sbatch --parsable -p standard -t 10 -J {name} -o {logs}/%x-%j.out -e {logs}/%x-%j.err",
        stdin=script,
    )
    job = out.strip().split(";")[0]
    wait_running(job)
    return job, port


def test_the_job_page_follows_the_log_and_opens_the_jobs_web_port(
    a_lab: Server, a_page: Any, a_cluster: Cluster, artifacts: Path
) -> None:
    job, port = a_job_with_a_log_and_a_port(a_cluster)
    console: list[str] = []
    page = a_page
    sidebar = open_sidebar(page, a_lab, console)
    row = sidebar.locator(f"li[data-job='{job}']")
    row.wait_for(timeout=60_000)
    row.locator(".rv-open").click()
    body = page.locator(".rv-jobpage")
    body.wait_for(timeout=10_000)
    body.locator("dd", has_text="running").wait_for(timeout=30_000)
    log = body.locator(".rv-log")
    log.filter(has_text="line 3").wait_for(timeout=30_000)
    seen = log.inner_text().count("line ")
    log.filter(has_text=f"line {seen + 3}").wait_for(timeout=30_000)  # it grows
    open_port = body.get_by_role("button", name=f"Open {port}")
    open_port.wait_for(timeout=30_000)
    page.screenshot(path=str(artifacts / "job-page.png"))
    with page.context.expect_page() as opened:
        open_port.click()
    app_page = opened.value
    app_page.wait_for_url(f"**/rv/proxy/{job}/{port}/**", timeout=30_000)
    # Through the proxy, the app under its path prefix: /hello answers with the node.
    reply = app_page.request.get(app_page.url.rstrip("/") + "/hello")
    assert reply.ok and '"user": "rvtest"' in reply.text(), reply.text()
    assert console == [], console
