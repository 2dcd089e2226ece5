"""known_hosts matched as OpenSSH does: the port counts, a bad line spoils only itself."""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest

from rv_jupyter.remote.known_hosts import KnownHosts, entry_name

KEY = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
OTHER = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()


def known(tmp_path: Path, text: str) -> KnownHosts:
    path = tmp_path / "known_hosts"
    path.write_text(text)
    return KnownHosts.read([path])


def test_a_key_for_the_plain_host_is_not_a_key_for_another_port(tmp_path: Path) -> None:
    kh = known(tmp_path, f"127.0.0.1 {KEY}\n")
    assert kh("127.0.0.1", "127.0.0.1", 22022)[0] == []  # asyncssh alone would say yes
    assert kh.only_without_port("127.0.0.1", 22022)
    assert len(kh("127.0.0.1", "", None)[0]) == 1  # port 22: the plain entry is right


def test_a_bracketed_entry_matches_its_port_only(tmp_path: Path) -> None:
    kh = known(tmp_path, f"[127.0.0.1]:22022 {KEY}\n")
    assert len(kh("127.0.0.1", "", 22022)[0]) == 1
    assert kh("127.0.0.1", "", 2222)[0] == []
    assert kh("127.0.0.1", "", None)[0] == []


def test_hashed_entries_with_a_port_match(tmp_path: Path) -> None:
    import base64
    import hashlib
    import hmac

    salt = b"0123456789abcdefghij"
    digest = hmac.new(salt, b"[login.example]:2200", hashlib.sha1).digest()
    hashed = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
    kh = known(tmp_path, f"{hashed} {KEY}\n")
    assert len(kh("login.example", "", 2200)[0]) == 1
    assert kh("login.example", "", None)[0] == []


def test_a_malformed_line_is_skipped_and_named_the_others_still_count(tmp_path: Path) -> None:
    kh = known(tmp_path, f"@cert-authority\nhello\n# comment\n\nhost.example {KEY}\n")
    assert len(kh("host.example", "", None)[0]) == 1
    assert len(kh.skipped) == 2
    assert "known_hosts line 1" in kh.notes() and "and 1 more" in kh.notes()


def test_a_cert_authority_line_still_offers_plain_key_types(tmp_path: Path) -> None:
    # Alone, asyncssh would offer only certificate types and the server would hang up.
    kh = known(tmp_path, f"@cert-authority * {OTHER}\n")
    keys, cas, _ = kh("login.example", "", None)
    assert (keys, len(cas)) == ([], 1)
    algs = kh.host_key_algs("login.example", None)
    assert algs[0].endswith("-cert-v01@openssh.com")
    assert "ssh-ed25519" in algs and "rsa-sha2-256" in algs


def test_trusted_key_types_come_first(tmp_path: Path) -> None:
    rsa = (
        asyncssh.generate_private_key("ssh-rsa", key_size=2048).export_public_key().decode().strip()
    )
    kh = known(tmp_path, f"host.example {rsa}\n")
    assert kh.host_key_algs("host.example", None)[0].startswith("rsa-sha2")


def test_missing_files_trust_nothing(tmp_path: Path) -> None:
    kh = KnownHosts.read([tmp_path / "absent"])
    assert kh("host.example", "", None) == ([], [], []) and not kh.skipped


@pytest.mark.parametrize(("port", "name"), [(None, "h"), (22, "h"), (22022, "[h]:22022")])
def test_entry_name(port: int | None, name: str) -> None:
    assert entry_name("h", port) == name
