"""The Rivanna sidebar in a real JupyterLab on the mini-Rivanna: it lists a job the test
submitted, live; cancel asks first, then ends the job in Slurm; it reads right in the
light and dark themes, with no error in the browser console. Screenshots go to
$RV_ARTIFACTS (default: the test's tmp dir)."""

from __future__ import annotations

import secrets
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import a_config, a_config_path, no_jobs_left
from tests.jupyter_servers import Server

__all__ = ["a_config", "a_config_path", "no_jobs_left"]  # fixtures, used by name

pytestmark = pytest.mark.usefixtures("no_jobs_left")


def squeue_state(job: str) -> str:
    out = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True)
    return out.stdout.strip()


def submit(name: str, *extra: str) -> str:
    """A job of the test user's, submitted as that user."""
    cmd = ["sbatch", "--parsable", "-J", name, "-t", "10", "-o", "/dev/null", *extra,
           "--wrap", "sleep 600"]  # fmt: skip
    out = subprocess.run(
        ["su", "rvtest", "-s", "/bin/sh", "-c", shlex.join(cmd)],
        capture_output=True, text=True, check=True, cwd="/tmp",
    )  # fmt: skip
    return out.stdout.strip().split(";")[0]


def open_sidebar(page: Any, lab: Server, console: list[str]) -> Any:
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console.append(str(e)))
    page.goto(f"{lab.url}/lab?token={lab.token}")
    tab = page.locator("li[data-id='rv-sidebar']")
    tab.wait_for(timeout=60_000)
    tab.click()
    sidebar = page.locator("#rv-sidebar")
    sidebar.wait_for(timeout=10_000)
    return sidebar


def test_the_sidebar_lists_my_job_and_cancels_it(
    a_lab: Server, a_page: Any, artifacts: Path
) -> None:
    name = f"lab-{secrets.token_hex(3)}"
    running = submit(name, "-p", "gpu-a6000", "--gres=gpu:a6000:1")
    # Not before an hour from now: pending, with Slurm's reason in words.
    pending = submit(name + "-wait", "-p", "standard", "--begin=now+1hour")
    console: list[str] = []
    page = a_page
    sidebar = open_sidebar(page, a_lab, console)
    row = sidebar.locator(f"li[data-job='{running}']")
    row.wait_for(timeout=60_000)
    sidebar.locator(".rv-conn.rv-ok").wait_for(timeout=30_000)
    assert "rvtest@" in sidebar.locator(".rv-conn").inner_text()
    # Running: its node, GPUs and type, time left counting down from the 10 minutes.
    row.locator(".rv-state", has_text="running").wait_for(timeout=60_000)
    assert "1× A6000" in row.locator(".rv-gpus-n").inner_text()
    left = row.locator(".rv-left").inner_text()
    assert left in ("9m", "10m"), left
    wait = sidebar.locator(f"li[data-job='{pending}']")
    wait.wait_for(timeout=30_000)
    detail = wait.locator(".rv-more").inner_text()
    assert "its start time has not come yet (BeginTime)" in detail, detail
    # Sections: a GPU type with its free count, storage, SUs.
    sidebar.locator(".rv-gpu", has_text="A6000").first.wait_for(timeout=10_000)
    sidebar.locator(".rv-quota").first.wait_for(timeout=10_000)
    # The filter narrows the list to what matches.
    sidebar.locator(".rv-filter").fill(pending)
    assert sidebar.locator("li[data-job]").count() == 1
    sidebar.locator(".rv-filter").fill("")
    page.screenshot(path=str(artifacts / "sidebar-light.png"))

    # Cancel asks first; "Keep it" keeps it.
    row.locator(".rv-cancel").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Keep it").click()
    time.sleep(1)
    assert squeue_state(running) == "RUNNING"
    row.locator(".rv-cancel").click()
    dialog = page.locator(".jp-Dialog")
    assert f"Cancel job {running}?" in dialog.inner_text()
    dialog.get_by_role("button", name="Cancel job", exact=True).click()
    deadline = time.monotonic() + 30
    while squeue_state(running) not in ("", "COMPLETING"):
        assert time.monotonic() < deadline, "the cancel did not reach Slurm"
        time.sleep(0.5)
    row.wait_for(state="detached", timeout=30_000)
    assert squeue_state(pending) == "PENDING"  # only the job asked for

    page.get_by_role("menuitem", name="Settings", exact=True).click()
    page.get_by_text("Theme", exact=True).hover()
    page.get_by_text("JupyterLab Dark", exact=True).click()
    page.locator("body[data-jp-theme-light='false']").wait_for(state="attached", timeout=10_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts / "sidebar-dark.png"))
    assert console == [], console
