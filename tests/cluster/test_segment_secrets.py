"""Checkpoint segments: secrets reach every segment but never Slurm, and no process of a
segment outlives it (the SIGUSR1 reaches the payload's whole process group)."""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from rv_jupyter.cells.batch_job import CellJob
from tests.cluster.conftest import as_admin

pytestmark = pytest.mark.usefixtures("no_jobs_left")

# A bash cell whose real work is a grandchild of the batch shell (batch shell -> bash
# cell -> python3). Segment 1 waits for Slurm's SIGUSR1, which the python program must
# get (it leaves a marker) and then ignores, sleeping on: only the end of the job may
# stop it. Segment 2 lingers a few seconds so Slurm holds its environment meanwhile.
CELL = r"""
d="$RV_CHECKPOINT_DIR"; n=$(cat "$d/progress" 2>/dev/null || echo 0); n=$((n + 1))
echo "$n" > "$d/progress"
echo "segment $n token $(printf %s "$API_TOKEN" | sha256sum | cut -c1-16)" >> "$d/hashes"
if [ "$n" -ge 2 ]; then sleep 8; exit 0; fi
python3 -c '
import signal, sys, time
def got(sig, frame):
    open(sys.argv[1], "w").write("usr1\n")
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
signal.signal(signal.SIGUSR1, got)
while True:
    time.sleep(1)
' "$d/usr1-$n" MARKER
"""


def _processes_with(needle: bytes) -> list[str]:
    """Pids whose command line or environment holds `needle` (read as root)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or proc.name == str(os.getpid()):
            continue
        for part in ("cmdline", "environ"):
            try:
                if needle in (proc / part).read_bytes():
                    found.append(f"{proc.name} ({part})")
            except OSError:
                pass
    return found


def _slurm_copies_of(secret: str, job_ids: list[str]) -> list[str]:
    """Where Slurm itself holds `secret`: its state directory, the stored scripts,
    accounting, job records and logs."""
    where = []
    state = next(
        ln.split("=", 1)[1].strip()
        for ln in as_admin("scontrol", "show", "config").splitlines()
        if ln.startswith("StateSaveLocation")
    )
    hits = subprocess.run(["grep", "-rl", "--", secret, state], capture_output=True, text=True)
    where += hits.stdout.split()
    for job in job_ids:
        for argv in (
            ["scontrol", "write", "batch_script", job, "-"],
            ["scontrol", "show", "job", "-dd", job],
            ["sacct", "-j", job, "-P", "--long"],
        ):
            out = subprocess.run(argv, capture_output=True, text=True).stdout
            if secret in out:
                where.append(" ".join(argv[:3]) + f" {job}")
    logs = subprocess.run(
        ["grep", "-rl", "--", secret, "/scratch/rvtest/.rv", "/var/log/slurm"],
        capture_output=True, text=True,
    )  # fmt: skip
    return where + logs.stdout.split()


def test_a_secret_reaches_every_segment_but_slurm_never_holds_it(  # type: ignore[no-untyped-def]
    a_shell, tmp_path: Path, a_config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "cfg" / "config.toml"
    config.parent.mkdir()
    config.write_text(a_config_path.read_text())
    monkeypatch.setenv("RV_CONFIG", str(config))
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    secret = "tok-" + os.urandom(12).hex()
    marker = f"rv-grandchild-{secrets.token_hex(4)}"
    monkeypatch.setattr("getpass.getpass", lambda prompt="": secret)
    a_shell.run_line_magic("rv_env", "set API_TOKEN --secret")
    name = f"seg-{secrets.token_hex(3)}"
    try:
        job = a_shell.run_cell_magic(
            "rv_run",
            f"--no-wait --bash --mig --time 4m --segment 2m --name {name} --config {config}",
            CELL.replace("MARKER", marker),
        )
        assert isinstance(job, CellJob)
        # While the second segment runs, Slurm holds its environment and script.
        deadline = time.monotonic() + 240
        hashes = ""
        while hashes.count("\n") < 2:
            assert time.monotonic() < deadline, f"no second segment: {job.status()}"
            time.sleep(1)
            st = job.status()
            if st.jobs:
                work = f"/scratch/rvtest/.rv/checkpoints/{name}-{st.jobs[0]}"
                hashes = subprocess.run(
                    ["cat", f"{work}/hashes"], capture_output=True, text=True
                ).stdout
        live = job.status().jobs
        assert len(live) >= 2, live
        leaks = _slurm_copies_of(secret, [*job.job_ids, *live])
        result = job.wait(stream=False)
        assert result.ok, result
        want = hashlib.sha256(secret.encode()).hexdigest()[:16]
        leaks += _slurm_copies_of(secret, result.jobs)
        usr1 = Path(f"{work}/usr1-1")
        problems = {
            "segments that missed the secret": hashes.splitlines()
            != [f"segment 1 token {want}", f"segment 2 token {want}"],
            "places the secret is stored": leaks,
            # The SIGUSR1 reached the grandchild, and it did not outlive its segment.
            "grandchild got no SIGUSR1": not usr1.exists(),
            "processes left of the job": _processes_with(marker.encode()),
            "processes holding the secret": _processes_with(secret.encode()),
        }
        assert {k: v for k, v in problems.items() if v} == {}
    finally:
        a_shell.run_line_magic("rv_env", "rm API_TOKEN")
        for pid in {p.split()[0] for p in _processes_with(marker.encode())}:
            os.kill(int(pid), 9)  # a survivor of a failed run must not outlive the test
