"""`%%rv_run` in a real IPython shell: sync, run on a node, stream, bring values back."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from IPython.core.error import UsageError

from rv_jupyter.runner import RunResult

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
    a_shell,
    a_project: Path,
    a_config_path: Path,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
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
