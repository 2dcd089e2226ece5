"""Which env files a sweep removes: those whose jobs are gone, never one a job may read."""

from __future__ import annotations

import subprocess
from pathlib import Path

from rv_jupyter.jobs import envfiles

NOW = 1_000_000.0


def _output(files: dict[str, float], queue: list[str] | None) -> str:
    listing = "".join(f"{t} {n}\n" for n, t in files.items())
    tail = "" if queue is None else "".join(f"{q}\n" for q in queue) + "@@rv-ok\n"
    return f"{NOW:.0f}\n{listing}@@rv-squeue\n{tail}"


def test_a_queued_requests_file_stays_and_a_cancelled_ones_goes() -> None:
    files = {
        "t-aaaaaa.env": NOW - 5000, "t-aaaaaa.submitted": NOW - 5000,
        "t-bbbbbb.env": NOW - 5, "t-bbbbbb.submitted": NOW - 5,
    }  # fmt: skip
    queue = ["101|rv:aaaaaa:0|PD", "102|rv:aaaaaa:1|PD"]
    assert envfiles.stale(_output(files, queue)) == ["t-bbbbbb.env", "t-bbbbbb.submitted"]


def test_a_checkpoint_segment_keeps_its_requests_file() -> None:
    # Segment 2 is queued under the request's tag while segment 1 finishes.
    files = {"t-aaaaaa.env": NOW - 1, "t-aaaaaa.submitted": NOW - 3600}
    queue = ["101|rv:aaaaaa:0|CG", "205|rv:aaaaaa:0|PD"]
    assert envfiles.stale(_output(files, queue)) == []


def test_a_submission_in_flight_keeps_its_file_for_the_grace_period() -> None:
    young = {"t-cccccc.env": NOW - 30}
    old = {"t-cccccc.env": NOW - envfiles.GRACE_S - 1}
    assert envfiles.stale(_output(young, [])) == []
    assert envfiles.stale(_output(old, [])) == ["t-cccccc.env"]


def test_jobs_rv_just_cancelled_count_as_gone() -> None:
    files = {"t-aaaaaa.env": NOW - 5, "t-aaaaaa.submitted": NOW - 5, "j-77.env": NOW - 1}
    queue = ["101|rv:aaaaaa:0|R", "77|(null)|R"]
    assert envfiles.stale(_output(files, queue), gone={"101", "77"}) == [
        "j-77.env", "t-aaaaaa.env", "t-aaaaaa.submitted",
    ]  # fmt: skip


def test_an_allocations_file_goes_with_the_allocation() -> None:
    files = {"j-77.env": NOW - 1, "j-78.env": NOW - 1}
    assert envfiles.stale(_output(files, ["78|(null)|R"])) == ["j-77.env"]


def test_legacy_and_foreign_files() -> None:
    files = {
        "0badcafe.env": NOW - envfiles.LEGACY_GRACE_S - 1, "deadbeef.env": NOW - 60,
        "notes.txt": NOW - 10**7, "t-zz.env": NOW - 10**7,
    }  # fmt: skip
    assert envfiles.stale(_output(files, [])) == ["0badcafe.env"]


def test_nothing_goes_when_the_queue_cannot_be_read() -> None:
    files = {"t-aaaaaa.env": NOW - 10**6, "t-aaaaaa.submitted": NOW - 10**6}
    assert envfiles.stale(_output(files, None)) == []
    assert envfiles.stale("") == []


def test_the_commands_run_in_a_shell(tmp_path: Path) -> None:
    env_dir = tmp_path / "env dir"
    write = envfiles.write_command(str(env_dir), "t-abcdef")
    subprocess.run(["sh", "-c", write], input="A='x y'\n", text=True, check=True)
    f = env_dir / "t-abcdef.env"
    assert f.read_text() == "A='x y'\n"
    assert f.stat().st_mode & 0o777 == 0o600 and env_dir.stat().st_mode & 0o777 == 0o700
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "squeue").write_text("#!/bin/sh\necho '9|rv:abcdef:0|PD'\n")
    (bin_dir / "squeue").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    listing = subprocess.run(
        ["sh", "-c", envfiles.read_command(str(env_dir))], capture_output=True, text=True,
        env=env, check=True,
    ).stdout  # fmt: skip
    assert envfiles.stale(listing) == []
    assert envfiles.stale(listing, gone={"9"}) == []  # not marked submitted, and young
    mark = envfiles.submitted_command(str(env_dir), "t-abcdef", ["9"])
    subprocess.run(["sh", "-c", mark], check=True)
    listing = subprocess.run(
        ["sh", "-c", envfiles.read_command(str(env_dir))], capture_output=True, text=True,
        env=env, check=True,
    ).stdout  # fmt: skip
    doomed = envfiles.stale(listing, gone={"9"})
    assert doomed == ["t-abcdef.env", "t-abcdef.submitted"]
    subprocess.run(["sh", "-c", envfiles.remove_command(str(env_dir), doomed)], check=True)
    assert list(env_dir.iterdir()) == []
