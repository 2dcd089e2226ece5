"""`srun --jobid=J --overlap`: a job step inside a running allocation.

Why this form: `--jobid` makes srun a step of a job that already holds the GPUs instead
of a new allocation, and `--overlap` (Slurm >= 20.11) lets the step share that job's
CPUs and GPUs with the steps already running there (the batch shell, a kernel, the
sampler); without it a second step waits until the first ends. The task layout is
always given: a step otherwise takes the job's (all its nodes and tasks), and the
command would run once per task of the job.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence


def layout(nodes: int = 1) -> tuple[str, ...]:
    """srun's options for one task on each of `nodes` nodes (labelled lines if several)."""
    if nodes > 1:
        # --label prefixes each line with its task number: the outputs of the nodes
        # interleave in one stream.
        return (f"--nodes={int(nodes)}", "--ntasks-per-node=1", "--label")
    return ("--nodes=1", "--ntasks=1")


def step_argv(
    job_id: str,
    argv: Sequence[str],
    *,
    nodes: int = 1,
    node: str | None = None,
    name: str | None = None,
    chdir: str | None = None,
    unbuffered: bool = False,
) -> list[str]:
    """The argv of a step of `job_id` running `argv` (for callers that wrap it further).

    `node` pins the step to one node of the job (`-w`), `name` names the step (`-J`,
    as sacct and squeue --steps show it), `chdir` is its working directory and
    `unbuffered` passes output on as it comes (srun otherwise waits for a newline).
    """
    out = ["srun", f"--jobid={job_id}", "--overlap"]
    if chdir is not None:
        out.append(f"--chdir={chdir}")
    out += layout(nodes)
    if node is not None:
        out += ["-w", node]
    if name is not None:
        out += ["-J", name]
    if unbuffered:
        out.append("--unbuffered")
    return [*out, *argv]


def step(
    job_id: str,
    command: str | Sequence[str],
    *,
    nodes: int = 1,
    node: str | None = None,
    name: str | None = None,
    chdir: str | None = None,
    unbuffered: bool = False,
) -> str:
    """The shell command of a step of `job_id` (options as in `step_argv`).

    A list is an argv, every word quoted. A string is shell text put after srun's
    options as it is: the caller quoted it, and may complete it (a python the caller
    then gives a script and its arguments).
    """
    argv = [] if isinstance(command, str) else list(command)
    words = step_argv(
        job_id, argv, nodes=nodes, node=node, name=name, chdir=chdir, unbuffered=unbuffered
    )
    text = shlex.join(words)
    return f"{text} {command}" if isinstance(command, str) else text
