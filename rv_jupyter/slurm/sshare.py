"""`sshare`: the user's fairshare per account.

Why this format: `-P` (`--parsable2`) separates with `|` and never cuts a value; `-l`
adds NormUsage/LevelFS/GrpTRESMins/TRESRunMins, which puts FairShare at column 7 of 11,
not last (it is last without `-l`), so columns are read by header name, never by
position. `-U` prints only user associations (no account hierarchy rows); a parent
row, if one shows up anyway, has an empty User column and is kept with `user=None`.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from typing import TYPE_CHECKING

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm import _table

if TYPE_CHECKING:
    import pandas as pd

COMMAND = "sshare -U -l -P"


def command(*, user: str | None = None) -> str:
    """sshare for `user`'s associations (the caller's when None)."""
    return COMMAND + (f" -u {shlex.quote(user)}" if user else "")


class ShareRow(_table.Record):
    """One association row of sshare."""

    account: str
    user: str | None = None  # None on an account (parent) row
    raw_shares: str | None = None  # a number or `parent`
    norm_shares: float | None = None
    raw_usage: float | None = None
    norm_usage: float | None = None
    effectv_usage: float | None = None
    fairshare: float | None = None  # 0..1; higher starts sooner
    level_fs: float | None = None  # may be inf


def parse_sshare(text: str, user: str | None = None) -> _table.Table[ShareRow]:
    """Rows of `sshare -P` output; only `user`'s rows when a user is given."""
    out = _table.Table(model=ShareRow)
    for row in _table.rows(text, command="sshare", required=("ACCOUNT",)):
        share = ShareRow(
            # Without -U, sshare indents accounts by depth in the tree.
            account=row.pop("ACCOUNT").strip(),
            user=row.pop("USER", "").strip() or None,
            raw_shares=row.pop("RAWSHARES", "") or None,
            norm_shares=_float(row, "NORMSHARES", "NormShares"),
            raw_usage=_float(row, "RAWUSAGE", "RawUsage"),
            norm_usage=_float(row, "NORMUSAGE", "NormUsage"),
            effectv_usage=_float(row, "EFFECTVUSAGE", "EffectvUsage"),
            fairshare=_float(row, "FAIRSHARE", "FairShare"),
            level_fs=_float(row, "LEVELFS", "LevelFS"),
            extra=row,
        )
        if user is None or share.user == user:
            out.append(share)
    return out


def user_row(rows: Iterable[ShareRow], user: str | None = None) -> ShareRow | None:
    """The user's row: the first with the User column filled (and equal to `user`)."""
    return next((r for r in rows if r.user and (user is None or r.user == user)), None)


def _float(row: _table.Row, key: str, column: str) -> float | None:
    v = row.pop(key, "").strip()
    if v in ("", "N/A"):
        return None
    value = _table.to_float(v)
    if value is None:
        raise ParseError(f"{column} {v!r} is not a number", command="sshare", line=row.line)
    return value


def to_frame(rows: list[ShareRow]) -> pd.DataFrame:
    """Rows as a DataFrame."""
    return _table.frame(rows, model=ShareRow)
