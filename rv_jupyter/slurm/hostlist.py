"""Slurm hostlists: `udc-an28-[1-2,7],udc-ba25-3` as the node names they stand for."""

from __future__ import annotations

import re

from rv_jupyter.errors import ParseError

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def expand_hostlist(text: str) -> list[str]:
    """Node names in a hostlist, in order (`n[01-03]` keeps the zero padding)."""
    t = text.strip()
    if t in ("", "(null)", "None assigned", "N/A"):
        return []
    names: list[str] = []
    for item in split_top_level(t):
        m = re.match(r"^([^\[\]]*)\[([^\]]+)\](.*)$", item)
        if not m:
            names.append(item)
            continue
        prefix, ranges, suffix = m.groups()
        for part in ranges.split(","):
            r = _RANGE.match(part.strip())
            if not r:
                raise ParseError("Unreadable hostlist range", command="hostlist", line=text)
            lo, hi = r.group(1), r.group(2) or r.group(1)
            width = len(lo)  # Slurm pads every number to the width of the low end
            names.extend(
                f"{prefix}{n:0{width}d}{tail}"
                for n in range(int(lo), int(hi) + 1)
                for tail in expand_hostlist(suffix) or [""]
            )
    return names


def split_top_level(text: str, brackets: str = "[]") -> list[str]:
    """Split on commas outside brackets: `a[1,3],b` -> `a[1,3]`, `b` (also for `(IDX:0,2)`)."""
    opening, closing = brackets[0], brackets[1]
    if opening not in text:  # the common case, and 10x cheaper than the walk below
        return [s.strip() for s in text.split(",") if s.strip()]
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += 1 if ch == opening else -1 if ch == closing else 0
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [s.strip() for s in out if s.strip()]
