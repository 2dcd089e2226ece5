"""The state batch: its commands, and the state assembled from recorded outputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pytest

from rv_jupyter.slurm.state_reads import STATE_READS, WHOAMI, assemble, state_commands

RECORDED = {
    "sinfo": "sinfo.mini-rivanna.txt",
    "squeue": "squeue.mini-rivanna.txt",
    "sshare": "sshare.mini-rivanna.txt",
    "allocations": "allocations.txt",
    "hdquota": "hdquota.txt",
}
READ_AT = datetime(2026, 11, 25, 3, 9)


@dataclass(frozen=True)
class Out:
    stdout: str
    stderr: str = ""
    exit_status: int | None = 0


def outputs(recorded: Callable[[str], str], **instead: Out) -> list[Out]:
    """What the batch printed: `id -un`, then each read's recorded output (or `instead`)."""
    reads = [instead.get(r.name) or Out(recorded(RECORDED[r.name])) for r in STATE_READS]
    return [Out("rvtest\n"), *reads]


def test_the_batch_asks_who_first_then_every_read_in_order() -> None:
    assert state_commands() == [WHOAMI, *(r.command for r in STATE_READS)]
    assert [r.name for r in STATE_READS] == list(RECORDED)
    assert state_commands()[1].startswith("sinfo ") and state_commands()[-1] == "hdquota"


def test_recorded_outputs_make_the_whole_state(recorded: Callable[[str], str]) -> None:
    s = assemble(outputs(recorded), host="login", read_at=READ_AT)
    assert (s.user, s.host, s.read_at, s.errors) == ("rvtest", "login", READ_AT, {})
    assert {j.job_id for j in s.jobs} >= {"916", "912"}
    assert any(g.partition == "gpu-a6000" and g.total > 0 for g in s.gpus)
    assert [r.account for r in s.fairshare][:2] == ["mylab_paid", "mylab_std"]
    assert "mylab_paid" in [a.account for a in s.allocations]
    assert [q.location for q in s.quotas] == ["/home", "/scratch", "/standard"]


@pytest.mark.parametrize(
    ("name", "out", "error"),
    [
        ("hdquota", Out("", "hdquota: command not found\n", 127),
         "`hdquota` exited 127: hdquota: command not found"),
        ("sshare", Out("", "", 1), "`sshare` exited 1: no output"),
        ("squeue", Out("partial\n", "slurm_load_jobs error: timeout\nsecond line\n", 1),
         "`squeue` exited 1: second line"),
        ("allocations", Out("only stdout says why\n", "", None),
         "`allocations` exited None: only stdout says why"),
    ],
)  # fmt: skip
def test_a_failed_read_is_an_error_beside_the_rest(
    recorded: Callable[[str], str], name: str, out: Out, error: str
) -> None:
    s = assemble(outputs(recorded, **{name: out}), host="login", read_at=READ_AT)
    assert s.errors == {name: error}
    assert s.gpus and (s.jobs or name == "squeue")


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        ("squeue", "JOBID|WHAT|\n1|2|\n", "Expected column(s) STATE in the header"),
        ("sshare", "nonsense", "Expected column(s) ACCOUNT in the header"),
        ("hdquota", "nonsense here", "No header line"),
    ],
)
def test_unreadable_output_is_an_error_naming_the_line(
    recorded: Callable[[str], str], name: str, text: str, error: str
) -> None:
    s = assemble(outputs(recorded, **{name: Out(text)}), host="login", read_at=READ_AT)
    assert list(s.errors) == [name]
    assert s.errors[name].startswith(error) and "→" not in s.errors[name]


@pytest.mark.parametrize(
    ("printed", "configured", "user"),
    [("rvtest\n", "other", "rvtest"), ("\n", "abs6bd", "abs6bd"), ("", None, "?")],
)
def test_the_user_is_who_the_login_node_says_else_the_configured_one(
    recorded: Callable[[str], str], printed: str, configured: str | None, user: str
) -> None:
    results = [Out(printed), *outputs(recorded)[1:]]
    assert assemble(results, host="h", user=configured).user == user


def test_results_of_another_batch_are_refused(recorded: Callable[[str], str]) -> None:
    with pytest.raises(ValueError, match="5 results for the 6 state commands"):
        assemble(outputs(recorded)[1:], host="h")


def test_a_part_of_the_state_reads_only_what_it_names(recorded: Callable[[str], str]) -> None:
    only = ("squeue",)
    assert state_commands(only) == [WHOAMI, state_commands()[2]]
    s = assemble([Out("rvtest\n"), Out(recorded(RECORDED["squeue"]))], host="login", only=only)
    assert {j.job_id for j in s.jobs} >= {"916", "912"}
    assert (s.allocations, s.quotas, s.fairshare, s.gpus, s.errors) == ([], [], [], [], {})
    with pytest.raises(ValueError, match="no state read named"):
        state_commands(("squeue", "sacct"))
