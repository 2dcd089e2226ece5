"""`sshare`: the user's fairshare per account."""

from __future__ import annotations

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm import _table

# -U: only the calling user's associations; -l adds LevelFS etc. (FairShare is then
# column 7 of 11, not the last: read it by name). -P: `|` separated, no widths.
COMMAND = "sshare -U -l -P"


class ShareRow(_table.Record):
    """One association row of sshare."""

    account: str
    user: str | None = None
    raw_shares: str | None = None
    norm_shares: float | None = None
    raw_usage: float | None = None
    effectv_usage: float | None = None
    fairshare: float | None = None


def parse_sshare(text: str) -> list[ShareRow]:
    """Rows of `sshare -P`; the user's rows are those with the User column filled."""
    out = []
    for row in _table.rows(text, command="sshare", required=("ACCOUNT",)):
        out.append(
            ShareRow(
                account=row.pop("ACCOUNT").strip(),
                user=row.pop("USER", "") or None,
                raw_shares=row.pop("RAWSHARES", "") or None,
                norm_shares=_float(row.pop("NORMSHARES", ""), "NormShares"),
                raw_usage=_float(row.pop("RAWUSAGE", ""), "RawUsage"),
                effectv_usage=_float(row.pop("EFFECTVUSAGE", ""), "EffectvUsage"),
                fairshare=_float(row.pop("FAIRSHARE", ""), "FairShare"),
                extra=row,
            )
        )
    return out


def _float(v: str, column: str) -> float | None:
    v = v.strip()
    if v in ("", "N/A"):
        return None
    try:
        return float(v)
    except ValueError:
        raise ParseError(f"{column} is not a number", command="sshare", line=v) from None
