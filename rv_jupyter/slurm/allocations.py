"""`allocations`: SU balances per account (UVA's tool; header names vary by vintage)."""

from __future__ import annotations

import re

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm import _table

COMMAND = "allocations"

_COLUMNS = {
    "account_name": "account", "account": "account", "name": "account",
    "allocation": "allocation", "allocated": "allocation", "total": "allocation",
    "used": "used", "usage": "used",
    "balance": "balance", "available": "available", "remaining": "balance",
    "reserved": "reserved", "effective": "effective",
}  # fmt: skip


class Allocation(_table.Record):
    """One account's service units."""

    account: str
    allocation: float | None = None
    used: float | None = None
    balance: float | None = None
    raw: str


def parse_allocations(text: str) -> list[Allocation]:
    """Accounts from `allocations` output; the first is the usual default for jobs."""
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    header_at = next((i for i, ln in enumerate(lines) if _is_header(ln)), None)
    if header_at is None:
        if not lines or not any(ch.isdigit() for ch in text):
            return []  # e.g. "no allocations" banners
        raise ParseError(
            "No header line (account, balance...)", command="allocations", line=lines[0]
        )
    names = [_COLUMNS.get(h.lower()) for h in lines[header_at].split()]
    out = []
    for line in lines[header_at + 1 :]:
        if re.fullmatch(r"[\s=\-+|]+", line) or line.lstrip().startswith(("*", "#")):
            continue
        tokens = line.split()
        if not re.match(r"^[A-Za-z0-9][\w.-]*$", tokens[0]) or not any(
            c.isdigit() for c in " ".join(tokens[1:])
        ):
            continue
        values = dict(zip(names, tokens, strict=False))
        balance = _num(values.get("balance")) if "balance" in values else None
        if balance is None:
            balance = _num(values.get("available"))
        out.append(
            Allocation(
                account=tokens[0],
                allocation=_num(values.get("allocation")),
                used=_num(values.get("used")),
                balance=balance,
                raw=line,
            )
        )
    return out


def _is_header(line: str) -> bool:
    words = [w.lower() for w in line.split()]
    return any(_COLUMNS.get(w) == "account" for w in words[:1]) and any(
        _COLUMNS.get(w) in ("balance", "available", "used") for w in words
    )


def _num(v: str | None) -> float | None:
    if v is None:
        return None
    try:
        return float(v.replace(",", ""))
    except ValueError:
        return None
