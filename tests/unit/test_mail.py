"""Slurm mail for the job that does the work: types kept after start, the lines it runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from rv_jupyter.jobs import mail
from rv_jupyter.jobs.mail import Mail


@pytest.mark.parametrize(
    ("types", "after"),
    [
        ("END,FAIL", "END,FAIL"),
        ("BEGIN", ""),
        ("BEGIN,END", "END"),
        ("ALL", "END,FAIL,REQUEUE,INVALID_DEPEND,STAGE_OUT,TIME_LIMIT"),
        ("time_limit_80,fail", "TIME_LIMIT_80,FAIL"),
        ("NONE", ""),
    ],
)
def test_what_a_running_job_can_still_be_mailed_about(types: str, after: str) -> None:
    assert Mail(user="a@b.edu", types=types).after_start() == after


@pytest.mark.parametrize(
    "address", ["me", "a@b", "a b@c.edu", "a@b.edu MailType=NONE", "$(id)@x.edu", "a@b.edu\n"]
)
def test_an_address_that_is_not_plain_is_refused(address: str) -> None:
    with pytest.raises(ValidationError, match="not a mail address"):
        Mail(user=address)


def test_nothing_to_mail_is_no_lines() -> None:
    assert mail.lines(None) == [] and mail.lines(Mail(user="a@b.edu", types="BEGIN")) == []


def test_the_job_asks_slurm_for_mail_on_itself_and_a_refusal_costs_only_the_mail(
    tmp_path: Path,
) -> None:
    calls = tmp_path / "calls"
    (tmp_path / "scontrol").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {calls}\nexit 1\n')
    (tmp_path / "scontrol").chmod(0o755)
    script = "\n".join([*mail.lines(Mail(user="o.brien+rv@b.edu", types="ALL")), "echo ran-on"])
    out = subprocess.run(
        ["bash", "-c", script],
        env={"PATH": f"{tmp_path}:/usr/bin:/bin", "SLURM_JOB_ID": "42"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert calls.read_text().split("\n")[:4] == [
        "update", "JobId=42",
        "MailType=END,FAIL,REQUEUE,INVALID_DEPEND,STAGE_OUT,TIME_LIMIT",
        "MailUser=o.brien+rv@b.edu",
    ]  # fmt: skip
    assert out.stdout == "ran-on\n" and "would not set mail" in out.stderr
