"""GPU availability from nodes: partitions, states and known types."""

from __future__ import annotations

from datetime import datetime

from rv_jupyter.slurm import Node, NodeState
from rv_jupyter.slurm.state import ClusterState, gpu_availability


def node(name: str, parts: tuple[str, ...], state: NodeState, gtype: str | None, total: int,
         used: int = 0) -> Node:  # fmt: skip
    return Node(
        name=name, partitions=parts, state=state, raw_state=state.value,
        gpu_type=gtype, gpus_total=total, gpus_used=used,
    )  # fmt: skip


def test_free_gpus_count_only_nodes_that_take_jobs() -> None:
    rows = gpu_availability(
        [
            node("a1", ("gpu-a6000",), NodeState.idle, "a6000", 8),
            node("a2", ("gpu-a6000",), NodeState.mixed, "a6000", 8, used=5),
            node("a3", ("gpu-a6000",), NodeState.drain, "a6000", 8),
            node("a4", ("gpu-a6000",), NodeState.allocated, "a6000", 8, used=8),
            node("c1", ("standard",), NodeState.idle, None, 0),
        ]
    )
    (a6000,) = rows
    assert (a6000.total, a6000.free) == (32, 11)
    assert (a6000.nodes_idle, a6000.nodes_mixed, a6000.nodes_allocated, a6000.nodes_down) == (
        1, 1, 1, 1,
    )  # fmt: skip
    assert a6000.su_per_gpu_hour == 142.73 and a6000.label == "A6000"


def test_a100_partitions_are_told_apart_and_unknown_types_kept() -> None:
    rows = gpu_availability(
        [
            node("x1", ("gpu-a100-40",), NodeState.idle, "a100", 8),
            node("x2", ("gpu-a100-80", "gpu"), NodeState.idle, "a100", 8),
            node("x3", ("gpu-new",), NodeState.idle, "b200", 8),
        ]
    )
    by = {(r.partition, r.gres): r for r in rows}
    assert by[("gpu-a100-40", "a100")].gpu_type == "a100_40"
    assert by[("gpu-a100-80", "a100")].gpu_type == "a100_80"
    assert by[("gpu", "a100")].gpu_type is None  # ambiguous outside known partitions
    assert by[("gpu-new", "b200")].label == "b200" and by[("gpu-new", "b200")].vram_gb is None


def test_state_text_shows_errors_and_html_escapes() -> None:
    s = ClusterState(
        user="<me>", host="h", read_at=datetime(2026, 1, 1), errors={"hdquota": "exited 1"}
    )
    assert "! hdquota: exited 1" in str(s)
    assert "&lt;me&gt;" in s._repr_html_()
    assert s.user_fairshare is None
    assert "job_id" in s.jobs_frame().columns and len(s.jobs_frame()) == 0
