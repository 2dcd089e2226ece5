"""Pending reasons in words, with the code kept."""

from __future__ import annotations

import pytest

from rv_jupyter.slurm.reasons import code_of, in_words


@pytest.mark.parametrize(
    ("reason", "code", "words"),
    [
        ("Resources", "Resources",
         "waiting for GPUs (or the CPUs and memory asked for) to free up"),
        ("Priority", "Priority", "jobs of higher priority are ahead of it"),
        ("ReqNodeNotAvail, UnavailableNodes:udc-an28-[1,7]", "ReqNodeNotAvail",
         "a node it needs is down, drained or reserved"),
        ("PartitionTimeLimit", "PartitionTimeLimit",
         "it can never start: it asks for more time than the partition allows now"),
        ("launch failed requeued held", "launch failed requeued held",
         "its launch failed; it was requeued and held"),
        ("SomethingNewInSlurm25", "SomethingNewInSlurm25", None),
        ("", None, None),
        (None, None, None),
    ],
)  # fmt: skip
def test_a_reason_has_its_code_and_words_or_no_guess(
    reason: str | None, code: str | None, words: str | None
) -> None:
    assert code_of(reason) == code
    assert in_words(reason) == words
