"""Env files on the cluster: whose job each one waits for, and which are stale.

A job's `%rv_env` values wait in a 0600 file (in a 0700 directory on the user's
scratch) until the job reads and deletes it. A job cancelled before it ran (by
`scancel`, `%rv_stop`, a crash of the notebook) never reads it, and a batch job cannot
be handed its secrets at start instead: with `--no-wait` nobody is there to hand them
over. So the file's name says whose it is, and every rv submission and cancel sweeps
the directory: a file whose owner has no job queued or running any more goes.

- `t-<request id>.env`: the batch jobs of one request (every strategy, and each
  checkpoint segment, which keeps the request's tag as its Slurm comment).
  `t-<request id>.submitted` appears once the jobs are queued; until then the file
  may belong to a submission in flight and only goes after `GRACE_S`.
- `j-<job id>.env`: a cell about to start in a running allocation.
- `<8 hex>.env`: written by older versions; goes after `LEGACY_GRACE_S`.
Other files are someone else's and are left alone.

Pure: commands in, names out; `sweep` at the bottom is the one I/O edge.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rv_jupyter.remote import Connection

GRACE_S = 600
LEGACY_GRACE_S = 86400
_SPLIT = "@@rv-squeue"
_OK = "@@rv-ok"
# Completing or ended jobs will not read anything any more; squeue may still list them.
_DONE_STATES = {"CG", "CD", "CA", "F", "TO", "NF", "PR", "OOM", "BF", "DL", "RV", "SE"}
_REQUEST = re.compile(r"^t-([0-9a-f]{6,32})\.(env|submitted)$")
_JOB = re.compile(r"^j-([0-9]+)\.env$")
_LEGACY = re.compile(r"^[0-9a-f]{8}\.env$")


def request_stem(request_id: str) -> str:
    """The file stem of a request's env file (its jobs carry the tag `rv:<id>`)."""
    return f"t-{request_id}"


def job_stem(job_id: str) -> str:
    """The file stem of the env file of a cell starting in allocation `job_id`."""
    return f"j-{job_id}"


def write_command(env_dir: str, stem: str) -> str:
    """Write stdin to `<stem>.env`, 0600 in a 0700 directory (the values never reach a
    command line)."""
    d = shlex.quote(env_dir)
    return (
        f"umask 077 && mkdir -p -- {d} && chmod 700 -- {d} && "
        f"cat > {shlex.quote(f'{env_dir}/{stem}.env')}"
    )


def submitted_command(env_dir: str, stem: str, job_ids: Collection[str]) -> str:
    """Mark a request's jobs as queued: from now on its env file goes with its jobs."""
    ids = " ".join(shlex.quote(i) for i in job_ids)
    return f"printf '%s\\n' {ids} > {shlex.quote(f'{env_dir}/{stem}.submitted')}"


def read_command(env_dir: str) -> str:
    """List the directory (mtime, name) and, only if it holds anything, the user's jobs."""
    return (
        f"cd -- {shlex.quote(env_dir)} 2>/dev/null || exit 0; "
        "rv_ls=$(find . -maxdepth 1 -type f -printf '%T@ %f\\n'); "
        '[ -n "$rv_ls" ] || exit 0; date +%s; printf \'%s\\n\' "$rv_ls"; '
        f"echo {_SPLIT}; squeue --local --me -h -o '%i|%k|%t' && echo {_OK}"
    )


def stale(output: str, *, gone: Collection[str] = ()) -> list[str]:
    """The files of `read_command`'s output whose jobs are gone (`gone`: ids rv has just
    cancelled, which squeue may still list). Nothing if the queue could not be read."""
    head, _, queue = output.partition(_SPLIT)
    if _OK not in queue:
        return []
    lines = head.split("\n")
    try:
        now = float(lines[0])
    except ValueError:
        return []
    files: dict[str, float] = {}
    for line in lines[1:]:
        mtime, _, name = line.partition(" ")
        try:
            files[name] = float(mtime)
        except ValueError:
            continue
    live_ids: set[str] = set()
    live_tags: set[str] = set()
    for line in queue.partition(_OK)[0].split("\n"):
        job_id, _, rest = line.strip().partition("|")
        comment, _, state = rest.rpartition("|")
        if not job_id or job_id in gone or state.strip() in _DONE_STATES:
            continue
        live_ids.add(job_id)
        if m := re.match(r"^rv:([0-9a-f]{6,32}):", comment):
            live_tags.add(m.group(1))
    out = []
    for name, when in sorted(files.items()):
        age = now - when
        if m := _REQUEST.match(name):
            if m.group(1) in live_tags:
                continue
            queued = f"t-{m.group(1)}.submitted" in files
            if m.group(2) == "submitted" or queued or age > GRACE_S:
                out.append(name)
        elif m := _JOB.match(name):
            if m.group(1) not in live_ids:
                out.append(name)
        elif _LEGACY.match(name) and age > LEGACY_GRACE_S:
            out.append(name)
    return out


def remove_command(env_dir: str, names: Collection[str]) -> str:
    """Remove these files of the directory."""
    return f"cd -- {shlex.quote(env_dir)} && rm -f -- " + " ".join(shlex.quote(n) for n in names)


async def sweep(connection: Connection, env_dir: str, *, gone: Collection[str] = ()) -> list[str]:
    """Remove the stale env files of `env_dir`; returns their names."""
    done = await connection.run(read_command(env_dir), check=False)
    doomed = stale(done.stdout, gone=gone)
    if doomed:
        await connection.run(remove_command(env_dir, doomed), check=False)
    return doomed
