"""Pure parsers for Slurm's and UVA's commands: text in, pydantic models out (no I/O).

Each module holds the exact command whose output it reads (`COMMAND` or a `command()`
builder, every user-supplied value `shlex.quote`d), so the two cannot drift apart, and
its docstring says why that format was chosen. List results are `Table`s: plain lists
with `.to_frame()` (pandas is imported only then). Unknown states map to `unknown`
and are kept; text that cannot be read raises `ParseError` showing the line.

    module       command                                  parser -> result
    sinfo        sinfo.COMMAND                            parse_sinfo -> Table[Node]
    squeue       squeue.COMMAND, squeue.command(...)      parse_squeue -> Table[Job]
                 squeue.TAGGED (a request's jobs)         parse_tagged -> [TaggedJob]
                 squeue.tagged_ids / listed / state_of    (ids or a state, one a line)
    sacct        sacct.command(job_ids, user=...)         parse_sacct -> Table[AcctRecord]
                                                          final_states -> {job id: state}
    scancel      scancel.command(ids, signal=, quiet=)    (prints nothing)
                 scancel.tagged_cancel(tag)               (the ids it cancelled)
    srun         srun.step(job_id, command, node=...)     (the step's own output)
    sshare       sshare.COMMAND, sshare.command(user=)    parse_sshare -> Table[ShareRow]
    scontrol     show_job_command / show_node_command     parse_scontrol -> [ScontrolRecord]
    sbatch       (sbatch --parsable <script>)             parse_sbatch -> job id; submit_error
    test_only    (sbatch --test-only ..., stderr)         parse_test_only -> TestOnlyResult
    hdquota      hdquota.COMMAND                          parse_hdquota -> Table[Quota]
    allocations  allocations.COMMAND                      parse_allocations -> Table[SuBalance]

Shared pieces: `timefmt` (parse_duration, parse_timestamp), `states` (JobState,
NodeState), `gres` (GPU type and count in GRES/TRES text), `hostlist` (expand_hostlist).
"""

from rv_jupyter.slurm import (
    allocations,
    hdquota,
    sacct,
    sbatch,
    scancel,
    scontrol,
    sinfo,
    squeue,
    srun,
    sshare,
    test_only,
)
from rv_jupyter.slurm._table import Table, frame
from rv_jupyter.slurm.allocations import SuBalance, parse_allocations
from rv_jupyter.slurm.hdquota import Quota, parse_hdquota
from rv_jupyter.slurm.hostlist import expand_hostlist
from rv_jupyter.slurm.sacct import AcctRecord, final_states, parse_sacct
from rv_jupyter.slurm.sbatch import parse_sbatch, submit_error
from rv_jupyter.slurm.scontrol import ScontrolRecord, parse_scontrol
from rv_jupyter.slurm.sinfo import Node, parse_sinfo
from rv_jupyter.slurm.squeue import Job, parse_squeue
from rv_jupyter.slurm.sshare import ShareRow, parse_sshare, user_row
from rv_jupyter.slurm.states import JobState, NodeState, job_state, never_starts, node_state
from rv_jupyter.slurm.test_only import TestOnlyResult, parse_test_only
from rv_jupyter.slurm.timefmt import parse_duration, parse_timestamp

__all__ = [
    "AcctRecord",
    "Job",
    "JobState",
    "Node",
    "NodeState",
    "Quota",
    "ScontrolRecord",
    "ShareRow",
    "SuBalance",
    "Table",
    "TestOnlyResult",
    "allocations",
    "expand_hostlist",
    "final_states",
    "frame",
    "hdquota",
    "job_state",
    "never_starts",
    "node_state",
    "parse_allocations",
    "parse_duration",
    "parse_hdquota",
    "parse_sacct",
    "parse_sbatch",
    "parse_scontrol",
    "parse_sinfo",
    "parse_squeue",
    "parse_sshare",
    "parse_test_only",
    "parse_timestamp",
    "sacct",
    "sbatch",
    "scancel",
    "scontrol",
    "sinfo",
    "squeue",
    "srun",
    "sshare",
    "submit_error",
    "test_only",
    "user_row",
]  # fmt: skip
