"""The sync facade: works with or without a running loop, and Ctrl-C cancels the work."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from rv_jupyter.cluster.background import loop, run_sync
from rv_jupyter.errors import CommandTimeout, RvError


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


def test_a_timeout_is_a_one_line_rv_error_after_the_clean_up() -> None:
    cleaned = threading.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(5)
        finally:
            await asyncio.sleep(0.3)  # e.g. scancel over SSH
            cleaned.set()

    with pytest.raises(CommandTimeout, match=r"gave up after 0\.3 s") as err:
        run_sync(slow(), timeout=0.3)
    assert isinstance(err.value, RvError) and isinstance(err.value, TimeoutError)
    assert cleaned.is_set(), "run_sync returned before the coroutine had cleaned up"


def test_errors_propagate() -> None:
    async def boom() -> None:
        raise ValueError("nope")

    with pytest.raises(ValueError, match="nope"):
        run_sync(boom())


@pytest.fixture
def a_cell_executing() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt, as in a kernel while a cell executes.

    ipykernel puts `signal.default_int_handler` in place around each request (its
    pre_handler_hook) and its own handler back after; this test is such a cell, so it
    sets that precondition itself instead of taking whatever SIGINT disposition earlier
    code in the pytest process left (the CI flake: after 476 tests it never raised).
    Handlers that raise nothing are common in-process: asyncio.Runner's (asyncio.run,
    and pytest-asyncio for every async test) only cancels its main task while that
    runs; servers, kernels and nbclient install their own.
    """
    saved = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, saved)


def test_keyboard_interrupt_cancels_the_coroutine_and_waits_for_its_clean_up(
    a_cell_executing: None,
) -> None:
    cleaned = threading.Event()

    async def long_job() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            await asyncio.sleep(0.3)  # e.g. cancel the jobs it submitted, over SSH
            cleaned.set()

    # Deliver Ctrl-C to this (main) thread while it waits, as a notebook's stop does.
    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_sync(long_job())
    assert cleaned.is_set(), "run_sync re-raised before the coroutine had cleaned up"
    assert time.monotonic() - t0 < 10
