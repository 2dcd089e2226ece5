"""hdquota and allocations: UVA's tables, in today's layout and older ones."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm import allocations, hdquota, parse_allocations, parse_hdquota

GB = 1024**3
TB = 1024**4


@pytest.mark.parametrize(("name", "user"), [("hdquota.txt", "abs6bd"),
                                            ("hdquota.mini-rivanna.txt", "rvtest")])  # fmt: skip
def test_current_hdquota_layout(recorded: Callable[[str], str], name: str, user: str) -> None:
    home, scratch, value = parse_hdquota(recorded(name))
    assert (home.type, home.location, home.name) == ("Home Directory", "/home", user)
    assert (home.size_bytes, home.size_text, home.used_text) == (200 * GB, "200 GB", "61.2 GB")
    assert home.avail_bytes == int(138.8 * GB) and home.use_percent == 31
    assert (scratch.type, scratch.avail_bytes, scratch.use_percent) == (
        "Scratch",
        int(8.8 * TB),
        12,
    )
    assert (value.type, value.location, value.name) == ("Value Storage", "/standard", "mylab")
    assert value.size_bytes == 20 * TB and value.raw.startswith("Value Storage")


def test_older_compact_hdquota_layout() -> None:
    text = """
Type             Location          Name                   Size Used Avail Use%
===============================================================================
home             /home             mst3k                 50G   16G   35G  32%
Project          /project/mylab    mylab                 2T    1.5T  0.5T 75%
"""
    home, project = parse_hdquota(text)
    assert (home.type, home.size_bytes, home.used_bytes) == ("home", 50 * GB, 16 * GB)
    assert (home.size_text, home.avail_text) == ("50G", "35G")
    assert project.location == "/project/mylab" and project.use_percent == 75


def test_hdquota_reordered_columns_banner_and_unknown_rows_kept() -> None:
    text = (
        "Storage quotas for abs6bd (updated hourly)\n"
        "Filesystem Type Used Quota Files\n"
        "Scratch Space /scratch/abc 2 TB 10 TB 1000\n"
        "Something we do not know\n"
    )
    scratch, odd = parse_hdquota(text)
    assert (scratch.type, scratch.location) == ("Scratch Space", "/scratch/abc")
    assert scratch.used_bytes == 2 * TB and scratch.size_bytes == 10 * TB
    assert scratch.use_percent == 20, "computed when there is no Use% column"
    assert odd.raw == "Something we do not know" and odd.size_bytes is None


def test_hdquota_mixed_units_and_binary_suffixes() -> None:
    text = (
        "Type  Location  Name  Size  Used  Avail  Use%\n"
        "Home Directory  /home  abs6bd  50GiB  512 MB  49.5GiB  1%\n"
    )
    (home,) = parse_hdquota(text)
    assert (home.size_bytes, home.used_bytes, home.used_text) == (50 * GB, 512 * 1024**2, "512 MB")


def test_hdquota_without_header_still_reads_paths_with_sizes() -> None:
    (home,) = parse_hdquota("Home Directory /home abs6bd 200 GB 61.2 GB 138.8 GB 31%\n")
    assert (home.type, home.size_bytes, home.use_percent) == ("Home Directory", 200 * GB, 31)


def test_hdquota_with_nothing_readable_shows_the_line() -> None:
    with pytest.raises(ParseError) as err:
        parse_hdquota("hdquota: service temporarily unavailable\n")
    assert "service temporarily unavailable" in str(err.value)
    assert parse_hdquota("") == []


def test_current_allocations_layout(recorded: Callable[[str], str]) -> None:
    for name in ("allocations.txt", "allocations.mini-rivanna.txt"):
        paid, std = parse_allocations(recorded(name))
        assert (paid.account, paid.allocation, paid.used, paid.balance) == (
            "mylab_paid", 1_000_000.0, 123_456.78, 876_543.22,
        )  # fmt: skip
        assert (std.account, std.balance) == ("mylab_std", 1.0)


def test_older_allocations_layout_with_banner_and_footer() -> None:
    text = """
Allocations available to Alice Smith (abs6bd):

 * for more information about a specific allocation,
   run: 'allocations -a <allocation name>'

Name           Balance  Reserved Effective Available
-------------- -------- -------- --------- ---------
mylab_paid     1,234.50    10.00  1,224.50  1,224.50
mylab-old          0.00     0.00      0.00      0.00
"""
    paid, old = parse_allocations(text)
    assert (paid.account, paid.balance, paid.allocation, paid.used) == (
        "mylab_paid", 1234.5, None, None,
    )  # fmt: skip
    assert (old.account, old.balance) == ("mylab-old", 0.0)


def test_account_balance_layout_with_rules_and_a_total() -> None:
    text = """
======================================================
Account                      Balance        Reserved       Available
-----------------          ---------       ---------       ---------
hpc_build                 9999876.555       0.000       9999876.555
======================================================
Total                     9999876.555       0.000       9999876.555
"""
    (build,) = parse_allocations(text)
    assert (build.account, build.balance) == ("hpc_build", 9999876.555)


def test_allocations_by_header_names_not_positions() -> None:
    text = "account_name  used  balance  allocation  expires\nlab  10  90  100  2027-01-01\n"
    (lab,) = parse_allocations(text)
    assert (lab.allocation, lab.used, lab.balance) == (100.0, 10.0, 90.0)


def test_no_allocations_is_empty_but_numbers_without_header_are_an_error() -> None:
    assert parse_allocations("You have no allocations.\n") == []
    assert parse_allocations("") == []
    with pytest.raises(ParseError) as err:
        parse_allocations("banner\nmylab 1000 10 990\n")
    assert "mylab 1000 10 990" in str(err.value)


def test_to_frames_and_commands() -> None:
    text = "account_name allocation used balance\nlab 100 10 90\n"
    assert parse_allocations(text).to_frame().loc[0, "balance"] == 90.0
    assert list(parse_hdquota("").to_frame().columns)[:2] == ["type", "location"]
    assert (hdquota.COMMAND, allocations.COMMAND) == ("hdquota", "allocations")
