"""The login-side guard of a streamed cell (runner.STEP_GUARD), as a real process with
a real pipe for its stdout: it relays, passes the exit status on, and ends its child
once nobody reads the pipe any more (srun then ends the step on the node)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from rv_jupyter.cells.in_allocation import STEP_GUARD

# Stands in for srun: writes a tick a second to a file (so the test sees whether it
# runs on), says on stderr that SIGTERM came, and exits 7 on it.
STEP = """
trap 'echo got TERM >&2; exit 7' TERM
while :; do echo tick >> "$1"; sleep 0.2; done
"""


def guard(*argv: str, **kw: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", STEP_GUARD, *argv], **kw)  # type: ignore[call-overload]


def test_output_and_the_exit_status_pass_through() -> None:
    done = subprocess.run(
        [sys.executable, "-c", STEP_GUARD, "sh", "-c", "echo out; echo err >&2; exit 3"],
        capture_output=True, timeout=30,
    )  # fmt: skip
    assert (done.stdout, done.stderr, done.returncode) == (b"out\n", b"err\n", 3)


def test_a_reader_that_goes_away_ends_a_silent_step(tmp_path: Path) -> None:
    ticks = tmp_path / "ticks"
    read_end, write_end = os.pipe()
    err = tmp_path / "err"
    with err.open("wb") as err_file:
        proc = guard("sh", "-c", STEP, "sh", str(ticks), stdout=write_end, stderr=err_file)
    os.close(write_end)
    deadline = time.monotonic() + 10
    while not ticks.exists() or len(ticks.read_text().split()) < 3:
        assert time.monotonic() < deadline, "the step never ran"
        time.sleep(0.1)
    os.close(read_end)  # the SSH channel closed: nothing reads the step's output now
    assert proc.wait(10) == 7, "the step got SIGTERM and the guard passed its status on"
    before = len(ticks.read_text().split())
    time.sleep(1)
    assert len(ticks.read_text().split()) == before, "the step runs on with nobody listening"
    assert err.read_bytes() == b"", "nothing more reaches the closed channel"
