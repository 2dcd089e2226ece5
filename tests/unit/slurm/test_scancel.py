"""scancel's builders: the exact command, and that no id, signal or tag runs as code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rv_jupyter.slurm import scancel, squeue
from tests.unit.slurm.fake_bin import HOSTILE, fake_slurm


@pytest.mark.parametrize(
    ("ids", "options", "expected"),
    [
        (["123"], {}, "scancel 123"),
        (["123", "124", "125_7"], {}, "scancel 123 124 125_7"),
        (["123.4"], {"signal": "TERM", "quiet": True}, "scancel --quiet --signal=TERM 123.4"),
        (["9"], {"signal": "USR1"}, "scancel --signal=USR1 9"),
        (["123_[1-3]"], {}, "scancel '123_[1-3]'"),
        (["1; rm -rf ~"], {}, "scancel '1; rm -rf ~'"),
    ],
)
def test_command_is_exact(ids: list[str], options: dict[str, Any], expected: str) -> None:
    assert scancel.command(ids, **options) == expected


def test_no_ids_is_refused_rather_than_a_bare_scancel() -> None:
    with pytest.raises(ValueError, match="at least one job id"):
        scancel.command([])


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_ids_and_signals_reach_scancel_as_single_words(
    tmp_path: Path, hostile: str
) -> None:
    slurm = fake_slurm(tmp_path)
    word = hostile.format(canary=slurm.canary)
    slurm.run(scancel.command([word, "7"], signal=word, quiet=True))
    assert slurm.calls("scancel") == [["--quiet", f"--signal={word}", word, "7"]]
    assert not slurm.canary.exists()


QUEUE = """\
11 rv:ab12:0 PENDING gpu-a6000
12 rv:ab12:1 RUNNING gpu-a100
13 rv:ab123:0 PENDING gpu-a6000
14 (null) RUNNING standard
15 xrv:ab12:0 PENDING gpu-a40
16 rv:ab12:2 COMPLETING gpu-h200
"""


def test_tagged_cancel_cancels_exactly_the_request_jobs_twice(tmp_path: Path) -> None:
    slurm = fake_slurm(tmp_path)
    slurm.queue(QUEUE)
    out = slurm.run(scancel.tagged_cancel("rv:ab12"))
    # 13 shares the tag's first characters, 15 holds it further in: neither is ours.
    assert out.split() == ["11", "12", "16", "11", "12", "16"]
    assert slurm.calls("scancel") == [["11", "12", "16"], ["11", "12", "16"]]
    assert slurm.calls("squeue") == [["--local", "-h", "--me", "-o", squeue.TAGGED_FORMAT]] * 2


def test_tagged_cancel_with_nothing_queued_cancels_nothing_and_succeeds(tmp_path: Path) -> None:
    slurm = fake_slurm(tmp_path)
    slurm.queue("14 (null) RUNNING standard\n")
    assert slurm.run(scancel.tagged_cancel("rv:ab12")) == ""
    assert slurm.calls("scancel") == []


@pytest.mark.parametrize("hostile", [*HOSTILE, "rv.*", "rv:"])
def test_a_hostile_tag_is_a_plain_prefix_and_runs_nothing(tmp_path: Path, hostile: str) -> None:
    slurm = fake_slurm(tmp_path)
    slurm.queue(QUEUE)
    slurm.run(scancel.tagged_cancel(hostile.format(canary=slurm.canary)))
    assert slurm.calls("scancel") == []
    assert not slurm.canary.exists()
