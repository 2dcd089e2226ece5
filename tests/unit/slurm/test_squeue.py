"""squeue: jobs with reasons, start estimates, GPUs, and names containing the delimiter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm import JobState, job_state, parse_duration, parse_squeue, squeue

H = (
    "JOBID|PARTITION|STATE|TIME|TIME_LIMIT|START_TIME|SUBMIT_TIME|NODES|CPUS|TRES_PER_NODE|"
    "TRES_ALLOC|ACCOUNT|USER|NODELIST|REASON|NAME|"
)


def test_recorded_mini_rivanna(recorded: Callable[[str], str]) -> None:
    jobs = {j.job_id: j for j in parse_squeue(recorded("squeue.mini-rivanna.txt"))}
    weird = jobs["911"]
    assert weird.name == "we|ird name that is longer than twenty chars"
    assert weird.state is JobState.running and weird.reason is None
    assert (weird.node_list, weird.time_used_s, weird.time_limit_s) == ("udc-cpu-1", 7, 180)
    assert weird.start_time == datetime(2026, 11, 25, 3, 8, 51)
    pending = jobs["912"]
    assert (pending.state, pending.reason) == (JobState.pending, "QOSMaxGRESPerUser")
    assert pending.start_time is None and pending.node_list is None
    assert (pending.gpu_type, pending.gpus_per_node, pending.gpus) == ("h200", 5, 5)
    assert jobs["909"].gpu_type == "1g.10gb" and jobs["909"].gpus_per_node == 1
    # Array jobs keep their suffix: the running task and the pending rest.
    assert jobs["913_1"].state is JobState.running
    assert jobs["913_[2-3%1]"].reason == "JobArrayTaskLimit"
    # Asked with --gpus: no per-node GRES, the count comes from the TRES.
    held = jobs["916"]
    assert (held.reason, held.gpus_per_node, held.gpus, held.name) == (
        "JobHeldUser", 0, 9, "held gpus",
    )  # fmt: skip
    assert all(j.user == "rvtest" and j.account == "mylab_paid" for j in jobs.values())


def test_recorded_older_column_set_is_read_by_name(recorded: Callable[[str], str]) -> None:
    # An earlier format (no TRES_ALLOC, Reason before the times) from the same cluster.
    jobs = parse_squeue(recorded("squeue.old-columns.mini-rivanna.txt"))
    weird = next(j for j in jobs if j.partition == "gpu-a6000")
    assert weird.name == "we|ird name that is longer than twenty"
    assert (weird.gpu_type, weird.gpus_per_node, weird.time_limit_s) == ("a6000", 3, 1800)
    assert next(j for j in jobs if j.partition == "gpu-h200").reason == "QOSMaxGRESPerUser"


def test_no_jobs_is_an_empty_list(recorded: Callable[[str], str]) -> None:
    assert parse_squeue(recorded("squeue_ids_after_cancel.mini-rivanna.txt")) == []
    assert parse_squeue(H + "\n") == []
    assert parse_squeue("") == []
    assert "job_id" in parse_squeue("").to_frame().columns


@pytest.mark.parametrize(
    ("line", "field", "value"),
    [
        # Slurm 23.x+ prints TRES-style per-node GPUs.
        ("1|gpu|PENDING|0:00|2-00:00:00|2026-12-01T10:00:00|2026-11-30T09:00:00|2|16|"
         "gres/gpu:a100=4|N/A|lab|abs6bd||Resources|train|", "gpu_type", "a100"),
        ("1|gpu|PENDING|0:00|2-00:00:00|2026-12-01T10:00:00|2026-11-30T09:00:00|2|16|"
         "gres/gpu:a100=4|N/A|lab|abs6bd||Resources|train|", "gpus", 8),
        ("1|gpu|PENDING|0:00|2-00:00:00|2026-12-01T10:00:00|2026-11-30T09:00:00|2|16|"
         "gres/gpu:a100=4|N/A|lab|abs6bd||Resources|train|", "start_time",
         datetime(2026, 12, 1, 10, 0)),
        ("2|gpu|CG|1-02:03:04|UNLIMITED|2026-11-30T09:00:00|2026-11-30T09:00:00|1|4|N/A|N/A|"
         "lab|abs6bd|udc-an28-[1-2]|None|x|", "time_used_s", 93784),
        ("2|gpu|CG|1-02:03:04|UNLIMITED|2026-11-30T09:00:00|2026-11-30T09:00:00|1|4|N/A|N/A|"
         "lab|abs6bd|udc-an28-[1-2]|None|x|", "time_limit_s", None),
        ("2|gpu|CG|1-02:03:04|UNLIMITED|2026-11-30T09:00:00|2026-11-30T09:00:00|1|4|N/A|N/A|"
         "lab|abs6bd|udc-an28-[1-2]|None|x|", "state", JobState.completing),
        ("3+0|gpu|PD|0:00|INVALID|N/A|N/A|1|1|gres:gpu:2|N/A|lab|abs6bd||"
         "ReqNodeNotAvail, UnavailableNodes:udc-an28-[1-2]|het|", "reason",
         "ReqNodeNotAvail, UnavailableNodes:udc-an28-[1-2]"),
        ("3+0|gpu|PD|0:00|INVALID|N/A|N/A|1|1|gres:gpu:2|N/A|lab|abs6bd||Priority|het|",
         "gpus_per_node", 2),
        ("3+0|gpu|PD|0:00|INVALID|N/A|N/A|1|1|gres:gpu:2|N/A|lab|abs6bd||Priority|het|",
         "job_id", "3+0"),
        ("4|gpu|OOM|0:10|1:00|N/A|N/A|1|1|N/A|N/A|lab|abs6bd||OutOfMemory|a | b | c|",
         "name", "a | b | c"),
        ("5|gpu|FUTURE_STATE|0:10|1:00|N/A|N/A|1|1|N/A|N/A|lab|abs6bd||None||", "state",
         JobState.unknown),
    ],
)  # fmt: skip
def test_slurm_versions_and_odd_values(line: str, field: str, value: object) -> None:
    (job,) = parse_squeue(H + "\n" + line + "\n")
    assert getattr(job, field) == value


def test_reordered_columns_and_unknown_ones() -> None:
    text = "NAME|STATE|QOS|JOBID|\nmy job|RUNNING|normal|77|\n"
    (job,) = parse_squeue(text)
    assert (job.job_id, job.name, job.state, job.extra) == (
        "77", "my job", JobState.running, {"QOS": "normal"},
    )  # fmt: skip


def test_garbage_is_a_parse_error_showing_the_line() -> None:
    with pytest.raises(ParseError) as err:
        parse_squeue(H + "\n12|gpu|RUNNING\n")
    assert "12|gpu|RUNNING" in str(err.value)


def test_error_text_instead_of_a_table_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="JOBID"):
        parse_squeue("slurm_load_jobs error: Unable to contact slurm controller\n")


@pytest.mark.parametrize(
    ("raw", "state", "by"),
    [
        ("PENDING", JobState.pending, None), ("R", JobState.running, None),
        ("CANCELLED by 12345", JobState.cancelled, "12345"),
        ("CANCELLED by abs6bd", JobState.cancelled, "abs6bd"),
        ("OUT_OF_MEMORY", JobState.out_of_memory, None), ("OOM", JobState.out_of_memory, None),
        ("TIMEOUT", JobState.timeout, None), ("NODE_FAIL", JobState.node_fail, None),
        ("PREEMPTED", JobState.preempted, None), ("SUSPENDED", JobState.suspended, None),
        ("CONFIGURING", JobState.configuring, None), ("CF", JobState.configuring, None),
        ("REQUEUED", JobState.requeued, None), ("REQUEUE_HOLD", JobState.requeued, None),
        ("SPECIAL_EXIT", JobState.failed, None), ("COMPLETED+", JobState.completed, None),
        ("BOOT_FAIL", JobState.boot_fail, None), ("DEADLINE", JobState.deadline, None),
        ("NEW_STATE_2030", JobState.unknown, None), ("", JobState.unknown, None),
    ],
)  # fmt: skip
def test_job_states(raw: str, state: JobState, by: str | None) -> None:
    assert job_state(raw) == (state, by)


def test_finished_states() -> None:
    assert JobState.timeout.finished and JobState.out_of_memory.finished
    assert not JobState.pending.finished and not JobState.requeued.finished


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0:00", 0), ("59:59", 3599), ("1:00:00", 3600), ("3-00:00:00", 259200),
        ("12:00:00", 43200), ("1-12:30", 86400 + 12 * 3600 + 30 * 60),
        ("2-04", 2 * 86400 + 4 * 3600),
        ("00:00.012", 0), ("UNLIMITED", None), ("INVALID", None), ("N/A", None),
        ("Partition_Limit", None), ("", None), ("30", 1800), ("soon", None),
    ],
)  # fmt: skip
def test_durations(text: str, seconds: int | None) -> None:
    assert parse_duration(text) == seconds


def test_command_quotes_user_and_ids() -> None:
    cmd = squeue.command(job_ids=["1", "2;rm -rf ~"], user="x y")
    assert "-u 'x y'" in cmd and "-j '1,2;rm -rf ~'" in cmd
    assert " --me" not in squeue.command(job_ids=["1"])
    assert squeue.COMMAND.startswith("SLURM_TIME_FORMAT=standard squeue --local --me -O ")


def test_command_puts_free_text_last_and_cuts_nothing() -> None:
    fields = [f.split(":")[0] for f in squeue.FIELDS.split(",")]
    assert fields[-2:] == ["Reason", "Name"]
    assert all(f.endswith(":'|'") for f in squeue.FIELDS.split(","))
    assert fields[0] == "JobArrayID"  # keeps 123_4; JobID would print the raw id


def test_command_for_everyone_or_me() -> None:
    assert " --me " in squeue.command()
    assert "--me" not in squeue.command(everyone=True) and " -u " not in squeue.command(
        everyone=True
    )
