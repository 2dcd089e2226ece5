"""Bad connection settings give typed errors a user can act on, through connect()."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import rv_jupyter
from rv_jupyter.cluster.handle import Cluster
from rv_jupyter.errors import (
    AuthFailed,
    ConfigError,
    HostKeyChanged,
    HostKeyUnknown,
    HostUnreachable,
    NodeLinkError,
    PortClosed,
)
from rv_jupyter.remote.connection import Connection

Variant = Callable[..., Path]


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_missing_config_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No rv config"):
        rv_jupyter.connect(str(tmp_path / "absent.toml"))


def test_wrong_user_is_an_auth_error(a_config_variant: Variant) -> None:
    cluster = rv_jupyter.connect(str(a_config_variant(connection={"user": "nobody"})))
    with pytest.raises(AuthFailed) as err:
        cluster.state()
    assert "id_ed25519" in str(err.value)


def test_closed_port_is_unreachable_with_a_vpn_hint(a_config_variant: Variant) -> None:
    cluster = rv_jupyter.connect(str(a_config_variant(connection={"port": _unused_port()})))
    with pytest.raises(HostUnreachable) as err:
        cluster.state()
    assert "VPN" in str(err.value)


def test_unknown_host_key_is_refused_with_its_fingerprint(
    a_config_variant: Variant, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    cluster = rv_jupyter.connect(str(a_config_variant(connection={"known_hosts": str(empty)})))
    with pytest.raises(HostKeyUnknown) as err:
        cluster.state()
    assert "SHA256:" in str(err.value)


def test_changed_host_key_is_refused(a_config_variant: Variant, tmp_path: Path) -> None:
    wrong = tmp_path / "known_hosts"
    port = rv_jupyter.config.load(a_config_variant()).connection.port
    # A valid key, but not the server's.
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True
    )
    other = " ".join((tmp_path / "other.pub").read_text().split()[:2])
    wrong.write_text(f"[127.0.0.1]:{port} {other}\n")
    cluster = rv_jupyter.connect(str(a_config_variant(connection={"known_hosts": str(wrong)})))
    with pytest.raises(HostKeyChanged):
        cluster.state()


def test_a_missing_key_file_is_a_config_error_not_unreachable(a_config_variant: Variant) -> None:
    cluster = rv_jupyter.connect(
        str(a_config_variant(connection={"identity_file": "/nonexistent/id_ed25519"}))
    )
    with pytest.raises(ConfigError, match="/nonexistent/id_ed25519 does not exist"):
        cluster.state()


def test_a_known_hosts_file_not_made_yet_trusts_nothing(
    a_config_variant: Variant, tmp_path: Path
) -> None:
    absent = tmp_path / "not-yet" / "known_hosts"
    cluster = rv_jupyter.connect(str(a_config_variant(connection={"known_hosts": str(absent)})))
    with pytest.raises(HostKeyUnknown, match="SHA256:"):
        cluster.state()


async def test_the_connection_prefers_aes_gcm(a_config_path: Path) -> None:
    # sshd offers ChaCha20 first too; ours is the client's order, which decides.
    conn = Connection(Cluster.from_config(str(a_config_path)).target)
    async with conn:
        assert (await conn._ensure()).get_extra_info("send_cipher") == "aes128-gcm@openssh.com"


async def test_a_node_without_a_known_host_key_is_refused(
    a_config_path: Path, a_config_variant: Variant, tmp_path: Path
) -> None:
    # The login node is trusted; a node behind it is not, until its own key is known.
    trusted = Path(str(rv_jupyter.config.load(a_config_path).connection.known_hosts))
    login_only = tmp_path / "login_only"
    login_only.write_text(trusted.read_text().splitlines()[0] + "\n")
    config = a_config_variant(connection={"known_hosts": str(login_only)})
    conn = Connection(Cluster.from_config(str(config)).target)
    async with conn:
        assert "rvtest" in (await conn.run("whoami")).stdout
        with pytest.raises(NodeLinkError, match="host key of udc-cpu-1 is neither in"):
            await conn.nodes.open("udc-cpu-1", 22)
    # With the full file the node lets us in; nothing listens on its loopback's port 22
    # (its sshd is on its cluster address), and that is what the error says.
    conn = Connection(Cluster.from_config(str(a_config_path)).target)
    async with conn:
        with pytest.raises(PortClosed, match="udc-cpu-1 refused a connection to its port 22"):
            await conn.nodes.open("udc-cpu-1", 22)
        assert conn.nodes.connects == 1


async def test_a_node_key_the_cluster_lists_is_trusted(
    a_config_path: Path, a_config_variant: Variant, tmp_path: Path
) -> None:
    # Not in the laptop's known_hosts, but in the user's known_hosts on the cluster (as
    # `ssh node` from the login node leaves it), read through the verified login node.
    trusted = Path(str(rv_jupyter.config.load(a_config_path).connection.known_hosts))
    lines = trusted.read_text().splitlines()
    login_only = tmp_path / "login_only"
    login_only.write_text(lines[0] + "\n")
    on_cluster = Path("/home/rvtest/.ssh/known_hosts")
    assert not on_cluster.exists()
    on_cluster.write_text("".join(f"{line}\n" for line in lines[1:] if "udc-cpu-1" in line))
    shutil.chown(on_cluster, "rvtest", "rvtest")
    try:
        config = a_config_variant(connection={"known_hosts": str(login_only)})
        conn = Connection(Cluster.from_config(str(config)).target)
        async with conn:
            with pytest.raises(PortClosed, match="udc-cpu-1 refused a connection to its"):
                await conn.nodes.open("udc-cpu-1", 22)  # in: only the port is closed
            assert conn.nodes.linked == ["udc-cpu-1"]
            with pytest.raises(NodeLinkError, match="host key of udc-cpu-2"):
                await conn.nodes.open("udc-cpu-2", 22)  # a node the cluster's list lacks
    finally:
        on_cluster.unlink()
