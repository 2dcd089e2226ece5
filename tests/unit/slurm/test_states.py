"""Pending reasons that mean a job can never start, as squeue prints them."""

from __future__ import annotations

import pytest

from rv_jupyter.slurm import never_starts


@pytest.mark.parametrize(
    ("reason", "says"),
    [
        ("PartitionTimeLimit", "more time than the partition"),
        ("BadConstraints", "no node has"),
        ("QOSMaxGRESPerJob", "more GPUs than its QOS"),
        ("AssocMaxWallDurationPerJobLimit", "more time than your account"),
        ("DependencyNeverSatisfied", "did not end as required"),
        ("  PartitionNodeLimit ", "nodes than the partition"),
    ],
)
def test_reasons_that_never_clear_say_why(reason: str, says: str) -> None:
    why = never_starts(reason)
    assert why is not None and says in why


@pytest.mark.parametrize(
    "reason",
    [
        None, "", "None", "Priority", "Resources", "AssocGrpGRES", "QOSGrpGRESRunMinutes",
        "ReqNodeNotAvail, UnavailableNodes:udc-a6k-1", "JobHeldUser", "PartitionDown",
        "(Resources)", "BeginTime", "Dependency", "Reservation", "partitiontimelimit",
    ],
)  # fmt: skip
def test_reasons_that_may_clear_are_waited_for(reason: str | None) -> None:
    assert never_starts(reason) is None
