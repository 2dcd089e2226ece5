"""The status panel's GPU lines: a summary only where this process already samples."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from rv_jupyter.cluster.background import run_sync
from rv_jupyter.cluster.poller import Snapshot
from rv_jupyter.slurm import Job, JobState
from rv_jupyter.slurm.state import ClusterState
from rv_jupyter.telemetry import sampler as sampler_module
from rv_jupyter.widgets import panel as panel_module
from rv_jupyter.widgets.gpus import GpuWidget
from rv_jupyter.widgets.panel import Panel
from tests.unit.telemetry.standin import StandInSampler, register


class _Sub:
    def close(self) -> None:
        pass

    def set_visible(self, visible: bool) -> None:
        pass


class _Poller:
    """Hands the panel the snapshots a test makes."""

    def __init__(self) -> None:
        self.show: Callable[[Snapshot], None] | None = None

    def subscribe(self, callback: Callable[[Snapshot], None]) -> _Sub:
        self.show = callback
        return _Sub()

    def poke(self) -> None:
        pass

    def jobs(self, *jobs: tuple[str, JobState]) -> None:
        state = ClusterState(
            user="mst3k", host="rivanna", read_at=datetime.now(timezone.utc),
            jobs=[Job(job_id=i, name="rv", state=st, raw_state=st.name.upper())
                  for i, st in jobs],
        )  # fmt: skip
        assert self.show is not None
        self.show(Snapshot(state, read_at=time.monotonic()))


def _wait(predicate: Callable[[], bool], limit: float = 5) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def sampled(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandInSampler]:
    monkeypatch.setattr(sampler_module, "_SAMPLERS", {})
    monkeypatch.setattr(panel_module, "GPU_LINE_S", 0.05)
    s = StandInSampler("4242")
    register(s)
    yield s
    for _ in range(s._watchers):
        run_sync(s.aunwatch())


def _panel(cluster: Any) -> tuple[Panel, _Poller]:
    poller = _Poller()
    return Panel(cluster, poller=poller), poller  # type: ignore[arg-type]


def test_running_jobs_get_a_line_but_the_panel_starts_no_sampling(
    sampled: StandInSampler,
) -> None:
    panel, poller = _panel(sampled.cluster)
    try:
        poller.jobs(("4242", JobState.running), ("4243", JobState.running),
                    ("4244", JobState.pending))  # fmt: skip
        assert set(panel.gpu_lines) == {"4242", "4243"}  # a pending job has no GPUs yet
        assert "not sampled" in panel.gpu_lines["4242"].text.value
        assert sampled.starts == 0 and set(sampler_module._SAMPLERS) == {
            (id(sampled.cluster), "4242")
        }  # nothing sampled, and no sampler made for 4243
        poller.jobs(("4243", JobState.running))
        assert set(panel.gpu_lines) == {"4243"}
    finally:
        panel.close()


def test_a_sampled_job_shows_its_summary_and_follows_new_samples(
    sampled: StandInSampler,
) -> None:
    run_sync(sampled.awatch())  # another face (say %rv_gpus) samples the job
    _wait(lambda: len(sampled.latest()) == 3)
    panel, poller = _panel(sampled.cluster)
    try:
        poller.jobs(("4242", JobState.running))
        line = panel.gpu_lines["4242"]
        assert "3 GPUs: util 50 % mean, memory 38.9/240 GiB" in line.text.value
        sampled.nodes["udc-an28-1"].frames.clear()  # a new sample arrives without a read
        run_sync(_changed(sampled))
        _wait(lambda: "1 GPU: util n/a" in line.text.value)
    finally:
        panel.close()


async def _changed(s: StandInSampler) -> None:
    s._changed()


def test_the_button_opens_the_live_view_and_closing_the_panel_ends_its_watch(
    sampled: StandInSampler,
) -> None:
    panel, poller = _panel(sampled.cluster)
    poller.jobs(("4242", JobState.running))
    panel.gpu_lines["4242"].open.click()
    (view,) = panel.gpu_view.children
    assert isinstance(view, GpuWidget) and sampled.running and sampled._watchers == 1
    view.stop.click()  # its own Stop button empties the slot
    assert panel.gpu_view.children == ()
    _wait(lambda: not sampled.running)
    panel.gpu_lines["4242"].open.click()
    assert sampled._watchers == 1
    panel.close()
    _wait(lambda: sampled._watchers == 0 and not sampled.running)


def test_a_job_that_ended_meanwhile_is_a_notice_not_a_traceback(
    sampled: StandInSampler,
) -> None:
    sampled.ended = True
    panel, poller = _panel(sampled.cluster)
    try:
        poller.jobs(("4242", JobState.running))
        panel.gpu_lines["4242"].open.click()
        assert panel.gpu_view.children == ()
        assert "not one of your running jobs" in panel.notice.value
    finally:
        panel.close()
