"""Job environment: secrets encrypted at rest, masked when shown, quoted for the job."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from rv_jupyter.errors import ConfigError, RequestError
from rv_jupyter.workspace.envstore import MASK, EnvStore

SECRET = "hf_s3cr3t'; rm -rf ~; echo '"


@pytest.fixture
def a_store(tmp_path: Path) -> EnvStore:
    return EnvStore(tmp_path / "env.json")


def test_secrets_never_reach_the_disk_in_clear(a_store: EnvStore) -> None:
    a_store.set("HF_TOKEN", SECRET, secret=True)
    a_store.set("WANDB_PROJECT", "demo")
    raw = a_store.path.read_text()
    assert "hf_s3cr3t" not in raw and "demo" in raw
    for f in (a_store.path, a_store.key_path):
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600


def test_listing_masks_secrets(a_store: EnvStore) -> None:
    a_store.set("HF_TOKEN", SECRET, secret=True)
    frame = a_store.to_frame()
    assert frame.set_index("name").loc["HF_TOKEN", "value"] == MASK
    assert "hf_s3cr3t" not in frame.to_string() and "hf_s3cr3t" not in frame.to_html()


def test_env_file_is_shell_safe_and_decrypted(a_store: EnvStore, tmp_path: Path) -> None:
    a_store.set("HF_TOKEN", SECRET, secret=True)
    a_store.set("PLAIN", "$(touch pwned)")
    env = tmp_path / "job.env"
    env.write_text(a_store.env_file())
    out = subprocess.run(
        ["bash", "-c", f"set -a; . {env}; set +a; printf '%s\\n%s' \"$HF_TOKEN\" \"$PLAIN\""],
        capture_output=True, text=True, cwd=tmp_path, check=True,
    ).stdout  # fmt: skip
    assert out.splitlines() == [SECRET, "$(touch pwned)"]
    assert not (tmp_path / "pwned").exists()


def test_remove_and_bad_names(a_store: EnvStore) -> None:
    a_store.set("A", "1")
    a_store.remove("A")
    assert a_store.to_frame().empty
    with pytest.raises(RequestError, match="No variable A"):
        a_store.remove("A")
    with pytest.raises(RequestError, match="not a variable name"):
        a_store.set("A-B", "1")


def test_a_wrong_key_is_an_error_not_a_wrong_secret(a_store: EnvStore) -> None:
    a_store.set("HF_TOKEN", SECRET, secret=True)
    a_store.key_path.unlink()  # a new key will be made: the old token no longer opens
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        a_store.env_file()


def test_the_rv_cli_plain_string_form_is_read(a_store: EnvStore) -> None:
    a_store.path.write_text('{"OMP_PROC_BIND": "close"}')
    assert a_store.env_file() == "OMP_PROC_BIND=close\n"
