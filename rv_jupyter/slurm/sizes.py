"""Sizes as UVA's tools print them: `50G`, `50 GB`, `1.2 TB`, `512MiB`, `0`."""

from __future__ import annotations

import re

_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:i?B|bytes)?$", re.I)
UNIT_ONLY = re.compile(r"^([KMGTP]?)(?:i?B|bytes)$|^[KMGTP]$", re.I)


def to_bytes(text: str) -> int | None:
    """Bytes in a size string (binary units, as quota tools use); None if not a size."""
    m = SIZE.match(text.strip().replace(",", ""))
    if not m:
        return None
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def take_sizes(tokens: list[str]) -> list[tuple[str, int]]:
    """Consume sizes written as one token (`50G`) or a value-unit pair (`50 GB`)."""
    out: list[tuple[str, int]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if re.match(r"^\d+(\.\d+)?$", tok.replace(",", "")) and UNIT_ONLY.match(nxt):
            text = f"{tok} {nxt}"
            i += 2
        elif SIZE.match(tok.replace(",", "")):
            text = tok
            i += 1
        else:
            i += 1
            continue
        value = to_bytes(text.replace(" ", ""))
        if value is not None:
            out.append((text, value))
    return out
