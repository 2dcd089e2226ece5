"""`alloc.gpus()`: the sync view over a job's sampler, fed recorded nvidia-smi text."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from rv_jupyter.cluster.background import run_sync
from rv_jupyter.errors import UnknownJob
from rv_jupyter.telemetry.sampler import Gap
from rv_jupyter.telemetry.view import GpuView, gap_notes, latest_html, missing_notes, summary
from tests.unit.telemetry.standin import StandInSampler, register


def _wait(predicate, limit: float = 5) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_latest_is_one_row_per_gpu_of_every_node_with_the_recorded_values() -> None:
    s = StandInSampler()
    v = GpuView(s, lease_s=30)
    run_sync(v.aready(5))
    latest = v.latest().sort_values(["node", "gpu"]).reset_index(drop=True)
    assert list(zip(latest["node"], latest["gpu"], strict=True)) == [
        ("udc-an28-1", 0), ("udc-an28-1", 1), ("udc-an28-2", 0),
    ]  # fmt: skip
    busy, idle, mig = latest.to_dict("records")
    assert (busy["util_pct"], busy["mem_used_mib"], busy["mem_total_mib"]) == (99, 30127, 81920)
    assert (busy["power_w"], busy["temp_c"], busy["sm_mhz"]) == (318.02, 66, 1410)
    assert busy["name"] == "NVIDIA A100-SXM4-80GB" and busy["processes"] == "python:48211"
    assert pd.isna(idle["power_w"]) and idle["unavailable"] == {"power.draw": "Unknown Error"}
    assert pd.isna(mig["util_pct"]) and mig["unavailable"]["utilization.gpu"] == "N/A"
    assert mig["mem_used_mib"] == 9730  # what MIG still measures is there
    history = v.history()
    assert len(history) == 3 * 2 + 2 * 1  # three samples of 2 GPUs, two of the MIG one
    run_sync(s.aunwatch())


def test_of_finds_the_jobs_shared_sampler(monkeypatch: pytest.MonkeyPatch) -> None:
    from rv_jupyter.telemetry import sampler as sampler_module

    monkeypatch.setattr(sampler_module, "_SAMPLERS", {})
    s = StandInSampler("77")
    v = GpuView.of(register(s), "77", wait_s=5)  # what alloc.gpus() calls
    assert v.sampler is s and len(v.latest()) == 3
    assert repr(v) == "<GpuView job 77: 3 GPUs: util 50 % mean, memory 38.9/240 GiB>"
    assert "utilization.gpu is [N/A] on udc-an28-2:0" in v._repr_html_()
    run_sync(s.aunwatch())


def test_sampling_stops_by_itself_once_nobody_reads() -> None:
    s = StandInSampler()
    v = GpuView(s, lease_s=0.3)
    run_sync(v.aready(5))
    assert s.running
    v.latest()  # renews the lease rather than adding a watcher
    assert s._watchers == 1
    _wait(lambda: not s.running)
    assert s._watchers == 0


def test_a_job_that_is_not_running_is_a_one_line_error() -> None:
    s = StandInSampler()
    s.ended = True
    with pytest.raises(UnknownJob, match="not one of your running jobs"):
        run_sync(GpuView(s).aready(1))


def test_ready_gives_up_waiting_for_a_silent_node() -> None:
    s = StandInSampler(nodes={"udc-an28-1": "loop.a100x2.txt", "udc-an28-9": "empty.txt"})
    started = time.monotonic()
    run_sync(GpuView(s, lease_s=30).aready(0.5))
    assert 0.4 < time.monotonic() - started < 3
    assert set(s.latest()["node"]) == {"udc-an28-1"}
    run_sync(s.aunwatch())


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    base = {"node": "n1", "gpu": 0, "name": "NVIDIA A100-SXM4-80GB", "util_pct": None,
            "mem_used_mib": None, "mem_total_mib": None, "power_w": None, "power_limit_w": None,
            "temp_c": None, "sm_mhz": None, "processes": "", "unavailable": {}}  # fmt: skip
    return pd.DataFrame([{**base, **r} for r in rows])


@pytest.mark.parametrize(
    ("rows", "text"),
    [
        ([], "no GPU sample yet"),
        ([{"util_pct": 90.0, "mem_used_mib": 1024.0, "mem_total_mib": 81920.0},
          {"gpu": 1, "util_pct": 10.0, "mem_used_mib": 3072.0, "mem_total_mib": 81920.0}],
         "2 GPUs: util 50 % mean, memory 4.0/160 GiB"),
        ([{"mem_used_mib": 9728.0, "mem_total_mib": 81920.0,
           "unavailable": {"utilization.gpu": "N/A"}}],
         "1 GPU: util n/a, memory 9.5/80 GiB"),
        ([{"util_pct": 5.0}], "1 GPU: util 5 % mean, memory n/a"),
    ],
)  # fmt: skip
def test_summary(rows: list[dict[str, object]], text: str) -> None:
    assert summary(_frame(rows)) == text


def test_missing_notes_say_why_mig_has_no_utilisation() -> None:
    df = _frame([
        {"node": "a", "unavailable": {"utilization.gpu": "N/A", "utilization.memory": "N/A"}},
        {"node": "b", "unavailable": {"utilization.gpu": "N/A"}},
        {"node": "b", "gpu": 1, "unavailable": {"power.draw": "Not Supported"}},
        {"node": "c", "unavailable": {"memory.used": "N/A"}},
    ])  # fmt: skip
    assert missing_notes(df) == [
        "utilization.gpu is [N/A] on a:0, b:0: a MIG slice's utilisation is not measurable by "
        "nvidia-smi (only DCGM has it).",
        "power.draw is [Not Supported] on b:1: this GPU or driver does not report it.",
        "memory.used is [N/A] on c:0: as nvidia-smi printed it.",
    ]


def test_gap_notes_and_table() -> None:
    t = time.mktime((2026, 12, 1, 20, 30, 0, 0, 0, -1))
    notes = gap_notes(
        [Gap("n1", t, t + 9, "connection lost"), Gap("n2", t, None, "the step ended")]
    )
    assert notes == ["n1: no samples 20:30:00–20:30:09 (connection lost)",
                     "n2: no samples 20:30:00–now (the step ended)"]  # fmt: skip
    table = latest_html(_frame([{"util_pct": 97.0, "processes": "<script>"}]), {"n1:0": "#123"})
    assert "97 %" in table and "&lt;script&gt;" in table and "color:#123" in table
    assert "–" in table  # no value is a dash, never a 0
