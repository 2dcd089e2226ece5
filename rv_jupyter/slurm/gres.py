"""GRES and TRES strings: `gpu:a6000:8(S:0-47)`, `gpu:a6000:2(IDX:0-1)`, `gres/gpu:a100=4`."""

from __future__ import annotations

import functools
import re

from rv_jupyter.slurm.hostlist import split_top_level

# `gpu:a6000:8(S:0-47)` (sinfo, squeue of Slurm <= 22.05) or `gpu:a100=4` (the TRES
# form newer squeue prints for tres-per-node, after the `gres/` prefix is dropped).
_ENTRY = re.compile(r"^gpu(?::(?P<type>[^:(=]+))?[:=](?P<count>\d+)")


@functools.lru_cache(maxsize=4096)
def gpus(gres: str) -> tuple[str | None, int]:
    """The GPU type (first typed entry) and count in a GRES list; other GRES are ignored.

    `(S:0-47)`/`(IDX:0-1)` suffixes are socket and index details, not part of the count.
    When typed and untyped entries both appear (`gres/gpu=2,gres/gpu:a6000=2`, as TRES
    lists print them) the untyped one is the total of the typed ones: count it once.
    """
    typed: list[tuple[str, int]] = []
    untyped = 0
    for entry in _split(gres):
        m = _ENTRY.match(entry)
        if not m:
            continue
        if m.group("type"):
            typed.append((m.group("type"), int(m.group("count"))))
        else:
            untyped += int(m.group("count"))
    if typed:
        return typed[0][0], sum(n for _, n in typed)
    return None, untyped


def _split(gres: str) -> list[str]:
    # Commas separate entries but also appear inside (IDX:0,2-3).
    return [e.removeprefix("gres:").removeprefix("gres/") for e in split_top_level(gres, "()")]


def tres(text: str) -> dict[str, str]:
    """`cpu=4,mem=16G,gres/gpu:a6000=2` as a dict."""
    out = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def gpus_in_tres(text: str) -> int:
    """GPU count in a TRES string (`gres/gpu=2`, or the typed entries when untyped is absent)."""
    t = tres(text)
    if "gres/gpu" in t:
        return _int(t["gres/gpu"])
    return sum(_int(v) for k, v in t.items() if k.startswith("gres/gpu:"))


def _int(v: str) -> int:
    return int(v) if v.isdigit() else 0
