"""Host keys against a real SSH server on loopback: checked always, by OpenSSH's rules."""

from __future__ import annotations

import asyncssh
import pytest

from rv_jupyter.errors import HostKeyChanged, HostKeyUnknown
from rv_jupyter.remote import Connection
from tests.ssh.conftest import LoopbackServer


def public(key: asyncssh.SSHKey) -> str:
    return key.export_public_key("openssh").decode().strip()


async def refused(server: LoopbackServer, known_hosts_text: str) -> Exception:
    server.known_hosts.write_text(known_hosts_text)
    conn = Connection(server.target())
    try:
        with pytest.raises((HostKeyUnknown, HostKeyChanged)) as err:
            await conn.run("true")
        return err.value
    finally:
        await conn.close()


async def test_the_listed_key_for_host_and_port_is_trusted(a_server: LoopbackServer) -> None:
    conn = Connection(a_server.target())
    try:
        assert (await conn.run("echo in")).stdout == "in\n"
    finally:
        await conn.close()


async def test_a_key_listed_without_the_port_is_not_trusted_for_the_port(
    a_server: LoopbackServer,
) -> None:
    err = await refused(a_server, f"127.0.0.1 {public(a_server.host_key)}\n")
    assert isinstance(err, HostKeyUnknown)
    assert f"[127.0.0.1]:{a_server.port}" in str(err) and "without a port" in str(err)
    assert not a_server.commands  # nothing ran on a server we did not trust


async def test_another_key_for_the_host_is_a_changed_key_with_the_new_fingerprint(
    a_server: LoopbackServer,
) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519")
    err = await refused(a_server, f"[127.0.0.1]:{a_server.port} {public(other)}\n")
    assert isinstance(err, HostKeyChanged)
    assert a_server.host_key.get_fingerprint("sha256") in str(err)


async def test_an_empty_known_hosts_trusts_nothing_and_shows_the_fingerprint(
    a_server: LoopbackServer,
) -> None:
    err = await refused(a_server, "")
    assert isinstance(err, HostKeyUnknown)
    assert a_server.host_key.get_fingerprint("sha256") in str(err)


async def test_a_lone_cert_authority_line_is_an_unknown_key_not_a_hang_up(
    a_server: LoopbackServer,
) -> None:
    ca = asyncssh.generate_private_key("ssh-ed25519")
    err = await refused(a_server, f"@cert-authority [127.0.0.1]:{a_server.port} {public(ca)}\n")
    assert isinstance(err, HostKeyUnknown)
