"""`scontrol show reservation`: maintenance and other reservations that end backfill windows.

Why this command: a reservation on a partition's nodes is the usual reason a long job
cannot start now while a short one can; the allocator names it in its plan ("maintenance
at 16:30"). `-o` gives one record per line; `SLURM_TIME_FORMAT=standard` pins ISO
times. The records are `Key=Value` pairs read like every scontrol output (scontrol.py);
"No reservations in the system" is no reservations, not an error.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from rv_jupyter.slurm.hostlist import expand_hostlist
from rv_jupyter.slurm.scontrol import parse_scontrol
from rv_jupyter.slurm.timefmt import parse_timestamp

COMMAND = "SLURM_TIME_FORMAT=standard scontrol -o show reservation"


class Reservation(BaseModel):
    """One reservation: when, on which nodes, for whom."""

    model_config = ConfigDict(frozen=True)

    name: str
    start: datetime | None
    end: datetime | None
    nodes: tuple[str, ...] = ()
    partition: str | None = None
    flags: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()

    @property
    def maintenance(self) -> bool:
        """Flagged MAINT by the admins."""
        return "MAINT" in self.flags

    def covers(self, node: str) -> bool:
        """The reservation holds `node` (nodes listed, or every node: ALL)."""
        return node in self.nodes or "ALL" in self.nodes

    def admits(self, user: str | None, account: str | None) -> bool:
        """A job of `user`/`account` may run inside it (then it bounds no window)."""
        named_user = user is not None and user in self.users
        named_account = account is not None and account in self.accounts
        return named_user or named_account


def parse_reservations(text: str) -> list[Reservation]:
    """Reservations from `scontrol -o show reservation` (COMMAND)."""
    out = []
    for rec in parse_scontrol(text):
        f = rec.fields
        if "ReservationName" not in f:
            continue
        nodes = f.get("Nodes", "")
        out.append(
            Reservation(
                name=f["ReservationName"],
                start=parse_timestamp(f.get("StartTime", "")),
                end=parse_timestamp(f.get("EndTime", "")),
                nodes=("ALL",) if nodes == "ALL" else tuple(expand_hostlist(nodes)),
                partition=_value(f.get("PartitionName")),
                flags=tuple(x for x in f.get("Flags", "").split(",") if x),
                users=_names(f.get("Users")),
                accounts=_names(f.get("Accounts")),
            )
        )
    return out


def _value(text: str | None) -> str | None:
    return None if text in (None, "", "(null)") else text


def _names(text: str | None) -> tuple[str, ...]:
    # `-name` entries exclude a user or account; they never admit one.
    value = _value(text)
    return tuple(n for n in value.split(",") if n and not n.startswith("-")) if value else ()
