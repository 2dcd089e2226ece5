"""Node and job states, including the suffixed and odd forms Slurm prints."""

from __future__ import annotations

import functools
import re
from enum import Enum


class NodeState(str, Enum):
    """What a node can do for a new job."""

    idle = "idle"
    mixed = "mixed"
    allocated = "allocated"
    down = "down"
    drain = "drain"
    reserved = "reserved"
    unknown = "unknown"


_NODE = {
    "idle": NodeState.idle, "mix": NodeState.mixed, "mixed": NodeState.mixed,
    "alloc": NodeState.allocated, "allocated": NodeState.allocated,
    "comp": NodeState.allocated, "completing": NodeState.allocated,
    "down": NodeState.down, "fail": NodeState.down, "failing": NodeState.down,
    "inval": NodeState.down, "invalid": NodeState.down, "not_responding": NodeState.down,
    "no_respond": NodeState.down, "unk": NodeState.unknown, "unknown": NodeState.unknown,
    "drain": NodeState.drain, "drained": NodeState.drain, "drng": NodeState.drain,
    "draining": NodeState.drain, "maint": NodeState.reserved, "resv": NodeState.reserved,
    "reserved": NodeState.reserved, "plnd": NodeState.reserved, "planned": NodeState.reserved,
    "boot": NodeState.down, "powered_down": NodeState.down, "power_down": NodeState.down,
    "powering_up": NodeState.down, "powering_down": NodeState.down,
    "future": NodeState.down, "block": NodeState.allocated, "blocked": NodeState.allocated,
}  # fmt: skip


@functools.lru_cache(maxsize=256)
def node_state(raw: str) -> NodeState:
    """Map `mix-`, `drain*`, `idle~`, `IDLE+DRAIN`, `inval`... to a NodeState."""
    t = raw.strip().lower()
    words = [w for w in t.split("+") if w]
    states = [_NODE.get(w.rstrip(_FLAGS)) for w in words]
    # Flags such as +DRAIN outrank the base state: a draining idle node takes no job.
    for strong in (NodeState.down, NodeState.drain, NodeState.reserved):
        if strong in states:
            return strong
    known = [s for s in states if s is not None]
    if not known:
        return NodeState.unknown
    if t.endswith("*"):
        return NodeState.down  # `*`: the node is not responding
    if t.endswith("$"):
        return NodeState.reserved  # `$`: in a maintenance reservation
    return known[0]


# sinfo's one-character flags after a state: * not responding, ~ powered off,
# # powering up, ! pending power down, % powering down, $ maintenance, @ pending
# reboot, ^ reboot issued, - planned by backfill (22.05+).
_FLAGS = "*~#!%$@^-"


class JobState(str, Enum):
    """A job's state as squeue and sacct report it."""

    pending = "pending"
    running = "running"
    completing = "completing"
    completed = "completed"
    cancelled = "cancelled"
    failed = "failed"
    timeout = "timeout"
    node_fail = "node_fail"
    preempted = "preempted"
    out_of_memory = "out_of_memory"
    suspended = "suspended"
    configuring = "configuring"
    requeued = "requeued"
    boot_fail = "boot_fail"
    deadline = "deadline"
    unknown = "unknown"

    @property
    def finished(self) -> bool:
        """The job will never run again."""
        return self in _FINISHED


_FINISHED = {
    JobState.completed, JobState.cancelled, JobState.failed, JobState.timeout,
    JobState.node_fail, JobState.preempted, JobState.out_of_memory, JobState.boot_fail,
    JobState.deadline,
}  # fmt: skip

_JOB_CODES = {
    "PD": "pending", "R": "running", "CG": "completing", "CD": "completed", "CA": "cancelled",
    "F": "failed", "TO": "timeout", "NF": "node_fail", "PR": "preempted", "OOM": "out_of_memory",
    "S": "suspended", "CF": "configuring", "RQ": "requeued", "BF": "boot_fail", "DL": "deadline",
    # Rarer states, folded into the nearest one a user cares about.
    "RH": "requeued", "REQUEUE_HOLD": "requeued", "RF": "requeued", "REQUEUE_FED": "requeued",
    "RD": "pending", "RESV_DEL_HOLD": "pending", "RS": "running", "RESIZING": "running",
    "SI": "running", "SIGNALING": "running", "SO": "completing", "STAGE_OUT": "completing",
    "ST": "suspended", "STOPPED": "suspended", "SE": "failed", "SPECIAL_EXIT": "failed",
    "RV": "cancelled", "REVOKED": "cancelled",
}  # fmt: skip


@functools.lru_cache(maxsize=4096)
def job_state(raw: str) -> tuple[JobState, str | None]:
    """A JobState and, for `CANCELLED by 12345`, who cancelled it (unknown states kept)."""
    t = raw.strip()
    by = None
    m = re.match(r"^(\w+)\s+by\s+(\S+)$", t)
    if m:
        t, by = m.group(1), m.group(2)
    # sacct marks a job requeued at least once with `+` (COMPLETED+).
    t = t.upper().rstrip("+")
    t = _JOB_CODES.get(t, t).lower()
    try:
        return JobState(t), by
    except ValueError:
        return JobState.unknown, by


# Pending reasons under which Slurm keeps a job queued although it can never start as
# asked (a limit of the partition, QOS or account, per job, or a constraint no node
# has). Group limits (AssocGrp*, QOSGrp*), holds, down partitions and unavailable nodes
# are left out: they clear when other jobs end or an admin acts.
_NEVER = {
    "PartitionTimeLimit": "asks for more time than the partition allows now",
    "PartitionNodeLimit": "asks for more or fewer nodes than the partition allows",
    "BadConstraints": "asks for features or resources that no node has",
    "DependencyNeverSatisfied": "depends on a job that did not end as required",
    "InvalidAccount": "names an account that does not exist or is not yours",
    "InvalidQOS": "names a QOS that does not exist or is not allowed",
    "QOSMaxWallDurationPerJobLimit": "asks for more time than its QOS allows per job",
    "QOSMaxGRESPerJob": "asks for more GPUs than its QOS allows per job",
    "QOSMaxCpuPerJobLimit": "asks for more CPUs than its QOS allows per job",
    "QOSMaxNodePerJobLimit": "asks for more nodes than its QOS allows per job",
    "QOSMaxMemoryPerJob": "asks for more memory than its QOS allows per job",
    "QOSMinGRES": "asks for fewer GPUs than its QOS requires",
    "AssocMaxWallDurationPerJobLimit": "asks for more time than your account allows per job",
    "AssocMaxGRESPerJob": "asks for more GPUs than your account allows per job",
    "AssocMaxCpuPerJobLimit": "asks for more CPUs than your account allows per job",
    "AssocMaxNodesPerJobLimit": "asks for more nodes than your account allows per job",
    "AssocMaxMemPerJob": "asks for more memory than your account allows per job",
}


def never_starts(reason: str | None) -> str | None:
    """Why a pending job with this squeue reason can never start, or None if it may.

    Takes the reason as squeue prints it (`PartitionTimeLimit`, `BadConstraints`,
    `ReqNodeNotAvail, UnavailableNodes:...`): only the first word counts."""
    if not reason:
        return None
    word = re.split(r"[\s,(]", reason.strip(), maxsplit=1)[0]
    return _NEVER.get(word)
