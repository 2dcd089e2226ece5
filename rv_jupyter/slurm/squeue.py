"""`squeue`: the user's jobs, with reasons and start estimates.

Why this format: `-O Field:'|'` (a `|` suffix, no width) prints every value whole in
Slurm 22.05 through 24.x; `-o "%.18i"`-style widths cut long names and node lists. The
header stays on and columns are read by name. The two free-text fields go last, Reason
then Name, and lines are split with maxsplit, so a `|` inside a job name stays in it.
JobArrayID (`%i`) is used, not JobID (`%A`): it keeps `123_4`, `123_[5-9]` and `123+0`
for array and het jobs (and is the plain id otherwise); both print the title JOBID.
`SLURM_TIME_FORMAT=standard` pins ISO timestamps even if the user's shell sets a
relative or custom format; `--local` skips a federation lookup (one slurmctld RPC).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rv_jupyter.slurm import _table, gres
from rv_jupyter.slurm.states import JobState, job_state
from rv_jupyter.slurm.timefmt import parse_duration, parse_timestamp

if TYPE_CHECKING:
    import pandas as pd

FIELDS = (
    "JobArrayID:'|',Partition:'|',State:'|',TimeUsed:'|',TimeLimit:'|',StartTime:'|',"
    "SubmitTime:'|',NumNodes:'|',NumCPUs:'|',tres-per-node:'|',tres-alloc:'|',Account:'|',"
    "UserName:'|',NodeList:'|',Reason:'|',Name:'|'"
)
_PREFIX = "SLURM_TIME_FORMAT=standard squeue --local"
# --me (Slurm >= 20.11) needs no user name, so the state batch needs no first trip.
COMMAND = f"{_PREFIX} --me -O {FIELDS}"


def command(*, job_ids: Sequence[str] = (), user: str | None = None, everyone: bool = False) -> str:
    """squeue for given jobs (any state squeue still holds), a user's jobs, or everyone's."""
    who = f" -u {shlex.quote(user)}" if user else ("" if job_ids or everyone else " --me")
    ids = f" -j {shlex.quote(','.join(job_ids))}" if job_ids else ""
    return f"{_PREFIX}{who}{ids} -O {FIELDS}"


# The brief reads below print no header (-h) and plain `%` fields split on spaces; -o
# with no width never cuts a value. None of their fields holds a space: ids, states,
# partitions and rv's comment `<tag>:<rank>` (an empty comment prints as `(null)`, so
# no column goes missing).
_BRIEF = "squeue --local -h"
# id, comment, state, partition: what the readers of a request's jobs need (the
# fan-out's recovery, the sweep, a job script's look at its siblings).
TAGGED_FORMAT = "%i %k %T %P"
# Your jobs, one a line, as TAGGED_FORMAT (`parse_tagged` keeps those of one request).
TAGGED = f"{_BRIEF} --me -o {shlex.quote(TAGGED_FORMAT)}"


def tagged_ids(tag: str) -> str:
    """Shell text printing the ids, one a line, of your jobs whose comment starts `tag:`.

    Filtered on the login node (awk's `index`, a plain prefix test, not a pattern), so
    a sweep needs no round trip between finding its jobs and cancelling them.
    """
    prefix = shlex.quote(tag + ":")
    return f"{TAGGED} | awk -v t={prefix} 'index($2, t) == 1 {{print $1}}'"


@dataclass(frozen=True)
class TaggedJob:
    """One job of a request, as TAGGED lists it."""

    job_id: str
    rank: int | None  # the strategy's rank after the tag (`rv:ab12:0`)
    state: JobState
    partition: str


def parse_tagged(text: str, tag: str) -> list[TaggedJob]:
    """The jobs in TAGGED output whose comment is `<tag>:<rank>` (others skipped)."""
    out = []
    for line in text.splitlines():
        job_id, comment, state, partition = [*line.split(), "", "", "", ""][:4]
        if not comment.startswith(tag + ":"):
            continue
        rank = comment[len(tag) + 1 :]
        out.append(
            TaggedJob(job_id, int(rank) if rank.isdigit() else None, job_state(state)[0], partition)
        )
    return out


def listed(job_ids: Sequence[str], *, states: Sequence[str] = ()) -> str:
    """Shell text printing which of `job_ids` squeue still lists (in `states`, if given).

    Prints nothing, never fails, for ids Slurm has forgotten: squeue refuses a `-j` of
    only unknown ids ("Invalid job id specified"), which here means none is listed.
    """
    only = f" -t {shlex.quote(','.join(states))}" if states else ""
    return f"{_BRIEF} -o %i{only} -j {shlex.quote(','.join(job_ids))} 2>/dev/null"


def state_of(job_id: str) -> str:
    """Shell text printing a job's state (`RUNNING`...), or nothing once squeue forgot it."""
    return f"{_BRIEF} -o %T -j {shlex.quote(job_id)} 2>/dev/null"


class Job(_table.Record):
    """A job as squeue shows it."""

    job_id: str  # keeps array/het suffixes: 123_4, 123_[5-9], 123+0
    name: str
    user: str | None = None
    account: str | None = None
    partition: str | None = None
    state: JobState
    raw_state: str
    reason: str | None = None
    time_used_s: int | None = None
    time_limit_s: int | None = None  # None: UNLIMITED or not set
    start_time: datetime | None = None  # actual, or Slurm's estimate while pending
    submit_time: datetime | None = None
    nodes: int | None = None
    cpus: int | None = None
    node_list: str | None = None
    tres_per_node: str | None = None  # as printed: gres:gpu:a6000:2 or gres/gpu:a6000=2
    tres_alloc: str | None = None  # allocated (or, while pending, requested) TRES
    gpus_per_node: int = 0
    gpu_type: str | None = None

    @property
    def gpus(self) -> int:
        """GPUs of the whole job: from TRES if printed, else per node x nodes."""
        from_tres = gres.gpus_in_tres(self.tres_alloc or "")
        return from_tres or self.gpus_per_node * (self.nodes or 1)

    @property
    def time_used(self) -> int | None:
        """Seconds the job has run (same as `time_used_s`)."""
        return self.time_used_s

    @property
    def time_limit(self) -> int | None:
        """Walltime limit in seconds (same as `time_limit_s`)."""
        return self.time_limit_s

    @property
    def num_cpus(self) -> int | None:
        """CPUs of the job (same as `cpus`)."""
        return self.cpus


_NULL = frozenset(("", "N/A", "(null)"))
_NO_NODES = frozenset(("", "(null)", "None assigned"))
_NO_REASON = frozenset(("", "None", "(null)"))


def columns(text: str) -> dict[str, list[Any]]:
    """`squeue -O` output as typed columns named like Job's fields (no per-row objects).

    The fast read for whole-cluster queues (10k rows in a few tens of ms, see
    benchmarks/parse.py); `parse_squeue` builds Job records from the same columns.
    """
    with _table.no_gc():
        return _columns(_table.columns(text, command="squeue", required=("JOBID", "STATE")))


def _columns(raw: dict[str, list[str]]) -> dict[str, list[Any]]:
    n = len(raw["JOBID"])

    def take(*names: str) -> list[str]:
        for name in names:
            if name in raw:
                return raw.pop(name)
        return [""] * n

    states = list(map(job_state, raw["STATE"]))
    tres = ["" if t in _NULL else t for t in take("TRES_PER_NODE")]
    alloc = take("TRES_ALLOC")
    per_node = list(map(gres.gpus, tres))
    # Asked with --gpus: the type is only in the allocated/requested TRES.
    types = [
        t if t is not None or count else gres.gpus(a)[0]
        for (t, count), a in zip(per_node, alloc, strict=True)
    ]
    reasons, nodes = take("REASON"), take("NODELIST")
    cols: dict[str, list[Any]] = {
        "job_id": raw.pop("JOBID"),
        "name": take("NAME"),
        "user": [u or None for u in take("USER", "USERNAME")],
        "account": [a or None for a in take("ACCOUNT")],
        "partition": [p or None for p in take("PARTITION")],
        "state": [st for st, _ in states],
        "raw_state": raw.pop("STATE"),
        "reason": [None if r in _NO_REASON else r for r in reasons],
        "time_used_s": list(map(parse_duration, take("TIME", "TIME_USED"))),
        "time_limit_s": list(map(parse_duration, take("TIME_LIMIT"))),
        "start_time": list(map(parse_timestamp, take("START_TIME"))),
        "submit_time": list(map(parse_timestamp, take("SUBMIT_TIME"))),
        "nodes": list(map(_table.to_int, take("NODES"))),
        "cpus": list(map(_table.to_int, take("CPUS"))),
        "node_list": [None if x in _NO_NODES else x for x in nodes],
        "tres_per_node": [t or None for t in tres],
        "tres_alloc": [None if a in _NULL else a for a in alloc],
        "gpus_per_node": [count for _, count in per_node],
        "gpu_type": types,
    }
    if raw:  # columns this parser does not know: kept per row, as `extra`
        keys = list(raw)
        cols["extra"] = [
            dict(zip(keys, vals, strict=True)) for vals in zip(*raw.values(), strict=True)
        ]
    return cols


def parse_squeue(text: str) -> _table.Table[Job]:
    """Jobs from `squeue -O` output (COMMAND, `command()`); no jobs is an empty list."""
    cols = columns(text)
    names = list(cols)
    with _table.no_gc():
        return _table.Table(
            (
                Job(**dict(zip(names, vals, strict=True)))
                for vals in zip(*cols.values(), strict=True)
            ),
            model=Job,
        )


def read_frame(text: str) -> pd.DataFrame:
    """`squeue -O` output straight into a DataFrame (Job's columns, plus `gpus`)."""
    import pandas as pd

    cols = columns(text)
    cols.pop("extra", None)
    frame = pd.DataFrame(cols, columns=[f for f in Job.model_fields if f != "extra"])
    from_tres = [gres.gpus_in_tres(a or "") for a in cols["tres_alloc"]]
    frame["gpus"] = [
        t or per * (n or 1)
        for t, per, n in zip(from_tres, cols["gpus_per_node"], cols["nodes"], strict=True)
    ]
    return frame


def to_frame(jobs: list[Job]) -> pd.DataFrame:
    """Jobs as a DataFrame."""
    return _table.frame(jobs, model=Job)
