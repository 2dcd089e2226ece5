"""Where a connection to a job's port must go, decided from the sockets that listen on
that port on the job's node (pure: the watcher in job_ports.py reads them).

A compute node is shared: another user's job may listen on the same port number at
another address of the same node (their server on the node's address, ours on its
loopback). A connection is only ever made to an address where the kernel hands it to a
socket of *this job*: one bound exactly to that address, or a wildcard of ours when no
other program holds that address or a wildcard on the port. Nothing falls through to
another address because the first did not answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from rv_jupyter.errors import PortClosed

LOOPBACK = "127.0.0.1"
_WILDCARDS = ("0.0.0.0", "::")


@dataclass(frozen=True)
class Target:
    """An address of the node that reaches the job's own listener on the port."""

    host: str
    via_node: bool  # over SSH into the node (its loopback), not from the login node


def plain(address: str) -> str:
    """An IPv4-mapped IPv6 address as the IPv4 address it stands for."""
    return address[7:] if address.lower().startswith("::ffff:") and "." in address else address


def is_loopback(address: str) -> bool:
    """127.0.0.0/8 or ::1."""
    address = plain(address)
    return address.startswith("127.") or address == "::1"


def choose_target(
    job_id: str, port: int, ours: list[str], others: list[str], node_addr: str | None
) -> Target:
    """The first address that reaches only the job's socket on `port`, fastest first:
    the node's address from the login node, another address the job bound, the node's
    loopback over SSH into the node. `ours`/`others`: addresses the job's processes /
    anything else on the node listen on at that port. PortClosed if there is none."""
    mine, theirs = [plain(a) for a in ours], [plain(a) for a in others]
    candidates: list[Target] = []
    if node_addr and ":" not in node_addr and not is_loopback(node_addr):
        candidates.append(Target(node_addr, via_node=False))
    for address in mine:
        if ":" not in address and not is_loopback(address) and address not in _WILDCARDS:
            candidates.append(Target(address, via_node=False))
    candidates.append(Target(LOOPBACK, via_node=True))
    for target in candidates:
        if _only_ours(target.host, mine, theirs):
            return target
    if not mine:
        raise PortClosed(
            f"Job {job_id} has nothing listening on port {port}.",
            hint=f"Start the server in the job first; `%rv_forward {job_id} --auto` lists the "
            "ports the job's processes listen on.",
        )
    shown = ", ".join(sorted(set(mine)))
    raise PortClosed(
        f"Job {job_id} listens on port {port} only at {shown}, which rv cannot reach "
        "without risk of reaching another program on the shared node.",
        hint="Bind the server to 127.0.0.1 or to all addresses (0.0.0.0).",
    )


def _only_ours(address: str, mine: list[str], theirs: list[str]) -> bool:
    """Would the node's kernel hand a connection to address:port to a socket of ours?"""
    if address in mine:
        return address not in theirs  # an exact binding wins over any wildcard
    if address in theirs:
        return False
    # Only wildcards could take it: ours must be one, and nobody else's may be.
    return any(a in _WILDCARDS for a in mine) and not any(a in _WILDCARDS for a in theirs)
