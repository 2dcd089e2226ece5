"""Slurm's durations and timestamps."""

from __future__ import annotations

import functools
import re
from datetime import datetime

_DURATION = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)(?:\.\d+)?$")
_NONE = {
    "", "N/A", "NONE", "UNKNOWN", "UNLIMITED", "INVALID", "(NULL)", "PARTITION_LIMIT", "NOT_SET",
}  # fmt: skip


@functools.lru_cache(maxsize=4096)
def parse_duration(text: str) -> int | None:
    """Seconds in `D-HH:MM:SS`, `HH:MM:SS`, `MM:SS` (or D-HH); None for N/A, UNLIMITED..."""
    t = text.strip()
    if t.upper() in _NONE:
        return None
    m = _DURATION.match(t)
    if m:
        d, h, mi, s = m.groups()
        if d is not None and h is None:
            # "D-HH:MM" form: with a day part, two fields are hours and minutes.
            h, mi, s = mi, s, "0"
        return int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi) * 60 + int(s)
    m = re.match(r"^(\d+)-(\d+)$", t)
    if m:
        return int(m.group(1)) * 86400 + int(m.group(2)) * 3600
    if t.isdigit():  # bare minutes, as sbatch --time accepts
        return int(t) * 60
    return None


@functools.lru_cache(maxsize=4096)
def parse_timestamp(text: str) -> datetime | None:
    """Slurm's ISO timestamps (local time of the cluster); None for N/A, Unknown, None."""
    t = text.strip()
    if t.upper() in _NONE:
        return None
    try:
        return datetime.fromisoformat(t)
    except ValueError:
        return None
