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
import re
import secrets
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rv_jupyter.allocator.fanout import Allocator
from rv_jupyter.allocator.request import Request
from rv_jupyter.errors import ConnectionLost, ParseError, RequestError, clip
from rv_jupyter.facts import RemotePaths
from rv_jupyter.jobs import envfiles
from rv_jupyter.slurm import srun
from rv_jupyter.workspace.envstore import EnvStore
from rv_jupyter.workspace.sync import push

if TYPE_CHECKING:
    from rv_jupyter.allocator.allocation import Allocation
    from rv_jupyter.cluster.handle import Cluster

# Runs the cell as __main__, then writes the requested variables as JSON; a value JSON
# cannot hold is reported by name and type instead. An error in the cell shows the
# traceback from the cell's own frame on (rv's frames above it mean nothing to the
# user), with the cell's lines, as IPython would show them.
BOOTSTRAP = """\
import json, linecache, os, sys, traceback
cell, out_path, names = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.path.insert(0, os.getcwd())  # the workspace, so the cell imports the project's modules
sys.argv = [cell]
ns = {"__name__": "__main__"}
source = open(cell).read()
linecache.cache["<cell>"] = (len(source), None, source.splitlines(True), "<cell>")
try:
    exec(compile(source, "<cell>", "exec"), ns)
except SystemExit:
    raise
except BaseException as exc:
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != "<cell>":
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)
    sys.exit(1)
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


# Runs srun on the login node and ends the step when nobody listens any more. OpenSSH
# neither signals nor kills a session's command when its channel closes or the
# connection drops (no pty, so no SIGHUP), and srun then dies of SIGPIPE on its next
# write without ending the step: the cell ran on with nobody listening. So srun writes
# into pipes of this relay, which copies to the channel and watches it: poll() reports
# the channel's pipe as broken (POLLERR) without a byte written, and a write into it
# fails with EPIPE. Then SIGTERM makes srun end the whole step (every process of it,
# SIGKILL after Slurm's KillWait), with its last words drained here instead of killing
# it first. Python 3.6 or later, as on the login nodes.
STEP_GUARD = """\
import os, select, signal, subprocess, sys, time
step = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
relay = {step.stdout.fileno(): 1, step.stderr.fileno(): 2}
poll = select.poll()
for fd in relay:
    poll.register(fd, select.POLLIN)
for fd in (1, 2):
    poll.register(fd, 0)
gone = None
def end():
    global gone
    if gone is None:
        gone = time.monotonic()
        step.send_signal(signal.SIGTERM)
while relay:
    if gone is not None and time.monotonic() - gone > 60:
        step.kill()
        break
    for fd, _ in poll.poll(None if gone is None else 1000):
        if fd in (1, 2):
            poll.unregister(fd)
            end()
            continue
        data = os.read(fd, 65536)
        if not data:
            poll.unregister(fd)
            del relay[fd]
        while data and gone is None:
            try:
                data = data[os.write(relay[fd], data):]
            except OSError:
                end()
code = step.wait()
sys.exit(128 - code if code < 0 else code)
"""
# The line srun adds to stderr when a task fails: the cell's own error already says it.
_SRUN_EXIT = re.compile(r"^srun: error: \S+: tasks? [\d,-]+: Exited with exit code \d+\s*$")


def guarded(srun: Sequence[str]) -> str:
    """The login-node command for a streamed `srun`: ended with the SSH channel (see
    STEP_GUARD); plain srun where the login node has no python3."""
    plain = shlex.join(srun)
    guard = shlex.join(["python3", "-c", STEP_GUARD, *srun])
    return f"if command -v python3 >/dev/null 2>&1; then exec {guard}; else exec {plain}; fi"


def srun_noise(line: str) -> bool:
    """Whether a stderr line is srun's own note that a task exited non-zero."""
    return bool(_SRUN_EXIT.match(line))


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
    job_goes_on: bool = False  # the allocation outlives the cell (it was %rv_up's)

    @property
    def ok(self) -> bool:
        """The cell finished without error."""
        return self.exit_code == 0

    def __repr__(self) -> str:
        return f"<RunResult {str(self).splitlines()[0]}>"

    def __str__(self) -> str:
        state = "finished" if self.ok else "failed"
        code = "" if self.ok else f" (exit {self.exit_code})"
        after = (
            f" (the job keeps running: `%rv_stop {self.job_id}`)"
            if self.job_goes_on
            else "; the job has ended"
        )
        return (
            f"Cell {state} in job {self.job_id}{code} in {self.elapsed_s:.1f} s, "
            f"{self.sus:.2f} SUs{after}.\n"
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
    env_path: str | None  # once delivered (deliver_env)
    paths: RemotePaths
    env_text: str = field(default="", repr=False)

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
        text = await self.cluster.arun(
            f"cat -- {shlex.quote(path)} 2>/dev/null || true", retry=True
        )
        if not text.strip():
            return {}, {name: "the cell did not finish" for name in self.out}
        return read_values(text, path)

    async def deliver_env(self, stem: str) -> None:
        """Leave the values in a 0600 file named for the jobs that will read it
        (envfiles), as late as possible; sweep the files of jobs that never will."""
        if not self.env_text:
            return
        env_dir = self.paths.env
        # On stdin into a file only the user can read; whoever runs the cell sources and
        # deletes it. The listing for the sweep comes back in the same round trip.
        done = await self.cluster.connection.run(
            f"{{ {envfiles.write_command(env_dir, stem)}; }} || exit 1; "
            f"{envfiles.read_command(env_dir)}; true",
            stdin=self.env_text,
            retry=False,
        )
        self.env_path = f"{env_dir}/{stem}.env"
        doomed = envfiles.stale(done.stdout)
        if doomed:
            await self.cluster.connection.run(envfiles.remove_command(env_dir, doomed), check=False)

    async def discard_env(self) -> None:
        """Remove the secrets file if the job never read it."""
        if self.env_path:
            cmd = f"rm -f -- {shlex.quote(self.env_path)}"
            await self.cluster.connection.run(cmd, check=False)


def read_values(text: str, path: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The bootstrap's --out file: {"values": {...}, "problems": {...}}."""
    try:
        got = json.loads(text)
        values, problems = got["values"], got["problems"]
        if not (isinstance(values, dict) and isinstance(problems, dict)):
            raise TypeError("not two objects")
    except (ValueError, KeyError, TypeError) as exc:
        raise ParseError(
            f"The cell's --out values in {path} are unreadable ({exc})",
            command=f"cat {path}",
            line=clip(text, 120),
            hint="Was the file changed while the cell ran, or the disk full? Run the cell again.",
        ) from None
    return values, {str(k): str(v) for k, v in problems.items()}


def spread(nodes: int, inner: str) -> tuple[str, ...]:
    """srun's options and the task for one task per node (a torchrun-style cell)."""
    return (*srun.layout(nodes), *node_task(nodes, inner))


def node_task(nodes: int, inner: str) -> tuple[str, ...]:
    """What each node's task runs: bash, told its rank and peers if there are several."""
    return ("bash", "-c", MULTI_NODE_ENV + inner if nodes > 1 else inner)


async def prepare_cell(
    cluster: Cluster, source: str, *, local_root: Path, bash: bool = False,
    out: Sequence[str] = (), env: EnvStore | None = None, notify: bool = False,
) -> PreparedCell:  # fmt: skip
    """Check --out and sync `local_root` with the cell in it (the values wait for
    `PreparedCell.deliver_env`; the notification channels only with `notify`, for a
    batch job's watchdog)."""
    for name in out:
        if not name.isidentifier():
            raise RequestError(f"--out {name!r} is not a variable name.", hint="--out x,y")
    paths = RemotePaths(await cluster.auser())
    cid = secrets.token_hex(4)
    cell = f".rv-cells/{cid}.{'sh' if bash else 'py'}"
    ws = (
        await push(cluster, local_root, extra={cell: source, ".rv-cells/run.py": BOOTSTRAP})
    ).remote
    # The values reach the cluster only when the jobs that read them are known (and, for
    # a cell in an allocation, running): see PreparedCell.deliver_env.
    env_text = (env or EnvStore()).env_file(notify=notify)
    return PreparedCell(
        cluster, ws, cell, f".rv-cells/{cid}.json", tuple(out), bash, None, paths, env_text
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
            asked = request or Request.from_config(cluster.config.defaults)
            allocation = await Allocator(cluster).allocate(asked)
        await cell.deliver_env(envfiles.job_stem(allocation.job_id))
        # The secrets are read on the login node into srun's environment, which it hands
        # to every task: no file left for a second node to race the first one for.
        step = srun.step_argv(
            allocation.job_id, node_task(allocation.nodes, cell.inner()),
            nodes=allocation.nodes, chdir=cell.workspace,
        )  # fmt: skip
        cmd = cell.env_prefix() + guarded(step)

        def show(text: str, is_err: bool) -> None:
            if not (is_err and srun_noise(text)):
                on_output(text, is_err)

        t0 = time.monotonic()
        try:
            code = await cluster.connection.stream(cmd, show)
        except ConnectionLost:
            code = None
        if code is None:
            # The channel ended with no exit status: the connection went away, and with
            # it (see STEP_GUARD) the cell's step on the node.
            raise ConnectionLost(
                f"The connection dropped while the cell ran in job {allocation.job_id}; the "
                "cell was stopped on the node.",
                hint="Run it again once the connection is back"
                + (
                    ""
                    if own
                    else f" (the job itself keeps running: `%rv_stop {allocation.job_id}`)"
                )
                + ".",
            )
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
        job_goes_on=not own,
    )
