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
    for name in out:
        if not name.isidentifier():
            raise RequestError(f"--out {name!r} is not a variable name.", hint="--out x,y")
    paths = RemotePaths(await cluster.auser())
    cid = secrets.token_hex(4)
    cell = f".rv-cells/{cid}.{'sh' if bash else 'py'}"
    result_file = f".rv-cells/{cid}.json"
    ws = (
        await push(cluster, local_root, extra={cell: source, ".rv-cells/run.py": BOOTSTRAP})
    ).remote
    env_text = (env or EnvStore()).env_file()
    env_path = f"{paths.env}/{cid}.env"
    if env_text:
        # On stdin into a file only the user can read; the cell sources and deletes it.
        await cluster.connection.run(
            f"umask 077 && mkdir -p -- {shlex.quote(paths.env)} && cat > {shlex.quote(env_path)}",
            stdin=env_text,
            retry=False,
        )
    own = allocation is None
    if allocation is None:
        allocation = await Allocator(cluster).allocate(request or Request())
    try:
        inner = (
            f"bash {shlex.quote(cell)}"
            if bash
            else "python3 -u .rv-cells/run.py "
            + " ".join(shlex.quote(a) for a in (cell, result_file, *out))
        )
        if env_text:
            q = shlex.quote(env_path)
            inner = f"set -a; . {q}; set +a; rm -f -- {q}; {inner}"
        modules = cluster.config.defaults.modules
        if modules:
            load = "module load " + " ".join(shlex.quote(m) for m in modules)
            inner = f"{{ type module >/dev/null 2>&1 && {load}; }}; {inner}"
        if allocation.nodes > 1:
            inner = MULTI_NODE_ENV + inner
            spread = f"--nodes={allocation.nodes} --ntasks-per-node=1 --label"
        else:
            spread = "--nodes=1 --ntasks=1"
        cmd = (
            f"srun --jobid={shlex.quote(allocation.job_id)} --overlap {spread} "
            f"--chdir={shlex.quote(ws)} bash -c {shlex.quote(inner)}"
        )
        t0 = time.monotonic()
        code = await cluster.connection.stream(cmd, on_output)
        elapsed = time.monotonic() - t0
        values, problems = {}, {}
        if out and not bash and code == 0:
            got = json.loads(await cluster.arun(f"cat -- {shlex.quote(ws + '/' + result_file)}"))
            values, problems = got["values"], got["problems"]
    finally:
        if env_text:  # gone already if the cell started; make sure either way
            await cluster.connection.run(f"rm -f -- {shlex.quote(env_path)}", check=False)
        if own:
            await allocation.acancel()
    return RunResult(
        job_id=allocation.job_id,
        exit_code=code,
        elapsed_s=elapsed,
        sus=elapsed / 3600 * allocation.su_per_hour,
        workspace=ws,
        logs=f"{paths.logs}/{allocation.name}-{allocation.job_id}.{{out,err}}",
        checkpoints=f"{paths.checkpoints}/{allocation.name}-{allocation.job_id}",
        values=values,
        problems=problems,
    )
