"""The shared pieces: `|` tables read by header, Tables as DataFrames, hostlists, sizes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm import expand_hostlist, parse_timestamp
from rv_jupyter.slurm._table import rows
from rv_jupyter.slurm.sizes import to_bytes


def test_trailing_delimiter_is_decided_by_the_header() -> None:
    # `-O "X:|"` ends lines with `|`; a last field that itself ends in `|` keeps it.
    (row,) = rows("A|NAME|\n1|ends with bar||\n", command="t")
    assert row == {"A": "1", "NAME": "ends with bar|"}
    # -P output has no trailing `|`: a last field ending in `|` is kept whole.
    (row,) = rows("A|NAME\n1|x|\n", command="t")
    assert row["NAME"] == "x|"


def test_repeated_titles_do_not_overwrite_each_other() -> None:
    (row,) = rows("JOBID|JOBID|\n902_1|905|\n", command="t")
    assert row == {"JOBID": "902_1", "JOBID#2": "905"}


def test_the_row_remembers_its_line_for_errors() -> None:
    (row,) = rows("A|B\n1|2\n", command="t")
    assert row.line == "1|2"
    with pytest.raises(ParseError) as err:
        rows("A|B|C\n1|2\n", command="squeue")
    assert "`squeue`" in str(err.value) and "'1|2'" in str(err.value)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("udc-an28-[1-2,7],udc-ba25-3", ["udc-an28-1", "udc-an28-2", "udc-an28-7", "udc-ba25-3"]),
        ("n[01-03]", ["n01", "n02", "n03"]), ("udc-a6k-1", ["udc-a6k-1"]),
        ("r[1-2]-g[3-4]", ["r1-g3", "r1-g4", "r2-g3", "r2-g4"]),
        ("", []), ("None assigned", []), ("(null)", []),
    ],
)  # fmt: skip
def test_hostlists(text: str, names: list[str]) -> None:
    assert expand_hostlist(text) == names


def test_unreadable_hostlist_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match=r"n\[a-b\]"):
        expand_hostlist("n[a-b]")


@pytest.mark.parametrize(
    ("text", "value"),
    [("50G", 50 * 1024**3), ("50 GB", 50 * 1024**3), ("1.5TiB", int(1.5 * 1024**4)),
     ("0", 0), ("1,024K", 1024**2), ("lots", None), ("12%", None)],
)  # fmt: skip
def test_sizes(text: str, value: int | None) -> None:
    assert to_bytes(text) == value


def test_timestamps() -> None:
    assert parse_timestamp("2026-01-01T10:00:00") is not None
    assert [parse_timestamp(t) for t in ("N/A", "Unknown", "None", "", "soon")] == [None] * 5


def test_importing_the_parsers_does_not_import_pandas() -> None:
    code = "import sys, rv_jupyter.slurm; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
