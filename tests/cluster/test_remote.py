"""The async SSH core against the mini-Rivanna's real OpenSSH server."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rv_jupyter import config as rv_config
from rv_jupyter.cluster.handle import ssh_target
from rv_jupyter.errors import AuthFailed, CommandFailed, CommandTimeout, ConnectionLost
from rv_jupyter.remote import Connection, SshTarget
from tests.cluster.conftest import MINI


@pytest.fixture
def a_target(a_config_path: Path) -> SshTarget:
    """Where the mini-Rivanna's login node is."""
    return ssh_target(rv_config.load(a_config_path))


@pytest.fixture
async def a_connection(a_target: SshTarget):  # type: ignore[no-untyped-def]
    """A fresh connection (not the shared one), closed after the test."""
    conn = Connection(a_target)
    yield conn
    await conn.close()


def drop_server_side(user: str) -> None:
    """Kill the sshd processes serving `user`'s sessions, as a network drop would."""
    subprocess.run(["pkill", "-KILL", "-f", f"^sshd: {user}"], check=False)


async def test_run_returns_output_and_status(a_connection: Connection) -> None:
    done = await a_connection.run("echo hi; echo there >&2")
    assert (done.stdout, done.stderr, done.exit_status) == ("hi\n", "there\n", 0)


async def test_failure_names_command_status_and_stderr(a_connection: Connection) -> None:
    with pytest.raises(CommandFailed) as err:
        await a_connection.run("echo boom >&2; exit 7")
    assert err.value.exit_status == 7 and "boom" in str(err.value)
    assert "exit 7" in str(err.value)
    done = await a_connection.run("exit 7", check=False)
    assert done.exit_status == 7


async def test_batch_is_one_channel_with_separate_results(a_connection: Connection) -> None:
    await a_connection.run("true")
    before = a_connection.channels_opened
    a, b, c = await a_connection.batch(["hostname", "echo e >&2; exit 2", "squeue --me -h"])
    assert a_connection.channels_opened - before == 1
    assert a.stdout.strip() and a.exit_status == 0
    assert (b.stderr, b.exit_status) == ("e\n", 2)
    assert c.exit_status == 0


async def test_stdin_never_shows_on_a_command_line(a_connection: Connection) -> None:
    secret = "hmac-key-6f1d2c9a8b7e"
    reader = asyncio.create_task(
        a_connection.run("read -r s; sleep 2; echo ${#s}", stdin=secret + "\n")
    )
    await asyncio.sleep(1)
    # The login node is this machine: look at every process's command line as root.
    cmdlines = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "read -r s" in cmdlines, "the reader should be running now"
    assert secret not in cmdlines
    assert (await reader).stdout.strip() == str(len(secret))


async def test_timeout_is_a_typed_error(a_connection: Connection) -> None:
    with pytest.raises(CommandTimeout) as err:
        await a_connection.run("sleep 5", timeout=0.5)
    assert isinstance(err.value, asyncio.TimeoutError)
    assert "sleep 5" in str(err.value)


async def test_reconnects_once_after_the_server_drops_the_connection(
    a_connection: Connection, a_target: SshTarget
) -> None:
    await a_connection.run("true")
    assert a_connection.connects == 1
    drop_server_side(a_target.user or "rvtest")
    await asyncio.sleep(0.3)
    done = await a_connection.run("echo back")
    assert done.stdout == "back\n"
    assert a_connection.connects == 2


async def test_a_drop_mid_command_is_not_retried_when_asked(
    a_connection: Connection, a_target: SshTarget
) -> None:
    submit = asyncio.create_task(a_connection.run("sleep 3; echo submitted", retry=False))
    await asyncio.sleep(1)
    drop_server_side(a_target.user or "rvtest")
    with pytest.raises(ConnectionLost, match="not retried"):
        await submit
    # The next command simply opens a new connection.
    assert (await a_connection.run("echo ok")).stdout == "ok\n"


async def test_one_connection_for_concurrent_callers(a_target: SshTarget) -> None:
    shared = Connection.for_target(a_target)
    assert Connection.for_target(a_target) is shared
    await shared.close()
    before = shared.connects
    results = await asyncio.gather(*(shared.run(f"echo {i}") for i in range(5)))
    assert [r.stdout.strip() for r in results] == [str(i) for i in range(5)]
    assert shared.connects - before == 1


async def test_honours_ssh_config_alias_and_proxy_jump(a_target: SshTarget) -> None:
    # The cluster's client config: Host alias -> HostName/Port/User/IdentityFile/
    # UserKnownHostsFile, and `Host udc-*` -> ProxyJump through the login node.
    config = str(MINI / "ssh" / "config")
    login = Connection(SshTarget("mini-rivanna", ssh_config=(config,)))
    node = Connection(SshTarget("udc-a6k-2", ssh_config=(config,)))
    try:
        assert (await login.run("id -un")).stdout.strip() == a_target.user
        assert (await node.run("hostname")).stdout.strip() == "udc-a6k-2"
    finally:
        await login.close()
        await node.close()


@pytest.fixture
def an_ssh_agent(tmp_path: Path) -> Iterator[str]:
    """A real ssh-agent holding the test user's key; yields its socket path."""
    sock = str(tmp_path / "agent.sock")
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not Path(sock).exists():
            assert time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.05)
        key = str(MINI / "ssh" / "id_ed25519")
        subprocess.run(["ssh-add", "-q", key], env={"SSH_AUTH_SOCK": sock}, check=True)
        yield sock
    finally:
        agent.kill()
        agent.wait()


async def test_keys_from_the_ssh_agent(
    a_target: SshTarget, an_ssh_agent: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSH_AUTH_SOCK", an_ssh_agent)
    monkeypatch.setenv("HOME", str(Path(an_ssh_agent).parent))  # no ~/.ssh/id_* keys
    no_key_file = dataclasses.replace(a_target, identity_files=())
    conn = Connection(no_key_file)
    try:
        assert (await conn.run("id -un")).stdout.strip() == a_target.user
    finally:
        await conn.close()
    monkeypatch.delenv("SSH_AUTH_SOCK")
    with pytest.raises(AuthFailed, match="none found"):
        await Connection(no_key_file).run("true")
