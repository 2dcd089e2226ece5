"""A notebook on a Rivanna kernel in a real JupyterLab on the mini-Rivanna: the toolbar
says where it runs, the status bar counts the walltime down as Slurm does, and when the
job ends a dialog offers a new allocation, which the kernel restarts in; while the
partitions are full, the toolbar says why it waits and Cancel leaves nothing queued.
Screenshots go to $RV_ARTIFACTS (default: the test's tmp dir)."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from rv_jupyter.cluster.handle import Cluster
from rv_jupyter.kernels.spec import install, kernel_json, spec_name
from tests.browser.conftest import lab_server
from tests.cluster.conftest import a_cluster, a_config, a_config_path, as_admin, no_jobs_left
from tests.cluster.test_allocator import block
from tests.jupyter_servers import Server

__all__ = ["a_cluster", "a_config", "a_config_path", "no_jobs_left"]  # fixtures, by name
pytestmark = pytest.mark.usefixtures("no_jobs_left", "last_look")

HOSTNAME = "import socket; print('on', socket.gethostname())"


@pytest.fixture
def kernels(tmp_path: Path, a_config_path: Path) -> dict[str, str]:
    """Rivanna kernelspecs (a MIG slice; an A6000) only this test's Lab sees: name by key."""
    data = tmp_path / "jupyter-data"
    (data / "kernels").mkdir(parents=True)
    names = {}
    for key, gpu_type in (("mig", "mig"), ("a6000", "a6000")):
        spec = kernel_json(gpus=1, gpu_type=gpu_type, time="20m", rv_config=str(a_config_path))
        install(spec, data / "kernels")
        names[key] = spec_name(spec)
    names["JUPYTER_PATH"] = str(data)
    return names


@pytest.fixture
def a_lab_with_kernels(
    tmp_path: Path, a_config_path: Path, kernels: dict[str, str]
) -> Iterator[Server]:
    env = dict(os.environ, RV_CONFIG=str(a_config_path), JUPYTER_PATH=kernels["JUPYTER_PATH"],
               RV_STATE_DIR=str(tmp_path / "rv-state"))  # fmt: skip
    with lab_server(tmp_path, env) as lab:
        yield lab


def notebook(lab: Server, name: str, kernel: str) -> str:
    nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel}
    nb.cells = [nbformat.v4.new_code_cell(HOSTNAME)]  # type: ignore[no-untyped-call]
    nbformat.write(nb, lab.root / name)  # type: ignore[no-untyped-call]
    return lab.open(name)


@pytest.fixture
def last_look(a_page: Any, artifacts: Path, request: pytest.FixtureRequest) -> Iterator[None]:
    """A screenshot of how the page ended, whatever happened (named after the test)."""
    yield
    a_page.screenshot(path=str(artifacts / f"{request.node.name}-last.png"))


def watch_console(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def slurm_left_s(job: str) -> int:
    """squeue's time left of a job, in seconds (%L: [D-]HH:MM:SS or MM:SS)."""
    text = as_admin("squeue", "-h", "-j", job, "-o", "%L").strip()
    days, _, clock = text.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    return int(days or 0) * 86400 + parts[0] * 3600 + parts[1] * 60 + parts[2]


def countdown_s(text: str) -> int:
    m = re.search(r"(?:(\d+):)?(\d+):(\d\d) left", text)
    assert m, text
    return int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + int(m.group(3))


def run_cell(page: Any) -> None:
    page.locator(".jp-Cell").first.click()
    page.keyboard.press("Shift+Enter")


def test_a_rivanna_kernel_counts_down_and_moves_to_a_new_job_when_its_job_ends(
    a_lab_with_kernels: Server, kernels: dict[str, str], a_page: Any, artifacts: Path
) -> None:
    page = a_page
    console = watch_console(page)
    page.goto(notebook(a_lab_with_kernels, "gpu.ipynb", kernels["mig"]))
    badge = page.locator(".rv-badge .rv-badge-text")
    badge.filter(has_text=re.compile(r"^Job \d+ · udc-mig-1")).wait_for(timeout=120_000)
    job = re.match(r"Job (\d+)", badge.inner_text()).group(1)  # type: ignore[union-attr]
    # The status bar's countdown agrees with Slurm's time left.
    status = page.locator(".rv-walltime")
    status.filter(has_text=re.compile(r"\d+:\d\d left")).wait_for(timeout=30_000)
    shown, slurm = countdown_s(status.inner_text()), slurm_left_s(job)
    assert abs(shown - slurm) <= 5, (status.inner_text(), slurm)
    run_cell(page)
    page.locator(".jp-OutputArea-output", has_text="on udc-mig-1").wait_for(timeout=60_000)
    page.screenshot(path=str(artifacts / "kernel-running.png"))

    # The job ends under the kernel: Lab is told how, and offered a new allocation.
    subprocess.run(["scancel", job], check=True)
    dialog = page.locator(".jp-Dialog")
    dialog.get_by_text(f"Your Rivanna job {job} has ended").wait_for(timeout=90_000)
    assert "CANCELLED" in dialog.inner_text()
    page.screenshot(path=str(artifacts / "kernel-job-ended.png"))
    page.locator(".jp-Notification-Toast, .Toastify__toast").filter(
        has_text=f"Job {job}"
    ).first.wait_for(timeout=60_000)
    dialog.get_by_role("button", name="New allocation, same options").click()
    new = badge.filter(has_text=re.compile(r"^Job \d+ · udc-mig-1"))
    deadline = time.monotonic() + 120
    while not (new.count() and not new.inner_text().startswith(f"Job {job} ")):
        assert time.monotonic() < deadline, badge.inner_text()
        time.sleep(0.5)
    page.locator(".jp-OutputArea-output").first.wait_for()
    run_cell(page)
    page.locator(".jp-OutputArea-output", has_text="on udc-mig-1").wait_for(timeout=60_000)
    assert console == [], console


def test_a_queued_kernel_says_why_and_cancel_leaves_nothing_queued(
    a_lab_with_kernels: Server, kernels: dict[str, str], a_page: Any, a_cluster: Cluster,
    artifacts: Path,
) -> None:  # fmt: skip
    block(a_cluster, "gpu-a6000", "a6000", 8, nodes=2)
    page = a_page
    console = watch_console(page)
    page.goto(notebook(a_lab_with_kernels, "queued.ipynb", kernels["a6000"]))
    badge = page.locator(".rv-badge .rv-badge-text")
    # How many strategies, the best one and why it waits (Slurm's reason, once it has one).
    why = re.compile(r"^Queued: \d+ strateg(y|ies), best gpu-a6000 \(\w+")
    badge.filter(has_text=why).wait_for(timeout=90_000)
    page.screenshot(path=str(artifacts / "kernel-queued.png"))

    def kernel_jobs() -> list[str]:
        out = as_admin("squeue", "-h", "-u", "rvtest", "-o", "%i %j")
        return [ln.split()[0] for ln in out.splitlines() if "blocker" not in ln]

    assert kernel_jobs(), "the kernel's start submitted nothing"
    page.locator(".rv-badge .rv-badge-cancel").click()
    deadline = time.monotonic() + 60
    while kernel_jobs():
        assert time.monotonic() < deadline, kernel_jobs()
        time.sleep(0.5)
    assert console == [], console


def test_the_launcher_shows_the_plan_then_starts_a_kernel_on_a_node(
    a_lab_with_kernels: Server, a_page: Any, artifacts: Path
) -> None:
    page = a_page
    console = watch_console(page)
    page.goto(f"{a_lab_with_kernels.url}/lab?token={a_lab_with_kernels.token}")
    card = page.locator(".jp-LauncherCard", has_text="Rivanna GPU kernel")
    card.wait_for(timeout=60_000)
    card.click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator(".rv-plan-table").wait_for(timeout=60_000)  # a plan for the defaults
    dialog.get_by_label("GPU type").select_option("mig")
    dialog.get_by_label("Time").fill("20m")
    # A bad value is the request's own one-line error, before anything is submitted.
    dialog.get_by_label("GPUs").fill("99")
    dialog.locator(".rv-plan-error").wait_for(timeout=30_000)
    assert "\n" not in dialog.locator(".rv-plan-error").inner_text()
    dialog.get_by_label("GPUs").fill("1")
    row = dialog.locator(".rv-plan-table tbody tr", has_text="MIG")
    row.first.wait_for(timeout=30_000)
    assert "gpu-mig" in row.first.inner_text()
    page.screenshot(path=str(artifacts / "launcher-plan.png"))
    before = as_admin("squeue", "-h", "-u", "rvtest", "-o", "%i").split()
    assert before == [], before  # the plan submitted nothing
    dialog.get_by_role("button", name="Start").click()
    badge = page.locator(".rv-badge .rv-badge-text")
    badge.filter(has_text=re.compile(r"^Job \d+ · udc-mig-1")).wait_for(timeout=120_000)
    page.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
    page.keyboard.type(HOSTNAME)
    page.keyboard.press("Shift+Enter")
    page.locator(".jp-OutputArea-output", has_text="on udc-mig-1").wait_for(timeout=60_000)
    page.screenshot(path=str(artifacts / "launcher-kernel.png"))
    # The one error the browser logs is the 400 of the bad value the test typed.
    assert [m for m in console if "status of 400" not in m] == [], console
    assert len(console) <= 1, console
