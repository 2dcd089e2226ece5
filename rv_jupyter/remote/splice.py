"""Joining two byte streams both ways (a local connection and an SSH channel)."""

from __future__ import annotations

import asyncio
from typing import Any

CHUNK = 1 << 16


async def splice(a_reader: Any, a_writer: Any, b_reader: Any, b_writer: Any) -> None:
    """Copy a -> b and b -> a until either side ends; then close both."""

    async def pump(src: Any, dst: Any) -> None:
        try:
            while data := await src.read(CHUNK):
                dst.write(data)
                await dst.drain()
        except Exception:  # either side went away: close both
            pass
        finally:
            a_writer.close()
            b_writer.close()

    await asyncio.gather(pump(a_reader, b_writer), pump(b_reader, a_writer))
