"""What the status panel says: durations, time left, the updated/stale line, job rows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from rv_jupyter.cluster.poller import Snapshot
from rv_jupyter.slurm import Job, JobState
from rv_jupyter.slurm.state import ClusterState
from rv_jupyter.widgets import format as fmt

T0 = datetime(2026, 12, 1, 16, 40, 12, tzinfo=timezone.utc)


def a_job(**fields: object) -> Job:
    values: dict[str, object] = {
        "job_id": "2842", "name": "train", "state": JobState.running, "raw_state": "RUNNING",
        "time_used_s": 600, "time_limit_s": 3600, "node_list": "udc-an28-1",
    }  # fmt: skip
    values.update(fields)
    return Job.model_validate(values)


def a_state(jobs: list[Job] = (), read_at: datetime = T0) -> ClusterState:  # type: ignore[assignment]
    return ClusterState(user="mst3k", host="rivanna", read_at=read_at, jobs=list(jobs))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "–"), (-5, "0s"), (0, "0s"), (59, "59s"), (60, "1m"), (3599, "59m"),
     (3600, "1h00m"), (3 * 3600 + 5 * 60 + 59, "3h05m"), (86400, "1d00h"),
     (2 * 86400 + 3 * 3600, "2d03h")],
)  # fmt: skip
def test_durations_read_as_a_person_reads_them(seconds: float | None, text: str) -> None:
    assert fmt.duration(seconds) == text


def test_time_left_counts_the_time_since_the_read() -> None:
    job = a_job(time_used_s=600, time_limit_s=3600)
    assert fmt.time_left_s(job, T0, T0) == 3000
    assert fmt.time_left_s(job, T0 + timedelta(seconds=90), T0) == 2910
    assert fmt.elapsed_s(job, T0 + timedelta(seconds=90), T0) == 690


def test_time_left_never_goes_below_zero_and_is_none_when_it_does_not_apply() -> None:
    assert fmt.time_left_s(a_job(time_used_s=3590), T0 + timedelta(minutes=5), T0) == 0
    assert fmt.time_left_s(a_job(time_limit_s=None), T0, T0) is None
    pending = a_job(state=JobState.pending, raw_state="PENDING", time_used_s=0, node_list=None)
    assert fmt.time_left_s(pending, T0, T0) is None
    assert fmt.elapsed_s(pending, T0, T0) is None


def test_a_running_row_shows_elapsed_time_left_and_the_node() -> None:
    row = fmt.job_row_html(a_job(), T0, T0)
    assert ">10m<" in row and ">50m<" in row and "udc-an28-1" in row and "train" in row


def test_little_time_left_is_red() -> None:
    row = fmt.job_row_html(a_job(time_used_s=3300), T0, T0)
    assert ">5m<" in row and "color:#b00" in row


def test_a_pending_row_shows_the_reason_the_estimate_and_the_limit() -> None:
    job = a_job(
        state=JobState.pending, raw_state="PENDING", time_used_s=0, node_list=None,
        reason="Priority", start_time=datetime(2026, 12, 1, 17, 5),
    )  # fmt: skip
    row = fmt.job_row_html(job, T0, T0)
    assert "Priority · starts ~17:05" in row and "limit 1h00m" in row


def test_job_names_are_escaped() -> None:
    row = fmt.job_row_html(a_job(name="<img src=x onerror=alert(1)>'"), T0, T0)
    assert "<img" not in row
    assert "&lt;img" in row


def test_the_jobs_title_counts_states() -> None:
    jobs = [a_job(), a_job(job_id="2"), a_job(job_id="3", state=JobState.pending)]
    assert fmt.jobs_title(jobs) == "Your jobs: 2 running, 1 pending"
    assert fmt.jobs_title([]) == "Your jobs: none"


def test_the_status_line_says_when_the_data_was_read() -> None:
    line = fmt.status_line(Snapshot(a_state(), read_at=1.0), "mst3k@rivanna")
    assert "OK" in line and "updated 16:40:12" in line


def test_a_failed_read_says_stale_since_when_and_why() -> None:
    failed = T0 + timedelta(seconds=19)
    snap = Snapshot(a_state(), "Cannot reach rivanna: timed out\nhint: VPN?", 1.0, failed)
    line = fmt.status_line(snap, "mst3k@rivanna")
    assert "stale since 16:40:31: Cannot reach rivanna: timed out" in line
    assert "showing data from 16:40:12" in line
    assert "VPN" not in line  # the full message goes below, not into the status line


def test_before_the_first_read_it_says_connecting() -> None:
    assert "connecting" in fmt.status_line(Snapshot(None), "rivanna")


def test_errors_are_cut_and_escaped() -> None:
    out = fmt.error_html("<b>" + "x" * 10_000)
    assert "&lt;b&gt;" in out and len(out) < 500
