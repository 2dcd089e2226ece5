"""`sinfo`: one row per node and partition, merged into one Node per node."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rv_jupyter.slurm import _table, gres
from rv_jupyter.slurm.states import NodeState, node_state

if TYPE_CHECKING:
    import pandas as pd

# -O with a `|` suffix and no width prints values whole (fixed widths cut them), in
# Slurm 22.05 through 24.x. Reason (free text) goes last. The header stays on so the
# parser reads columns by name.
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


def parse_sinfo(text: str) -> list[Node]:
    """Nodes from `sinfo --Node` output (COMMAND), deduplicated across partitions."""
    nodes: dict[str, Node] = {}
    for row in _table.rows(text, command="sinfo", required=("NODELIST", "PARTITION")):
        name = row.pop("NODELIST")
        partition = row.pop("PARTITION").rstrip("*")  # '*' marks the default partition
        if name in nodes:
            old = nodes[name]
            if partition not in old.partitions:
                nodes[name] = old.model_copy(update={"partitions": (*old.partitions, partition)})
            continue
        nodes[name] = _node(name, partition, row)
    return list(nodes.values())


def _node(name: str, partition: str, row: dict[str, str]) -> Node:
    raw = row.pop("STATE", "")
    gtype, total = gres.gpus(row.pop("GRES", ""))
    _, used = gres.gpus(row.pop("GRES_USED", ""))
    cpus = [_int(x) for x in row.pop("CPUS(A/I/O/T)", "").split("/")]
    cpus += [None] * (4 - len(cpus))
    features = row.pop("AVAIL_FEATURES", row.pop("FEATURES", ""))
    reason = row.pop("REASON", "")
    return Node(
        name=name,
        partitions=(partition,),
        state=node_state(raw),
        raw_state=raw,
        gpu_type=gtype,
        gpus_total=total,
        gpus_used=used,
        cpus_alloc=cpus[0],
        cpus_idle=cpus[1],
        cpus_total=cpus[3],
        memory_mb=_int(row.pop("MEMORY", "")),
        alloc_mem_mb=_int(row.pop("ALLOCMEM", "")),
        features=tuple(f for f in features.split(",") if f and f != "(null)"),
        reason=None if reason.lower() in ("", "none", "(null)") else reason,
        extra=row,
    )


def _int(v: str | None) -> int | None:
    v = (v or "").strip()
    return int(v) if v.isdigit() else None


def to_frame(nodes: list[Node]) -> pd.DataFrame:
    """Nodes as a DataFrame."""
    return _table.frame(nodes)
