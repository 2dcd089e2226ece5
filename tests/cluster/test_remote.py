"""The async SSH core against the mini-Rivanna's real OpenSSH: what needs its ssh_config,
ProxyJump hops and an agent (the rest runs on the loopback server of tests/ssh)."""

from __future__ import annotations

import dataclasses
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rv_jupyter import config as rv_config
from rv_jupyter.cluster.handle import ssh_target
from rv_jupyter.errors import AuthFailed
from rv_jupyter.remote import Connection, SshTarget
from tests.cluster.conftest import MINI


@pytest.fixture
def a_target(a_config_path: Path) -> SshTarget:
    """Where the mini-Rivanna's login node is."""
    return ssh_target(rv_config.load(a_config_path))


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
