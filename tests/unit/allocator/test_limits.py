"""Per-user caps counted against the user's own jobs, before anything is planned."""

from __future__ import annotations

import pytest

from rv_jupyter.allocator.limits import held_gpus, within_limits
from rv_jupyter.allocator.request import Request, compatible_types
from rv_jupyter.errors import RequestError
from rv_jupyter.slurm import Job, JobState


def job(job_id: str, partition: str, gres: str, gpus: int, state: str = "running") -> Job:
    return Job(
        job_id=job_id, name="x", partition=partition, state=JobState(state),
        raw_state=state.upper(), gpu_type=gres, gpus_per_node=gpus, nodes=1,
    )  # fmt: skip


FOUR_H200 = [job("1234", "gpu-h200", "h200", 2), job("1235", "gpu-h200", "h200", 2)]


def test_held_gpus_count_running_jobs_by_product_type() -> None:
    held = held_gpus([*FOUR_H200, job("9", "gpu-a100-80", "a100", 1),
                      job("10", "gpu-h200", "h200", 4, "pending")])  # fmt: skip
    assert held["h200"].gpus == 4 and held["h200"].jobs == ("1234", "1235")
    assert held["a100_80"].gpus == 1 and "a100_40" not in held


def test_a_used_up_type_asked_by_name_submits_nothing_and_names_the_jobs() -> None:
    req = Request.build(gpu_type="h200")
    types, _ = compatible_types(req)
    with pytest.raises(RequestError) as err:
        within_limits(req, types, FOUR_H200)
    assert "at most 4 H200 per user" in err.value.message
    assert "jobs 1234, 1235" in err.value.message
    hint = str(err.value.hint)
    assert "`%rv_stop 1234`" in hint and "job 1234 to end" in hint and "--type " in hint


def test_any_type_skips_only_the_used_up_type() -> None:
    req = Request.build(gpus=1)
    types, _ = compatible_types(req)
    ok, skipped = within_limits(req, types, FOUR_H200)
    assert "h200" not in {t.key for t in ok} and "a100_80" in {t.key for t in ok}
    assert "your running jobs hold 4" in skipped["h200"]


def test_partial_room_is_offered() -> None:
    req = Request.build(gpus=3, gpu_type="h200")
    types, _ = compatible_types(req)
    with pytest.raises(RequestError) as err:
        within_limits(req, types, [job("1", "gpu-h200", "h200", 2)])
    assert "--gpu 2" in str(err.value.hint)


def test_pending_jobs_do_not_use_up_gpus() -> None:
    req = Request.build(gpu_type="h200")
    types, _ = compatible_types(req)
    ok, _ = within_limits(req, types, [job("1", "gpu-h200", "h200", 4, "pending")])
    assert [t.key for t in ok] == ["h200"]


def test_the_interactive_cap_counts_what_is_held() -> None:
    req = Request.build(gpu_type="rtx3090")
    types, _ = compatible_types(req)
    with pytest.raises(RequestError, match="at most 2 RTX 3090 per user"):
        within_limits(req, types, [job("5", "interactive-rtx3090", "rtx3090", 2)])


def test_the_total_gpu_cap_across_types() -> None:
    held = [job(str(i), "gpu-a6000", "a6000", 8) for i in range(4)]  # 32 GPUs
    req = Request.build(gpus=1)
    types, _ = compatible_types(req)
    with pytest.raises(RequestError, match="32 GPUs per user at once; your running jobs hold 32"):
        within_limits(req, types, held)


def test_the_submission_cap() -> None:
    queued = [job(str(i), "standard", "", 0, "pending") for i in range(9_995)]
    req = Request.build(gpus=1)
    types, _ = compatible_types(req)
    with pytest.raises(RequestError, match="10,000 queued and running jobs"):
        within_limits(req, types, queued, new_jobs=8)
