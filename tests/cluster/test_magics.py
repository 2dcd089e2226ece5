"""The magics in a real IPython shell against the mini-Rivanna."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from IPython.core.error import UsageError

from rv_jupyter.allocator.allocation import Allocation
from rv_jupyter.allocator.cost import CostEstimate
from rv_jupyter.state import ClusterState

pytestmark = pytest.mark.usefixtures("no_jobs_left")


@pytest.fixture
def rv(a_shell, a_config_path: Path):  # type: ignore[no-untyped-def]
    """Run `%<magic> <line>` with the mini-Rivanna's config."""
    return lambda magic, line="": a_shell.run_line_magic(magic, f"{line} --config {a_config_path}")


@pytest.mark.parametrize("name", ["rv", "rv_jupyter"])
def test_load_ext_registers_the_magics(a_shell, name: str) -> None:  # type: ignore[no-untyped-def]
    a_shell.run_line_magic("load_ext", name)
    line = a_shell.magics_manager.magics["line"]
    assert {"rv_status", "rv_up", "rv_ps", "rv_stop", "rv_cost", "rv_logs"} <= set(line)


def test_status_is_the_cluster_state(rv) -> None:  # type: ignore[no-untyped-def]
    state = rv("rv_status", "--once")
    assert isinstance(state, ClusterState)
    assert any(g.partition == "gpu-mig" for g in state.gpus)
    panel = rv("rv_status")
    try:
        deadline = time.monotonic() + 20
        while panel.shown is None:
            assert time.monotonic() < deadline, "the panel never got a snapshot"
            time.sleep(0.1)
        assert "gpu-mig" in panel.gpus.value and "SU balance" in panel.money.value
    finally:
        panel.close()


def test_up_ps_logs_stop_round_trip(rv) -> None:  # type: ignore[no-untyped-def]
    alloc = rv("rv_up", "--mig --time 10m --name magic-up")
    assert isinstance(alloc, Allocation) and alloc.partition == "gpu-mig"
    assert rv("rv_up", "--mig --time 10m") is alloc, "a live allocation is reused"
    jobs = rv("rv_ps")
    assert isinstance(jobs, pd.DataFrame)
    row = jobs[jobs["id"] == alloc.job_id].iloc[0]
    assert (row["state"], row["gpus"], row["node"]) == ("running", 1, "udc-mig-1")
    assert isinstance(rv("rv_logs", alloc.job_id), str)
    stopped = rv("rv_stop", alloc.job_id)
    assert list(stopped["cancelled"]) == [alloc.job_id]


def test_dry_run_and_cost_submit_nothing(rv) -> None:  # type: ignore[no-untyped-def]
    plan = rv("rv_up", "--gpu 2 --time 1h --dry-run")
    assert isinstance(plan, pd.DataFrame) and len(plan) >= 2
    assert "mig" in plan.attrs["skipped"]
    cost = rv("rv_cost", "--gpu 2 --type a6000 --time 2h")
    assert isinstance(cost, CostEstimate)
    assert round(cost.dearest, 2) == round(142.73 * 2 * 2, 2)
    assert cost.balance is not None
    assert rv("rv_ps").empty


@pytest.mark.parametrize(
    ("magic", "line", "message"),
    [
        ("rv_up", "--gpu 5 --type h200 --time 1h", "at most 4 per user"),
        ("rv_up", "--type rtx3090 --time 13h", "allows 12 h"),
        ("rv_up", "--time soon", "Cannot read the time"),
        ("rv_up", "--type b300", "unknown GPU type"),
        ("rv_up", "--gpu many", "invalid int value"),
        ("rv_stop", "", "Name the jobs"),
        ("rv_stop", "999999", "Not among your queued or running jobs: 999999"),
        ("rv_cost", "--gpu 40", "at most 32 GPUs"),
        ("rv_logs", "999999", "No job 999999 is queued or running"),
    ],
)
def test_bad_input_is_one_line_usage_error(rv, magic: str, line: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError) as err:
        rv(magic, line)
    assert message in str(err.value)
    assert rv("rv_ps").empty, "nothing may be submitted by a bad request"


def test_missing_config_is_a_usage_error(a_shell, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match="No rv config"):
        a_shell.run_line_magic("rv_status", f"--config {tmp_path / 'missing.toml'}")


def test_json_output_is_machine_readable(rv) -> None:  # type: ignore[no-untyped-def]
    import json

    state = json.loads(rv("rv_status", "--json"))
    assert {g["partition"] for g in state["gpus"]} >= {"gpu-mig", "gpu-a6000"}
    assert json.loads(rv("rv_ps", "--json")) == []


def test_logs_follow_streams_until_the_job_ends(  # type: ignore[no-untyped-def]
    rv, a_cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    user = a_cluster.run("id -un").strip()
    job = a_cluster.run(
        f"sbatch --parsable -p standard -t 2 -J follow --chdir=/scratch/{user} "
        f"-o /scratch/{user}/.rv/logs/%x-%j.out "
        "--wrap 'for i in 1 2 3; do echo line $i; sleep 1; done'"
    ).strip()
    t0 = time.monotonic()
    done = rv("rv_logs", f"{job} --follow")
    assert "left the queue" in done
    out = capsys.readouterr().out
    assert [ln for ln in out.splitlines() if ln.startswith("line")] == [
        "line 1",
        "line 2",
        "line 3",
    ]
    assert time.monotonic() - t0 < 60
