"""The async SSH core (remote.Connection) against a real SSH server on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rv_jupyter.errors import CommandFailed, CommandTimeout, ConnectionLost
from rv_jupyter.remote import Connection
from tests.ssh.conftest import LoopbackServer


@pytest.fixture
async def a_connection(a_server: LoopbackServer):  # type: ignore[no-untyped-def]
    conn = Connection(a_server.target())
    yield conn
    await conn.close()


async def wait_for(path: Path, timeout: float = 10) -> None:
    """Until `path` exists: the command on the server got that far."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not path.exists():
        assert asyncio.get_running_loop().time() < deadline, f"{path} never appeared"
        await asyncio.sleep(0.02)


async def test_run_returns_output_and_status(a_connection: Connection) -> None:
    done = await a_connection.run("echo hi; echo there >&2")
    assert (done.stdout, done.stderr, done.exit_status) == ("hi\n", "there\n", 0)


async def test_failure_names_command_status_and_stderr(a_connection: Connection) -> None:
    with pytest.raises(CommandFailed) as err:
        await a_connection.run("echo boom >&2; exit 7")
    assert err.value.exit_status == 7 and "boom" in str(err.value) and "exit 7" in str(err.value)
    assert (await a_connection.run("exit 7", check=False)).exit_status == 7


async def test_batch_is_one_channel_with_separate_results(
    a_connection: Connection, a_server: LoopbackServer
) -> None:
    await a_connection.run("true")
    before = len(a_server.commands)
    a, b, c = await a_connection.batch(["echo one", "echo e >&2; exit 2", "printf 'no newline'"])
    assert len(a_server.commands) - before == 1
    assert (a.stdout, a.exit_status) == ("one\n", 0)
    assert (b.stdout, b.stderr, b.exit_status) == ("", "e\n", 2)
    assert (c.stdout, c.exit_status) == ("no newline", 0)


async def test_stdin_never_shows_on_a_command_line(
    a_connection: Connection, a_server: LoopbackServer
) -> None:
    secret = "hmac-key-6f1d2c9a8b7e"
    done = await a_connection.run("read -r s; echo ${#s}", stdin=secret + "\n")
    assert done.stdout.strip() == str(len(secret))
    assert a_server.commands and not any(secret in c for c in a_server.commands)
    await a_connection.batch([f"echo {len(secret)}"])
    assert all(secret not in c for c in a_server.commands)


async def test_timeout_is_a_typed_error(a_connection: Connection) -> None:
    with pytest.raises(CommandTimeout) as err:
        await a_connection.run("sleep 5", timeout=0.3)
    assert isinstance(err.value, asyncio.TimeoutError) and "sleep 5" in str(err.value)


async def test_a_connection_dropped_while_idle_is_reopened_once(
    a_connection: Connection, a_server: LoopbackServer
) -> None:
    await a_connection.run("true")
    a_server.drop_all()
    assert (await a_connection.run("echo back")).stdout == "back\n"
    assert a_connection.connects == 2


async def test_a_command_cut_by_a_drop_is_not_run_again(
    a_connection: Connection, a_server: LoopbackServer, tmp_path: Path
) -> None:
    runs, started = tmp_path / "runs", tmp_path / "started"
    command = f"echo x >> {runs}; touch {started}; sleep 5"
    submit = asyncio.create_task(a_connection.run(command, retry=False))
    await wait_for(started)
    a_server.drop_all()
    with pytest.raises(ConnectionLost, match="not retried"):
        await submit
    assert runs.read_text() == "x\n"
    assert (await a_connection.run("echo ok")).stdout == "ok\n"  # a new connection


async def test_a_read_cut_by_a_drop_runs_again_when_it_may(
    a_connection: Connection, a_server: LoopbackServer, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    # The first run waits to be cut; the second finds the mark and answers at once.
    command = f"echo x >> {runs}; [ $(wc -l < {runs}) -gt 1 ] || sleep 5; echo read"
    reading = asyncio.create_task(a_connection.run(command, retry=True))
    await wait_for(runs)
    a_server.drop_all()
    assert (await reading).stdout == "read\n"
    assert runs.read_text() == "x\nx\n"


async def test_one_connection_for_concurrent_callers(a_server: LoopbackServer) -> None:
    shared = Connection(a_server.target())
    try:
        results = await asyncio.gather(*(shared.run(f"echo {i}") for i in range(5)))
        assert [r.stdout.strip() for r in results] == [str(i) for i in range(5)]
        assert shared.connects == 1 and len(a_server.commands) == 5
    finally:
        await shared.close()
