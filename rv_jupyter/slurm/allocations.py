"""`allocations`: SU balances per account (UVA's tool; header names vary by vintage).

Why header names: today's layout is `account_name  allocation  used  balance`, older
ones were `Name  Balance  Reserved  Effective  Available` or `Account  Balance ...`,
with banners before the table and `----`/`====` rules under the header. The header is
found by its words and each row's numbers are mapped to the header's columns in
order; commas in numbers are accepted. Words in a row are never multi-word (account
names have no spaces), so whitespace splitting is safe here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm import _table

if TYPE_CHECKING:
    import pandas as pd

COMMAND = "allocations"

_COLUMNS = {
    "account_name": "account", "account": "account", "name": "account",
    "allocation": "allocation", "allocated": "allocation", "total": "allocation",
    "used": "used", "usage": "used",
    "balance": "balance", "available": "available", "remaining": "balance",
    "reserved": "reserved", "effective": "effective",
}  # fmt: skip
_SEPARATOR = re.compile(r"^[\s=\-+|_]+$")
_ACCOUNT = re.compile(r"^[A-Za-z0-9][\w.-]*$")


class SuBalance(_table.Record):
    """One account's service units (SUs)."""

    account: str
    allocation: float | None = None  # SUs granted
    used: float | None = None
    balance: float | None = None  # SUs left (older layouts: Balance, else Available)
    raw: str


def parse_allocations(text: str) -> _table.Table[SuBalance]:
    """Accounts from `allocations` output, in its order (the first is the usual default)."""
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    header_at = next((i for i, ln in enumerate(lines) if _is_header(ln)), None)
    if header_at is None:
        if not any(ch.isdigit() for ch in text):
            return _table.Table(model=SuBalance)  # e.g. "You have no allocations."
        raise ParseError(
            "No header line (account_name, allocation, used, balance)",
            command=COMMAND,
            line=next(ln for ln in lines if any(ch.isdigit() for ch in ln)),
        )
    names = [_COLUMNS.get(h.lower()) for h in lines[header_at].split()]
    out = _table.Table(model=SuBalance)
    for line in lines[header_at + 1 :]:
        tokens = line.split()
        # Rules, footnotes (`* for more information...`) and totals are not accounts.
        if _SEPARATOR.match(line) or not _ACCOUNT.match(tokens[0]):
            continue
        if tokens[0].lower() == "total" or not any(c.isdigit() for c in "".join(tokens[1:])):
            continue
        values = dict(zip(names, tokens, strict=False))
        balance = values.get("balance", values.get("available"))
        out.append(
            SuBalance(
                account=tokens[0],
                allocation=_table.to_float(values.get("allocation")),
                used=_table.to_float(values.get("used")),
                balance=_table.to_float(balance),
                raw=line,
            )
        )
    return out


def _is_header(line: str) -> bool:
    words = [w.lower() for w in line.split()]
    return (
        bool(words)
        and _COLUMNS.get(words[0]) == "account"
        and any(_COLUMNS.get(w) in ("balance", "available", "used") for w in words)
    )


def to_frame(rows: list[SuBalance]) -> pd.DataFrame:
    """Allocations as a DataFrame."""
    return _table.frame(rows, model=SuBalance)
