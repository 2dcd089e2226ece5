"""The handle's config: resolved once per file version, edits taken on purpose (no SSH)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

import rv_jupyter
from rv_jupyter import config as rv_config
from rv_jupyter.cluster.handle import Cluster, config_change
from rv_jupyter.errors import ConfigError
from rv_jupyter.remote import Connection

A_CONFIG = """\
[connection]
host = "login.example.invalid"
user = "abs6bd"

[defaults]
account = "mylab_paid"
time = "1:00:00"
"""


@pytest.fixture(autouse=True)
def no_handles_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no handle, connection or file read in this process."""
    monkeypatch.setattr(Cluster, "_registry", {})
    monkeypatch.setattr(Cluster, "_files", rv_config.ConfigFiles())
    monkeypatch.setattr(Connection, "_registry", {})


@pytest.fixture
def a_config_file(tmp_path: Path) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(A_CONFIG)
    return p


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sources parsed from now on."""
    seen: list[str] = []
    real = rv_config.parse

    def counting(text: str, *, source: str = "<config>") -> rv_config.RvConfig:
        seen.append(source)
        return real(text, source=source)

    monkeypatch.setattr(rv_config, "parse", counting)
    return seen


@pytest.mark.parametrize(
    ("edit", "change"),
    [
        ("", "none"),
        ('[kernels]\npython = "/opt/py/bin/python"\n', "settings"),
        ('[paths]\nscratch = "/scratch/other"\n', "settings"),
        ("[rv_cli_only]\ncolour = 1\n", "settings"),
    ],
)
def test_an_edit_outside_connection_is_new_settings(edit: str, change: str) -> None:
    old = rv_config.parse(A_CONFIG)
    assert config_change(old, rv_config.parse(A_CONFIG + edit)) == change


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('host = "login.example.invalid"', 'host = "other.example.invalid"'),
        ('user = "abs6bd"', 'user = "cd2ef"'),
        ('user = "abs6bd"', 'user = "abs6bd"\nport = 2222'),
        ('user = "abs6bd"', 'user = "abs6bd"\nidentity_file = "/k/id"'),
        ('user = "abs6bd"', 'user = "abs6bd"\nproxy_jump = "jump"'),
    ],
)
def test_an_edit_of_where_to_connect_is_another_target(old: str, new: str) -> None:
    before = rv_config.parse(A_CONFIG)
    assert config_change(before, rv_config.parse(A_CONFIG.replace(old, new))) == "target"


def test_the_file_is_parsed_once_while_it_is_unchanged(
    a_config_file: Path, parses: list[str]
) -> None:
    first = Cluster.from_config(str(a_config_file))
    again = [Cluster.from_config(str(a_config_file)) for _ in range(5)]
    assert all(h is first for h in again)
    assert rv_jupyter.connect(str(a_config_file)) is first
    assert parses == [str(a_config_file)]


def test_new_defaults_replace_the_handles_config_and_say_so(
    a_config_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    handle = Cluster.from_config(str(a_config_file))
    assert handle.config.defaults.time == "1:00:00"
    a_config_file.write_text(A_CONFIG.replace('time = "1:00:00"', 'time = "4:00:00"'))
    with caplog.at_level(logging.INFO, logger="rv_jupyter.cluster.handle"):
        again = Cluster.from_config(str(a_config_file))
    assert again is handle
    assert handle.config.defaults.time == "4:00:00"
    assert "changed ([defaults])" in caplog.text and str(a_config_file) in caplog.text


def test_another_host_is_another_handle_and_the_old_one_is_left_alone(
    a_config_file: Path,
) -> None:
    old = Cluster.from_config(str(a_config_file))
    a_config_file.write_text(A_CONFIG.replace("login.example", "other.example"))
    new = Cluster.from_config(str(a_config_file))
    assert new is not old and new.host == "other.example.invalid"
    assert new.connection is not old.connection
    assert old.host == "login.example.invalid" and old.config.defaults.account == "mylab_paid"
    a_config_file.write_text(A_CONFIG.replace('"mylab_paid"', '"otherlab"'))
    back = Cluster.from_config(str(a_config_file))
    assert back is old and back.config.defaults.account == "otherlab"


def test_a_same_size_edit_that_kept_the_mtime_is_seen(a_config_file: Path) -> None:
    handle = Cluster.from_config(str(a_config_file))
    st = a_config_file.stat()
    a_config_file.write_text(A_CONFIG.replace('"1:00:00"', '"2:00:00"'))
    os.utime(a_config_file, ns=(st.st_atime_ns, st.st_mtime_ns))  # as `cp -p` would
    assert a_config_file.stat().st_size == st.st_size
    assert Cluster.from_config(str(a_config_file)).config.defaults.time == "2:00:00"
    assert handle.config.defaults.time == "2:00:00"


def test_an_invalid_edit_is_an_error_until_it_is_fixed(a_config_file: Path) -> None:
    handle = Cluster.from_config(str(a_config_file))
    a_config_file.write_text(A_CONFIG + "[connection\n")
    for _ in range(2):  # not cached as if it had been read
        with pytest.raises(ConfigError, match="not valid TOML"):
            Cluster.from_config(str(a_config_file))
    a_config_file.write_text(A_CONFIG)
    assert Cluster.from_config(str(a_config_file)) is handle


def test_a_removed_file_is_an_error_that_says_how_to_create_it(a_config_file: Path) -> None:
    Cluster.from_config(str(a_config_file))
    a_config_file.unlink()
    with pytest.raises(ConfigError, match="No rv config"):
        Cluster.from_config(str(a_config_file))


def test_a_second_file_naming_the_same_cluster_does_not_change_the_first_ones_handle(
    a_config_file: Path, tmp_path: Path
) -> None:
    handle = Cluster.from_config(str(a_config_file))
    other = tmp_path / "other.toml"
    other.write_text(A_CONFIG.replace('"1:00:00"', '"9:00:00"'))
    assert Cluster.from_config(str(other)) is handle
    other.write_text(A_CONFIG.replace('"1:00:00"', '"8:00:00"'))
    Cluster.from_config(str(other))
    assert handle.config.defaults.time == "1:00:00"


def test_rv_config_names_the_file(a_config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RV_CONFIG", str(a_config_file))
    handle = Cluster.from_config()
    assert handle.source == str(a_config_file)
    assert rv_jupyter.connect() is handle
