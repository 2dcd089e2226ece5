"""Batch scripts for the four job shapes: simple, multi-node (torchrun), Ray, checkpoint.

`render(spec)` is pure. Every value that came from a user either passes a strict
pattern (values on `#SBATCH` lines, which sbatch reads before any shell could quote
them) or is shell-quoted with `shlex.quote`; the command is an argv list, never text
pasted into the script.
"""

from __future__ import annotations

import functools
import re
import shlex
from typing import Literal

from pydantic import Field, field_validator, model_validator

from rv_jupyter.facts.rivanna import RemotePaths
from rv_jupyter.jobs import mail as _mail
from rv_jupyter.jobs import watch as _watch
from rv_jupyter.jobs.mail import Mail
from rv_jupyter.jobs.strict import Strict
from rv_jupyter.jobs.watch import Watcher
from rv_jupyter.slurm import squeue

# sbatch parses #SBATCH lines itself: no quoting helps there, so those values must be
# plain words. A newline would start a directive of the user's choosing.
_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")
_FEATURES = re.compile(r"^[A-Za-z0-9_.,&|]+$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")

CHECKPOINT_MIN_BUFFER_S = 60
CHECKPOINT_BUFFER_S = 600


def checkpoint_buffer(segment_s: int) -> int:
    """Warning time before a segment ends: ten minutes, less for short segments (a
    quarter of one), never under the minute of slack Slurm's signal timing has."""
    return max(CHECKPOINT_MIN_BUFFER_S, min(CHECKPOINT_BUFFER_S, segment_s // 4))


class Checkpoint(Strict):
    """Checkpoint-restart: run in segments until `total_s` of runtime is reached."""

    total_s: int = Field(gt=0)
    buffer_s: int = Field(default=CHECKPOINT_BUFFER_S, ge=CHECKPOINT_MIN_BUFFER_S)


class JobSpec(Strict):
    """Everything a batch script needs; defaults are the schema."""

    kind: Literal["simple", "multinode", "ray", "checkpoint"] = "simple"
    name: str
    user: str
    command: tuple[str, ...] = Field(min_length=1)
    partition: str
    account: str | None = None
    time_s: int = Field(gt=0)
    time_min_s: int | None = None
    nodes: int = Field(default=1, ge=1)
    gres: str | None = None  # per node, e.g. "gpu:a6000:4"
    cpus_per_task: int = Field(default=1, ge=1)
    mem_gb: int | None = Field(default=None, ge=1)
    constraint: str | None = None
    workdir: str | None = None
    modules: tuple[str, ...] = ()
    env_file: str | None = None  # on the cluster; sourced then deleted by the job
    cache_env: dict[str, str] = Field(default_factory=dict)
    checkpoint: Checkpoint | None = None
    scratch_root: str = "/scratch"
    # Fan-out: every sibling carries `tag` as its Slurm comment; the first to run takes
    # the claim directory and cancels the others, which leave without running anything.
    tag: str | None = None
    claim_dir: str | None = None
    rank: int = Field(default=0, ge=0)
    watch: Watcher | None = None  # its channels come in the env file
    mail: Mail | None = None  # set by the job that does the work, on itself

    @field_validator("name", "partition", "account")
    @classmethod
    def _plain_word(cls, v: str | None) -> str | None:
        if v is not None and not _WORD.match(v):
            raise ValueError(
                f"{v!r} is not allowed here: use letters, digits and . _ + - only"
                " (it goes on an #SBATCH line, where nothing can be quoted)"
            )
        return v

    @field_validator("tag")
    @classmethod
    def _tag(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^rv:[0-9a-f]{6,32}$", v):
            raise ValueError(f"{v!r} is not an rv request tag")
        return v

    @field_validator("gres")
    @classmethod
    def _gres(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^gpu(:[A-Za-z0-9_.]+)?:\d+$", v):
            raise ValueError(f"{v!r} is not a GPU request like gpu:a6000:2")
        return v

    @field_validator("constraint")
    @classmethod
    def _features(cls, v: str | None) -> str | None:
        if v is not None and not _FEATURES.match(v):
            raise ValueError(f"{v!r} is not a feature expression like a100_80gb")
        return v

    @field_validator("user")
    @classmethod
    def _user(cls, v: str) -> str:
        if not _USER.match(v):
            raise ValueError(f"{v!r} is not a user name")
        return v

    @model_validator(mode="after")
    def _shape(self) -> JobSpec:
        if self.kind == "checkpoint" and self.checkpoint is None:
            raise ValueError("a checkpoint job needs checkpoint=Checkpoint(total_s=...)")
        if self.kind in ("multinode", "ray") and self.nodes < 2:
            raise ValueError(f"a {self.kind} job needs nodes >= 2")
        if self.time_min_s is not None and self.time_min_s > self.time_s:
            raise ValueError("time_min_s must not exceed time_s")
        return self

    @property
    def paths(self) -> RemotePaths:
        """The product's directories for this user."""
        return RemotePaths(self.user, self.scratch_root)


def slurm_time(seconds: int) -> str:
    """Seconds as Slurm's D-HH:MM:SS (rounded up to whole minutes, as Slurm counts)."""
    minutes = -(-seconds // 60)
    d, rest = divmod(minutes, 24 * 60)
    h, m = divmod(rest, 60)
    return f"{d}-{h:02d}:{m:02d}:00" if d else f"{h:02d}:{m:02d}:00"


def render(spec: JobSpec) -> str:
    """The batch script for `spec`, ready for `sbatch` on stdin."""
    return "\n".join([*_directives(spec), "", *_preamble(spec), "", *_body(spec), ""])


def _directives(s: JobSpec) -> list[str]:
    logs = s.paths.logs
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={s.name}",
        f"#SBATCH --partition={s.partition}",
        f"#SBATCH --time={slurm_time(s.time_s)}",
        f"#SBATCH --nodes={s.nodes}",
        f"#SBATCH --cpus-per-task={s.cpus_per_task}",
        # Start on scratch: the directory sbatch ran in may be gone (or be home, which
        # is small) by the time the job starts.
        f"#SBATCH --chdir={s.paths.scratch}",
        f"#SBATCH --output={logs}/%x-%j.out",
        f"#SBATCH --error={logs}/%x-%j.err",
    ]
    if s.nodes > 1:
        lines.append("#SBATCH --ntasks-per-node=1")
    if s.account:
        lines.append(f"#SBATCH --account={s.account}")
    if s.time_min_s:
        lines.append(f"#SBATCH --time-min={slurm_time(s.time_min_s)}")
    if s.gres:
        lines.append(f"#SBATCH --gres={s.gres}")
    if s.mem_gb:
        lines.append(f"#SBATCH --mem={s.mem_gb}G")
    if s.constraint:
        lines.append(f"#SBATCH --constraint={s.constraint}")
    if s.tag:
        lines.append(f"#SBATCH --comment={s.tag}:{s.rank}")
    if s.checkpoint:
        # B: signal the batch shell, which forwards it to the command.
        lines.append(f"#SBATCH --signal=B:USR1@{s.checkpoint.buffer_s}")
    return lines


def _preamble(s: JobSpec) -> list[str]:
    q = shlex.quote
    p = s.paths
    lines = ["set -uo pipefail"]
    if s.claim_dir and s.tag:
        siblings = (
            f'{squeue.TAGGED} | awk -v me="$SLURM_JOB_ID" -v tag={q(s.tag)} '
            '\'index($2, tag ":") == 1 && $1 != me'
        )
        lines += [
            # A segment resubmitted by the winner (it carries RV_ELAPSED_S) skips all this.
            'if [ -z "${RV_ELAPSED_S:-}" ]; then',
            # Siblings that start in the same scheduling cycle defer to the better ranked.
            f'  rv_better=$({siblings} && $3 == "RUNNING" && substr($2, length(tag) + 2) + 0 < '
            f"{s.rank} {{print $1}}')",
            '  if [ -n "$rv_better" ]; then',
            '    echo "rv: a better-ranked strategy of this request is running; leaving" >&2',
            "    exit 0",
            "  fi",
            # mkdir is atomic on the shared filesystem: exactly one sibling wins, even if
            # the laptop that submitted them is gone.
            f"  if ! mkdir -- {q(s.claim_dir)} 2>/dev/null; then",
            '    echo "rv: another strategy of this request is already running; leaving" >&2',
            "    exit 0",
            "  fi",
            f'  echo "$SLURM_JOB_ID" > {q(s.claim_dir)}/winner',
            f"  {siblings} {{print $1}}' | xargs -r scancel",
            # The jobs that do the work (the winner, then each segment it queues) are
            # listed, so the laptop can follow a run it did not wait for.
            f'  echo "$SLURM_JOB_ID" >> {q(s.claim_dir)}/jobs',
            "fi",
        ]
    # After the claim: only the job that does the work (and each segment) is mailed.
    lines += _mail.lines(s.mail)
    if s.env_file:
        lines += [
            f"rv_env={q(s.env_file)}",
            # The values live in this 0600 file, then only in this shell's memory: never
            # in its environment, which a resubmitted segment's sbatch would copy into
            # Slurm's state. Only the payload gets them (see _launch).
            "rv_env_text=",
            'if [ -f "$rv_env" ]; then rv_env_text=$(< "$rv_env"); rm -f -- "$rv_env"; '
            'else echo "rv: $rv_env is gone (swept after a cancel?); running without'
            ' the %rv_env values" >&2; fi',
        ]
    if s.modules:
        lines.append(
            "if type module >/dev/null 2>&1; then module load "
            + " ".join(q(m) for m in s.modules)
            + "; fi"
        )
    lines += [
        f"export OMP_NUM_THREADS={s.cpus_per_task}",
        "export TOKENIZERS_PARALLELISM=false",
        *(
            f"export {k}={q(v)}"
            for k, v in sorted({**p.caches, **s.cache_env}.items())
            if _is_env_name(k)
        ),
        # Segments after the first carry the first job's id: one directory for the run.
        'export RV_FIRST_JOB_ID="${RV_FIRST_JOB_ID:-$SLURM_JOB_ID}"',
        f'export RV_CHECKPOINT_DIR={q(p.checkpoints)}/"$SLURM_JOB_NAME-$RV_FIRST_JOB_ID"',
        'export CHECKPOINT_DIR="$RV_CHECKPOINT_DIR"',
        'mkdir -p -- "$RV_CHECKPOINT_DIR"',
    ]
    if s.workdir:
        lines.append(f"cd -- {q(s.workdir)} || exit 1")
    return lines


def _is_env_name(name: str) -> bool:
    return re.match(r"^[A-Z_][A-Z0-9_]*$", name) is not None


def _body(s: JobSpec) -> list[str]:
    lines = _reaper(s)
    if w := s.watch:
        env = functools.partial(_with_env, s, notify=True)
        lines = [*_watch.functions(), *lines, *_watch.start(w, s.paths.logs, env)]
    lines += _run(s, shlex.join(s.command))
    if s.watch:
        lines.append(_watch.done("$rv_status"))
    if s.claim_dir:
        # How the work ended, for a laptop that comes back after the job left the queue.
        lines.append(f'echo "$rv_status" > {shlex.quote(s.claim_dir + "/exit")}')
    return [*lines, 'exit "$rv_status"']


def _reaper(s: JobSpec) -> list[str]:
    """Traps that end the payload's whole process group with the job.

    The payload runs in a session of its own (see _launch): a program it started lives
    on when its shell dies, and Slurm's process tracking loses it once it is re-parented
    (proctrack/linuxproc). Ending the group, after a normal end too, leaves nothing.
    """
    lines = [
        "rv_pg=",
        # Any process of the group but zombies (which an init may be slow to reap).
        'rv_alive() { ps -o stat= -s "$rv_pg" 2>/dev/null | grep -qv "^Z"; }',
        "rv_end() {",
        '  if [ -n "$rv_pg" ] && kill -TERM -- "-$rv_pg" 2>/dev/null; then',
        # A few seconds to exit cleanly, well inside Slurm's KillWait.
        '    rv_i=0; while [ "$rv_i" -lt 30 ] && rv_alive; do',
        "      sleep 0.1; rv_i=$((rv_i + 1)); done",
        '    kill -KILL -- "-$rv_pg" 2>/dev/null',
        "  fi",
    ]
    if s.watch:
        lines.append("  rv_watch_end")
    if s.env_file and s.kind == "checkpoint":
        # A next segment's file that no queued segment will read goes too.
        lines.append('  [ -n "${rv_next:-}" ] || rm -f -- "$rv_env"')
    return [
        *lines,
        "  return 0",
        "}",
        "trap rv_end EXIT",
        "trap 'exit 143' TERM HUP INT",
    ]


def _launch(s: JobSpec, cmd: str) -> list[str]:
    """Start `cmd` in the background as the leader of a new session; its pid (also its
    process group) in rv_pg. The env file's values reach it, and only it."""
    # A background child of a shell without job control is no group leader, so setsid
    # makes a new session in place (no fork): $! is the group to signal.
    return [
        f"{_with_env(s, 'setsid ' + cmd)} &",
        "rv_pg=$!",
        # `wait` returns early when a trap runs; keep waiting until the command ends.
        'while :; do wait "$rv_pg"; rv_status=$?; kill -0 "$rv_pg" 2>/dev/null || break; done',
    ]


def _with_env(s: JobSpec, cmd: str, *, notify: bool = False) -> str:
    """`cmd` with the env file's values, in a subshell that execs it (one fork). The
    notification channels and signing secret are the watcher's only (`notify`)."""
    if not s.env_file:
        return cmd
    drop = "" if notify else " unset ${!RV_NOTIFY_@};"
    return f'( set -a; eval "$rv_env_text"; set +a;{drop} exec {cmd} )'


def _run(s: JobSpec, cmd: str) -> list[str]:
    """The lines that run the command and leave its exit status in rv_status."""
    if s.kind == "simple":
        return _launch(s, cmd)
    if s.kind == "multinode":
        return [
            'export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
            # A port derived from the job id: two jobs sharing a node do not collide.
            "export MASTER_PORT=$((20000 + SLURM_JOB_ID % 20000))",
            'export NNODES="$SLURM_JOB_NUM_NODES"',
            *_launch(
                s,
                "srun --ntasks-per-node=1 bash -c 'export NODE_RANK=$SLURM_PROCID; "
                f'exec "$@"\' rv-task {cmd}',
            ),
        ]
    if s.kind == "ray":
        head = 'srun --nodes=1 --ntasks=1 -w "$rv_head" ray start --head --port="$RAY_PORT" --block'
        workers = (
            "srun --nodes=$((${#rv_nodes[@]} - 1)) --ntasks=$((${#rv_nodes[@]} - 1)) "
            '--exclude="$rv_head" ray start --address="$RAY_ADDRESS" --block'
        )
        return [
            'rv_nodes=($(scontrol show hostnames "$SLURM_JOB_NODELIST"))',
            "rv_head=${rv_nodes[0]}",
            "export RAY_PORT=$((20000 + SLURM_JOB_ID % 20000))",
            'export RAY_ADDRESS="$rv_head:$RAY_PORT"',
            f"{_with_env(s, head)} &",
            "sleep 10",
            'if [ "${#rv_nodes[@]}" -gt 1 ]; then',
            f"  {_with_env(s, workers)} &",
            "  sleep 5",
            "fi",
            *_launch(s, cmd),
        ]
    return _checkpoint_body(s, cmd)


def _checkpoint_body(s: JobSpec, cmd: str) -> list[str]:
    assert s.checkpoint is not None  # guaranteed by JobSpec._shape
    total = s.checkpoint.total_s
    drain = max(10, s.checkpoint.buffer_s - 30)
    return [
        f"rv_total={total}",
        # Each segment carries the runtime of the ones before it.
        "rv_before=${RV_ELAPSED_S:-0}",
        "rv_start=$(date +%s)",
        "rv_stopping=0",
        # The whole group: a bash cell's shell would die of it and leave its program
        # running without the warning.
        "trap 'rv_stopping=1; kill -USR1 -- \"-$rv_pg\" 2>/dev/null' USR1",
        *_launch(s, cmd),
        # The rest of the group (a bash cell's program, when the shell died of the
        # signal) may still be saving: let it, within the warning time.
        f'if [ "$rv_stopping" = 1 ]; then rv_i=0; while [ "$rv_i" -lt {drain} ] && rv_alive; '
        "do sleep 1; rv_i=$((rv_i + 1)); done; fi",
        "rv_elapsed=$((rv_before + $(date +%s) - rv_start))",
        'if [ "$rv_stopping" = 1 ] && [ "$rv_elapsed" -lt "$rv_total" ]; then',
        # The next segment gets what is left plus the buffer, so it never starts
        # inside its own warning window.
        f"  rv_left=$(( (rv_total - rv_elapsed + {s.checkpoint.buffer_s} + 59) / 60 ))",
        f"  rv_seg=$(( {-(-s.time_s // 60)} < rv_left ? {-(-s.time_s // 60)} : rv_left ))",
        '  echo "rv: segment ended after ${rv_elapsed}s of ${rv_total}s; resubmitting" >&2',
        *(
            # The next segment reads its values the way this one did: from a 0600 file
            # (printf is a builtin: they reach no command line). This shell's environment,
            # which sbatch copies into Slurm's state, never held them.
            [
                '  [ -z "$rv_env_text" ] || ( umask 077 && mkdir -p -- "${rv_env%/*}" && '
                'printf \'%s\\n\' "$rv_env_text" > "$rv_env" )'
            ]
            if s.env_file
            else []
        ),
        # The job's own script, as Slurm stored it, is the next segment.
        '  rv_next=$(scontrol write batch_script "$SLURM_JOB_ID" - | '
        'sbatch --parsable --export=ALL,RV_ELAPSED_S="$rv_elapsed" --time="$rv_seg")',
        '  echo "rv: next segment is job ${rv_next%%;*}" >&2',
        *(
            [f'  [ -n "$rv_next" ] && echo "${{rv_next%%;*}}" >> {shlex.quote(s.claim_dir)}/jobs']
            if s.claim_dir
            else []
        ),
        *(['  rv_watch_end "resubmitted ${rv_next%%;*}"'] if s.watch else []),
        "  exit 0",
        "fi",
    ]
