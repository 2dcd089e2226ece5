"""Where the host keys come from, as OpenSSH decides it, and what the target may contain."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rv_jupyter.errors import ConfigError
from rv_jupyter.remote.dial import GLOBAL_FILES, resolve
from rv_jupyter.remote.target import SshTarget


@pytest.fixture(autouse=True)
def a_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def with_config(tmp_path: Path, text: str, **kw: object) -> SshTarget:
    cfg = tmp_path / "ssh_config"
    cfg.write_text(text)
    return SshTarget("login", ssh_config=(str(cfg),), **kw)  # type: ignore[arg-type]


def test_defaults_are_the_users_and_the_global_files(a_home: Path) -> None:
    route = resolve(SshTarget("login.example", ssh_config=()))
    assert route.files[0] == a_home / ".ssh/known_hosts"
    assert Path(GLOBAL_FILES[0]) in route.files
    assert route.record_to == a_home / ".ssh/known_hosts" and route.unchecked is None


def test_user_known_hosts_none_still_checks_the_global_files(tmp_path: Path) -> None:
    route = resolve(with_config(tmp_path, "Host login\n  UserKnownHostsFile none\n"))
    assert route.files == tuple(Path(f) for f in GLOBAL_FILES)
    assert route.unchecked is None and route.record_to is None


def test_both_none_is_never_no_check(tmp_path: Path) -> None:
    route = resolve(
        with_config(
            tmp_path, "Host login\n  UserKnownHostsFile none\n  GlobalKnownHostsFile none\n"
        )
    )
    assert route.files == () and route.unchecked and "none" in route.unchecked


def test_the_rv_configs_file_is_the_only_one(tmp_path: Path) -> None:
    t = with_config(tmp_path, "Host login\n  UserKnownHostsFile none\n", known_hosts="/x/kh")
    route = resolve(t)
    assert route.files == (Path("/x/kh"),) and route.record_to == Path("/x/kh")


def test_alias_port_user_and_jumps_come_from_ssh_config(tmp_path: Path, a_home: Path) -> None:
    route = resolve(
        with_config(
            tmp_path,
            "Host login\n  HostName 10.0.0.5\n  Port 2222\n  User abs6bd\n"
            "  ProxyJump j1,me@j2:2200\n  UserKnownHostsFile ~/kh\n",
        )
    )
    assert (route.host, route.port, route.user) == ("10.0.0.5", 2222, "abs6bd")
    assert route.jumps == ("j1", "me@j2:2200")
    assert route.shown == "[10.0.0.5]:2222" and route.files[0] == a_home / "kh"


def test_the_rv_config_wins_over_ssh_config(tmp_path: Path) -> None:
    t = with_config(tmp_path, "Host login\n  Port 2222\n  User other\n", port=22022, user="me")
    route = resolve(t)
    assert (route.port, route.user) == (22022, "me")


@pytest.mark.parametrize(
    ("field", "value"),
    [("user", "rvtest\nx"), ("user", "a b"), ("user", ""), ("host", "h\tx"), ("host", "h\x00")],
)
def test_control_characters_in_the_target_are_a_config_error(field: str, value: str) -> None:
    kw = {"host": "login", field: value}
    with pytest.raises(ConfigError) as err:
        SshTarget(**kw)  # type: ignore[arg-type]
    assert "\n" not in err.value.message and "single word" in str(err.value)


def test_asyncssh_logs_nothing_below_warning_unless_asked() -> None:
    code = "import logging, rv_jupyter.remote; print(logging.getLogger('asyncssh').level)"
    env = {k: v for k, v in os.environ.items() if k != "RV_DEBUG"}
    run = [sys.executable, "-c"]
    quiet = subprocess.run([*run, code], env=env, capture_output=True, text=True, check=True)
    assert int(quiet.stdout) == logging.WARNING
    debug = subprocess.run(
        [*run, code], env={**env, "RV_DEBUG": "1"}, capture_output=True, text=True, check=True
    )
    assert int(debug.stdout) == logging.NOTSET  # left to the user's root logger
    own = "import logging; logging.getLogger('asyncssh').setLevel(logging.INFO); " + code
    mine = subprocess.run([*run, own], env=env, capture_output=True, text=True, check=True)
    assert int(mine.stdout) == logging.INFO
