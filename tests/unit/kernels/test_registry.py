"""The on-disk registry of remote kernels (0600 records, each naming its owner by a lock
that lives as long as the owning process) and the pace at which a pending kernel reads
Slurm."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rv_jupyter.kernels import registry
from rv_jupyter.kernels.pending import PacedAllocator, waits_while_pending


@pytest.fixture
def a_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("RV_STATE_DIR", str(tmp_path))
    yield tmp_path / "kernels"


def another_process_writes(kernel_id: str) -> subprocess.Popen[str]:
    """A separate Python process that records a kernel, then stays alive until killed."""
    code = (
        "import sys; from rv_jupyter.kernels import registry; "
        f"registry.remember({kernel_id!r}, {{'kernel_id': {kernel_id!r}}}); "
        "print('written', flush=True); sys.stdin.read()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "written\n"
    return proc


def test_records_are_private_and_name_this_process(a_state_dir: Path) -> None:
    registry.remember("k1", {"kernel_id": "k1", "phase": registry.WAITING, "tag": "rv:abcdef"})
    path = a_state_dir / "k1.json"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(a_state_dir.stat().st_mode & 0o777) == "0o700"
    (record,) = registry.remembered()
    assert record["owner"]["pid"] == os.getpid()
    assert registry.owner_alive(record)  # this process's own


def test_a_record_of_a_live_process_is_its_own_until_that_process_is_killed(
    a_state_dir: Path,
) -> None:
    proc = another_process_writes("k2")
    try:
        (record,) = [r for r in registry.remembered() if r["kernel_id"] == "k2"]
        assert record["owner"]["pid"] == proc.pid
        assert registry.owner_alive(record)  # a second server must leave it alone
        assert registry.owner_alive(record)  # and asking does not take the lock away
    finally:
        proc.send_signal(signal.SIGKILL)  # no exit handler runs: the kernel drops the lock
        proc.wait()
    assert not registry.owner_alive(record)
    assert not (a_state_dir / "owners" / record["owner"]["lock"]).exists()


def test_records_without_an_owner_or_with_a_forged_one_count_as_left_behind(
    a_state_dir: Path,
) -> None:
    assert not registry.owner_alive({"kernel_id": "old"})  # written by an older rv-jupyter
    assert not registry.owner_alive({"owner": {"lock": "../../etc/passwd"}})
    assert not registry.owner_alive({"owner": {"lock": "123-abcd.lock"}})


def test_dead_owners_locks_are_swept(a_state_dir: Path) -> None:
    proc = another_process_writes("k3")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    registry.forget("k3")
    registry.owner()  # this process's lock stays, whatever the sweep
    registry.sweep_owners()
    assert [p.name for p in (a_state_dir / "owners").iterdir()] == [registry.owner()["lock"]]


def test_a_pending_kernel_backs_off_instead_of_polling_every_two_seconds() -> None:
    waits = list(itertools.islice(waits_while_pending(), 200))
    assert waits[:4] == [1.0, 2.0, 4.0, 5.0]  # a job that starts at once is seen at once
    elapsed = list(itertools.accumulate(waits))
    in_an_hour = sum(1 for t in elapsed if t <= 3600)
    assert in_an_hour < 150  # a fixed 2 s loop: 1800 squeue calls an hour
    assert max(waits) == 30.0  # a job that starts after hours is noticed within 30 s


def test_the_allocator_reads_its_pace_before_each_wait() -> None:
    allocator = PacedAllocator(cluster=None, waits=iter([1.0, 2.0, 7.0]))  # type: ignore[arg-type]
    assert [allocator.poll_s, allocator.poll_s, allocator.poll_s] == [1.0, 2.0, 7.0]
