"""The fan-out's winner step on hand-made squeue reads."""

from __future__ import annotations

from rv_jupyter.allocator.winner import UNCLAIMED_POLLS, winner_step
from rv_jupyter.slurm import Job, JobState


def jobs(**states: str) -> dict[str, Job]:
    return {
        i.lstrip("j"): Job(job_id=i.lstrip("j"), name="x", state=JobState(s), raw_state=s.upper())
        for i, s in states.items()
    }


IDS = ["1", "2", "3"]


def test_the_claim_holder_wins_once_running() -> None:
    step = winner_step(IDS, jobs(j1="pending", j2="running", j3="running"), "2",
                       read=True, unclaimed_polls=0)  # fmt: skip
    assert (step.outcome, step.job_id) == ("won", "2")


def test_a_claim_whose_job_ended_is_lost_not_waited_for() -> None:
    # The winner claimed and was cancelled: its siblings defer to the claim and leave.
    step = winner_step(IDS, jobs(j1="pending", j3="pending"), "2", read=True, unclaimed_polls=0)
    assert (step.outcome, step.job_id) == ("claim_lost", "2")
    step = winner_step(IDS, jobs(j2="cancelled", j3="pending"), "2", read=True, unclaimed_polls=0)
    assert step.outcome == "claim_lost"


def test_nothing_counts_as_gone_when_squeue_could_not_be_read() -> None:
    assert winner_step(IDS, {}, "2", read=False, unclaimed_polls=0).outcome == "wait"
    assert winner_step(IDS, {}, "", read=False, unclaimed_polls=0).outcome == "wait"


def test_a_running_job_without_a_claim_wins_only_after_a_few_polls() -> None:
    polls = 0
    for _ in range(UNCLAIMED_POLLS):
        step = winner_step(IDS, jobs(j1="running"), "", read=True, unclaimed_polls=polls)
        assert step.outcome == "wait"
        polls = step.unclaimed_polls
    step = winner_step(IDS, jobs(j1="running"), "", read=True, unclaimed_polls=polls)
    assert (step.outcome, step.job_id) == ("won", "1")


def test_all_ended_without_a_claim() -> None:
    step = winner_step(IDS, jobs(j1="cancelled", j2="failed"), "", read=True, unclaimed_polls=0)
    assert step.outcome == "all_ended"
    assert winner_step(IDS, jobs(j1="pending"), "", read=True, unclaimed_polls=0).outcome == "wait"
