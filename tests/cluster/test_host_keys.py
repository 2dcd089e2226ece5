"""Host keys are always checked, however ~/.ssh/config and known_hosts are written.

A clean HOME per test: the default files (~/.ssh/config, ~/.ssh/known_hosts) are
what the test writes there, nothing of the machine's.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from IPython.core.error import UsageError

import rv_jupyter
from rv_jupyter.errors import HostKeyError, HostKeyUnknown
from tests.cluster.conftest import MINI

SSH = MINI / "ssh"
KEY = SSH / "id_ed25519"
ALL_KEYS = SSH / "known_hosts"  # the login node's and every node's


@pytest.fixture(autouse=True)
def a_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    return home


def login_key() -> str:
    """The login node's key, as `type base64`."""
    return " ".join(ALL_KEYS.read_text().splitlines()[0].split()[1:3])


def rv_config(tmp_path: Path, connection: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(f'[connection]\n{connection}\n[defaults]\naccount = "mylab_paid"\n')
    return str(path)


def direct(tmp_path: Path, ssh_config: str = "", known_hosts: Path | None = None) -> str:
    """An rv config for the login node straight, with no known_hosts of its own."""
    lines = ['host = "127.0.0.1"', "port = 22022", 'user = "rvtest"', f'identity_file = "{KEY}"']
    if ssh_config:
        cfg = tmp_path / "ssh_config"
        cfg.write_text(ssh_config)
        lines.append(f'ssh_config = "{cfg}"')
    if known_hosts:
        lines.append(f'known_hosts = "{known_hosts}"')
    return rv_config(tmp_path, "\n".join(lines))


def test_user_known_hosts_file_none_is_not_no_check(tmp_path: Path) -> None:
    # asyncssh alone connects with no check at all here.
    cluster = rv_jupyter.connect(direct(tmp_path, "Host *\n  UserKnownHostsFile none\n"))
    with pytest.raises(HostKeyUnknown) as err:
        cluster.state()
    assert "/etc/ssh/ssh_known_hosts" in str(err.value) and "SHA256:" in str(err.value)
    assert cluster.connection._conn is None


def test_no_known_hosts_file_at_all_is_refused_saying_why(tmp_path: Path) -> None:
    none = "Host *\n  UserKnownHostsFile none\n  GlobalKnownHostsFile none\n"
    cluster = rv_jupyter.connect(direct(tmp_path, none))
    with pytest.raises(HostKeyError, match="never connects without checking") as err:
        cluster.state()
    assert "known_hosts =" in str(err.value)


def test_the_default_known_hosts_file_is_used_and_checked(tmp_path: Path, a_home: Path) -> None:
    (a_home / ".ssh/known_hosts").write_text(f"[127.0.0.1]:22022 {login_key()}\n")
    assert rv_jupyter.connect(direct(tmp_path)).run("id -un").strip() == "rvtest"


def test_a_key_listed_without_the_port_is_not_trusted_for_the_port(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"127.0.0.1 {login_key()}\n")
    cluster = rv_jupyter.connect(direct(tmp_path, known_hosts=known))
    with pytest.raises(HostKeyUnknown, match=r"needs `\[127.0.0.1\]:22022`"):
        cluster.state()


def test_a_cert_authority_line_is_an_unknown_key_not_a_hang_up(tmp_path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "ca")])
    ca = " ".join((tmp_path / "ca.pub").read_text().split()[:2])
    known = tmp_path / "known_hosts"
    known.write_text(f"@cert-authority * {ca}\n")
    cluster = rv_jupyter.connect(direct(tmp_path, known_hosts=known))
    with pytest.raises(HostKeyUnknown, match="SHA256:"):
        cluster.state()
    # Next to the real entry, the CA line changes nothing.
    known.write_text(f"@cert-authority * {ca}\n[127.0.0.1]:22022 {login_key()}\n")
    assert rv_jupyter.connect(direct(tmp_path, known_hosts=known)).run("true") == ""


def test_a_malformed_line_is_ignored_and_named(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"@cert-authority\n[127.0.0.1]:22022 {login_key()}\n")
    cluster = rv_jupyter.connect(direct(tmp_path, known_hosts=known))
    assert cluster.run("echo ok") == "ok\n"
    cluster.close()
    known.write_text("@cert-authority\n")
    with pytest.raises(HostKeyUnknown, match="known_hosts line 1"):
        cluster.state()


def jump_config(tmp_path: Path, jump_known: str) -> str:
    """An rv config for node udc-a6k-2 through ssh_config's ProxyJump host `rvjump`."""
    cfg = tmp_path / "ssh_config"
    cfg.write_text(
        f"Host rvjump\n  HostName 127.0.0.1\n  Port 22022\n  User rvtest\n"
        f"  IdentityFile {KEY}\n  UserKnownHostsFile {jump_known}\n"
        f"Host udc-a6k-2\n  ProxyJump rvjump\n  UserKnownHostsFile {ALL_KEYS}\n"
    )
    return rv_config(
        tmp_path,
        f'host = "udc-a6k-2"\nuser = "rvtest"\nidentity_file = "{KEY}"\nssh_config = "{cfg}"',
    )


def test_a_proxy_jump_host_with_an_unknown_key_is_refused(tmp_path: Path) -> None:
    # asyncssh opens the hop with its own options: `none` there meant "no check".
    cluster = rv_jupyter.connect(jump_config(tmp_path, "none"))
    with pytest.raises(HostKeyUnknown, match=r"\[127.0.0.1\]:22022 \(jump host rvjump\)"):
        cluster.state()
    known = rv_jupyter.connect(jump_config(tmp_path, str(ALL_KEYS)))
    assert known.run("hostname").strip() == "udc-a6k-2"


def test_trust_goes_through_the_ssh_config_alias(a_shell, tmp_path: Path, a_home: Path) -> None:  # type: ignore[no-untyped-def]
    (a_home / ".ssh/config").write_text(
        f"Host rvlogin\n  HostName 127.0.0.1\n  Port 22022\n  IdentityFile {KEY}\n"
    )
    conf = tmp_path / "config.toml"
    line = f"--user rvtest --host rvlogin --no-bashrc --config {conf}"
    with pytest.raises(UsageError) as err:
        a_shell.run_line_magic("rv_init", line)
    fingerprint = re.search(r"SHA256:\S+?(?=[.\s]|$)", str(err.value)).group(0)  # type: ignore[union-attr]
    report = a_shell.run_line_magic("rv_init", f"{line} --trust {fingerprint}")
    known = a_home / ".ssh/known_hosts"
    assert f"added to {known}" in str(report)
    assert known.read_text() == f"[127.0.0.1]:22022 {login_key()}\n"
    assert rv_jupyter.connect(str(conf)).run("id -un").strip() == "rvtest"
