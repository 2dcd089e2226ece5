"""Job events from consecutive snapshots: what started, what ended and how."""

from __future__ import annotations

import pytest

from rv_jupyter.server.job_events import ended_event, started_and_gone, started_event
from rv_jupyter.slurm import Job, JobState


def job(job_id: str, state: JobState, node: str | None = None) -> Job:
    return Job(job_id=job_id, name="train", state=state, raw_state=state.value.upper(),
               node_list=node)  # fmt: skip


def test_pending_to_running_starts_and_leaving_the_list_ends() -> None:
    before = [job("1", JobState.pending), job("2", JobState.running), job("3", JobState.running),
              job("4", JobState.running)]  # fmt: skip
    after = [job("1", JobState.running, "udc-a6k-1"), job("3", JobState.timeout),
             job("4", JobState.running), job("5", JobState.running)]  # fmt: skip
    started, gone = started_and_gone(before, after)
    assert [j.job_id for j in started] == ["1"]  # 5 was never seen pending: not "started"
    assert [j.job_id for j in gone] == ["2", "3"]
    assert started_and_gone(after, after) == ([], [])


@pytest.mark.parametrize(
    ("final", "kind", "message"),
    [
        ("COMPLETED", "ended", "Job 2 (train) completed."),
        ("TIMEOUT", "failed", "Job 2 (train) ended: TIMEOUT. The walltime ran out: ask for more "
         "--time, or --checkpoint to run in segments."),
        ("CANCELLED by 1001", "failed", "Job 2 (train) ended: CANCELLED. The job was cancelled."),
        (None, "ended",
         "Job 2 (train) has left the queue; accounting has no record of how it ended yet."),
    ],
)  # fmt: skip
def test_an_end_says_slurms_state_and_what_it_means(
    final: str | None, kind: str, message: str
) -> None:
    event = ended_event(job("2", JobState.running, "udc-a6k-1"), final)
    assert (event.kind, event.message) == (kind, message)


def test_a_start_says_where() -> None:
    assert started_event(job("1", JobState.running, "udc-a6k-1")).message == (
        "Job 1 (train) started on udc-a6k-1."
    )
