"""Backfill windows of any length, found and used: real reservations on the mini-Rivanna."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rv_jupyter.allocator.fanout import Allocator
from rv_jupyter.allocator.request import Request
from rv_jupyter.cluster.background import run_sync
from rv_jupyter.cluster.handle import Cluster
from rv_jupyter.errors import SlurmError
from tests.cluster.conftest import as_admin

pytestmark = pytest.mark.usefixtures("no_jobs_left")

GPU_NODES = "udc-mig-1,udc-rtx-1,udc-a6k-[1-2],udc-a40-1,udc-a100-[1-2],udc-v100-1,udc-h200-1"


@pytest.fixture
def a_reservation() -> Iterator[Callable[[int, str], str]]:
    """make(minutes_ahead, nodes): a maintenance reservation of root, deleted afterwards."""
    names: list[str] = []

    def make(minutes: int, nodes: str) -> str:
        name = f"maint-{secrets.token_hex(2)}"
        as_admin(
            "scontrol", "create", "reservation", f"ReservationName={name}",
            f"StartTime=now+{minutes}minutes", "Duration=60", f"Nodes={nodes}", "Users=root",
            "Flags=maint,ignore_jobs",
        )  # fmt: skip
        names.append(name)
        return name

    yield make
    for name in names:
        as_admin("scontrol", "delete", f"ReservationName={name}")


def test_maintenance_on_every_gpu_node_a_long_request_starts_in_the_window(
    a_cluster: Cluster, a_reservation: Callable[[int, str], str]
) -> None:
    name = a_reservation(30, GPU_NODES)
    req = Request.build(gpus=1, time="8h", name=f"win-{secrets.token_hex(2)}")
    allocator = Allocator(a_cluster, poll_s=1)
    plan = run_sync(allocator.plan(req))
    first = plan.strategies[0]
    assert first.kind == "time_min" and first.immediate
    window = first.time_min_s  # the window found, less a margin for backfill's slots
    assert window is not None and 22 * 60 <= window <= 30 * 60
    # The plan says what the window is and why.
    (line, *_) = plan.windows(user="rvtest")
    assert f'maintenance "{name}"' in line and "now, or 8:00 from" in line
    alloc = run_sync(allocator.allocate(req, timeout_s=60))
    assert alloc.strategy.kind == "time_min"
    # Slurm's limit is what the plan (allocate's own, a moment later) said: the window,
    # not the 8 h asked.
    said = alloc.strategy.time_min_s
    assert said is not None and abs(said - window) <= 5 * 60
    assert alloc.time_limit_s is not None and abs(alloc.time_limit_s - said) <= 120
    alloc.cancel()


@pytest.mark.parametrize("minutes", [13, 50])
def test_short_and_medium_windows_are_found(
    a_cluster: Cluster, a_reservation: Callable[[int, str], str], minutes: int
) -> None:
    a_reservation(minutes, "udc-v100-1")
    plan = run_sync(Allocator(a_cluster).plan(Request.build(gpu_type="v100", time="8h")))
    kinds = {s.kind: s for s in plan.strategies}
    window = kinds["time_min"].time_min_s
    assert window is not None and minutes * 60 * 0.75 - 120 <= window <= minutes * 60
    assert kinds["direct"].wait_s and kinds["direct"].wait_s > minutes * 60


def test_no_window_before_the_reservation_says_when_it_could_start(
    a_cluster: Cluster, a_reservation: Callable[[int, str], str]
) -> None:
    name = a_reservation(4, "udc-v100-1")  # less than the 10 minutes worth a job
    req = Request.build(gpu_type="v100", time="2h", name=f"late-{secrets.token_hex(2)}")
    with pytest.raises(SlurmError) as err:
        run_sync(Allocator(a_cluster, poll_s=1).allocate(req, timeout_s=5))
    assert "Nothing can start now; the earliest is" in err.value.message
    assert f'after maintenance "{name}"' in err.value.message


def test_the_dry_run_says_what_the_window_is_and_why(
    a_shell: Any, a_config_path: Path, a_reservation: Callable[[int, str], str]
) -> None:
    name = a_reservation(40, "udc-v100-1")
    plan = a_shell.run_line_magic(
        "rv_up", f"--type v100 --time 8h --dry-run --config {a_config_path}"
    )
    (note, *_) = plan.attrs["notes"]
    assert note.startswith(f'gpu-v100 1x1: maintenance "{name}" at ')
    assert (
        "now, or 8:00 from" in note and note in repr(plan) and "maintenance" in plan._repr_html_()
    )
    assert plan["strategy"].iloc[0].startswith("v100/1x1/time_min/")
