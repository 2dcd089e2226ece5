"""%rv_init against the mini-Rivanna: host key trust, account discovery, ~/.bashrc block."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from rv_jupyter import config as rv_config
from rv_jupyter.cluster.onboarding import BEGIN, END

BASHRC = Path("/home/rvtest/.bashrc")


@pytest.fixture
def a_bashrc_of_their_own() -> Iterator[str]:
    """The test user's ~/.bashrc with lines of their own; restored afterwards."""
    saved = BASHRC.read_bytes() if BASHRC.exists() else None
    backup = BASHRC.with_name(".bashrc.rv-backup")
    had_backup = backup.exists()
    mine = "alias ll='ls -l'\nexport MY_VAR=1\n"
    BASHRC.write_text(mine)
    yield mine
    if saved is None:
        BASHRC.unlink(missing_ok=True)
    else:
        BASHRC.write_bytes(saved)
    if not had_backup:
        backup.unlink(missing_ok=True)


def test_first_run_shows_the_fingerprint_then_trusts_it_only_when_given(
    a_shell: Any,
    a_config: rv_config.RvConfig,
    tmp_path: Path,
    a_bashrc_of_their_own: str,
) -> None:
    conf = tmp_path / "config.toml"
    conf.write_text('[rv_cli_only]\nkeep = "me"\n')
    known = tmp_path / "known_hosts"
    c = a_config.connection
    line = (
        f"--user {c.user} --host {c.host} --port {c.port} --identity-file {c.identity_file} "
        f"--known-hosts {known} --config {conf}"
    )
    with pytest.raises(UsageError) as err:
        a_shell.run_line_magic("rv_init", line)
    fingerprint = re.search(r"SHA256:\S+?(?=[.\s]|$)", str(err.value)).group(0)  # type: ignore[union-attr]
    assert "--trust" in str(err.value)
    assert not known.exists() or known.read_text() == ""
    with pytest.raises(UsageError, match="does not match"):
        a_shell.run_line_magic("rv_init", f"{line} --trust SHA256:not-the-key")
    report = a_shell.run_line_magic("rv_init", f"{line} --trust {fingerprint}")
    assert "default account mylab_paid" in str(report)
    saved = rv_config.load(conf)
    assert (saved.connection.user, saved.defaults.account) == (c.user, "mylab_paid")
    assert saved.model_extra == {"rv_cli_only": {"keep": "me"}}
    assert f"[{c.host}]:{c.port} ssh-ed25519" in known.read_text()
    # Running it again changes nothing it already did.
    a_shell.run_line_magic("rv_init", line)
    assert known.read_text().count("ssh-ed25519") == 1
    rc = BASHRC.read_text()
    assert rc.startswith(a_bashrc_of_their_own), "the user's own lines stay as they were"
    assert rc.count(BEGIN) == 1 and rc.count(END) == 1
    assert "export HF_HOME=/scratch/rvtest/.cache/huggingface" in rc
    assert BASHRC.with_name(".bashrc.rv-backup").read_text() == a_bashrc_of_their_own
    shutil.rmtree(tmp_path)


def test_a_non_computing_id_for_uva_is_refused(a_shell) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match="computing id"):
        a_shell.run_line_magic("rv_init", "--user 'Alice Smith' --config /tmp/none.toml")


def test_a_user_with_a_newline_is_one_line_saying_what_to_do(a_shell, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Not the UVA host, so only the SSH layer can refuse it (asyncssh raised SASLPrepError).
    line = f"--user 'rvtest\nx' --host 127.0.0.1 --port 22022 --config {tmp_path / 'c.toml'}"
    with pytest.raises(UsageError) as err:
        a_shell.run_line_magic("rv_init", line)
    assert "control characters are not allowed" in str(err.value)
    assert "computing id" in str(err.value)
