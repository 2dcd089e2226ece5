"""sbatch: job ids, --test-only estimates, refusals with what to do."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from rv_jupyter.errors import ParseError, SubmitRefused
from rv_jupyter.slurm import parse_sbatch, parse_test_only, submit_error


@pytest.mark.parametrize(
    ("out", "job"),
    [("123\n", "123"), ("123;rivanna\n", "123"), ("Submitted batch job 9\n", "9"),
     ("  77  \n", "77")],
)  # fmt: skip
def test_job_id(out: str, job: str) -> None:
    assert parse_sbatch(out) == job


def test_recorded_job_id(recorded: Callable[[str], str]) -> None:
    assert parse_sbatch(recorded("sbatch.mini-rivanna.txt")) == "919"


@pytest.mark.parametrize("out", ["", "sbatch: warning: something\n", "12a\n", "job 12\n"])
def test_no_job_id_is_a_parse_error_showing_the_output(out: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_sbatch(out)
    assert out.strip() in str(err.value)


def test_recorded_test_only(recorded: Callable[[str], str]) -> None:
    r = parse_test_only(recorded("test_only.mini-rivanna.txt"))
    assert (r.job_id, r.processors, r.nodes, r.partition) == ("918", 1, "udc-a6k-1", "gpu-a6000")
    assert r.start == datetime(2026, 11, 25, 3, 8, 59)


@pytest.mark.parametrize(
    ("stderr", "job", "procs", "nodes", "partition"),
    [
        ("sbatch: Job 55 to start at 2026-01-01T10:00:00 using 8 processors on nodes "
         "udc-an28-[1-2] in partition gpu-a6000\n", "55", 8, "udc-an28-[1-2]", "gpu-a6000"),
        ("sbatch: Job 56 to start at 2026-01-01T10:00:00 using 8 processors on udc-an28-1\n",
         "56", 8, "udc-an28-1", None),
        ("sbatch: Job to start at 2026-01-01T10:00:00 using 8 processors on udc-an28-1\n",
         None, 8, "udc-an28-1", None),
        ("sbatch: Job 7 to start at 2026-01-01T10:00:00 using 4 cpus in partition gpu\n",
         "7", 4, None, "gpu"),
        ("sbatch: Job 8 to start at 2026-01-01T10:00:00\n", "8", None, None, None),
        ("sbatch: warning: can't honor --ntasks-per-node set to 4\n"
         "sbatch: Job 9 to start at 2026-01-01T10:00:00 using 32 processors on nodes "
         "udc-an36-1 in partition gpu-a100-80\n", "9", 32, "udc-an36-1", "gpu-a100-80"),
        # Newer releases put a stray word between the time and `using` (seen on 3 clusters).
        ("sbatch: Job 62266174 to start at 2026-01-01T10:00:00 a using 4 processors on nodes "
         "sc078 in partition htc\n", "62266174", 4, "sc078", "htc"),
        ("sbatch: Job 62266175 to start at 2026-01-01T10:00:00 a using 4 processors on "
         "sc078\n", "62266175", 4, "sc078", None),
    ],
)  # fmt: skip
def test_test_only_across_versions(
    stderr: str, job: str | None, procs: int | None, nodes: str | None, partition: str | None
) -> None:
    r = parse_test_only(stderr)
    assert (r.job_id, r.processors, r.nodes, r.partition) == (job, procs, nodes, partition)
    assert r.start == datetime(2026, 1, 1, 10, 0)


def test_test_only_with_a_custom_time_format_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="SLURM_TIME_FORMAT") as err:
        parse_test_only("sbatch: Job 5 to start at Tomorr10:00 using 1 processors\n")
    assert "Tomorr10:00" in str(err.value)


def test_test_only_garbage_is_a_parse_error_not_a_refusal() -> None:
    with pytest.raises(ParseError) as err:
        parse_test_only("sbatch: estimated start: soon-ish\n")
    assert not isinstance(err.value, SubmitRefused)
    assert "soon-ish" in str(err.value)


def test_recorded_test_only_refusal(recorded: Callable[[str], str]) -> None:
    with pytest.raises(SubmitRefused) as err:
        parse_test_only(recorded("test_only.refused.mini-rivanna.txt"))
    assert (
        err.value.message == "Slurm refused the job: Requested node configuration is not available"
    )
    assert err.value.hint and "fewer GPUs" in err.value.hint


@pytest.mark.parametrize(
    ("name", "reason", "hint_word"),
    [
        ("sbatch.badaccount.mini-rivanna.txt",
         "Invalid account or account/partition combination specified", "allocations"),
        ("sbatch.badpartition.mini-rivanna.txt", "Invalid partition name specified", "partition"),
        ("sbatch.badtime.mini-rivanna.txt",
         "Requested time limit is invalid (missing or exceeds some limit)", "12 h"),
    ],
)  # fmt: skip
def test_recorded_refusals(
    recorded: Callable[[str], str], name: str, reason: str, hint_word: str
) -> None:
    err = submit_error(recorded(name))
    assert err.message == f"Slurm refused the job: {reason}"
    assert err.hint and hint_word in err.hint


@pytest.mark.parametrize(
    ("stderr", "reason", "hint_word"),
    [
        ("sbatch: error: Batch job submission failed: Job violates accounting/QOS policy "
         "(job submit limit, user's size and/or time limits)",
         "Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)",
         "4 H200"),
        ("sbatch: error: Batch job submission failed: Invalid generic resource (gres) "
         "specification", "Invalid generic resource (gres) specification", "gpu:a6000:2"),
        ("sbatch: error: Batch job submission failed: Invalid feature specification",
         "Invalid feature specification", "--constraint"),
        ("sbatch: error: Batch job submission failed: Unable to contact slurm controller "
         "(connect failure)", "Unable to contact slurm controller (connect failure)", "again"),
        ("sbatch: error: QOSMaxSubmitJobPerUserLimit\n"
         "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy",
         "Job violates accounting/QOS policy", "per-user limit"),
    ],
)  # fmt: skip
def test_refusals_say_what_happened_and_what_to_do(
    stderr: str, reason: str, hint_word: str
) -> None:
    with pytest.raises(SubmitRefused) as err:
        parse_test_only(stderr)
    assert err.value.message == f"Slurm refused the job: {reason}"
    assert err.value.hint and hint_word in err.value.hint
    assert err.value.hint in str(err.value), "faces print str(err): the hint must be in it"


def test_unknown_refusal_keeps_slurms_words_without_a_hint() -> None:
    err = submit_error("sbatch: error: Batch job submission failed: Something brand new\n")
    assert err.message == "Slurm refused the job: Something brand new" and err.hint is None
    assert submit_error("").message == "Slurm refused the job: no reason given"
