"""Slurm's own mail on the mini-Rivanna: only the job that does the work mails the user.

The mini-Rivanna's MailProg (tests/cluster/standins/rv-mail) keeps a line per mail in
$RV_MINI/mail/sent instead of sending it.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

import rv_jupyter
from rv_jupyter import config as rv_config
from rv_jupyter.allocator.fanout import Allocator
from rv_jupyter.allocator.request import Request
from rv_jupyter.cluster.background import run_sync
from rv_jupyter.cluster.handle import Cluster
from rv_jupyter.errors import ConfigError
from tests.cluster.conftest import as_admin
from tests.cluster.test_allocator import block, jobs_named

pytestmark = pytest.mark.usefixtures("no_jobs_left")

SENT = Path(os.environ.get("RV_MINI", "/var/lib/rv-mini")) / "mail" / "sent"


def mails_for(address: str, *, at_least: int, timeout_s: float = 30) -> list[str]:
    """The subjects of the mails slurmctld sent to `address` (it mails asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while True:
        lines = SENT.read_text().splitlines() if SENT.exists() else []
        subjects = [ln.split("\t", 1)[1] for ln in lines if ln.split("\t", 1)[0] == address]
        if len(subjects) >= at_least or time.monotonic() > deadline:
            return subjects
        time.sleep(0.5)


def with_mail(variant: Any, **notifications: str) -> Cluster:
    """A handle of its own on a config with these settings: connect() would give the one
    an earlier test made from another file for the same cluster, which keeps that
    file's settings."""
    path = variant(notifications=notifications)
    return Cluster(rv_config.load(path), source=str(path))


def test_only_the_winner_of_a_fan_out_is_mailed(a_config_variant: Any) -> None:
    address = f"rv-{secrets.token_hex(4)}@virginia.edu"  # ours alone in the mail file
    cluster = with_mail(a_config_variant, mail=address, mail_type="ALL")
    # The asked type is full: other strategies are submitted beside it, and lose.
    block(cluster, "gpu-a6000", "a6000", 8, nodes=2)
    req = Request.build(gpus=2, vram_gb=48, time="10m", name=f"mail-{secrets.token_hex(3)}")
    alloc = run_sync(Allocator(cluster, poll_s=1).allocate(req, timeout_s=60))
    shown = as_admin("scontrol", "show", "job", alloc.job_id)
    assert f"MailUser={address}" in shown
    assert re.search(r"MailType=\S*END", shown) and "BEGIN" not in shown
    states = jobs_named(req.name, at_least=2, including=alloc.job_id)
    losers = [j for j in states if j != alloc.job_id]
    assert losers, "the test needs a fan-out with losers"
    alloc.cancel()
    subjects = mails_for(address, at_least=1)
    assert subjects and all(f"Job_id={alloc.job_id} " in s for s in subjects), subjects
    assert not [s for s in subjects for j in losers if f"Job_id={j} " in s]


def test_every_strategy_asks_for_mail_only_once_it_holds_the_claim(a_config_variant: Any) -> None:
    cluster = with_mail(a_config_variant, mail="me@virginia.edu")
    dry = run_sync(Allocator(cluster).dry_run(Request.build(gpus=1, time="1h", name="m")))
    for text in dry.scripts.values():
        assert "--mail" not in text  # no #SBATCH line: the losers must not mail
        claim, ask = text.index("/winner"), text.index("MailUser=me@virginia.edu")
        assert claim < ask and "MailType=END,FAIL " in text


def test_an_address_slurm_would_misread_is_refused_before_anything_runs(
    a_config_variant: Any, tmp_path: Path
) -> None:
    path = a_config_variant()
    path.write_text(path.read_text() + '\n[notifications]\nmail = "me@x.edu MailType=NONE"\n')
    with pytest.raises(ConfigError, match=r"notifications\.mail"):
        rv_jupyter.connect(str(path))
