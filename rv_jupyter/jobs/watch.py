"""The batch script's lines for the watchdog that runs with the job
(rv_jupyter/telemetry/watcher.py). Pure: values in, bash lines out.

The watcher runs like the payload (see script._launch): the leader of a session of its
own, so the batch shell's traps can end its whole group, with the env file's values
(the notification channels and signing secret) in its environment and nowhere else.
The batch shell tells it how the payload ended through a 0600 file, then SIGTERM.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from pydantic import Field

from rv_jupyter.jobs.strict import Strict

# The watcher's last send (one per channel, each bounded by notify.TIMEOUT_S) gets this
# long before its group is killed; Slurm's KillWait bounds it anyway on a cancel.
STOP_WAIT_S = 8


class Watcher(Strict):
    """The watchdog that runs with the job: watcher.py on the cluster (beside rules.py and
    notify.py), its sampling interval and rules.Limits overrides."""

    script: str
    python: str = "python3"
    interval_s: int = Field(default=10, ge=1, le=600)
    limits: dict[str, float] = Field(default_factory=dict)
    # The strategy's price, for "idle, costing N SU/h" and the SUs of the end event.
    su_per_gpu_hour: float = Field(default=0.0, ge=0)
    gpus: int = Field(default=0, ge=0)  # the job's, all nodes


def functions() -> list[str]:
    """`rv_watch_end [STATUS]`: tell the watcher how the work ended, then end it. Defined
    before any trap can call it."""
    return [
        "rv_wpg=",
        "rv_wst=",
        "rv_watch_end() {",
        '  [ -n "$rv_wpg" ] || return 0',
        '  [ -z "${1:-}" ] || printf \'%s\\n\' "$1" > "$rv_wst"',
        '  kill -TERM -- "-$rv_wpg" 2>/dev/null',
        f'  rv_j=0; while [ "$rv_j" -lt {STOP_WAIT_S * 10} ] && '
        'ps -o stat= -s "$rv_wpg" 2>/dev/null | grep -qv "^Z"; do',
        "    sleep 0.1; rv_j=$((rv_j + 1)); done",
        '  kill -KILL -- "-$rv_wpg" 2>/dev/null',
        '  rm -f -- "$rv_wst"; rv_wpg=',
        "}",
    ]


def start(w: Watcher, logs: str, with_env: Callable[[str], str]) -> list[str]:
    """Start the watcher `w` describes in the background; its pid (and group) in rv_wpg.
    `with_env` wraps a command so it gets the env file's values."""
    q = shlex.quote
    log = f'{q(logs)}/"$SLURM_JOB_NAME-$SLURM_JOB_ID"'
    argv = " ".join(
        [
            f"setsid {q(w.python)} -u {q(w.script)}",
            '--job "$SLURM_JOB_ID" --name "$SLURM_JOB_NAME" --status "$rv_wst"',
            f"--interval {int(w.interval_s)} --log {log}.out --log {log}.err",
            *(f"--limit {q(f'{k}={float(v):g}')}" for k, v in sorted(w.limits.items())),
            *([f"--su-per-gpu-hour {w.su_per_gpu_hour:g} --gpus {w.gpus}"] if w.gpus else []),
        ]
    )
    return [
        # mktemp makes the file 0600: the status is nobody else's business.
        'rv_wst=$(mktemp "${TMPDIR:-/tmp}/rv-watch-$SLURM_JOB_ID.XXXXXX") || rv_wst=',
        'if [ -n "$rv_wst" ]; then',
        f"  {with_env(argv)} < /dev/null &",
        "  rv_wpg=$!",
        "else",
        '  echo "rv: cannot make a status file; running without the watchdog" >&2',
        "fi",
    ]


def done(status: str) -> str:
    """The line that ends the watcher with the payload's `status` (a bash word)."""
    return f'rv_watch_end "{status}"'
