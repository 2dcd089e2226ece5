"""What a new user sees in JupyterLab: `%load_ext rv`, then `%rv_status` and a dry run.

Against the mini-Rivanna (the kernel gets RV_CONFIG from the test's environment). A
screenshot of the page goes to $RV_ARTIFACTS (default: the test's tmp dir), never into
the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat

from tests.jupyter_servers import Server

CELLS = ["%load_ext rv", "%rv_status", "%rv_up --gpu 2 --vram 40 --time 2h --dry-run"]


def test_a_new_user_sees_the_panel_and_a_plan(a_lab: Server, a_page: Any, artifacts: Path) -> None:
    config = os.environ.get("RV_CONFIG")
    assert config and Path(config).exists(), "RV_CONFIG must name the mini-Rivanna's config"
    nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]  # type: ignore[no-untyped-call]
    nbformat.write(nb, a_lab.root / "first.ipynb")  # type: ignore[no-untyped-call]
    page = a_page
    page.goto(a_lab.open("first.ipynb"))
    page.locator(".jp-Notebook").wait_for(timeout=60_000)
    page.get_by_text("| Idle").wait_for(timeout=60_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()
    try:
        # The panel: who and where, OK with the time of the read, its three sections.
        page.get_by_text("updated", exact=False).first.wait_for(timeout=60_000)
        page.get_by_text("Your jobs", exact=False).first.wait_for(timeout=10_000)
        page.get_by_text("GPUs:", exact=False).first.wait_for(timeout=10_000)
        # The dry run: a table of strategies, with what was left out and why.
        page.get_by_text("Left out", exact=False).first.wait_for(timeout=60_000)
    finally:
        page.screenshot(path=str(artifacts / "panel-and-plan.png"), full_page=True)
    errors = page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']")
    assert errors.count() == 0, errors.all_inner_texts()
    assert page.locator(".jp-OutputArea-output").get_by_text("Traceback").count() == 0
    # The same in Lab's dark theme: the panel's colours must stay readable there too.
    page.get_by_role("menuitem", name="Settings", exact=True).click()
    page.get_by_text("Theme", exact=True).hover()
    page.get_by_text("JupyterLab Dark", exact=True).click()
    page.locator("body[data-jp-theme-light='false']").wait_for(state="attached", timeout=10_000)
    page.wait_for_timeout(500)  # the theme's CSS applies after the attribute
    page.screenshot(path=str(artifacts / "panel-and-plan-dark.png"), full_page=True)
