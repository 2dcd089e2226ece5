"""What this machine remembers of its remote kernels, to reattach after a server restart.

One 0600 JSON file per kernel in ~/.rv/kernels (0700), or $RV_STATE_DIR/kernels: the
kernel's connection (its key included, as Jupyter's own connection file holds it), its
job, node and ports on the node; or, for a kernel still waiting for its job, the tag its
jobs carry (written before anything is submitted, so a crash at any moment leaves them
findable).

Every record names its owner, the process that wrote it, by a lock that process holds
for as long as it lives (flock, released by the kernel whatever kills the process): a
server takes over or cancels only what a dead process left, never what a second live
server of the same user is still doing.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no flock; every owner then counts as alive
    fcntl = None  # type: ignore[assignment]

# What a record is of: a start waiting for its job, a kernel launching in it, a running one.
WAITING, LAUNCHING, RUNNING = "waiting", "launching", "running"

# This process's lock per registry directory (one, unless RV_STATE_DIR changes), with
# its descriptor kept open: closing it would release the lock.
_owned: dict[Path, tuple[dict[str, Any], int]] = {}


def directory() -> Path:
    """Where the remembered kernels are."""
    return Path(os.environ.get("RV_STATE_DIR") or Path.home() / ".rv") / "kernels"


def _owners() -> Path:
    return directory() / "owners"


def remember(kernel_id: str, data: dict[str, Any]) -> None:
    """Write (atomically, 0600) what reattaching to `kernel_id` needs, owned by this process."""
    path = directory() / f"{kernel_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({**data, "owner": owner()}, f)
    tmp.replace(path)


def forget(kernel_id: str) -> None:
    """The kernel is gone for good (shut down, or its job ended)."""
    with contextlib.suppress(OSError):
        (directory() / f"{kernel_id}.json").unlink()


def remembered() -> list[dict[str, Any]]:
    """Every remembered kernel (unreadable files skipped)."""
    found = []
    for path in sorted(directory().glob("*.json")) if directory().exists() else []:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("kernel_id"):
            found.append(data)
    return found


def owner() -> dict[str, Any]:
    """This process as an owner of records: its pid (for the log) and the lock it holds."""
    owners = _owners()
    if owners not in _owned:
        name = f"{os.getpid()}-{secrets.token_hex(4)}.lock"
        owners.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Locked under a temporary name, then renamed: a sweep of dead owners never sees
        # the file unlocked (the lock stays with the inode through the rename).
        tmp = owners / (name + ".new")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT, 0o600)
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        tmp.replace(owners / name)
        _owned[owners] = ({"pid": os.getpid(), "lock": name}, fd)
    return _owned[owners][0]


def owner_alive(data: dict[str, Any]) -> bool:
    """Whether the process that wrote a record still runs (this one counts as alive).

    A record without an owner comes from an older rv-jupyter, whose server process is
    gone by the time another reads it.
    """
    lock = (data.get("owner") or {}).get("lock")
    if not isinstance(lock, str) or "/" in lock or not lock.endswith(".lock"):
        return False
    mine = _owned.get(_owners())
    if mine is not None and lock == mine[0]["lock"]:
        return True
    if fcntl is None:
        return True  # cannot tell: never take over what may still be someone's
    path = _owners() / lock
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        path.unlink()  # its owner is dead: nobody will lock it again
    return False


def sweep_owners() -> None:
    """Remove the lock files of dead processes that no record names any more."""
    if fcntl is None or not _owners().exists():
        return
    named = {(d.get("owner") or {}).get("lock") for d in remembered()}
    for path in _owners().glob("*.lock"):
        if path.name not in named:
            owner_alive({"owner": {"lock": path.name}})
