"""The node side of a remote kernel, seen from the laptop: putting the agent (agent.py)
on the cluster once, and the srun line that runs a program of it inside the job."""

from __future__ import annotations

import hashlib
import shlex
from importlib import resources
from typing import Any


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
    )
    return q


def srun_python(job: str, node: str, python: str) -> str:
    """`srun ... python` as a step of `job` on `node` (unbuffered: the relay's frames
    must not wait for a newline)."""
    return (
        f"srun --jobid={shlex.quote(job)} --overlap --nodes=1 --ntasks=1 "
        f"-w {shlex.quote(node)} --unbuffered {python}"
    )
