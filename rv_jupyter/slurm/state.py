"""The cluster as one snapshot: GPUs per partition, the user's jobs, fairshare, SUs, quotas.

Pure: built from parsed command outputs (see `rv_jupyter.slurm`), no I/O. The session
reads all of it in one SSH round trip; a piece whose command failed is kept as an error
message beside the rest rather than failing the whole snapshot.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from rv_jupyter.facts import gpu_type_of
from rv_jupyter.slurm import Job, Node, NodeState, Quota, ShareRow, SuBalance

if TYPE_CHECKING:
    import pandas as pd

_UP = {NodeState.idle, NodeState.mixed}


class GpuAvailability(BaseModel):
    """GPUs of one partition and GRES type: how many exist and how many are free now."""

    model_config = ConfigDict(frozen=True)

    partition: str
    gpu_type: str | None  # the product's key (a100_80), None if not a known Rivanna type
    gres: str
    label: str
    vram_gb: int | None
    su_per_gpu_hour: float | None
    total: int
    free: int
    nodes_idle: int
    nodes_mixed: int
    nodes_allocated: int
    nodes_down: int


def gpu_availability(nodes: Iterable[Node]) -> list[GpuAvailability]:
    """Sum GPUs per (partition, GRES type); free GPUs count only on nodes that take jobs."""
    groups: dict[tuple[str, str], list[Node]] = {}
    for node in nodes:
        if not node.gpu_type or not node.gpus_total:
            continue
        for partition in node.partitions:
            groups.setdefault((partition, node.gpu_type), []).append(node)
    rows = []
    for (partition, gres), members in sorted(groups.items()):
        known = gpu_type_of(partition, gres)
        rows.append(
            GpuAvailability(
                partition=partition,
                gpu_type=known.key if known else None,
                gres=gres,
                label=known.label if known else gres,
                vram_gb=known.vram_gb if known else None,
                su_per_gpu_hour=known.su_per_gpu_hour if known else None,
                total=sum(n.gpus_total for n in members),
                free=sum(max(n.gpus_total - n.gpus_used, 0) for n in members if n.state in _UP),
                nodes_idle=_count(members, NodeState.idle),
                nodes_mixed=_count(members, NodeState.mixed),
                nodes_allocated=_count(members, NodeState.allocated),
                nodes_down=sum(
                    1
                    for n in members
                    if n.state not in (NodeState.idle, NodeState.mixed, NodeState.allocated)
                ),
            )
        )
    return rows


def _count(nodes: Sequence[Node], state: NodeState) -> int:
    return sum(1 for n in nodes if n.state == state)


class ClusterState(BaseModel):
    """Everything the panel shows, read at one moment."""

    model_config = ConfigDict(frozen=True)

    user: str
    host: str
    read_at: datetime
    gpus: list[GpuAvailability] = Field(default_factory=list)
    jobs: list[Job] = Field(default_factory=list)
    fairshare: list[ShareRow] = Field(default_factory=list)
    allocations: list[SuBalance] = Field(default_factory=list)
    quotas: list[Quota] = Field(default_factory=list)
    # Which pieces could not be read, and why ("hdquota": "command not found").
    errors: dict[str, str] = Field(default_factory=dict)

    @property
    def user_fairshare(self) -> float | None:
        """The user's FairShare factor (0..1; higher starts sooner), if sshare had a row."""
        mine = [r for r in self.fairshare if r.user]
        return mine[0].fairshare if mine else None

    def gpus_frame(self) -> pd.DataFrame:
        """GPU availability per partition as a DataFrame."""
        return _frame(self.gpus, GpuAvailability)

    def jobs_frame(self) -> pd.DataFrame:
        """The user's jobs as a DataFrame."""
        return _frame(self.jobs, Job)

    def allocations_frame(self) -> pd.DataFrame:
        """SU balances per account as a DataFrame."""
        return _frame(self.allocations, SuBalance)

    def quotas_frame(self) -> pd.DataFrame:
        """Storage quotas as a DataFrame."""
        return _frame(self.quotas, Quota)

    def __str__(self) -> str:
        return "\n".join(self._text_lines())

    def _text_lines(self) -> list[str]:
        lines = [f"Rivanna as {self.user}@{self.host}, read {self.read_at:%Y-%m-%d %H:%M:%S}"]
        lines.append("")
        lines.append(f"{'partition':<22}{'GPU':<13}{'free':>5}{'total':>7}{'SU/GPU-h':>10}  nodes")
        for g in self.gpus:
            su = f"{g.su_per_gpu_hour:.2f}" if g.su_per_gpu_hour is not None else "?"
            nodes = f"{g.nodes_idle} idle, {g.nodes_mixed} mixed, {g.nodes_allocated} busy"
            if g.nodes_down:
                nodes += f", {g.nodes_down} down"
            lines.append(f"{g.partition:<22}{g.label:<13}{g.free:>5}{g.total:>7}{su:>10}  {nodes}")
        lines.append("")
        if self.jobs:
            lines.append(f"Your jobs ({len(self.jobs)}):")
            for j in self.jobs:
                where = j.node_list or j.reason or ""
                lines.append(f"  {j.job_id:<10}{j.name[:24]:<26}{j.state.value:<12}{where}")
        else:
            lines.append("Your jobs: none")
        lines.append("")
        lines.append("SU balance:")
        for a in self.allocations:
            lines.append(f"  {a.account:<24}{_num(a.balance):>16} SUs")
        if self.user_fairshare is not None:
            lines.append(f"Fairshare: {self.user_fairshare:.3f}")
        lines.append("")
        lines.append("Storage:")
        for q in self.quotas:
            lines.append(
                f"  {q.type:<18}{q.location or '':<12}{q.used_text or '?':>10} of "
                f"{q.size_text or '?':<10}{_pct(q.use_percent)}"
            )
        for what, why in self.errors.items():
            lines.append(f"! {what}: {why}")
        return lines

    def _repr_html_(self) -> str:
        def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
            head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
            body = "".join(
                "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                for r in rows
            )
            return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

        parts = [
            f"<h4>Rivanna as {html.escape(self.user)}@{html.escape(self.host)}</h4>",
            f"<p>read {self.read_at:%Y-%m-%d %H:%M:%S}</p>",
            table(
                ["partition", "GPU", "free", "total", "SU/GPU-h", "idle", "mixed", "busy", "down"],
                (
                    [
                        g.partition,
                        g.label,
                        g.free,
                        g.total,
                        g.su_per_gpu_hour or "?",
                        g.nodes_idle,
                        g.nodes_mixed,
                        g.nodes_allocated,
                        g.nodes_down,
                    ]
                    for g in self.gpus
                ),
            ),
            "<h5>Your jobs</h5>",
            table(
                ["job", "name", "state", "partition", "nodes / reason"],
                (
                    [j.job_id, j.name, j.state.value, j.partition, j.node_list or j.reason]
                    for j in self.jobs
                ),
            ),
            "<h5>SU balance</h5>",
            table(["account", "balance"], ([a.account, _num(a.balance)] for a in self.allocations)),
            "<h5>Storage</h5>",
            table(
                ["type", "location", "used", "size", "use"],
                (
                    [q.type, q.location, q.used_text, q.size_text, _pct(q.use_percent)]
                    for q in self.quotas
                ),
            ),
        ]
        if self.user_fairshare is not None:
            parts.append(f"<p>Fairshare: {self.user_fairshare:.3f}</p>")
        for what, why in self.errors.items():
            parts.append(f"<p><b>{html.escape(what)}</b>: {html.escape(why)}</p>")
        return "\n".join(parts)


def _num(x: float | None) -> str:
    return "?" if x is None else f"{x:,.2f}"


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:.0f}%"


def _frame(rows: Sequence[BaseModel], model: type[BaseModel]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame([r.model_dump(mode="json") for r in rows], columns=list(model.model_fields))
