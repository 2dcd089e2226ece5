"""`%%rv_run` in a real IPython shell: sync, run on a node, stream, bring values back."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from rv_jupyter.cells.in_allocation import RunResult
from tests.cluster.conftest import as_admin

pytestmark = pytest.mark.usefixtures("no_jobs_left")


@pytest.fixture
def a_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local folder with code to sync, an ignored weights file, and .rvignore."""
    (tmp_path / "helper.py").write_text("def answer():\n    return 42\n")
    (tmp_path / "weights.safetensors").write_bytes(b"\0" * 1024)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "big.csv").write_text("a,b\n")
    (tmp_path / ".rvignore").write_text("data/\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_python_cell_runs_on_a_gpu_node_and_values_come_back(
    a_shell: Any,
    a_project: Path,
    a_config_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cell = (
        "import os, socket, helper\n"
        "print('hello from', socket.gethostname(), flush=True)\n"
        "answer = helper.answer()\n"
        "gpus = os.environ.get('CUDA_VISIBLE_DEVICES')\n"
        "synced = sorted(os.listdir('.'))\n"
    )
    result = a_shell.run_cell_magic(
        "rv_run", f"--mig --time 10m --out answer,gpus,synced --config {a_config_path}", cell
    )
    assert isinstance(result, RunResult) and result.ok
    assert "hello from udc-mig-1" in capsys.readouterr().out
    ns = a_shell.user_ns
    assert (ns["answer"], ns["gpus"]) == (42, "0")
    assert "helper.py" in ns["synced"]
    assert "weights.safetensors" not in ns["synced"] and "data" not in ns["synced"]
    assert result.workspace.endswith("/rv-workspaces/" + a_project.name)


def test_a_bash_cell_and_a_failing_cell(a_shell, a_project: Path, a_config_path: Path) -> None:  # type: ignore[no-untyped-def]
    ok = a_shell.run_cell_magic("rv_run", f"--mig --bash --config {a_config_path}", "hostname")
    assert ok.ok
    bad = a_shell.run_cell_magic("rv_run", f"--mig --config {a_config_path}", "raise SystemExit(3)")
    assert bad.exit_code == 3 and not bad.ok


def test_a_value_json_cannot_carry_is_named(a_shell, a_project: Path, a_config_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match=r"f \(function\)"):
        a_shell.run_cell_magic(
            "rv_run", f"--mig --out f,n --config {a_config_path}", "def f():\n    pass\nn = 1\n"
        )
    assert a_shell.user_ns["n"] == 1


def test_bad_out_name_submits_nothing(a_shell, a_project: Path, a_config_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match="not a variable name"):
        a_shell.run_cell_magic("rv_run", f"--mig --out 'x;y' --config {a_config_path}", "x = 1")
    assert os.getcwd() == str(a_project)


def test_a_cell_runs_in_the_allocation_from_rv_up(  # type: ignore[no-untyped-def]
    a_shell, a_project: Path, a_config_path: Path
) -> None:
    alloc = a_shell.run_line_magic("rv_up", f"--mig --time 10m --new --config {a_config_path}")
    result = a_shell.run_cell_magic("rv_run", f"--config {a_config_path}", "print('in it')")
    assert result.job_id == alloc.job_id
    assert a_shell.run_line_magic("rv_ps", f"--config {a_config_path}")["id"].tolist() == [
        alloc.job_id
    ], "the allocation outlives the cell; nothing else was queued"


def test_a_secret_reaches_the_cell_and_nothing_else(  # type: ignore[no-untyped-def]
    a_shell, a_project: Path, a_config_path: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    config = tmp_path / "cfg" / "config.toml"
    config.parent.mkdir()
    config.write_text(a_config_path.read_text())
    monkeypatch.setenv("RV_CONFIG", str(config))  # env.json goes beside this config
    secret = "tok-" + os.urandom(8).hex()
    monkeypatch.setattr("getpass.getpass", lambda prompt="": secret)
    listing = a_shell.run_line_magic("rv_env", "set API_TOKEN --secret")
    assert secret not in listing.to_string()
    with pytest.raises(UsageError, match="Do not type a secret"):
        a_shell.run_line_magic("rv_env", "set API_TOKEN abc --secret")
    cell = (
        "import os, glob\n"
        "tok = os.environ['API_TOKEN']\n"
        "n = len(tok)\n"
        "left = glob.glob(os.path.expanduser('/scratch/*/.rv/env/*.env'))\n"
        "print('token length', n)\n"
    )
    result = a_shell.run_cell_magic("rv_run", f"--mig --out n,left --config {config}", cell)
    assert result.ok and a_shell.user_ns["n"] == len(secret)
    assert a_shell.user_ns["left"] == [], "the env file is deleted once read"
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err
    assert "token length" in captured.out
    logs = subprocess.run(
        ["grep", "-rl", secret, "/scratch/rvtest/.rv", "/var/log/slurm"], capture_output=True
    )
    assert logs.stdout == b"", "the secret must not be in any log or file left behind"
    a_shell.run_line_magic("rv_env", "rm API_TOKEN")


def test_push_exec_and_pull_back_without_losing_local_edits(  # type: ignore[no-untyped-def]
    a_shell, a_project: Path, a_config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RV_CONFIG", str(a_config_path))
    pushed = a_shell.run_line_magic("rv_sync", "push")
    assert "helper.py" in pushed.files and "weights.safetensors" not in pushed.files
    ws = pushed.remote
    out = a_shell.run_line_magic(
        "rv_exec", f"mkdir -p {ws}/outputs && echo remote > {ws}/outputs/r.txt && echo made"
    )
    assert "made" in out
    (a_project / "rv-results" / "outputs").mkdir(parents=True)
    (a_project / "rv-results" / "outputs" / "r.txt").write_text("local edit")
    pulled = a_shell.run_line_magic("rv_sync", "pull outputs")
    assert pulled.skipped == ["outputs/r.txt"]
    assert (a_project / "rv-results" / "outputs" / "r.txt").read_text() == "local edit"
    a_shell.run_line_magic("rv_sync", "pull outputs --force")
    assert (a_project / "rv-results" / "outputs" / "r.txt").read_text() == "remote\n"
    with pytest.raises(UsageError, match="not a path inside"):
        a_shell.run_line_magic("rv_sync", "pull ../../etc")
    failed = a_shell.run_line_magic("rv_exec", "exit 3")
    assert "[exit status 3]" in failed


def test_a_failing_cell_shows_the_users_traceback_only(  # type: ignore[no-untyped-def]
    a_shell, a_project: Path, a_config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cell = (
        "import helper\n\ndef check(x):\n    raise ValueError(f'bad {x}')\n\n"
        "check(helper.answer())\n"
    )
    result = a_shell.run_cell_magic("rv_run", f"--mig --config {a_config_path}", cell)
    err = capsys.readouterr().err
    assert result.exit_code == 1
    assert "ValueError: bad 42" in err
    assert 'File "<cell>", line 6, in <module>' in err and "check(helper.answer())" in err
    assert 'File "<cell>", line 4, in check' in err
    assert "run.py" not in err and "exec(compile" not in err, err
    assert "srun: error" not in err and "exit code" not in err, err
    assert str(result).startswith(f"Cell failed in job {result.job_id} (exit 1)")


def test_a_cell_in_the_allocation_says_the_job_keeps_running(  # type: ignore[no-untyped-def]
    a_shell, a_project: Path, a_config_path: Path
) -> None:
    alloc = a_shell.run_line_magic("rv_up", f"--mig --time 10m --new --config {a_config_path}")
    result = a_shell.run_cell_magic("rv_run", f"--config {a_config_path}", "x = 1")
    assert str(result).splitlines()[0].startswith(f"Cell finished in job {alloc.job_id} in ")
    assert f"(the job keeps running: `%rv_stop {alloc.job_id}`)" in str(result)


def test_a_no_wait_handle_says_how_many_jobs_and_how_to_read_it_again(  # type: ignore[no-untyped-def]
    a_shell, a_project: Path, a_config_path: Path
) -> None:
    job = a_shell.run_cell_magic(
        "rv_run", f"--mig --time 10m --no-wait --config {a_config_path}", "x = 1"
    )
    try:
        text = str(job)
        n = len(job.job_ids)
        assert f"{n} job{'s' if n != 1 else ''} submitted" in text and "strategies" not in text
        assert ".status() reads it again" in text
    finally:
        job.cancel()


def test_pull_refuses_more_than_it_can_hold_naming_the_size(  # type: ignore[no-untyped-def]
    a_shell, a_project: Path, a_config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RV_CONFIG", str(a_config_path))
    ws = a_shell.run_line_magic("rv_sync", "push").remote
    # Sparse: 300 MB as far as du and tar are concerned, no disk used.
    a_shell.run_line_magic(
        "rv_exec", f"mkdir -p {ws}/big && truncate -s 300M {ws}/big/weights.bin && echo ok"
    )
    with pytest.raises(UsageError) as err:
        a_shell.run_line_magic("rv_sync", "pull big")
    assert "holds 300 MB" in str(err.value) and "at most 200 MB" in str(err.value)
    assert "%rv_sync pull outputs/run1" in str(err.value)
    assert not (a_project / "rv-results" / "big").exists()
    a_shell.run_line_magic("rv_exec", f"rm -rf {ws}/big")


def sshd_serving(client_port: int) -> list[int]:
    """The sshd processes at the server end of one client connection (by its port)."""
    out = subprocess.run(
        ["ss", "-Htnp", "state", "established", f"( sport = :22022 and dport = :{client_port} )"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return sorted({int(p) for p in re.findall(r"pid=(\d+)", out)})


def test_a_dropped_connection_stops_the_cell_on_the_node(  # type: ignore[no-untyped-def]
    a_shell, a_project: Path, a_config_path: Path
) -> None:
    import rv_jupyter
    from rv_jupyter.cluster.background import run_sync

    alloc = a_shell.run_line_magic("rv_up", f"--mig --time 10m --new --config {a_config_path}")
    marker = Path(f"/scratch/rvtest/rv-test-drop-{os.getpid()}-{time.time_ns()}")
    # Silent on purpose: nothing it writes could tell the step that nobody listens.
    cell = (
        "import time\n"
        "while True:\n"
        f"    open({str(marker)!r}, 'a').write('tick\\n')\n"
        "    time.sleep(0.5)\n"
    )
    connection = rv_jupyter.connect(str(a_config_path)).connection
    dropped: list[int] = []

    def drop_when_running() -> None:
        deadline = time.monotonic() + 60
        while not marker.exists() or marker.read_text().count("tick") < 3:
            if time.monotonic() > deadline:
                return
            time.sleep(0.2)
        ssh = run_sync(connection.alogin())
        # This test's connection only (the sshd at its other end), as a network drop
        # would: other sessions of the test user on this machine go on.
        for pid in sshd_serving(ssh.get_extra_info("sockname")[1]):
            os.kill(pid, signal.SIGKILL)
            dropped.append(pid)

    killer = threading.Thread(target=drop_when_running)
    killer.start()
    try:
        try:
            ended = a_shell.run_cell_magic("rv_run", f"--config {a_config_path}", cell)
        except UsageError as exc:
            ended = exc
        killer.join(10)
        assert dropped, f"the connection was never dropped (the cell ended: {ended})"
        assert isinstance(ended, UsageError), ended
        message = str(ended)
        assert message.splitlines()[0] == (
            f"The connection dropped while the cell ran in job {alloc.job_id}; the cell was "
            "stopped on the node."
        )
        assert len(message.splitlines()) == 2 and "Traceback" not in message
        time.sleep(3)  # Slurm ends the step (SIGTERM, then SIGKILL after KillWait)
        ticks = marker.read_text().count("tick")
        time.sleep(3)
        assert marker.read_text().count("tick") == ticks, "the cell runs on, nobody listening"
        left = as_admin("squeue", "-h", "-s", "-j", alloc.job_id, "-o", "%i").split()
        assert left in ([f"{alloc.job_id}.batch"], []), f"steps left: {left}"
        state = as_admin("squeue", "-h", "-j", alloc.job_id, "-o", "%T").strip()
        assert state == "RUNNING", "the allocation itself outlives the drop"
    finally:
        killer.join(10)
        marker.unlink(missing_ok=True)
