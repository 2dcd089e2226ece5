"""What the watchdog reads of its job on the node: Slurm's times and final state, the
job's nodes, and the OOM killer's count in the job's cgroup. Stdlib only, Python 3.8
(shipped beside watcher.py); every reader answers None or [] rather than fail.
"""

from __future__ import annotations

import datetime
import os
import subprocess


def start_end(job_id: str) -> tuple[float, float] | None:
    """The job's start and end (walltime) as Unix times, from Slurm once; None if unknown."""
    out = _output(["squeue", "-h", "-j", job_id, "-o", "%S %e"]).split()
    try:
        start, end = (datetime.datetime.fromisoformat(t).timestamp() for t in out)
    except ValueError:
        return None
    return start, end


def slurm_end(job_id: str) -> tuple[str, str] | None:
    """(State, ExitCode) as accounting has them, or None."""
    out = _output(["sacct", "-X", "-n", "-P", "-o", "State,ExitCode", "-j", job_id])
    line = out.strip().splitlines()[0] if out.strip() else ""
    state, _, code = line.partition("|")
    return (state.split()[0], code) if state else None


def oom_kills(
    job_id: str, proc_cgroup: str = "/proc/self/cgroup", root: str = "/sys/fs/cgroup"
) -> int | None:
    """OOM kills so far in the job's memory cgroup (all its steps), or None when this
    node has none to read (no cgroup plugin, another layout).

    cgroup v2 (`0::/system.slice/slurmstepd.scope/job_7/step_batch/...`): the job
    directory's memory.events, which counts its whole subtree. v1 (`N:memory:/slurm/
    uid_U/job_7/step_batch`): `oom_kill` of memory.oom_control (kernel >= 4.13) summed
    over the job directory and the steps below it."""
    try:
        with open(proc_cgroup) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = [*line.split(":", 2), "", ""][:3]
        parts = path.strip("/").split("/")
        if f"job_{job_id}" not in parts:
            continue
        job = "/".join(parts[: parts.index(f"job_{job_id}") + 1])
        if controllers == "":
            return _counter(os.path.join(root, job, "memory.events"), "oom_kill")
        if "memory" in controllers.split(","):
            base = os.path.join(root, "memory", job)
            counts = [
                _counter(os.path.join(d, "memory.oom_control"), "oom_kill")
                for d, _, _ in os.walk(base)
            ]
            known = [c for c in counts if c is not None]
            return sum(known) if known else None
    return None


def _counter(path: str, name: str) -> int | None:
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == name and value.strip().isdigit():
                    return int(value)
    except OSError:
        pass
    return None


def job_nodes() -> list[str]:
    """The job's nodes in srun's task order when it has several, else [] (this node)."""
    if os.environ.get("SLURM_JOB_NUM_NODES", "1") in ("", "1"):
        return []
    listed = os.environ.get("SLURM_JOB_NODELIST", "")
    return _output(["scontrol", "show", "hostnames", listed]).split() if listed else []


def _output(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=3).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
