"""The status panel over time: widgets reused and closed, reads shared, cancel asks first."""

from __future__ import annotations

import gc
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import ipywidgets as w
import pytest
from ipywidgets.widgets.widget import _instances

from rv_jupyter.cluster.handle import Cluster
from rv_jupyter.cluster.poller import Poller
from rv_jupyter.widgets import Panel
from rv_jupyter.widgets.panel import JobRow
from tests.cluster.conftest import as_admin, wait_running

pytestmark = pytest.mark.usefixtures("no_jobs_left")

USER = "rvtest"


def wait_until(predicate, limit: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def as_user(command: str) -> str:
    """Run a Slurm command as the test user on this machine (no SSH channel counted)."""
    return subprocess.run(
        ["runuser", "-u", USER, "--", "sh", "-c", command],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout  # fmt: skip


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def owned(widget: w.Widget) -> set[str]:
    """Model ids of a widget, its children, and their Layout and Style widgets."""
    ids = {widget.model_id}
    for child in getattr(widget, "children", ()):
        ids |= owned(child)
    for part in ("layout", "style"):
        sub = getattr(widget, part, None)
        if isinstance(sub, w.Widget):
            ids.add(sub.model_id)
    return ids


def owned_by_panel(panel: Panel) -> set[str]:
    ids = owned(panel) | owned(panel._header) | owned(panel._none)
    for row in panel.rows.values():
        for part in (row.box, row.cancel, row.confirm, row.keep):
            ids |= owned(part)
    return ids


@pytest.fixture
def a_fast_poller(a_cluster: Cluster, tmp_path: Path) -> Poller:
    """Every 0.5 s whatever the queue holds; reads shared only through its own directory."""
    return Poller(a_cluster, fast_s=0.5, idle_s=0.5, max_idle_s=0.5, shared=tmp_path)


def test_ten_panels_for_a_while_keep_widgets_reads_and_memory_bounded(
    a_cluster: Cluster, a_fast_poller: Poller
) -> None:
    a_cluster.state()  # connected already: count reads, not the handshake
    gc.collect()
    before = set(_instances)
    channels = a_cluster.connection.channels_opened
    stop = threading.Event()

    def churn() -> None:  # jobs that come and go, so rows are added and removed
        while not stop.wait(2.5):
            as_user("sbatch -t 1 -J panel-churn -o /dev/null --wrap 'sleep 2'")

    submitter = threading.Thread(target=churn)
    with ExitStack() as panels_open:
        panels = [Panel(a_cluster, poller=a_fast_poller) for _ in range(10)]
        for p in panels:
            panels_open.callback(p.close)
        wait_until(lambda: all(p.shown is not None for p in panels))
        submitter.start()
        try:
            time.sleep(4)  # warmed up: rows of the first churn jobs exist
            gc.collect()
            rss_start, t0, reads0 = rss_mb(), time.monotonic(), a_fast_poller.reads
            samples, most_rows = [], 0
            while time.monotonic() - t0 < 24:
                time.sleep(2)
                with ExitStack() as locked:  # no render half done while counting
                    for p in panels:
                        locked.enter_context(p._lock)
                    mine = set().union(*(owned_by_panel(p) for p in panels))
                    orphans = set(_instances) - before - mine
                    most_rows = max(most_rows, max(len(p.rows) for p in panels))
                    samples.append((len(_instances), len(orphans)))
                    for p in panels:
                        jobs = p.shown.state.jobs  # type: ignore[union-attr]
                        assert set(p.rows) == {j.job_id for j in jobs}
                assert not orphans, f"widgets no panel owns: {len(orphans)}"
            took, reads = time.monotonic() - t0, a_fast_poller.reads - reads0
        finally:
            stop.set()
            submitter.join()
        gc.collect()
        grew = rss_mb() - rss_start
        print(
            f"10 panels, {took:.0f} s: {reads} reads, widgets {samples[0][0]}..{samples[-1][0]},"
            f" at most {most_rows} rows, RSS +{grew:.1f} MB"
        )
        assert most_rows >= 1, "the churn jobs should have shown up"
        assert reads <= took / 0.5 + 2, "ten panels must share one read per interval"
        assert reads >= took / 0.5 / 3
        assert a_cluster.connection.channels_opened - channels == a_fast_poller.reads
        assert grew < 20, f"RSS grew {grew:.1f} MB in {took:.0f} s"
    assert set(_instances) - before == set(), "closed panels must close every widget"
    assert a_fast_poller.subscribers == 0


def job_row(panel: Panel, job_id: str) -> JobRow:
    wait_until(lambda: job_id in panel.rows)
    return panel.rows[job_id]


def queued() -> set[str]:
    return set(as_admin("squeue", "-h", "-u", USER, "-o", "%i").split())


@pytest.fixture
def a_long_job() -> Iterator[str]:
    """A job of the test user that would run for five minutes."""
    out = as_user("sbatch --parsable -t 5 -J panel-cancel -o /dev/null --wrap 'sleep 300'")
    yield out.strip().split(";")[0]


def test_cancel_asks_first_and_only_confirm_cancels(
    a_cluster: Cluster, a_fast_poller: Poller, a_long_job: str
) -> None:
    panel = Panel(a_cluster, poller=a_fast_poller)
    try:
        row = job_row(panel, a_long_job)
        assert "panel-cancel" in row.text.value, "the job's name is shown"
        row.cancel.click()
        assert row.confirm in row.box.children and row.cancel not in row.box.children
        assert f"Cancel job {a_long_job}?" == row.confirm.description
        time.sleep(1.5)  # reads come and go; the question stays, nothing is cancelled
        assert a_long_job in queued()
        assert row.confirm in row.box.children
        row.keep.click()
        assert row.box.children == (row.cancel, row.text)
        time.sleep(1)
        assert a_long_job in queued()
        row.cancel.click()
        row.confirm.click()
        wait_until(lambda: a_long_job not in queued(), limit=10)  # scancel is asynchronous
        assert f"Cancelled job {a_long_job}" in panel.notice.value
        wait_until(lambda: a_long_job not in panel.rows, limit=5)  # poked: no back-off wait
    finally:
        panel.close()


def test_a_cancelled_job_leaves_the_panel_without_waiting_for_the_back_off(
    a_cluster: Cluster, a_long_job: str, tmp_path: Path
) -> None:
    idle = Poller(a_cluster, fast_s=0.5, idle_s=60, max_idle_s=60, shared=tmp_path)
    panel = Panel(a_cluster, poller=idle)
    try:
        wait_running(a_long_job)
        idle.poke()  # the job started after the first read; shown running from here on
        wait_until(lambda: "running" in job_row(panel, a_long_job).text.value)
        reads = idle.reads
        row = panel.rows[a_long_job]
        row.cancel.click()
        row.confirm.click()
        # Poked: a read at once; while the job is completing, every fast interval.
        wait_until(lambda: a_long_job not in panel.rows, limit=8)
        assert idle.reads - reads <= 8 / 0.5 + 1
    finally:
        panel.close()


def test_an_unanswered_question_goes_away(
    a_cluster: Cluster, a_fast_poller: Poller, a_long_job: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rv_jupyter.widgets import panel as panel_module

    monkeypatch.setattr(panel_module, "CONFIRM_S", 1.0)
    panel = Panel(a_cluster, poller=a_fast_poller)
    try:
        row = job_row(panel, a_long_job)
        row.cancel.click()
        wait_until(lambda: row.box.children == (row.cancel, row.text), limit=5)
        assert a_long_job in queued()
    finally:
        panel.close()


def test_the_panel_says_when_it_was_updated_and_folds_its_sections(
    a_cluster: Cluster, a_fast_poller: Poller
) -> None:
    panel = Panel(a_cluster, poller=a_fast_poller)
    try:
        wait_until(lambda: panel.shown is not None and panel.shown.state is not None)
        read_at = panel.shown.state.read_at  # type: ignore[union-attr]
        assert f"updated {read_at:%H:%M:%S}" in panel.connection.value
        assert isinstance(panel.sections, w.Accordion)
        assert panel.sections.selected_index == 0  # jobs open, GPUs and storage folded
        assert panel.sections.titles[1].startswith("GPUs: ")
    finally:
        panel.close()
