"""`hdquota`: the user's storage quotas (UVA's tool; its layout has drifted over the years).

Why patterns, not positions: the type column has multi-word values ("Home Directory"),
sizes come as `50G` or `50 GB`, and columns have come and gone. The header row (found
by its words: Type, Location, Size, Used...) says which size is which, in order; the
location is the first token starting with `/`, the type is the words before it.
Rows not fully understood are kept with `raw`; only output with neither a header nor
any readable row is an error. Units are binary (`1 GB` = 2**30 bytes), as quota tools
on Linux report them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm import _table
from rv_jupyter.slurm.sizes import take_sizes

if TYPE_CHECKING:
    import pandas as pd

COMMAND = "hdquota"

_SIZE_HEADERS = {
    "size": "size", "quota": "size", "limit": "size", "total": "size",
    "used": "used", "usage": "used",
    "avail": "avail", "available": "avail", "free": "avail",
}  # fmt: skip
_HEADER_WORDS = {"type", "location", "name", "path", "filesystem", "use", *_SIZE_HEADERS}
_DEFAULT_ORDER = ["size", "used", "avail"]
_SEPARATOR = re.compile(r"^[\s=\-+|_]+$")


class Quota(_table.Record):
    """One storage area and how full it is."""

    type: str
    location: str | None = None  # the path (/home, /scratch, /standard/mylab)
    name: str | None = None  # user or group the quota belongs to
    size_bytes: int | None = None
    used_bytes: int | None = None
    avail_bytes: int | None = None
    size_text: str | None = None  # as printed: "200 GB", "50G"
    used_text: str | None = None
    avail_text: str | None = None
    use_percent: float | None = None
    raw: str


def parse_hdquota(text: str) -> _table.Table[Quota]:
    """Quotas from `hdquota` output; rows not fully understood are kept with `raw`."""
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    body = [ln for ln in lines if not _SEPARATOR.match(ln) and ln.lstrip()[:1] not in "*#"]
    header_at = next((i for i, ln in enumerate(body) if _is_header(ln)), None)
    if header_at is None:
        # No header we know: keep the rows that still read as a path with sizes.
        found = [q for q in (_row(ln, _DEFAULT_ORDER) for ln in body) if _readable(q)]
        if found or not lines:
            return _table.Table(found, model=Quota)
        raise ParseError(
            "No header line (Type, Location, Size...) and no row with a path and sizes",
            command=COMMAND,
            line=lines[0],
        )
    header = [w.strip(":").lower() for w in body[header_at].split()]
    order = [_SIZE_HEADERS[h] for h in header if h in _SIZE_HEADERS] or _DEFAULT_ORDER
    return _table.Table((_row(ln, order) for ln in body[header_at + 1 :]), model=Quota)


def _is_header(line: str) -> bool:
    words = {w.strip(":%").lower() for w in line.split()}
    return len(words & _HEADER_WORDS) >= 3 and not any(w.startswith("/") for w in words)


def _readable(q: Quota) -> bool:
    return q.location is not None and q.size_bytes is not None


def _row(line: str, order: list[str]) -> Quota:
    tokens = line.split()
    loc_at = next((i for i, t in enumerate(tokens) if t.startswith("/")), None)
    pct_m = re.search(r"(\d+(?:\.\d+)?)\s*%", line)
    if loc_at is None:
        # No path: keep what can be read, the type being the leading words.
        first_num = next((i for i, t in enumerate(tokens) if t[:1].isdigit()), len(tokens))
        kind, location, name, rest = " ".join(tokens[:first_num]), None, None, tokens[first_num:]
    else:
        kind, location = " ".join(tokens[:loc_at]), tokens[loc_at]
        after = tokens[loc_at + 1 :]
        name = after[0] if after and not after[0][:1].isdigit() else None
        rest = after[1:] if name else after
    rest = [t for t in rest if not t.endswith("%")]
    values: dict[str, tuple[str, int]] = dict(zip(order, take_sizes(rest), strict=False))
    size, used, avail = (values.get(k) for k in ("size", "used", "avail"))
    return Quota(
        type=kind or line.strip(),
        location=location,
        name=name,
        size_bytes=size[1] if size else None,
        used_bytes=used[1] if used else None,
        avail_bytes=avail[1] if avail else None,
        size_text=size[0] if size else None,
        used_text=used[0] if used else None,
        avail_text=avail[0] if avail else None,
        use_percent=float(pct_m.group(1)) if pct_m else _percent(size, used),
        raw=line,
    )


def _percent(size: tuple[str, int] | None, used: tuple[str, int] | None) -> float | None:
    if size and used and size[1]:
        return round(100 * used[1] / size[1], 1)
    return None


def to_frame(quotas: list[Quota]) -> pd.DataFrame:
    """Quotas as a DataFrame."""
    return _table.frame(quotas, model=Quota)
