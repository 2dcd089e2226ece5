"""Pure parsers for Slurm's and UVA's commands: text in, pydantic models out (no I/O).

Each module holds the exact command whose output it reads (`COMMAND` or a `command()`
builder), so the two cannot drift apart. Unknown states map to `unknown` and are
kept; text that cannot be read raises `ParseError` showing the line.
"""

from rv_jupyter.slurm import (
    allocations,
    hdquota,
    sacct,
    sbatch,
    scontrol,
    sinfo,
    squeue,
    sshare,
    test_only,
)
from rv_jupyter.slurm._table import frame
from rv_jupyter.slurm.allocations import Allocation, parse_allocations
from rv_jupyter.slurm.hdquota import Quota, parse_hdquota
from rv_jupyter.slurm.sacct import AcctRecord, parse_sacct
from rv_jupyter.slurm.sbatch import parse_sbatch, submit_error
from rv_jupyter.slurm.scontrol import ScontrolRecord, parse_scontrol
from rv_jupyter.slurm.sinfo import Node, parse_sinfo
from rv_jupyter.slurm.squeue import Job, parse_squeue
from rv_jupyter.slurm.sshare import ShareRow, parse_sshare
from rv_jupyter.slurm.states import JobState, NodeState
from rv_jupyter.slurm.test_only import TestOnlyResult, parse_test_only
from rv_jupyter.slurm.timefmt import parse_duration, parse_timestamp

__all__ = [
    "AcctRecord", "Allocation", "Job", "JobState", "Node", "NodeState", "Quota",
    "ScontrolRecord", "ShareRow", "TestOnlyResult", "allocations", "frame", "hdquota",
    "parse_allocations", "parse_duration", "parse_hdquota", "parse_sacct", "parse_sbatch",
    "parse_scontrol", "parse_sinfo", "parse_squeue", "parse_sshare", "parse_test_only",
    "parse_timestamp", "sacct", "sbatch", "scontrol", "sinfo", "squeue", "sshare",
    "submit_error", "test_only",
]  # fmt: skip
