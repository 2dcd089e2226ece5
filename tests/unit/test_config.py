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
        ('[notifications]\nmail = "abs6bd"\n', "notifications.mail"),
        ('[notifications]\nmail_type = "END,SOMETIMES"\n', "notifications.mail_type"),
        (
            '[notifications.channels.x]\nkind = "email"\nurl_secret = "RV_NOTIFY_URL_X"\n',
            "notifications.channels.x.kind",
        ),
        (
            '[notifications.channels.x]\nkind = "ntfy"\nurl_secret = "HF_TOKEN"\n',
            "notifications.channels.x.url_secret",
        ),
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


@pytest.mark.parametrize(
    ("text", "key", "meant"),
    [
        ('[defaults]\ntmie = "1h"\n', "defaults.tmie", "did you mean `time`?"),
        ('[defaults]\ngpu-type = "a40"\n', "defaults.gpu-type", "did you mean `gpu_type`?"),
        ('[defaults]\naccont = "lab"\n', "defaults.accont", "did you mean `account`?"),
        ('[connection]\nusr = "abs6bd"\n', "connection.usr", "did you mean `user`?"),
        ("[kernels]\nPython = 'python3'\n", "kernels.Python", "did you mean `python`?"),
        ('[defualts]\ntime = "1h"\n', "defualts", "did you mean [defaults]?"),
        ("[scratch_keepalve]\nenabled = false\n", "scratch_keepalve", "[scratch_keepalive]"),
        ('user = "abs6bd"\n[connection]\n', "user", "it belongs in [connection]"),
    ],
)
def test_a_misspelt_key_is_refused_naming_the_one_meant(
    tmp_path: Path, text: str, key: str, meant: str
) -> None:
    p = tmp_path / "config.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as err:
        config.load(p)
    assert meant in err.value.message and str(p) in err.value.message
    assert "\n" not in err.value.message
    assert err.value.context["key"] == key


def test_the_error_for_a_misspelt_key_lists_the_sections_keys() -> None:
    with pytest.raises(ConfigError) as err:
        config.parse('[defaults]\ntmie = "1h"\n')
    assert err.value.hint is not None
    assert "account, gpu_type, time, partition, modules" in err.value.hint


@pytest.mark.parametrize(
    "text",
    [
        "[defaults]\nfuture_knob = 3\n",  # a key of the rv CLI's, far from any of ours
        '[connection]\nalias_note = "x"\n',
        "[rv_cli_only]\ntmie = 1\n",  # sections rv does not read are not checked
        "colour = 'blue'\n",
    ],
)
def test_keys_far_from_rvs_own_are_kept_for_the_rv_cli(text: str) -> None:
    config.parse(text)


@pytest.mark.parametrize(
    ("a", "b", "slip"),
    [
        ("time", "time", True),
        ("tmie", "time", True),  # neighbours swapped
        ("tim", "time", True),  # dropped
        ("timee", "time", True),  # added
        ("tine", "time", True),  # changed
        ("emit", "time", False),
        ("ti", "time", False),
        ("timer_s", "time", False),
        ("hosts", "host", True),
        ("future_knob", "user", False),
    ],
)
def test_one_slip(a: str, b: str, slip: bool) -> None:
    assert config.one_slip(a, b) is slip
    assert config.one_slip(b, a) is slip


@pytest.mark.parametrize(
    ("said", "filled"),
    [
        ({}, {"gpu_type": "a6000", "time": "1:00:00", "account": "mylab_paid"}),
        (
            {"gpus": None, "gpu_type": "", "time": None, "account": None, "mem": None},
            {"gpu_type": "a6000", "time": "1:00:00", "account": "mylab_paid"},
        ),
        (
            {"gpus": 2, "gpu_type": "a40", "time": "2h", "account": "other"},
            {"gpus": 2, "gpu_type": "a40", "time": "2h", "account": "other"},
        ),
        (
            {"time_s": 600, "checkpoint": False},
            {"time_s": 600, "checkpoint": False, "gpu_type": "a6000", "account": "mylab_paid"},
        ),
    ],
)
def test_defaults_fill_what_the_user_did_not_say(
    said: dict[str, object], filled: dict[str, object]
) -> None:
    d = config.Defaults(gpu_type="a6000", time="1:00:00", account="mylab_paid")
    assert d.fill(**said) == filled


def test_no_default_account_leaves_the_account_unsaid() -> None:
    assert config.Defaults().fill(gpus=1) == {"gpus": 1, "gpu_type": "any", "time": "2:59:00"}


def test_config_files_parse_again_only_when_the_text_changed(tmp_path: Path) -> None:
    p = tmp_path / "config.toml"
    p.write_text(A_FILE)
    files = config.ConfigFiles()
    first, before = files.read(p)
    assert before is None
    same, before = files.read(p)
    assert same is first and before is None
    p.write_text(A_FILE.replace("a6000", "a40"))
    changed, before = files.read(p)
    assert changed.defaults.gpu_type == "a40" and before is first
    assert config.changed_sections(first, changed) == ["[defaults]"]


@pytest.mark.parametrize(
    ("edit", "sections"),
    [
        ("", []),
        ('[paths]\nscratch = "/s"\n', ["[paths]"]),
        ("[other]\nx = 1\n", ["sections rv does not read"]),
    ],
)
def test_changed_sections(edit: str, sections: list[str]) -> None:
    assert config.changed_sections(config.parse(A_FILE), config.parse(A_FILE + edit)) == sections


def test_every_section_of_the_model_is_checked_and_written() -> None:
    assert tuple(config.RvConfig.model_fields) == config.SECTIONS


@pytest.mark.parametrize(
    ("text", "mail"),
    [
        ("", None),
        ('mail = "abs6bd@virginia.edu"\n', ("abs6bd@virginia.edu", "END,FAIL")),
        ('mail = "a@b.edu"\nmail_type = "begin, end"\n', ("a@b.edu", "BEGIN,END")),
        ('mail = "a@b.edu"\nmail_type = "NONE"\n', None),
        ('email = "a@b.edu"\n', None),  # the rv CLI's address, switched off
        ('enabled = true\nemail = "a@b.edu"\n', ("a@b.edu", "END,FAIL")),
    ],
)  # fmt: skip
def test_slurm_mail_for_jobs(text: str, mail: tuple[str, str] | None) -> None:
    got = config.parse("[notifications]\n" + text).notifications.job_mail()
    assert (got.user, got.types) == mail if got else mail is None


@pytest.mark.parametrize(
    "text",
    ['mail = "a@b.edu; rm -rf ~"\n', 'email = "me"\n', 'mail_type = "END,SOMETIMES"\n'],
)
def test_bad_mail_settings_are_one_line_errors(text: str) -> None:
    with pytest.raises(ConfigError) as e:
        config.parse("[notifications]\n" + text)
    assert "\n" not in e.value.message and "notifications" in e.value.message


def test_notification_channels_round_trip_by_reference(tmp_path: Path) -> None:
    p = tmp_path / "config.toml"
    p.write_text('# mine\n[notifications]\nmail = "a@b.edu"\n')
    cfg = config.load(p)
    cfg.notifications.channels = {
        "phone": config.NotifyChannel(kind="ntfy", url_secret="RV_NOTIFY_URL_PHONE")
    }
    config.save(cfg, p)
    text = p.read_text()
    assert text.startswith("# mine\n")
    assert (
        '[notifications.channels.phone]\nkind = "ntfy"\nurl_secret = "RV_NOTIFY_URL_PHONE"' in text
    )
    assert config.load(p).notifications.channels == cfg.notifications.channels
    cfg.notifications.channels = {}
    config.save(cfg, p)
    assert "phone" not in p.read_text()
    assert config.load(p).notifications.mail == "a@b.edu"
