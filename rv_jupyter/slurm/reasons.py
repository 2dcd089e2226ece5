"""Why a job waits, in words: squeue's pending reason codes (squeue(1), "JOB REASON
CODES") as a researcher reads them. Pure.

The code is always shown beside the words (people search for it); a code not listed
here is shown as it is, never guessed at.
"""

from __future__ import annotations

import re

from rv_jupyter.slurm.states import never_starts

_WAITING = {
    "Resources": "waiting for GPUs (or the CPUs and memory asked for) to free up",
    "Priority": "jobs of higher priority are ahead of it",
    "Dependency": "waiting for a job it depends on",
    "BeginTime": "its start time has not come yet",
    "JobHeldUser": "held by you (scontrol release to let it go)",
    "JobHeldAdmin": "held by an administrator",
    "ReqNodeNotAvail": "a node it needs is down, drained or reserved",
    "Reservation": "waiting for its reservation to begin",
    "PartitionDown": "the partition is down",
    "PartitionInactive": "the partition is not taking jobs",
    "NodeDown": "a node it needs is down",
    "Licenses": "waiting for a license",
    "Prolog": "its prolog is running",
    "launch failed requeued held": "its launch failed; it was requeued and held",
    "QOSMaxGRESPerUser": "you are at your QOS's GPU limit: it starts when one of yours ends",
    "QOSMaxJobsPerUserLimit": "you are at your QOS's limit of running jobs",
    "QOSMaxSubmitJobPerUserLimit": "you are at your QOS's limit of queued jobs",
    "QOSMaxCpuPerUserLimit": "you are at your QOS's CPU limit",
    "QOSMaxNodePerUserLimit": "you are at your QOS's node limit",
    "QOSGrpGRES": "the QOS's GPUs are all in use",
    "AssocGrpGRES": "your account's GPUs are all in use",
    "AssocGrpCpuLimit": "your account's CPUs are all in use",
    "AssocMaxJobsLimit": "your account is at its limit of running jobs",
    "AssocGrpBillingMinutes": "your account is out of service units",
    "AssocGrpCPUMinutesLimit": "your account is out of CPU minutes",
    "QOSGrpBillingMinutes": "the QOS is out of service units",
    "BadConstraints": "no node has the features asked for",
}


def code_of(reason: str | None) -> str | None:
    """The reason's code: its first word (`ReqNodeNotAvail, UnavailableNodes:...`)."""
    if not reason or not reason.strip():
        return None
    text = reason.strip()
    if text in _WAITING:  # a few codes are several words
        return text
    return re.split(r"[\s,(]", text, maxsplit=1)[0] or None


def in_words(reason: str | None) -> str | None:
    """What a pending reason means, or None for no reason or a code we do not know."""
    code = code_of(reason)
    if code is None:
        return None
    never = never_starts(reason)
    if never:
        return f"it can never start: it {never}"
    return _WAITING.get(code)
