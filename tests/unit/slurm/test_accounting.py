"""sacct and sshare: job records after squeue forgets them, and the user's fairshare."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm import JobState, parse_sacct, parse_sshare, sacct, sshare, user_row

SACCT_H = (
    "JobID|Partition|Account|State|ExitCode|Elapsed|Timelimit|Submit|Start|End|NodeList|"
    "AllocTRES|Reason|JobName"
)


def test_recorded_sacct_jobs_and_steps(recorded: Callable[[str], str]) -> None:
    recs = parse_sacct(recorded("sacct.mini-rivanna.txt"))
    jobs = {r.job_id: r for r in recs if r.step is None}
    assert set(jobs) == {"911", "912", "914", "915", "913_1", "913_[2-3%1]"}
    weird = jobs["911"]
    assert weird.name == "we|ird name that is longer than twenty chars"
    assert weird.state is JobState.running and weird.end is None and weird.elapsed == 8
    assert weird.start == datetime(2026, 11, 25, 3, 8, 51) and weird.time_limit_s == 180
    pending = jobs["912"]
    assert (pending.state, pending.start, pending.node_list) == (JobState.pending, None, None)
    assert pending.reason == "QOSMaxGRESPerUser" and pending.account == "mylab_paid"
    failed = jobs["914"]
    assert (failed.state, failed.exit_code, failed.signal) == (JobState.failed, 3, 0)
    cancelled = jobs["915"]
    assert (cancelled.state, cancelled.cancelled_by) == (JobState.cancelled, "1001")
    batch = next(r for r in recs if r.job_id == "915" and r.step == "batch")
    assert (batch.state, batch.signal, batch.cancelled_by) == (JobState.cancelled, 15, None)
    assert next(r for r in recs if r.step == "batch" and r.job_id == "913_1").node_list == (
        "udc-cpu-1"
    )


def test_recorded_sacct_after_cancel(recorded: Callable[[str], str]) -> None:
    recs = parse_sacct(recorded("sacct_jobs_after_cancel.mini-rivanna.txt"))
    assert all(r.step is None for r in recs)
    never_ran = next(r for r in recs if r.job_id == "912")
    assert never_ran.state is JobState.cancelled and never_ran.start is None
    assert never_ran.end == datetime(2026, 11, 25, 3, 8, 59)


def test_recorded_sacct_older_column_set(recorded: Callable[[str], str]) -> None:
    recs = parse_sacct(recorded("sacct.old-columns.mini-rivanna.txt"))
    weird = next(r for r in recs if r.name == "we|ird name")
    assert weird.state is JobState.running and weird.account is None
    assert {r.step for r in recs if r.step} == {"0", "batch"}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("7|gpu|lab|OUT_OF_MEMORY|0:125|00:10:00|01:00:00|2026-01-01T00:00:00|"
         "2026-01-01T00:00:00|2026-01-01T00:10:00|n1||None|a",
         {"state": JobState.out_of_memory, "exit_code": 0, "signal": 125, "elapsed_s": 600}),
        ("8|gpu|lab|TIMEOUT|0:0|03:00:00|03:00:00|2026-01-01T00:00:00|2026-01-01T00:00:00|"
         "2026-01-01T03:00:00|n1||None|b",
         {"state": JobState.timeout, "elapsed_s": 10800, "time_limit_s": 10800}),
        ("9|gpu|lab|NODE_FAIL|1:0|1-00:00:00|3-00:00:00|2026-01-01T00:00:00|"
         "2026-01-01T00:00:00|2026-01-02T00:00:00|n[1-2]||None|c",
         {"state": JobState.node_fail, "exit_code": 1, "node_list": "n[1-2]"}),
        ("9.extern||lab|COMPLETED|0:0|1-00:00:00||2026-01-01T00:00:00|2026-01-01T00:00:00|"
         "2026-01-02T00:00:00|n1|||extern",
         {"job_id": "9", "step": "extern", "partition": None, "time_limit_s": None}),
        ("10_4.0||lab|CANCELLED by 0|0:9|00:01:00||2026-01-01T00:00:00|2026-01-01T00:00:00|"
         "2026-01-01T00:01:00|n1|||python",
         {"job_id": "10_4", "step": "0", "cancelled_by": "0", "signal": 9}),
        ("11|gpu|lab|PENDING|0:0|00:00:00|UNLIMITED|2026-01-01T00:00:00|Unknown|Unknown|"
         "None assigned||Priority|x",
         {"start": None, "end": None, "node_list": None, "time_limit_s": None,
          "reason": "Priority"}),
        ("12|gpu|lab|REQUEUED|0:0|00:00:00|01:00:00|2026-01-01T00:00:00|None|None|"
         "None assigned||BeginTime|name|with|bars",
         {"state": JobState.requeued, "name": "name|with|bars", "start": None}),
    ],
)  # fmt: skip
def test_sacct_states_and_fields(line: str, expected: dict[str, object]) -> None:
    (rec,) = parse_sacct(SACCT_H + "\n" + line + "\n")
    assert {k: getattr(rec, k) for k in expected} == expected


def test_sacct_empty_and_broken() -> None:
    assert parse_sacct("") == [] and parse_sacct(SACCT_H + "\n") == []
    with pytest.raises(ParseError) as err:
        parse_sacct(SACCT_H + "\n13|gpu|RUNNING\n")
    assert "13|gpu|RUNNING" in str(err.value)
    with pytest.raises(ParseError, match="STATE"):
        parse_sacct("sacct: error: Problem talking to the database: Connection refused\n")


def test_sacct_command_quotes_ids_and_user() -> None:
    cmd = sacct.command(["1", "2 3"], user="a;b", since="now-2days")
    assert "-j '1,2 3'" in cmd and "-u 'a;b'" in cmd and "-S now-2days" in cmd
    assert cmd.startswith("SLURM_TIME_FORMAT=standard sacct -P ")
    assert " -X " in sacct.command(["1"], steps=False)
    assert cmd.endswith(",Reason,JobName"), "free text last"


def test_recorded_sshare_reads_fairshare_by_name(recorded: Callable[[str], str]) -> None:
    rows = parse_sshare(recorded("sshare.mini-rivanna.txt"))
    by_account = {r.account: r for r in rows}
    assert set(by_account) == {"mylab_paid", "mylab_std"}
    paid, std = by_account["mylab_paid"], by_account["mylab_std"]
    assert (paid.user, paid.fairshare, paid.raw_usage) == ("rvtest", 0.333333, 1567.0)
    assert std.fairshare == 1.0 and std.level_fs == float("inf")
    assert paid.extra["TRESRUNMINS"].startswith("cpu=")


def test_sshare_parent_rows_other_column_order_and_users() -> None:
    text = (
        "Account|User|RawShares|NormShares|RawUsage|NormUsage|EffectvUsage|FairShare|LevelFS|"
        "GrpTRESMins|TRESRunMins\n"
        "root|||0.000000|9000|1.000000|1.000000|0.500000|||\n"
        " mylab||1|0.010000|5000|0.200000|0.200000|0.400000|inf||\n"
        "  mylab|someone|1|0.500000|3000|0.100000|0.100000|0.200000|0.5||\n"
        "  mylab|abs6bd|1|0.500000|2000|0.100000|0.100000|0.734694|1.5||cpu=1\n"
    )
    rows = parse_sshare(text)
    assert [r.user for r in rows] == [None, None, "someone", "abs6bd"]
    assert rows[1].account == "mylab" and rows[1].raw_shares == "1"
    mine = user_row(rows, "abs6bd")
    assert mine is not None and (mine.account, mine.fairshare) == ("mylab", 0.734694)
    assert user_row(rows) is rows[2], "without a name: the first row with a user"
    assert [r.user for r in parse_sshare(text, user="abs6bd")] == ["abs6bd"]
    # FairShare found by name even where it is the last column (no -l).
    (short,) = parse_sshare("Account|User|RawShares|FairShare\nlab|me|parent|0.25\n")
    assert (short.fairshare, short.raw_shares, short.norm_shares) == (0.25, "parent", None)


def test_sshare_non_number_is_a_parse_error_showing_the_line() -> None:
    with pytest.raises(ParseError, match="FairShare") as err:
        parse_sshare("Account|User|FairShare\nlab|me|lots\n")
    assert "lab|me|lots" in str(err.value)


def test_sshare_empty_is_no_rows() -> None:
    assert parse_sshare("") == []
    assert user_row(parse_sshare("Account|User|FairShare\n")) is None


def test_sshare_command() -> None:
    assert sshare.COMMAND == "sshare -U -l -P"
    assert sshare.command(user="x y") == "sshare -U -l -P -u 'x y'"
