"""`%%rv_run --no-wait`: a cell as batch jobs that go on without the notebook."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from rv_jupyter.cells.batch_job import CellJob
from tests.cluster.conftest import as_admin
from tests.cluster.test_allocator import block

pytestmark = pytest.mark.usefixtures("no_jobs_left")


@pytest.fixture
def a_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "helper.py").write_text("def answer():\n    return 42\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _gone(job: CellJob, limit: float) -> None:
    """Wait, without the handle, until the cluster holds none of the run's jobs."""
    ids = set(job.job_ids)
    deadline = time.monotonic() + limit
    while ids & set(as_admin("squeue", "-h", "-o", "%i").split()):
        assert time.monotonic() < deadline, f"jobs {ids} still queued or running"
        time.sleep(1)


def test_no_wait_returns_a_handle_and_the_run_needs_no_notebook(  # type: ignore[no-untyped-def]
    a_shell, a_project: Path, a_config_path: Path
) -> None:
    name = f"nw-{secrets.token_hex(3)}"
    cell = "import helper, os, time\ntime.sleep(4)\nanswer = helper.answer()\n"
    t0 = time.monotonic()
    job = a_shell.run_cell_magic(
        "rv_run", f"--no-wait --mig --time 10m --out answer --name {name} "
        f"--config {a_config_path}", cell,
    )  # fmt: skip
    assert isinstance(job, CellJob)
    assert time.monotonic() - t0 < 10, "--no-wait must not wait for the job"
    assert job.status().phase in ("pending", "running")
    a_shell.user_ns.pop("answer", None)
    _gone(job, 120)  # nothing on the laptop polled or streamed in the meantime
    result = job.result()
    assert result.ok and result.values == {"answer": 42}
    assert a_shell.user_ns["answer"] == 42
    assert job.status().phase == "finished"


def test_wait_streams_the_log_and_a_failure_is_reported(  # type: ignore[no-untyped-def]
    a_shell, a_project: Path, a_config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = a_shell.run_cell_magic(
        "rv_run", f"--no-wait --mig --time 10m --config {a_config_path}",
        "print('working on', __import__('socket').gethostname(), flush=True)\nraise SystemExit(3)",
    )  # fmt: skip
    result = job.wait()
    assert "working on udc-mig-1" in capsys.readouterr().out
    assert result.exit_code == 3 and not result.ok
    assert job.status().phase == "failed"


def test_cancel_while_queued_leaves_nothing(  # type: ignore[no-untyped-def]
    a_shell, a_cluster, a_project: Path, a_config_path: Path
) -> None:
    block(a_cluster, "gpu-a40", "a40", 8)
    job = a_shell.run_cell_magic(
        "rv_run", f"--no-wait --type a40 --time 10m --config {a_config_path}", "print(1)"
    )
    assert job.status().phase == "pending"
    cancelled = job.cancel()
    assert set(job.job_ids) <= set(cancelled)
    _gone(job, 30)
    deadline = time.monotonic() + 40
    while (st := job.status()).phase != "cancelled":
        assert time.monotonic() < deadline, st
        time.sleep(2)


def test_a_secret_reaches_a_batch_cell_but_not_its_script_or_logs(  # type: ignore[no-untyped-def]
    a_shell, a_project: Path, a_config_path: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    config = tmp_path / "cfg" / "config.toml"
    config.parent.mkdir()
    config.write_text(a_config_path.read_text())
    monkeypatch.setenv("RV_CONFIG", str(config))
    secret = "tok-" + os.urandom(8).hex()
    monkeypatch.setattr("getpass.getpass", lambda prompt="": secret)
    a_shell.run_line_magic("rv_env", "set API_TOKEN --secret")
    try:
        job = a_shell.run_cell_magic(
            "rv_run", f"--no-wait --mig --time 10m --out n --config {config}",
            "import os, time\nn = len(os.environ['API_TOKEN'])\ntime.sleep(3)\n",
        )  # fmt: skip
        st = job.status()
        scripts = "".join(
            subprocess.run(["scontrol", "write", "batch_script", i, "-"],
                           capture_output=True, text=True).stdout
            for i in job.job_ids
        )  # fmt: skip
        assert "API_TOKEN" not in scripts and secret not in scripts, st
        result = job.wait(stream=False)
        assert result.ok and a_shell.user_ns["n"] == len(secret)
        leaks = subprocess.run(
            ["grep", "-rl", secret, "/scratch/rvtest/.rv", "/var/log/slurm"], capture_output=True
        )
        assert leaks.stdout == b"", "the secret must not be in any file left behind"
    finally:
        a_shell.run_line_magic("rv_env", "rm API_TOKEN")


def _files_holding(secret: str) -> list[Path]:
    """The env files (read as root) that hold `secret`."""
    env = Path("/scratch/rvtest/.rv/env")
    return [f for f in env.glob("*") if f.is_file() and secret in f.read_text(errors="replace")]


def test_a_pending_cells_env_file_goes_on_every_cancel_path(  # type: ignore[no-untyped-def]
    a_shell, a_cluster, a_project: Path, a_config_path: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    config = tmp_path / "cfg" / "config.toml"
    config.parent.mkdir()
    config.write_text(a_config_path.read_text())
    monkeypatch.setenv("RV_CONFIG", str(config))
    secret = "tok-" + os.urandom(8).hex()
    monkeypatch.setattr("getpass.getpass", lambda prompt="": secret)
    a_shell.run_line_magic("rv_env", "set API_TOKEN --secret")
    block(a_cluster, "gpu-a40", "a40", 8)
    line = f"--no-wait --type a40 --time 10m --config {config}"
    try:
        first = a_shell.run_cell_magic("rv_run", line, "print(1)")
        assert first.status().phase == "pending"
        [waiting] = _files_holding(secret)
        assert waiting.stat().st_mode & 0o777 == 0o600
        assert waiting.parent.stat().st_mode & 0o777 == 0o700
        # A plain scancel from a shell: rv hears of it at its next call.
        subprocess.run(["scancel", *first.job_ids], check=True)
        _gone(first, 30)
        second = a_shell.run_cell_magic("rv_run", line, "print(2)")
        assert not waiting.exists()
        [waiting] = _files_holding(secret)
        # %rv_stop (Cluster.cancel) removes it at once.
        a_shell.run_line_magic("rv_stop", " ".join(second.job_ids) + f" --config {config}")
        assert _files_holding(secret) == []
    finally:
        a_shell.run_line_magic("rv_env", "rm API_TOKEN")
