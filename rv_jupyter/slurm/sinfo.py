"""`sinfo`: one row per node and partition, merged into one Node per node.

Why this format: `-O Field:'|'` gives each field a `|` suffix and no width, which Slurm
22.05 through 24.x print whole (without a width `-O` pads *and cuts* at 20 characters,
so long GRES or reasons would spill into the next column). `--Node` gives one row per
node and partition (a node in two partitions appears twice: `parse_sinfo` merges
them). The header stays on, so columns are found by name; Reason, the only free text,
goes last. GRES is matched by prefix (`gpu:a6000:8(S:0-47)`: the socket part is noise).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from rv_jupyter.slurm import _table, gres
from rv_jupyter.slurm.states import NodeState, node_state

if TYPE_CHECKING:
    import pandas as pd

COMMAND = (
    "sinfo --Node -O "
    "NodeList:'|',Partition:'|',StateLong:'|',Gres:'|',GresUsed:'|',CPUsState:'|',"
    "Memory:'|',AllocMem:'|',Features:'|',Reason:'|'"
)


class Node(_table.Record):
    """One compute node, with every partition it belongs to."""

    name: str
    partitions: tuple[str, ...]
    state: NodeState
    raw_state: str
    gpu_type: str | None = None
    gpus_total: int = 0
    gpus_used: int = 0
    cpus_alloc: int | None = None
    cpus_idle: int | None = None
    cpus_total: int | None = None
    memory_mb: int | None = None
    alloc_mem_mb: int | None = None
    features: tuple[str, ...] = ()
    reason: str | None = None

    @property
    def gpus_free(self) -> int:
        """GPUs a new job could get here now (0 unless the node takes jobs)."""
        if self.state not in (NodeState.idle, NodeState.mixed):
            return 0
        return max(self.gpus_total - self.gpus_used, 0)


def parse_sinfo(text: str) -> _table.Table[Node]:
    """Nodes from `sinfo --Node -O` output (COMMAND), one per node across partitions."""
    with _table.no_gc():
        raw = _table.columns(text, command="sinfo", required=("NODELIST", "PARTITION"))
        names = raw.pop("NODELIST")
        # `*` marks the default partition.
        partitions = [p.rstrip("*") for p in raw.pop("PARTITION")]
        first: dict[str, int] = {}  # node -> its first row; later rows add partitions
        parts: dict[str, list[str]] = {}
        for i, (name, part) in enumerate(zip(names, partitions, strict=True)):
            if name not in first:
                first[name] = i
                parts[name] = [part] if part else []
            elif part and part not in parts[name]:
                parts[name].append(part)
        keys = list(raw)
        return _table.Table(
            (
                _node(name, tuple(parts[name]), {k: raw[k][i] for k in keys})
                for name, i in first.items()
            ),
            model=Node,
        )


def _node(name: str, partitions: tuple[str, ...], row: dict[str, str]) -> Node:
    raw = row.pop("STATE", "")
    gtype, total = gres.gpus(row.pop("GRES", ""))
    _, used = gres.gpus(row.pop("GRES_USED", ""))
    cpus = _cpus(row.pop("CPUS(A/I/O/T)", ""))
    features = _table.pop(row, "AVAIL_FEATURES", "FEATURES", "ACTIVE_FEATURES")
    reason = row.pop("REASON", "")
    return Node(
        name=name,
        partitions=partitions,
        state=node_state(raw),
        raw_state=raw,
        gpu_type=gtype,
        gpus_total=total,
        gpus_used=used,
        cpus_alloc=cpus[0],
        cpus_idle=cpus[1],
        cpus_total=cpus[3],
        memory_mb=_table.to_int(row.pop("MEMORY", "")),
        alloc_mem_mb=_table.to_int(_table.pop(row, "ALLOCMEM", "ALLOC_MEM")),
        features=_features(features),
        reason=None if reason.lower() in ("", "none", "(null)") else reason,
        extra=row,
    )


@functools.lru_cache(maxsize=1024)
def _cpus(text: str) -> tuple[int | None, ...]:
    cpus = [_table.to_int(x) for x in text.split("/")]
    return (*cpus, *[None] * (4 - len(cpus)))


@functools.lru_cache(maxsize=1024)  # nodes of a partition share their feature list
def _features(text: str) -> tuple[str, ...]:
    return tuple(f for f in text.split(",") if f and f != "(null)")


def to_frame(nodes: list[Node]) -> pd.DataFrame:
    """Nodes as a DataFrame."""
    return _table.frame(nodes, model=Node)
