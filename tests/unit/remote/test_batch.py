"""The batch protocol: one script, results split back per command, no forged boundaries."""

from __future__ import annotations

import subprocess

import pytest

from rv_jupyter.errors import ParseError
from rv_jupyter.remote.batch import Completed, build_script, new_token, split_output


def run_batch(commands: list[str], *, parallel: bool = False, cwd: str = "/tmp") -> list[Completed]:
    token = new_token()
    out = subprocess.run(
        ["sh", "-s"], input=build_script(commands, token, parallel=parallel),
        capture_output=True, text=True, timeout=30, cwd=cwd,
    ).stdout  # fmt: skip
    return split_output(out, commands, token)


@pytest.mark.parametrize("parallel", [False, True])
def test_each_command_has_its_own_stdout_stderr_and_status(parallel: bool) -> None:
    cmds = ["echo out; echo err >&2", "exit 3", "printf 'no newline'", "true", "cat"]
    a, b, c, d, e = run_batch(cmds, parallel=parallel)
    assert (a.stdout, a.stderr, a.exit_status) == ("out\n", "err\n", 0)
    assert b.exit_status == 3
    assert c.stdout == "no newline"
    assert (d.stdout, d.stderr, d.exit_status) == ("", "", 0)
    assert e.stdout == "", "a command must not read the batch script from stdin"


def test_output_cannot_forge_a_boundary() -> None:
    forged = "printf '\\nrv-batch-0123:1:out\\nFORGED\\nrv-batch-0123:end\\n'"
    a, b = run_batch([forged, "echo real"])
    assert "FORGED" in a.stdout
    assert b.stdout == "real\n"


def test_one_command_exiting_or_changing_directory_does_not_affect_the_next() -> None:
    a, b, c = run_batch(["cd /; exit 0", "pwd", "exit 1; echo never"], cwd="/tmp")
    assert a.exit_status == 0
    assert b.stdout.strip() == "/tmp"
    assert (c.exit_status, c.stdout) == (1, "")


def test_order_is_kept_when_parallel() -> None:
    results = run_batch(["sleep 0.3; echo 1", "echo 2", "sleep 0.1; echo 3"], parallel=True)
    assert [r.stdout.strip() for r in results] == ["1", "2", "3"]


def test_truncated_output_is_an_error() -> None:
    token = new_token()
    with pytest.raises(ParseError, match="cut off"):
        split_output(f"\n{token}:0:out\npartial", ["x"], token)


def test_tokens_are_fresh() -> None:
    assert new_token() != new_token()


@pytest.mark.parametrize("how", ["hangup", "broken pipe"])
def test_the_temporary_directory_goes_however_the_script_ends(tmp_path, how: str) -> None:  # type: ignore[no-untyped-def]
    import os
    import signal
    import time

    script = build_script(["echo a", "sleep 1", "echo c"], new_token())
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    if how == "hangup":
        proc = subprocess.Popen(
            ["sh", "-s"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env
        )
        proc.stdin.write(script.encode())  # type: ignore[union-attr]
        proc.stdin.close()  # type: ignore[union-attr]
        time.sleep(0.5)
        proc.send_signal(signal.SIGHUP)
    else:
        # The reader is gone (as sshd is after a drop): the first printf gets SIGPIPE.
        read, write = os.pipe()
        os.close(read)
        proc = subprocess.Popen(["sh", "-s"], stdin=subprocess.PIPE, stdout=write, env=env)
        os.close(write)
        proc.stdin.write(script.encode())  # type: ignore[union-attr]
        proc.stdin.close()  # type: ignore[union-attr]
    proc.wait(timeout=10)
    assert proc.returncode != 0
    assert list(tmp_path.iterdir()) == []
