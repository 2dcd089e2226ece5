"""sbatch: job ids, --test-only estimates, refusals with what to do."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from rv_jupyter.errors import ParseError, SubmitRefused
from rv_jupyter.slurm import parse_sbatch, parse_test_only


@pytest.mark.parametrize(
    ("out", "job"), [("123\n", "123"), ("123;rivanna\n", "123"), ("Submitted batch job 9\n", "9")]
)
def test_job_id(out: str, job: str) -> None:
    assert parse_sbatch(out) == job


def test_no_job_id_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_sbatch("sbatch: warning: something\n")


def test_recorded_test_only(recorded: Callable[[str], str]) -> None:
    r = parse_test_only(recorded("test_only.mini-rivanna.txt"))
    assert r.partition == "gpu-a6000" and r.nodes == "udc-a6k-2" and r.processors == 1
    assert r.job_id is not None


@pytest.mark.parametrize(
    ("line", "job", "nodes", "partition"),
    [
        ("sbatch: Job 55 to start at 2026-01-01T10:00:00 using 8 processors on nodes "
         "udc-an28-[1-2] in partition gpu-a6000", "55", "udc-an28-[1-2]", "gpu-a6000"),
        ("sbatch: Job to start at 2026-01-01T10:00:00 using 8 processors on udc-an28-1",
         None, None, None),
        ("sbatch: Job 7 to start at 2026-01-01T10:00:00 using 4 cpus in partition gpu",
         "7", None, "gpu"),
    ],
)  # fmt: skip
def test_test_only_variants(
    line: str, job: str | None, nodes: str | None, partition: str | None
) -> None:
    r = parse_test_only(line)
    assert (r.job_id, r.nodes, r.partition) == (job, nodes, partition)
    assert r.start == datetime(2026, 1, 1, 10, 0)


def test_recorded_refusal(recorded: Callable[[str], str]) -> None:
    with pytest.raises(SubmitRefused) as err:
        parse_test_only(recorded("test_only.refused.mini-rivanna.txt"))
    assert "Requested node configuration is not available" in str(err.value)
    assert err.value.hint and "fewer GPUs" in err.value.hint


@pytest.mark.parametrize(
    ("stderr", "hint_word"),
    [
        ("sbatch: error: Batch job submission failed: Invalid account or account/partition "
         "combination specified", "allocations"),
        ("sbatch: error: invalid partition specified: gpu-x", "partition"),
        ("sbatch: error: Batch job submission failed: Requested time limit is invalid "
         "(missing or exceeds some limit)", "12 h"),
        ("sbatch: error: Batch job submission failed: Job violates accounting/QOS policy "
         "(job submit limit, user's size and/or time limits)", "4 H200"),
    ],
)  # fmt: skip
def test_refusals_say_what_to_do(stderr: str, hint_word: str) -> None:
    with pytest.raises(SubmitRefused) as err:
        parse_test_only(stderr)
    assert "Batch job submission failed" not in err.value.message
    assert err.value.hint and hint_word in err.value.hint
