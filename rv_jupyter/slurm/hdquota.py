"""`hdquota`: the user's storage quotas (UVA's tool; its layout has drifted over the years).

Read by patterns, not positions: the type column has multi-word values ("Home
Directory"), sizes come as `50G` or `50 GB`, and columns have come and gone. The
location is the first token that starts with `/`; sizes map to the header's size
columns in the order the header names them.
"""

from __future__ import annotations

import re

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm import _table
from rv_jupyter.slurm.sizes import take_sizes

COMMAND = "hdquota"

_SIZE_HEADERS = {
    "size": "size", "quota": "size", "limit": "size", "total": "size",
    "used": "used", "usage": "used",
    "avail": "avail", "available": "avail", "free": "avail",
}  # fmt: skip
_HEADER_WORDS = {"type", "location", "name", "path", "filesystem", *_SIZE_HEADERS}


class Quota(_table.Record):
    """One storage area and how full it is."""

    type: str
    location: str | None = None
    name: str | None = None
    size_bytes: int | None = None
    used_bytes: int | None = None
    avail_bytes: int | None = None
    size_text: str | None = None
    used_text: str | None = None
    avail_text: str | None = None
    use_percent: float | None = None
    raw: str


def parse_hdquota(text: str) -> list[Quota]:
    """Quotas from `hdquota` output; rows not fully understood are kept with `raw`."""
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    header_at = next((i for i, ln in enumerate(lines) if _is_header(ln)), None)
    if header_at is None:
        if not lines:
            return []
        raise ParseError(
            "No header line (Type, Location, Size...)", command="hdquota", line=lines[0]
        )
    header = lines[header_at].lower().split()
    order = [_SIZE_HEADERS[h] for h in header if h in _SIZE_HEADERS]
    if not order:
        order = ["size", "used", "avail"]
    out = []
    for line in lines[header_at + 1 :]:
        if re.fullmatch(r"[\s=\-+|]+", line):
            continue
        out.append(_row(line, order))
    return out


def _is_header(line: str) -> bool:
    words = {w.strip(":%").lower() for w in line.split()}
    return len(words & _HEADER_WORDS) >= 3 and not any(w.startswith("/") for w in words)


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
    return Quota(
        type=kind or line.strip(),
        location=location,
        name=name,
        size_bytes=values["size"][1] if "size" in values else None,
        used_bytes=values["used"][1] if "used" in values else None,
        avail_bytes=values["avail"][1] if "avail" in values else None,
        size_text=values["size"][0] if "size" in values else None,
        used_text=values["used"][0] if "used" in values else None,
        avail_text=values["avail"][0] if "avail" in values else None,
        use_percent=float(pct_m.group(1)) if pct_m else _percent(values),
        raw=line,
    )


def _percent(values: dict[str, tuple[str, int]]) -> float | None:
    if "size" in values and "used" in values and values["size"][1]:
        return round(100 * values["used"][1] / values["size"][1], 1)
    return None
