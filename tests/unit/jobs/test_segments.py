"""Checkpoint segments and job ends, run by bash with stand-ins for sbatch/scontrol: the
next segment's environment holds no secret, its values wait in a 0600 file, SIGUSR1
reaches every process of the payload, and none outlives the script."""

from __future__ import annotations

import os
import shlex
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rv_jupyter.jobs import JobSpec, render
from rv_jupyter.jobs.script import Checkpoint

SECRET = "s3cr3t-'quoted' $(not run)"

# The payload's real work is a grandchild (bash -> python3): the signal must reach it.
GRANDCHILD = r"""
python3 -c '
import signal, sys, time
def got(sig, frame):
    open(sys.argv[1], "w").write("usr1 " + __import__("os").environ["API_TOKEN"])
    sys.exit(0)  # saved
signal.signal(signal.SIGUSR1, got)
open(sys.argv[2], "w").close()
while True:
    time.sleep(0.1)
' "$MARKS/usr1" "$MARKS/ready" rv-test-grandchild-MARK
echo "the shell dies of SIGUSR1 before it gets here"
"""


def _stand_ins(tmp: Path) -> Path:
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(f"#!/bin/sh\ncat {tmp}/script.sh\n")
    # sbatch keeps what Slurm would store: the job's environment and script.
    (bin_dir / "sbatch").write_text(
        f"#!/bin/sh\nenv > {tmp}/next.environment\ncat > {tmp}/next.script\necho 43\n"
    )
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return bin_dir


def _start(spec: JobSpec, tmp: Path, bin_dir: Path) -> subprocess.Popen[str]:
    script = tmp / "script.sh"
    script.write_text(render(spec))
    env = {
        **os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_ID": "42",
        "SLURM_JOB_NAME": spec.name, "HOME": str(tmp), "MARKS": str(tmp),
    }  # fmt: skip
    return subprocess.Popen(["bash", str(script)], env=env, text=True, stderr=subprocess.PIPE)


def _alive(needle: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", needle], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _wait_for(path: Path, limit: float = 10) -> None:
    deadline = time.monotonic() + limit
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.fixture
def mark(request: pytest.FixtureRequest) -> Iterator[str]:
    m = f"rv-test-grandchild-{os.getpid()}-{request.node.name[-20:]}"
    yield m
    for pid in _alive(m):
        os.kill(pid, signal.SIGKILL)


def test_a_segment_hands_on_its_secret_in_a_file_never_in_the_environment(
    tmp_path: Path, mark: str
) -> None:
    env_file = tmp_path / "env" / "t-abc123.env"
    env_file.parent.mkdir(mode=0o700)
    text = f"API_TOKEN={shlex.quote(SECRET)}\n"
    env_file.write_text(text)
    spec = JobSpec(
        kind="checkpoint", name="seg", user="abs6bd", partition="gpu-mig", time_s=120,
        command=("bash", "-c", GRANDCHILD.replace("rv-test-grandchild-MARK", mark)),
        checkpoint=Checkpoint(total_s=3600, buffer_s=60), env_file=str(env_file),
        scratch_root=str(tmp_path / "scratch"),
    )  # fmt: skip
    job = _start(spec, tmp_path, _stand_ins(tmp_path))
    _wait_for(tmp_path / "ready")
    assert not env_file.exists()
    assert SECRET.encode() not in Path(f"/proc/{job.pid}/environ").read_bytes()
    job.send_signal(signal.SIGUSR1)  # what Slurm's --signal=B:USR1 does
    _wait_for(tmp_path / "usr1")
    _, err = job.communicate(timeout=20)
    assert job.returncode == 0, err
    assert (tmp_path / "usr1").read_text() == f"usr1 {SECRET}"
    assert SECRET not in (tmp_path / "next.environment").read_text()
    assert SECRET not in (tmp_path / "next.script").read_text()
    # The next segment's values wait where the first segment's did, 0600.
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert env_file.read_text() == text
    assert _alive(mark) == [], "a process of the segment outlived it"


def test_a_job_leaves_no_process_behind(tmp_path: Path, mark: str) -> None:
    # The program leaves a child running and exits; the job's end must take the child.
    spec = JobSpec(
        name="bg", user="abs6bd", partition="gpu-mig", time_s=120,
        command=("bash", "-c", f"(exec -a {mark} sleep 300) & echo started"),
        scratch_root=str(tmp_path / "scratch"),
    )  # fmt: skip
    job = _start(spec, tmp_path, _stand_ins(tmp_path))
    _, err = job.communicate(timeout=20)
    assert job.returncode == 0, err
    assert _alive(mark) == []


def test_a_cancelled_job_takes_its_whole_payload(tmp_path: Path, mark: str) -> None:
    spec = JobSpec(
        name="term", user="abs6bd", partition="gpu-mig", time_s=120,
        command=("bash", "-c", f"bash -c '(exec -a {mark} sleep 300)'; sleep 300"),
        scratch_root=str(tmp_path / "scratch"),
    )  # fmt: skip
    job = _start(spec, tmp_path, _stand_ins(tmp_path))
    deadline = time.monotonic() + 10
    while not _alive(mark):
        assert time.monotonic() < deadline, "the payload did not start"
        time.sleep(0.05)
    job.send_signal(signal.SIGTERM)  # scancel signals the batch shell
    job.communicate(timeout=20)
    assert job.returncode == 143
    assert _alive(mark) == []


def test_a_failed_resubmission_removes_the_next_segments_file(tmp_path: Path, mark: str) -> None:
    env_file = tmp_path / "t-abc123.env"
    env_file.write_text("API_TOKEN=x\n")
    bin_dir = _stand_ins(tmp_path)
    (bin_dir / "sbatch").write_text("#!/bin/sh\necho 'sbatch: error: refused' >&2\nexit 1\n")
    spec = JobSpec(
        kind="checkpoint", name="seg", user="abs6bd", partition="gpu-mig", time_s=120,
        command=("bash", "-c", f"exec -a {mark} sleep 300"),
        checkpoint=Checkpoint(total_s=3600, buffer_s=60), env_file=str(env_file),
        scratch_root=str(tmp_path / "scratch"),
    )  # fmt: skip
    job = _start(spec, tmp_path, bin_dir)
    deadline = time.monotonic() + 10
    while not _alive(mark):
        assert time.monotonic() < deadline, "the payload did not start"
        time.sleep(0.05)
    job.send_signal(signal.SIGUSR1)
    job.communicate(timeout=20)
    assert not env_file.exists()
