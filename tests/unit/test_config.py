"""Config: read, validate with errors that name the key, write without losing anything."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rv_jupyter import config
from rv_jupyter.errors import ConfigError

A_FILE = """\
# my settings, shared with the rv CLI
[connection]
host = "login.hpc.virginia.edu"  # via VPN
user = "abs6bd"

[defaults]
account = "mylab_paid"
gpu_type = "a6000"
future_knob = 3

[rv_cli_only]
colour = "blue"
"""


def test_reads_sections_and_keeps_unknown_keys(tmp_path: Path) -> None:
    p = tmp_path / "config.toml"
    p.write_text(A_FILE)
    cfg = config.load(p)
    assert cfg.connection.user == "abs6bd"
    assert cfg.defaults.account == "mylab_paid"
    assert cfg.defaults.model_extra == {"future_knob": 3}
    assert cfg.scratch_keepalive.enabled is True


def test_rv_config_env_var_overrides_the_default_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = tmp_path / "elsewhere.toml"
    p.write_text('[connection]\nuser = "xy1z"\n')
    monkeypatch.setenv("RV_CONFIG", str(p))
    assert config.config_path() == p
    assert config.load().connection.user == "xy1z"


def test_missing_file_says_where_and_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        config.load(tmp_path / "nope.toml")
    assert "nope.toml" in str(err.value)
    assert "%rv_init" in str(err.value)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[connection]\nport = "twenty-two"\n', "connection.port"),
        ("[connection]\nport = 70000\n", "connection.port"),
        ('[connection]\nhost = "  "\n', "connection.host"),
        ('[notifications]\nenabled = "maybe"\n', "notifications.enabled"),
        ('connection = "login"\n', "connection"),
    ],
)
def test_invalid_value_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    p = tmp_path / "config.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as err:
        config.load(p)
    assert f"`{key}`" in str(err.value)
    assert str(p) in str(err.value)
    assert err.value.context["key"] == key


def test_broken_toml_is_a_config_error(tmp_path: Path) -> None:
    p = tmp_path / "config.toml"
    p.write_text("[connection\nuser = abs6bd\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(p)


def test_save_preserves_comments_unknown_keys_and_sections(tmp_path: Path) -> None:
    p = tmp_path / "config.toml"
    p.write_text(A_FILE)
    cfg = config.load(p)
    cfg.defaults.time = "1:00:00"
    cfg.connection.user = "cd2ef"
    config.save(cfg, p)
    text = p.read_text()
    assert "# my settings, shared with the rv CLI" in text
    assert "# via VPN" in text
    assert "future_knob = 3" in text
    assert '[rv_cli_only]\ncolour = "blue"' in text
    again = config.load(p)
    assert again.defaults.time == "1:00:00"
    assert again.connection.user == "cd2ef"
    assert again.model_extra == {"rv_cli_only": {"colour": "blue"}}


def test_save_creates_a_private_file_and_writes_only_what_differs(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "config.toml"
    cfg = config.RvConfig()
    cfg.connection.user = "abs6bd"
    config.save(cfg, p)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    text = p.read_text()
    assert 'user = "abs6bd"' in text
    assert "[notifications]" not in text
    assert config.load(p).connection.user == "abs6bd"
    assert not [f for f in p.parent.iterdir() if f.name.startswith(".config.")]
