"""`nvidia-smi` output: `--query-gpu`, `--query-compute-apps` CSV and `-L`. Pure.

Why these forms: `--query-*=<fields> --format=csv` is nvidia-smi's documented machine
interface, stable across drivers where the plain table is not. The CSV separator is
`, ` (names hold spaces, never that pair in GPU names; a process name may, so the one
free-text field of a row takes what is left over). The header names each field with its
unit in brackets (`memory.used [MiB]`), and keeps the unit even under `nounits`; values
carry the unit unless `nounits` (`130013 MiB`, `100 %`). Under `noheader` the caller's
own field list says the order. Any value may be a bracketed placeholder instead
(`[N/A]`, `[Not Supported]`, `[Unknown Error]`, `[GPU requires reset]`...): each is kept
as an `Unavailable` with its reason, never read as 0. MIG devices report utilisation as
`[N/A]`: per-slice utilisation exists only in DCGM.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from rv_jupyter.errors import ParseError

# A placeholder's text -> the reason kept (unknown placeholders keep their own text).
_REASONS = {
    "n/a": "N/A",
    "not supported": "Not Supported",
    "unknown error": "Unknown Error",
    "gpu requires reset": "GPU requires reset",
    "not found": "Not Found",
    "insufficient permissions": "Insufficient Permissions",
    "requested functionality has been deprecated": "Deprecated",
    "no permission": "Insufficient Permissions",
}
_PLACEHOLDER = re.compile(r"^\[(.+)\]$")
_NUMBER = re.compile(r"^[-+]?\d+(?:\.\d+)?$")
_UNIT = re.compile(r"^(?P<num>[-+]?\d+(?:\.\d+)?)\s*(?P<unit>[A-Za-z%/]+)$")
# Fields whose value is text even when it looks like a number.
_TEXT_FIELDS = frozenset((
    "uuid", "gpu_uuid", "pci.bus_id", "serial", "vbios_version", "driver_version", "name",
    "gpu_name", "process_name", "pstate",
))  # fmt: skip
_FREE_TEXT = ("process_name", "name", "gpu_name")


class Unavailable(BaseModel):
    """A field nvidia-smi could not give, and why (`N/A`, `Not Supported`, ...)."""

    model_config = ConfigDict(frozen=True)

    reason: str

    def __str__(self) -> str:
        return f"[{self.reason}]"


Reading = float | str | Unavailable


class GpuRow(BaseModel):
    """One row of `--query-gpu` or `--query-compute-apps`: field name -> reading."""

    model_config = ConfigDict(frozen=True)

    values: dict[str, Reading]

    def get(self, field: str) -> Reading | None:
        """The reading of `field` (None if it was not asked)."""
        return self.values.get(field)

    def number(self, field: str) -> float | None:
        """A numeric reading, or None if absent, unavailable or text."""
        v = self.values.get(field)
        return v if isinstance(v, float) else None

    def text(self, field: str) -> str | None:
        """A text reading (a name, a UUID), or None."""
        v = self.values.get(field)
        return v if isinstance(v, str) else None

    def unavailable(self, field: str) -> str | None:
        """Why `field` has no value (`N/A`...), or None if it has one."""
        v = self.values.get(field)
        return v.reason if isinstance(v, Unavailable) else None


class GpuListEntry(BaseModel):
    """A line of `nvidia-smi -L`: a GPU, or a MIG device under the GPU before it."""

    model_config = ConfigDict(frozen=True)

    index: int
    name: str
    uuid: str | None
    mig_profile: str | None = None  # `1g.10gb`, `3g.40gb`, `1c.3g.71gb`
    parent_index: int | None = None  # the GPU a MIG device is part of


def parse_query_gpu(text: str, fields: Sequence[str]) -> list[GpuRow]:
    """Rows of `--query-gpu=<fields> --format=csv[,noheader][,nounits]` output."""
    return _parse_csv(text, fields, command="nvidia-smi --query-gpu")


def parse_compute_apps(text: str, fields: Sequence[str]) -> list[GpuRow]:
    """Rows of `--query-compute-apps=<fields> --format=csv[,...]` output (one per process
    per GPU; no processes is no rows)."""
    return _parse_csv(text, fields, command="nvidia-smi --query-compute-apps")


def parse_value(raw: str, field: str = "") -> Reading:
    """One CSV value: a float (units dropped), text, or an Unavailable placeholder."""
    v = raw.strip()
    m = _PLACEHOLDER.match(v)
    if m:
        inner = m.group(1).strip()
        return Unavailable(reason=_REASONS.get(inner.lower(), inner))
    if v.upper() in ("N/A", "NOT SUPPORTED"):  # some drivers drop the brackets
        return Unavailable(reason=_REASONS[v.lower()])
    if _base(field) in _TEXT_FIELDS:
        return v
    if _NUMBER.match(v):
        return float(v)
    u = _UNIT.match(v)
    if u:
        return float(u.group("num"))
    return v


_LIST_GPU = re.compile(r"^GPU\s+(?P<index>\d+):\s+(?P<name>.+?)\s+\(UUID:\s*(?P<uuid>[^)]+)\)\s*$")
_LIST_GPU_NO_UUID = re.compile(r"^GPU\s+(?P<index>\d+):\s+(?P<name>.+?)\s*$")
_LIST_MIG = re.compile(
    r"^\s+MIG\s+(?P<profile>\S+)\s+Device\s+(?P<index>\d+):\s+\(UUID:\s*(?P<uuid>[^)]+)\)\s*$"
)


def parse_gpu_list(text: str) -> list[GpuListEntry]:
    """GPUs and MIG devices from `nvidia-smi -L` (MIG lines follow their GPU, indented)."""
    out: list[GpuListEntry] = []
    parent: int | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _LIST_MIG.match(line)
        if m:
            if parent is None:
                raise ParseError("A MIG device before any GPU", command="nvidia-smi -L", line=line)
            out.append(
                GpuListEntry(
                    index=int(m.group("index")),
                    name=f"MIG {m.group('profile')}",
                    uuid=m.group("uuid").strip(),
                    mig_profile=m.group("profile"),
                    parent_index=parent,
                )
            )
            continue
        m = _LIST_GPU.match(line.strip()) or _LIST_GPU_NO_UUID.match(line.strip())
        if not m:
            raise ParseError("Unreadable GPU line", command="nvidia-smi -L", line=line)
        parent = int(m.group("index"))
        uuid = m.groupdict().get("uuid")
        out.append(
            GpuListEntry(index=parent, name=m.group("name"), uuid=uuid.strip() if uuid else None)
        )
    return out


def _parse_csv(text: str, fields: Sequence[str], *, command: str) -> list[GpuRow]:
    names = [f.strip() for f in fields]
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if lines and _is_header(lines[0], names):
        lines = lines[1:]
    # A loop (-l / -lms) without noheader repeats the header: skip every copy.
    lines = [ln for ln in lines if not _is_header(ln, names)]
    free = next((i for i, n in enumerate(names) if _base(n) in _FREE_TEXT), None)
    rows = []
    for line in lines:
        parts = line.split(", ")
        if len(parts) > len(names) and free is not None:
            extra = len(parts) - len(names)
            parts = [*parts[:free], ", ".join(parts[free : free + extra + 1]),
                     *parts[free + extra + 1 :]]  # fmt: skip
        if len(parts) != len(names):
            raise ParseError(
                f"Expected {len(names)} values ({', '.join(names)}), found {len(parts)}",
                command=command,
                line=line,
            )
        rows.append(
            GpuRow(values={n: parse_value(p, n) for n, p in zip(names, parts, strict=True)})
        )
    return rows


def _is_header(line: str, names: list[str]) -> bool:
    titles = [re.sub(r"\s*\[[^\]]*\]\s*$", "", t).strip() for t in line.split(", ")]
    return [_base(t) for t in titles] == [_base(n) for n in names]


def _base(field: str) -> str:
    # nvidia-smi prints some fields under another name than asked (`name` asked as
    # `gpu_name`, `process_name` as `name` on vGPU hosts): compare the base names.
    f = field.strip().lower()
    return {"gpu_name": "name", "process_name": "name"}.get(f, f)
