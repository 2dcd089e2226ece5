"""The sync facade: works with or without a running loop, and Ctrl-C cancels the work."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import threading
import time

import pytest

from rv_jupyter.background import loop, run_sync


async def _double(x: int) -> int:
    await asyncio.sleep(0.01)
    return 2 * x


def test_runs_a_coroutine_from_plain_code() -> None:
    assert run_sync(_double(21)) == 42


def test_works_inside_a_running_loop_like_a_kernel() -> None:
    async def kernel_cell() -> int:
        # An IPython kernel's cell runs while its own loop is running.
        return run_sync(_double(5))

    assert asyncio.run(kernel_cell()) == 10


def test_one_background_loop_for_the_process() -> None:
    assert loop() is loop()
    assert run_sync(_running_loop()) is loop()


async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_timeout_cancels() -> None:
    with pytest.raises(concurrent.futures.TimeoutError):
        run_sync(asyncio.sleep(5), timeout=0.3)


def test_errors_propagate() -> None:
    async def boom() -> None:
        raise ValueError("nope")

    with pytest.raises(ValueError, match="nope"):
        run_sync(boom())


def test_keyboard_interrupt_cancels_the_coroutine() -> None:
    cleaned = threading.Event()

    async def long_job() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            cleaned.set()  # e.g. cancel the jobs it submitted

    # Deliver Ctrl-C to this (main) thread while it waits, as a notebook's stop does.
    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_sync(long_job())
    assert cleaned.wait(5)
    assert time.monotonic() - t0 < 10
