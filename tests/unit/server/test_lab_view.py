"""The Lab sidebar's view of a snapshot: words, SUs, times as of the read, health."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from rv_jupyter.cluster.poller import Snapshot
from rv_jupyter.server.lab_view import lab_view
from rv_jupyter.slurm import Job, JobState
from rv_jupyter.slurm.state import ClusterState

READ = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def job(job_id: str, state: JobState, **kw: object) -> Job:
    base: dict[str, object] = dict(
        job_id=job_id, name="train", state=state, raw_state=state.value.upper(),
        partition="gpu-a6000", gpu_type="a6000", gpus_per_node=2, nodes=1,
    )  # fmt: skip
    return Job.model_validate({**base, **kw})


def snap(*jobs: Job, error: str | None = None, read: bool = True) -> Snapshot:
    state = ClusterState(user="me", host="login", read_at=READ, jobs=list(jobs)) if read else None
    return Snapshot(state, error=error, read_at=time.monotonic() - 3 if read else None)


def test_a_running_job_has_its_times_type_and_sus_as_of_the_read() -> None:
    run = job("7", JobState.running, time_used_s=1800, time_limit_s=7200, node_list="udc-a6k-1")
    (j,) = lab_view(snap(run), user="me", host="login").jobs
    assert (j.elapsed_s, j.left_s, j.gpus, j.gpu_label) == (1800, 5400, 2, "A6000")
    assert j.su_per_hour == 2 * 142.73 and j.sus == round(2 * 142.73 / 2, 2)
    assert j.node_list == "udc-a6k-1" and j.reason_code is None


def test_a_pending_job_says_why_in_words_beside_slurms_code() -> None:
    start = READ + timedelta(hours=1)
    wait = job("8", JobState.pending, reason="Resources", start_time=start, node_list="(Resources)")
    (j,) = lab_view(snap(wait), user="me", host="login").jobs
    assert (j.reason_code, j.reason_text) == ("Resources", "waiting for GPUs (or the CPUs and "
                                              "memory asked for) to free up")  # fmt: skip
    assert j.elapsed_s is None and j.sus is None and j.node_list is None
    assert j.start_time == start.isoformat()


def test_the_connection_line_says_how_fresh_the_data_is() -> None:
    ok = lab_view(snap(), user="me", host="login")
    assert ok.connection.status == "ok" and not ok.stale and ok.age_s is not None and ok.age_s >= 3
    assert ok.read_at == READ.isoformat()
    lost = lab_view(snap(error="ssh: connection reset"), user="me", host="login")
    assert (lost.connection.status, lost.stale) == ("reconnecting", True)
    assert lost.connection.error == "ssh: connection reset"
    never = lab_view(snap(error="Host key mismatch", read=False), user="me", host="login")
    assert (never.connection.status, never.read_at, never.jobs) == ("failed", None, [])
    first = lab_view(snap(read=False), user="me", host="login")
    assert first.connection.status == "connecting" and first.connection.user == "me"
