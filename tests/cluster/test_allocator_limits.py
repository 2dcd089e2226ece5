"""Per-user caps on the mini-Rivanna: what the user already runs counts, nothing is submitted."""

from __future__ import annotations

import pytest

from rv_jupyter.allocator.fanout import Allocator
from rv_jupyter.allocator.request import Request
from rv_jupyter.cluster.background import run_sync
from rv_jupyter.cluster.handle import Cluster
from rv_jupyter.errors import RequestError
from tests.cluster.conftest import as_admin
from tests.cluster.test_allocator import block

pytestmark = pytest.mark.usefixtures("no_jobs_left")


def submitted() -> int:
    return int(as_admin("sdiag").split("Jobs submitted:")[1].split()[0])


def blockers() -> list[str]:
    return as_admin("squeue", "-h", "-n", "blocker", "-t", "R", "-o", "%i").split()


def test_holding_four_h200_a_fifth_is_refused_naming_the_jobs(a_cluster: Cluster) -> None:
    block(a_cluster, "gpu-h200", "h200", 4)
    (held,) = blockers()
    before = submitted()
    with pytest.raises(RequestError) as err:
        run_sync(Allocator(a_cluster).allocate(Request.build(gpu_type="h200", time="10m")))
    assert "at most 4 H200 per user" in err.value.message and held in err.value.message
    assert f"%rv_stop {held}" in str(err.value.hint)
    assert submitted() == before  # nothing reached Slurm, not even a pending job
    # With any type, H200 is left out with the reason and the rest is planned.
    dry = run_sync(Allocator(a_cluster).dry_run(Request.build(time="10m")))
    assert all(s.shape.gpu.key != "h200" for s in dry.plan.strategies)
    assert held in dry.plan.skipped["h200"]


def test_holding_both_interactive_gpus_refuses_a_third(a_cluster: Cluster) -> None:
    block(a_cluster, "interactive-rtx3090", "rtx3090", 2)
    before = submitted()
    with pytest.raises(RequestError, match="at most 2 RTX 3090 per user"):
        run_sync(Allocator(a_cluster).allocate(Request.build(gpu_type="rtx3090", time="10m")))
    assert submitted() == before


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (dict(gpu_type="mig", mem="32G"), "MIG jobs may use at most 16 GB"),
        (dict(gpu_type="a6000", mem="300G"), "its nodes have 256 GB"),
        (dict(mem="99T"), "No GPU type can serve"),
    ],
)
def test_memory_over_a_limit_is_refused_before_anything_is_submitted(
    a_cluster: Cluster, fields: dict[str, object], message: str
) -> None:
    before = submitted()
    with pytest.raises(RequestError, match=message):
        run_sync(Allocator(a_cluster).allocate(Request.build(time="10m", **fields)))
    assert submitted() == before
