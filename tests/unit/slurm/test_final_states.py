"""The one final-state reader: per job id, the newest record, steps left out."""

from __future__ import annotations

import pytest

from rv_jupyter.slurm import final_states, parse_sacct, sacct

HEAD = (
    "JobID|Partition|Account|State|ExitCode|Elapsed|Timelimit|Submit|Start|End|NodeList|"
    "AllocTRES|Reason|JobName"
)


def row(job: str, state: str, submit: str) -> str:
    return f"{job}|gpu|lab|{state}|0:0|00:01:00|01:00:00|{submit}|{submit}|{submit}|n1||None|x"


OLD = row("5", "COMPLETED", "2025-01-02T03:04:05")  # an earlier job 5, before ids wrapped
NEW = row("5", "CANCELLED by 1001", "2026-11-30T10:00:00")


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([], {}),
        ([NEW], {"5": "CANCELLED by 1001"}),
        # Ids wrap: the job submitted last is the one asked about, in either row order.
        ([OLD, NEW], {"5": "CANCELLED by 1001"}),
        ([NEW, OLD], {"5": "CANCELLED by 1001"}),
        # Steps carry their own states; only the job's record counts.
        ([NEW, row("5.batch", "FAILED", "2026-11-30T10:00:00"),
          row("5.extern", "COMPLETED", "2026-11-30T10:00:00")], {"5": "CANCELLED by 1001"}),
        ([row("7", "TIMEOUT", "2026-11-30T09:00:00"), NEW],
         {"7": "TIMEOUT", "5": "CANCELLED by 1001"}),
        # Same submit second, or none known: sacct's last row counts.
        ([row("8", "PENDING", "2026-11-30T09:00:00"), row("8", "RUNNING", "2026-11-30T09:00:00")],
         {"8": "RUNNING"}),
        ([row("9", "COMPLETED", "Unknown"), row("9", "FAILED", "Unknown")], {"9": "FAILED"}),
        ([row("9", "FAILED", "2026-01-01T00:00:00"), row("9", "COMPLETED", "Unknown")],
         {"9": "FAILED"}),
        ([row("913_1", "COMPLETED+", "2026-11-30T09:00:00")], {"913_1": "COMPLETED+"}),
    ],
)  # fmt: skip
def test_final_states(rows: list[str], expected: dict[str, str]) -> None:
    assert final_states(parse_sacct("\n".join([HEAD, *rows]) + "\n")) == expected


def test_final_records_are_ordered_by_submit_time() -> None:
    text = "\n".join([HEAD, NEW, row("7", "TIMEOUT", "2026-11-30T09:00:00"), OLD]) + "\n"
    finals = sacct.final_records(parse_sacct(text))
    assert [(j, r.raw_state) for j, r in finals.items()] == [
        ("7", "TIMEOUT"), ("5", "CANCELLED by 1001")
    ]  # fmt: skip
