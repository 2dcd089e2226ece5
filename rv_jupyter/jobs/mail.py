"""Slurm's own mail for the job that does the work. Pure: values in, bash lines out.

A fan-out submits several jobs; `#SBATCH --mail-type` on each would mail the user for
every loser that Slurm ends when the winner cancels it. So the job that wins the claim
(and each checkpoint segment after it) asks Slurm for mail on itself with `scontrol
update`, which a job's owner may do. BEGIN is past by then: the winner's "started"
webhook event (%rv_notify) is the way to hear that a job began.
"""

from __future__ import annotations

import re
import shlex

from pydantic import field_validator

from rv_jupyter.jobs.strict import Strict

# sbatch(1)'s --mail-type words.
MAIL_TYPES = (
    "NONE", "BEGIN", "END", "FAIL", "REQUEUE", "ALL", "INVALID_DEPEND", "STAGE_OUT",
    "TIME_LIMIT", "TIME_LIMIT_90", "TIME_LIMIT_80", "TIME_LIMIT_50", "ARRAY_TASKS",
)  # fmt: skip
# What a running job can still be mailed about: BEGIN has happened, and ALL would mean
# BEGIN too (Slurm keeps ALL's other members when the word is spelt out).
_AFTER_START = ("END", "FAIL", "REQUEUE", "INVALID_DEPEND", "STAGE_OUT", "TIME_LIMIT")
_ADDRESS = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


def mail_types(text: str) -> str:
    """`text` as Slurm's comma-separated --mail-type words, upper case; ValueError
    naming the valid words otherwise."""
    words = [w.strip().upper() for w in text.split(",") if w.strip()]
    bad = [w for w in words if w not in MAIL_TYPES]
    if bad or not words:
        raise ValueError(f"use Slurm's --mail-type words: {', '.join(MAIL_TYPES)}")
    return ",".join(words)


def is_address(text: str) -> bool:
    """Whether `text` is a plain mail address (no spaces, quotes or shell syntax)."""
    return _ADDRESS.fullmatch(text) is not None


class Mail(Strict):
    """Who Slurm mails, and when (`--mail-type` words)."""

    user: str
    types: str = "END,FAIL"

    @field_validator("user")
    @classmethod
    def _address(cls, v: str) -> str:
        if not is_address(v):
            raise ValueError(f"{v!r} is not a mail address like you@virginia.edu")
        return v

    @field_validator("types")
    @classmethod
    def _types(cls, v: str) -> str:
        return mail_types(v)

    def after_start(self) -> str:
        """The types that still mean something once the job runs ("" for none)."""
        words = self.types.split(",")
        if "ALL" in words:
            words = [*_AFTER_START, *words]
        kept = [w for w in words if w in _AFTER_START or w.startswith("TIME_LIMIT_")]
        return ",".join(dict.fromkeys(kept))


def lines(mail: Mail | None) -> list[str]:
    """The lines that ask Slurm to mail for this job; [] when nothing is left to mail."""
    types = mail.after_start() if mail else ""
    if not mail or not types:
        return []
    update = (
        f'scontrol update JobId="$SLURM_JOB_ID" MailType={shlex.quote(types)} '
        f"MailUser={shlex.quote(mail.user)}"
    )
    return [
        # A refusal costs the mail, never the job.
        f"{update} >/dev/null 2>&1 || echo 'rv: Slurm would not set mail for this job;"
        " it runs without it' >&2"
    ]
