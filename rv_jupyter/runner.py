"""`%%rv_run`'s core: sync the folder, run the cell in an allocation, stream, bring back.

The cell runs with `srun --overlap` inside an allocation (the one given, or one the
fan-out allocator gets for this cell and releases afterwards), from the synced
workspace on scratch, so its output reaches the notebook line by line over the one SSH
connection. Values named in `out` come back as JSON, never pickle: a compromised or
confused remote side cannot run code on the laptop.
"""

from __future__ import annotations

import html
import json
import secrets
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rv_jupyter.allocator.fanout import Allocator
from rv_jupyter.allocator.request import Request
from rv_jupyter.cluster import RemotePaths
from rv_jupyter.envstore import EnvStore
from rv_jupyter.errors import RequestError
from rv_jupyter.sync import push

if TYPE_CHECKING:
    from rv_jupyter.allocator.allocation import Allocation
    from rv_jupyter.session import Cluster

# Runs the cell as __main__, then writes the requested variables as JSON; a value JSON
# cannot hold is reported by name and type instead.
BOOTSTRAP = """\
import json, os, sys
cell, out_path, names = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.path.insert(0, os.getcwd())  # the workspace, so the cell imports the project's modules
sys.argv = [cell]
ns = {"__name__": "__main__"}
exec(compile(open(cell).read(), "<rv cell>", "exec"), ns)
values, problems = {}, {}
for name in names:
    if name not in ns:
        problems[name] = "not defined by the cell"
        continue
    try:
        json.dumps(ns[name])
        values[name] = ns[name]
    except (TypeError, ValueError):
        problems[name] = type(ns[name]).__name__
if os.environ.get("NODE_RANK", "0") == "0":  # on several nodes, rank 0 answers
    with open(out_path, "w") as fh:
        json.dump({"values": values, "problems": problems}, fh)
"""

# On an allocation of several nodes the cell runs once per node, with what torchrun and
# friends expect (the first node is the master; the port derives from the job id).
MULTI_NODE_ENV = (
    'export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1); '
    "export MASTER_PORT=$((20000 + SLURM_JOB_ID % 20000)); "
    'export NNODES="$SLURM_NNODES"; export NODE_RANK="$SLURM_PROCID"; '
)


@dataclass
class RunResult:
    """How a cell's run ended and where its files are."""

    job_id: str
    exit_code: int | None
    elapsed_s: float
    sus: float
    workspace: str
    logs: str
    checkpoints: str
    values: dict[str, Any] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    jobs: list[str] = field(default_factory=list)  # every job that ran it (segments)

    @property
    def ok(self) -> bool:
        """The cell finished without error."""
        return self.exit_code == 0

    def __repr__(self) -> str:
        return f"<RunResult {str(self).splitlines()[0]}>"

    def __str__(self) -> str:
        state = "finished" if self.ok else f"failed (exit {self.exit_code})"
        return (
            f"Job {self.job_id} {state} in {self.elapsed_s:.1f} s, {self.sus:.2f} SUs.\n"
            f"workspace {self.workspace}\nlogs {self.logs}\ncheckpoints {self.checkpoints}"
        )

    def _repr_html_(self) -> str:
        return "<br>".join(html.escape(line) for line in str(self).splitlines())


@dataclass
class PreparedCell:
    """A cell synced to the workspace on scratch, with its secrets waiting in a 0600 file."""

    cluster: Cluster
    workspace: str
    cell: str  # relative to the workspace
    result_file: str  # relative to the workspace
    out: tuple[str, ...]
    bash: bool
    env_path: str | None
    paths: RemotePaths

    def inner(self, *, modules: bool = True) -> str:
        """The shell command that runs the cell, from the workspace."""
        run = (
            f"bash {shlex.quote(self.cell)}"
            if self.bash
            else "python3 -u .rv-cells/run.py "
            + " ".join(shlex.quote(a) for a in (self.cell, self.result_file, *self.out))
        )
        names = self.cluster.config.defaults.modules
        if modules and names:
            load = "module load " + " ".join(shlex.quote(m) for m in names)
            run = f"{{ type module >/dev/null 2>&1 && {load}; }}; {run}"
        return run

    def env_prefix(self) -> str:
        """Read the secrets into the environment srun passes on, then delete the file."""
        if not self.env_path:
            return ""
        q = shlex.quote(self.env_path)
        return f"set -a; . {q}; set +a; rm -f -- {q}; "

    async def values(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The --out values the cell left (and why any could not come back)."""
        if not self.out or self.bash:
            return {}, {}
        path = f"{self.workspace}/{self.result_file}"
        text = await self.cluster.arun(f"cat -- {shlex.quote(path)} 2>/dev/null || true")
        if not text.strip():
            return {}, {name: "the cell did not finish" for name in self.out}
        got = json.loads(text)
        return got["values"], got["problems"]

    async def discard_env(self) -> None:
        """Remove the secrets file if the job never read it."""
        if self.env_path:
            cmd = f"rm -f -- {shlex.quote(self.env_path)}"
            await self.cluster.connection.run(cmd, check=False)


def spread(nodes: int, inner: str) -> tuple[str, ...]:
    """srun's options and the task for one task per node (a torchrun-style cell)."""
    if nodes > 1:
        return (f"--nodes={nodes}", "--ntasks-per-node=1", "--label", "bash", "-c",
                MULTI_NODE_ENV + inner)  # fmt: skip
    return ("--nodes=1", "--ntasks=1", "bash", "-c", inner)


async def prepare_cell(
    cluster: Cluster, source: str, *, local_root: Path, bash: bool = False,
    out: Sequence[str] = (), env: EnvStore | None = None,
) -> PreparedCell:  # fmt: skip
    """Check --out, sync `local_root` with the cell in it, and leave the secrets file."""
    for name in out:
        if not name.isidentifier():
            raise RequestError(f"--out {name!r} is not a variable name.", hint="--out x,y")
    paths = RemotePaths(await cluster.auser())
    cid = secrets.token_hex(4)
    cell = f".rv-cells/{cid}.{'sh' if bash else 'py'}"
    ws = (
        await push(cluster, local_root, extra={cell: source, ".rv-cells/run.py": BOOTSTRAP})
    ).remote
    env_text = (env or EnvStore()).env_file()
    env_path = f"{paths.env}/{cid}.env" if env_text else None
    if env_path:
        # On stdin into a file only the user can read; whoever runs the cell sources and
        # deletes it.
        await cluster.connection.run(
            f"umask 077 && mkdir -p -- {shlex.quote(paths.env)} && cat > {shlex.quote(env_path)}",
            stdin=env_text,
            retry=False,
        )
    return PreparedCell(
        cluster, ws, cell, f".rv-cells/{cid}.json", tuple(out), bash, env_path, paths
    )


async def run_cell(
    cluster: Cluster,
    source: str,
    *,
    local_root: Path,
    on_output: Callable[[str, bool], None],
    bash: bool = False,
    out: Sequence[str] = (),
    allocation: Allocation | None = None,
    request: Request | None = None,
    env: EnvStore | None = None,
) -> RunResult:
    """Sync `local_root`, run `source` in an allocation, stream its output, return results."""
    cell = await prepare_cell(cluster, source, local_root=local_root, bash=bash, out=out, env=env)
    own = allocation is None
    try:
        if allocation is None:
            allocation = await Allocator(cluster).allocate(request or Request())
        # The secrets are read on the login node into srun's environment, which it hands
        # to every task: no file left for a second node to race the first one for.
        cmd = cell.env_prefix() + shlex.join(
            ["srun", f"--jobid={allocation.job_id}", "--overlap",
             f"--chdir={cell.workspace}", *spread(allocation.nodes, cell.inner())]
        )  # fmt: skip
        t0 = time.monotonic()
        code = await cluster.connection.stream(cmd, on_output)
        elapsed = time.monotonic() - t0
        values, problems = await cell.values() if code == 0 else ({}, {})
    finally:
        await cell.discard_env()  # gone already if the cell started; make sure either way
        if own and allocation is not None:
            await allocation.acancel()
    return RunResult(
        job_id=allocation.job_id,
        exit_code=code,
        elapsed_s=elapsed,
        sus=elapsed / 3600 * allocation.su_per_hour,
        workspace=cell.workspace,
        logs=f"{cell.paths.logs}/{allocation.name}-{allocation.job_id}.{{out,err}}",
        checkpoints=f"{cell.paths.checkpoints}/{allocation.name}-{allocation.job_id}",
        values=values,
        problems=problems,
    )
