"""What this machine remembers of its remote kernels, to reattach after a server restart.

One 0600 JSON file per kernel in ~/.rv/kernels (0700), or $RV_STATE_DIR/kernels: the
kernel's connection (its key included, as Jupyter's own connection file holds it), its
job, node and ports on the node.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any


def directory() -> Path:
    """Where the remembered kernels are."""
    return Path(os.environ.get("RV_STATE_DIR") or Path.home() / ".rv") / "kernels"


def remember(kernel_id: str, data: dict[str, Any]) -> None:
    """Write (atomically, 0600) what reattaching to `kernel_id` needs."""
    path = directory() / f"{kernel_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
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
