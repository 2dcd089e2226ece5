"""squeue: jobs with reasons, start estimates, GPUs, and names containing the delimiter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm import JobState, parse_squeue, squeue
from rv_jupyter.slurm.states import job_state
from rv_jupyter.slurm.timefmt import parse_duration

H = (
    "JOBID|PARTITION|STATE|REASON|TIME|TIME_LIMIT|START_TIME|SUBMIT_TIME|NODES|CPUS|"
    "TRES_PER_NODE|ACCOUNT|USER|NODELIST|NAME|"
)


def test_recorded_mini_rivanna(recorded: Callable[[str], str]) -> None:
    jobs = {j.job_id: j for j in parse_squeue(recorded("squeue.mini-rivanna.txt"))}
    weird = next(j for j in jobs.values() if j.partition == "gpu-a6000")
    assert weird.name == "we|ird name that is longer than twenty"
    assert weird.state is JobState.running and weird.reason is None
    assert (weird.gpu_type, weird.gpus_per_node, weird.node_list) == ("a6000", 3, "udc-a6k-1")
    assert weird.time_limit_s == 30 * 60
    pending = next(j for j in jobs.values() if j.partition == "gpu-h200")
    assert pending.state is JobState.pending
    assert pending.reason == "QOSMaxGRESPerUser"
    assert pending.start_time is None and pending.node_list is None


def test_pending_with_estimate_and_array_ids() -> None:
    text = (
        H + "\n"
        "123_4|gpu|PENDING|(Resources)|0:00|2-00:00:00|2026-12-01T10:00:00|2026-11-30T09:00:00|"
        "2|16|gres/gpu:a100=4|lab|abs6bd||train|\n"
        "124|gpu|CG|None|1-02:03:04|UNLIMITED|2026-11-30T09:00:00|2026-11-30T09:00:00|1|4|N/A|"
        "lab|abs6bd|udc-an28-[1-2]|x|\n"
    )
    first, second = parse_squeue(text)
    assert first.job_id == "123_4" and first.reason == "(Resources)"
    assert first.start_time == datetime(2026, 12, 1, 10, 0)
    assert (first.gpu_type, first.gpus_per_node, first.nodes) == ("a100", 4, 2)
    assert first.time_limit_s == 2 * 86400
    assert second.state is JobState.completing
    assert second.time_used_s == 86400 + 2 * 3600 + 3 * 60 + 4
    assert second.time_limit_s is None and second.gpus_per_node == 0


def test_no_jobs_is_an_empty_list() -> None:
    assert parse_squeue(H + "\n") == []
    assert parse_squeue("") == []


def test_garbage_is_a_parse_error() -> None:
    with pytest.raises(ParseError) as err:
        parse_squeue(H + "\n12|gpu|RUNNING\n")
    assert "12|gpu|RUNNING" in str(err.value)


@pytest.mark.parametrize(
    ("raw", "state", "by"),
    [
        ("PENDING", JobState.pending, None), ("R", JobState.running, None),
        ("CANCELLED by 12345", JobState.cancelled, "12345"),
        ("OUT_OF_MEMORY", JobState.out_of_memory, None),
        ("OOM", JobState.out_of_memory, None), ("TIMEOUT", JobState.timeout, None),
        ("NODE_FAIL", JobState.node_fail, None), ("REQUEUE_HOLD", JobState.unknown, None),
        ("COMPLETED+", JobState.completed, None),
    ],
)  # fmt: skip
def test_job_states(raw: str, state: JobState, by: str | None) -> None:
    assert job_state(raw) == (state, by)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0:00", 0), ("59:59", 3599), ("1:00:00", 3600), ("3-00:00:00", 259200),
        ("1-12:30", 86400 + 12 * 3600 + 30 * 60), ("2-04", 2 * 86400 + 4 * 3600),
        ("UNLIMITED", None), ("INVALID", None), ("N/A", None), ("30", 1800),
    ],
)  # fmt: skip
def test_durations(text: str, seconds: int | None) -> None:
    assert parse_duration(text) == seconds


def test_command_quotes_user_and_ids() -> None:
    cmd = squeue.command(job_ids=["1", "2;rm -rf ~"], user="x y")
    assert "-u 'x y'" in cmd and "-j '1,2;rm -rf ~'" in cmd
    assert squeue.COMMAND.startswith("squeue --local --me ")
