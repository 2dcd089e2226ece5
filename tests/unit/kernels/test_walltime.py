"""The walltime warning of remote kernels: when it fires, relative to the job's length,
and the startup file that carries it into the kernel (run here against a stand-in
squeue, as IPython runs exec_files)."""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Callable
from contextlib import redirect_stderr
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rv_jupyter.kernels.agent import due_mark, startup_source, warn_marks

MIN = 60


@pytest.mark.parametrize(
    ("warn_s", "limit_s", "marks"),
    [
        (10 * MIN, 4 * 3600, [60, 600]),  # a long job: the configured lead and the last minute
        (10 * MIN, 10 * MIN, [60, 120]),  # 10 minutes: 2 min before, not at its first cell
        (10 * MIN, 3 * MIN, [36]),  # 3 minutes: a fifth of it, once
        (10 * MIN, 20 * MIN, [60, 240]),
        (2 * MIN, 4 * 3600, [60, 120]),  # the configured lead when it is the smaller
        (0, 4 * 3600, []),  # warnings off
        (10 * MIN, 4, []),  # no time to warn in
    ],
)
def test_the_warning_is_never_more_than_a_fifth_of_the_job_ahead(
    warn_s: int, limit_s: int, marks: list[int]
) -> None:
    assert warn_marks(warn_s, limit_s) == marks


def test_a_ten_minute_job_is_warned_two_minutes_before_its_end_not_in_its_first_cell() -> None:
    marks, warned = warn_marks(10 * MIN, 10 * MIN), set[int]()
    assert due_mark(marks, warned, 9 * MIN + 50) is None  # the first cell
    assert due_mark(marks, warned, 2 * MIN + 1) is None
    assert due_mark(marks, warned, 119) == 120
    warned.add(120)
    assert due_mark(marks, warned, 90) is None  # once per mark
    assert due_mark(marks, warned, 59) == 60
    warned.update({60, 120})
    assert due_mark(marks, warned, 10) is None


def test_a_cell_late_in_the_job_hears_the_nearest_mark_only() -> None:
    marks = warn_marks(10 * MIN, 4 * 3600)
    assert due_mark(marks, set(), 30) == 60  # both passed unseen: one warning, the nearer


def run_startup(tmp_path: Path, limit: timedelta, left: timedelta, warn_s: int) -> str:
    """Execute the kernel's startup file as IPython would, then one cell's pre-run hook;
    what the kernel printed to stderr."""
    now = datetime.now().replace(microsecond=0)
    start, end = now + left - limit, now + left
    squeue = tmp_path / "squeue"
    squeue.write_text(f"#!/bin/sh\necho '{start.isoformat()} {end.isoformat()}'\n")
    squeue.chmod(0o755)
    hooks: list[Callable[[], None]] = []

    class Events:
        def register(self, name: str, fn: Callable[[], None]) -> None:
            assert name == "pre_run_cell"
            hooks.append(fn)

    class Shell:
        events = Events()

    # The file also sets a SIGTERM handler (the kernel's last words): restore ours after.
    old_path, old_handler = os.environ["PATH"], signal.getsignal(signal.SIGTERM)
    os.environ["PATH"] = f"{tmp_path}:{old_path}"
    namespace = {"get_ipython": Shell, "__name__": "__main__"}
    try:
        exec(compile(startup_source(warn_s), "startup.py", "exec"), namespace)
    finally:
        os.environ["PATH"] = old_path
        signal.signal(signal.SIGTERM, old_handler)
    # The helpers are gone from the user's namespace; the hook still has what it needs.
    assert not {"warn_marks", "due_mark", "WARN_SHARE"} & set(namespace)
    err = io.StringIO()
    with redirect_stderr(err):
        for hook in hooks:
            hook()
    return err.getvalue()


def test_the_kernel_startup_file_warns_by_the_jobs_length(tmp_path: Path) -> None:
    first_cell = run_startup(tmp_path, timedelta(minutes=10), timedelta(minutes=9), 600)
    assert first_cell == ""
    near_end = run_startup(tmp_path, timedelta(minutes=10), timedelta(seconds=100), 600)
    assert "reaches its walltime in 1 min" in near_end
