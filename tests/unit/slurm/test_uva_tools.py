"""hdquota and allocations: UVA's tables, in today's layout and older ones."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm import parse_allocations, parse_hdquota

GB = 1024**3
TB = 1024**4


def test_recorded_hdquota(recorded: Callable[[str], str]) -> None:
    home, scratch, value = parse_hdquota(recorded("hdquota.mini-rivanna.txt"))
    assert (home.type, home.location, home.name) == ("Home Directory", "/home", "rvtest")
    assert home.size_bytes == 200 * GB and home.used_text == "61.2 GB"
    assert home.use_percent == 31
    assert scratch.avail_bytes == int(8.8 * TB)
    assert value.type == "Value Storage" and value.name == "mylab"


def test_older_compact_hdquota_layout() -> None:
    text = """
Type             Location          Name                   Size Used Avail Use%
===============================================================================
home             /home             mst3k                 50G   16G   35G  32%
Project          /project/mylab    mylab                 2T    1.5T  0.5T 75%
"""
    home, project = parse_hdquota(text)
    assert (home.type, home.size_bytes, home.used_bytes) == ("home", 50 * GB, 16 * GB)
    assert project.location == "/project/mylab" and project.use_percent == 75


def test_hdquota_quota_column_and_unknown_rows_kept() -> None:
    text = (
        "Filesystem Type Used Quota Files\n"
        "Scratch Space /scratch/abc 2 TB 10 TB 1000\n"
        "Something we do not know\n"
    )
    scratch, odd = parse_hdquota(text)
    assert scratch.used_bytes == 2 * TB and scratch.size_bytes == 10 * TB
    assert scratch.use_percent == 20
    assert odd.raw == "Something we do not know" and odd.size_bytes is None


def test_hdquota_without_header_shows_the_line() -> None:
    with pytest.raises(ParseError) as err:
        parse_hdquota("hdquota: service temporarily unavailable\n")
    assert "service temporarily unavailable" in str(err.value)


def test_recorded_allocations(recorded: Callable[[str], str]) -> None:
    paid, std = parse_allocations(recorded("allocations.mini-rivanna.txt"))
    assert (paid.account, paid.allocation, paid.used, paid.balance) == (
        "mylab_paid", 1_000_000.0, 123_456.78, 876_543.22,
    )  # fmt: skip
    assert std.balance == 1.0


def test_older_allocations_layout_with_banner() -> None:
    text = """
Allocations available to Alice Smith (abs6bd):

 * for more information about a specific allocation,
   run: 'allocations -a <allocation name>'

Name           Balance  Reserved Effective Available
-------------- -------- -------- --------- ---------
mylab_paid     1,234.50    10.00  1,224.50  1,224.50
"""
    (a,) = parse_allocations(text)
    assert (a.account, a.balance, a.allocation) == ("mylab_paid", 1234.5, None)


def test_no_allocations_is_empty() -> None:
    assert parse_allocations("You have no allocations.\n") == []
