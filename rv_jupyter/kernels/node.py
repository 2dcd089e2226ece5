"""The node side of a remote kernel, seen from the laptop: putting the agent (agent.py)
on the cluster once, the srun line that runs a program of it inside the job, and the
kernel's launch there."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shlex
import time
from importlib import resources
from typing import Any

from rv_jupyter.errors import KernelError
from rv_jupyter.slurm import srun

KERNEL_START_S = 300  # imports from a cold parallel filesystem can take minutes


def agent_source() -> str:
    """agent.py's text, as the cluster's Python will run it."""
    return resources.files("rv_jupyter.kernels").joinpath("agent.py").read_text()


async def aupload_agent(cluster: Any, paths: Any) -> str:
    """Put agent.py on the cluster (named by its hash, so written once per version);
    returns its quoted path. One round trip."""
    source = agent_source()
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    q = shlex.quote(f"{paths.state}/agent-{digest}.py")
    await cluster.arun(
        f"umask 077; mkdir -p {shlex.quote(paths.state)} && "
        f"{{ test -s {q} || {{ cat > {q}.tmp && mv {q}.tmp {q}; }}; }}",
        stdin=source,
        retry=True,
    )
    return q


def srun_python(job: str, node: str, python: str) -> str:
    """`srun ... python` as a step of `job` on `node` (unbuffered: the relay's frames
    must not wait for a newline)."""
    return srun.step(job, python, node=node, unbuffered=True)


async def alaunch_kernel(
    cluster: Any, *, step: str, agent: str, directory: str, remote_id: str, python: str,
    connection: dict[str, Any], warn_s: int, where: str,
) -> dict[str, Any]:  # fmt: skip
    """Start ipykernel through the agent as a step of the job; what the agent wrote of
    it once it listens (ports, step id). KernelError with `ended` if it did not start."""
    launch = (
        f"{step} {agent} launch {shlex.quote(directory)} {shlex.quote(remote_id)} "
        f"--warn {int(warn_s)} -- {python} -m ipykernel_launcher"
    )
    file = shlex.quote(f"{directory}/{remote_id}")
    # The connection file arrives on stdin (never on a command line); the step is
    # detached from this SSH channel so the kernel outlives a dropped connection. Never
    # retried: a second run after a drop would start a second kernel.
    await cluster.connection.run(
        f"umask 077; mkdir -p {shlex.quote(directory)} && cat > {file}.json && "
        f"{{ setsid nohup {launch} > {file}.log 2>&1 < /dev/null & }}",
        stdin=json.dumps(connection), retry=False,
    )  # fmt: skip
    deadline = time.monotonic() + KERNEL_START_S
    while True:
        out = await cluster.arun(
            f"cat {file}.ports 2>/dev/null || {{ cat {file}.exit 2>/dev/null && "
            f"{{ echo; echo ---; tail -n 20 {file}.log; }}; }}; true",
            retry=True,  # a read
        )
        if out.startswith("{") and '"ports"' in out.splitlines()[0]:
            info: dict[str, Any] = json.loads(out.splitlines()[0])
            return info
        if "---" in out:
            raise KernelError(
                f"The kernel on {where} did not start.\n" + out.split("---", 1)[1].strip()[-2000:],
                hint="Does `kernels.python` in your rv config have ipykernel? "
                "(`python -m pip install ipykernel` in that environment)",
                ended="the kernel did not start",
            )
        if time.monotonic() > deadline:
            raise KernelError(f"The kernel on {where} did not start in {KERNEL_START_S} s.")
        await asyncio.sleep(0.25)
