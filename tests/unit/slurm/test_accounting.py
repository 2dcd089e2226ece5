"""sacct and sshare: job records after squeue forgets them, and the user's fairshare."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm import JobState, parse_sacct, parse_sshare, sacct


def test_recorded_sacct(recorded: Callable[[str], str]) -> None:
    recs = parse_sacct(recorded("sacct.mini-rivanna.txt"))
    jobs = {r.job_id: r for r in recs if r.step is None}
    cancelled = next(r for r in jobs.values() if r.name == "rv-state-test")
    assert cancelled.state is JobState.cancelled and cancelled.cancelled_by == "1001"
    failed = next(r for r in jobs.values() if r.name == "quick")
    assert (failed.state, failed.exit_code, failed.signal) == (JobState.failed, 3, 0)
    weird = next(r for r in jobs.values() if r.name == "we|ird name")
    assert weird.end is None and weird.state is JobState.running
    pending = next(r for r in jobs.values() if r.name == "big-h200")
    assert pending.start is None and pending.node_list is None
    steps = [r for r in recs if r.step]
    assert {r.step for r in steps} >= {"batch", "0"}


def test_sacct_failure_states() -> None:
    text = (
        "JobID|Partition|State|ExitCode|Elapsed|Start|End|NodeList|AllocTRES|JobName\n"
        "7|gpu|OUT_OF_MEMORY|0:125|00:10:00|2026-01-01T00:00:00|2026-01-01T00:10:00|n1||a\n"
        "8|gpu|TIMEOUT|0:0|03:00:00|2026-01-01T00:00:00|2026-01-01T03:00:00|n1||b\n"
        "9|gpu|NODE_FAIL|1:0|1-00:00:00|2026-01-01T00:00:00|2026-01-02T00:00:00|n1||c\n"
        "9.extern||COMPLETED|0:0|1-00:00:00|2026-01-01T00:00:00|2026-01-02T00:00:00|n1||extern\n"
    )
    oom, timeout, node_fail, extern = parse_sacct(text)
    assert oom.state is JobState.out_of_memory and oom.signal == 125
    assert timeout.state is JobState.timeout and timeout.elapsed_s == 3 * 3600
    assert node_fail.state is JobState.node_fail and node_fail.state.finished
    assert (extern.job_id, extern.step) == ("9", "extern")


def test_sacct_command_quotes_ids() -> None:
    assert "-j '1,2 3'" in sacct.command(["1", "2 3"])


def test_recorded_sshare_reads_fairshare_by_name(recorded: Callable[[str], str]) -> None:
    rows = parse_sshare(recorded("sshare.mini-rivanna.txt"))
    assert {r.account for r in rows} == {"mylab_paid", "mylab_std"}
    assert all(r.user == "rvtest" for r in rows)
    assert all(r.fairshare is not None and 0 <= r.fairshare <= 1 for r in rows)


def test_sshare_with_parent_rows_and_other_column_order() -> None:
    text = (
        "Account|User|RawShares|NormShares|RawUsage|NormUsage|EffectvUsage|FairShare|LevelFS|"
        "GrpTRESMins|TRESRunMins\n"
        "mylab||1|0.01|5000|0.2|0.2|0.4|inf||\n"
        " mylab|abs6bd|1|0.5|2000|0.1|0.1|0.734694|1.5||cpu=1\n"
    )
    parent, mine = parse_sshare(text)
    assert parent.user is None
    assert (mine.account, mine.user, mine.fairshare) == ("mylab", "abs6bd", 0.734694)


def test_sshare_non_number_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="FairShare"):
        parse_sshare("Account|User|FairShare\nlab|me|lots\n")
