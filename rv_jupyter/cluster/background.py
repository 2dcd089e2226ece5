"""The one background event loop behind the sync facade.

Notebook code calls `run_sync(coro)`; the coroutine runs on a daemon thread's loop
owned by this module. This works whether or not the caller already has a running loop
(an IPython kernel does), with no nested-loop patching: the caller's thread just waits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from rv_jupyter.errors import CommandTimeout

T = TypeVar("T")
# How long an interrupted or timed-out coroutine gets to clean up before run_sync returns.
CLEANUP_S = 10.0

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def loop() -> asyncio.AbstractEventLoop:
    """The background loop, started on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            new = asyncio.new_event_loop()
            thread = threading.Thread(target=new.run_forever, name="rv-jupyter-loop", daemon=True)
            thread.start()
            _loop = new
        return _loop


def run_sync(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run `coro` on the background loop and wait for its result.

    KeyboardInterrupt (a notebook's stop button) cancels the coroutine, waits up to
    CLEANUP_S for its clean-up (cancelling submitted jobs, say), and re-raises. Past
    `timeout` seconds the coroutine is cancelled the same way and CommandTimeout raised.
    """
    bg = loop()
    if _on_background(bg):
        coro.close()
        raise RuntimeError("run_sync() called from the rv background loop; await instead")
    run = _Run()
    future = asyncio.run_coroutine_threadsafe(run.track(coro), bg)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        # Short waits keep this thread responsive to Ctrl-C however it is delivered.
        while not future.done():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                run.cancel(future)
                raise CommandTimeout(
                    f"rv gave up after {timeout:g} s and stopped what it was doing.",
                    hint="The cluster may be slow to answer; try again.",
                )
            concurrent.futures.wait([future], timeout=0.2 if left is None else min(0.2, left))
        return future.result()
    except KeyboardInterrupt:
        run.cancel(future)
        raise


class _Run:
    """Whether the coroutine started on the loop and whether it has unwound since."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.ended = threading.Event()

    async def track(self, coro: Coroutine[Any, Any, T]) -> T:
        self.started.set()
        try:
            return await coro
        finally:
            self.ended.set()

    def cancel(self, future: concurrent.futures.Future[Any]) -> None:
        # Cancelling the concurrent future settles it at once, while the coroutine only
        # starts unwinding on the loop: wait for the coroutine itself, or its clean-up
        # would still be running when the caller goes on (and reports on it). One that
        # never started has nothing to clean up.
        future.cancel()
        if self.started.is_set():
            self.ended.wait(CLEANUP_S)


async def on_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro` on the background loop from another loop (the Jupyter server's).

    The SSH connection belongs to the background loop, so every face that has a loop
    of its own (the server extension, the kernel provisioner) reaches the core this way.
    """
    bg = loop()
    if _on_background(bg):
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, bg))


def _on_background(bg: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is bg
    except RuntimeError:
        return False
