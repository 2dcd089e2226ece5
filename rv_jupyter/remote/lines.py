"""Lines of a long-lived remote process, with asyncssh's errors translated at this edge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncssh

from rv_jupyter.errors import ConnectionLost


async def read_lines(proc: Any, *, what: str) -> AsyncIterator[str]:
    """Each line `proc` (from Connection.open_process) prints, decoded; ConnectionLost if
    the connection goes away under it (a clean end of output just ends the iteration)."""
    try:
        async for raw in proc.stdout:
            yield raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    except (asyncssh.Error, OSError, EOFError) as exc:
        raise ConnectionLost(f"The connection dropped under {what}: {exc}.") from exc


async def read_rest(stream: Any) -> str:
    """What is left on a stream of `proc` (its stderr, say); "" if the connection is gone."""
    try:
        data = await stream.read()
    except (asyncssh.Error, OSError, EOFError):
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
