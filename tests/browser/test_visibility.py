"""The panel's visibility probe in JupyterLab: hidden when scrolled away or behind a tab."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat

PROBE = """\
import pathlib
from rv_jupyter.widgets.visibility import VisibilityProbe

seen = pathlib.Path("seen.log")
probe = VisibilityProbe(on_change=lambda v: seen.open("a").write(f"{v}\\n"))
probe"""

TALL = """\
from IPython.display import HTML
HTML('<div style="height: 6000px">tall output</div>')"""


def _wait_for_lines(path: Path, lines: list[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().split() == lines:
            return
        time.sleep(0.2)
    got = path.read_text().split() if path.exists() else "nothing"
    raise AssertionError(f"kernel saw {got}, expected {lines}")


def test_scrolled_away_or_behind_another_tab_is_hidden(a_lab, a_page) -> None:  # type: ignore[no-untyped-def]
    nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    cells = [nbformat.v4.new_code_cell(PROBE), nbformat.v4.new_code_cell(TALL)]  # type: ignore[no-untyped-call]
    nb.cells = cells
    nbformat.write(nb, a_lab.root / "probe.ipynb")  # type: ignore[no-untyped-call]
    page = a_page
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.goto(a_lab.open("probe.ipynb"))
    page.locator(".jp-Notebook").wait_for(timeout=60_000)
    # The status bar says Idle once the kernel is connected (the toolbar's may say so before).
    page.get_by_text("| Idle").wait_for(timeout=60_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()
    page.locator(".jp-OutputArea-output").get_by_text("tall output").wait_for(timeout=60_000)
    try:
        page.locator("[data-rv-visibility-probe]").wait_for(state="attached", timeout=30_000)
    except Exception:
        page.screenshot(path="/tmp/probe-fail.png")
        raise AssertionError("\n".join(console)) from None
    seen = a_lab.root / "seen.log"
    time.sleep(1)
    assert not seen.exists(), "on screen from the start: no change to report"

    scroller = page.locator(".jp-WindowedPanel-outer").first
    scroller.evaluate("e => { e.scrollTop = e.scrollHeight; }")
    _wait_for_lines(seen, ["False"])
    scroller.evaluate("e => { e.scrollTop = 0; }")
    _wait_for_lines(seen, ["False", "True"])

    # Another Lab tab in front of the notebook hides it too.
    page.locator(".jp-Notebook").click()
    page.keyboard.press("Control+Shift+L")
    page.locator(".jp-Launcher").wait_for()
    _wait_for_lines(seen, ["False", "True", "False"])
    page.get_by_role("tab", name="probe.ipynb").click()
    _wait_for_lines(seen, ["False", "True", "False", "True"])
