"""The commands that read the cluster state, and the state assembled from their outputs.

Pure: the caller runs `state_commands()` in one batch (with anything else of its own
around them) and hands their results, in that order, to `assemble()`. Every read is
independent of the user name on our side (--me, -U), so the batch needs no first round
trip to learn it; `id -un` costs no Slurm RPC and says who we are when the user comes
from ~/.ssh/config.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm import (
    allocations,
    hdquota,
    parse_allocations,
    parse_hdquota,
    parse_sinfo,
    parse_squeue,
    parse_sshare,
    sinfo,
    squeue,
    sshare,
)
from rv_jupyter.slurm.state import ClusterState, gpu_availability

WHOAMI = "id -un"


class Output(Protocol):
    """What one command of the batch printed and how it exited."""

    @property
    def stdout(self) -> str: ...
    @property
    def stderr(self) -> str: ...
    @property
    def exit_status(self) -> int | None: ...


@dataclass(frozen=True)
class StateRead:
    """One command of the state batch and what to do with its output."""

    name: str  # its key in ClusterState.errors
    command: str
    parse: Callable[[str], Any]


STATE_READS = (
    StateRead("sinfo", sinfo.COMMAND, parse_sinfo),
    StateRead("squeue", squeue.COMMAND, parse_squeue),
    StateRead("sshare", sshare.COMMAND, parse_sshare),
    StateRead("allocations", allocations.COMMAND, parse_allocations),
    StateRead("hdquota", hdquota.COMMAND, parse_hdquota),
)


def reads(only: Collection[str] | None = None) -> list[StateRead]:
    """The state reads, or those named in `only` (in STATE_READS order)."""
    if only is None:
        return list(STATE_READS)
    unknown = set(only) - {r.name for r in STATE_READS}
    if unknown:
        raise ValueError(f"no state read named {sorted(unknown)}")
    return [r for r in STATE_READS if r.name in only]


def state_commands(only: Collection[str] | None = None) -> list[str]:
    """The commands to run, in this order, for `assemble()` (given the same `only`)."""
    return [WHOAMI, *(r.command for r in reads(only))]


def assemble(
    results: Sequence[Output], *, host: str, user: str | None = None,
    read_at: datetime | None = None, only: Collection[str] | None = None,
) -> ClusterState:  # fmt: skip
    """The state from the results of `state_commands(only)`; a read that failed or could
    not be parsed is kept as a message in `errors`, one not made is simply empty. `user`:
    the configured name, used when `id -un` printed nothing."""
    commands = state_commands(only)
    if len(results) != len(commands):
        raise ValueError(f"{len(results)} results for the {len(commands)} state commands")
    who, *outputs = results
    parsed: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for read, result in zip(reads(only), outputs, strict=True):
        try:
            parsed[read.name] = read.parse(_checked(read, result))
        except _Unreadable as exc:
            errors[read.name] = str(exc)
        except ParseError as exc:
            errors[read.name] = exc.message
    return ClusterState(
        user=who.stdout.strip() or (user or "?"),
        host=host,
        read_at=read_at or datetime.now(timezone.utc).astimezone(),
        gpus=gpu_availability(parsed.get("sinfo", [])),
        jobs=parsed.get("squeue", []),
        fairshare=parsed.get("sshare", []),
        allocations=parsed.get("allocations", []),
        quotas=parsed.get("hdquota", []),
        errors=errors,
    )


class _Unreadable(Exception):
    """A state command failed; its reason goes into ClusterState.errors."""


def _checked(read: StateRead, result: Output) -> str:
    if result.exit_status != 0:
        why = (result.stderr.strip() or result.stdout.strip()).splitlines()
        last = why[-1] if why else "no output"
        # By name: the command itself may start with an environment setting.
        raise _Unreadable(f"`{read.name}` exited {result.exit_status}: {last}")
    return result.stdout
