"""`connect().state()` against the mini-Rivanna: what it reads, and what it costs."""

from __future__ import annotations

import time
from pathlib import Path

from rv_jupyter.cluster.handle import Cluster
from rv_jupyter.slurm import JobState
from tests.cluster.conftest import rpc_count_of, rpc_counts_by_type

# slurmctld RPCs one state() may cost, as measured on Slurm 22.05: sinfo 2 (partitions,
# nodes), squeue 2 (partitions, the user's jobs), sshare 1. Raise it only on purpose:
# every panel refresh pays it.
STATE_RPC_BUDGET = 5


def test_state_shows_gpus_per_partition_balance_and_quotas(a_cluster: Cluster) -> None:
    state = a_cluster.state()
    by_partition = {g.partition: g for g in state.gpus}
    assert by_partition["gpu-a6000"].total == 16
    assert by_partition["gpu-a6000"].gpu_type == "a6000"
    assert by_partition["gpu-mig"].gres == "1g.10gb"
    assert by_partition["gpu-a100-80"].gpu_type == "a100_80"
    assert by_partition["gpu-a100-40"].gpu_type == "a100_40"
    assert "standard" not in by_partition
    assert state.user == "rvtest"
    assert {a.account for a in state.allocations} == {"mylab_paid", "mylab_std"}
    assert any("Home" in q.type for q in state.quotas)
    assert state.user_fairshare is not None
    assert state.errors == {}
    text = str(state)
    assert "gpu-h200" in text and "SU balance" in text and "Storage" in text
    assert "<table>" in state._repr_html_()
    assert list(state.gpus_frame()["partition"]).count("gpu-a6000") == 1


def test_state_is_one_ssh_round_trip(a_cluster: Cluster) -> None:
    a_cluster.state()  # connect first: the handshake is not what we count
    before = a_cluster.connection.channels_opened
    a_cluster.state()
    assert a_cluster.connection.channels_opened - before == 1


def test_state_costs_a_bounded_number_of_slurmctld_rpcs(a_cluster: Cluster) -> None:
    a_cluster.state()
    user = a_cluster.state().user
    before, types_before = rpc_count_of(user), rpc_counts_by_type()
    a_cluster.state()
    spent = rpc_count_of(user) - before
    types = {
        k: v - types_before.get(k, 0)
        for k, v in rpc_counts_by_type().items()
        if v != types_before.get(k, 0) and k != "REQUEST_STATS_INFO"
    }
    print(f"state() slurmctld RPCs: {spent} {types}")
    assert 1 <= spent <= STATE_RPC_BUDGET, types


def test_a_submitted_job_appears_in_state_and_takes_its_gpus(a_cluster: Cluster) -> None:
    free_before = {g.partition: g.free for g in a_cluster.state().gpus}["gpu-a40"]
    script = (
        "#!/bin/bash\n#SBATCH -p gpu-a40\n#SBATCH --gres=gpu:a40:2\n#SBATCH -t 5\n"
        "#SBATCH -J rv-state-test\nsleep 120\n"
    )
    job_id = a_cluster.run("sbatch --parsable", stdin=script).strip().split(";")[0]
    try:
        deadline = time.monotonic() + 30
        while True:
            state = a_cluster.state()
            mine = [j for j in state.jobs if j.job_id == job_id]
            if mine and mine[0].state == JobState.running:
                break
            assert time.monotonic() < deadline, f"job {job_id} never ran: {mine}"
            time.sleep(1)
        job = mine[0]
        assert job.name == "rv-state-test"
        assert job.partition == "gpu-a40"
        assert job.node_list == "udc-a40-1"
        assert {g.partition: g.free for g in state.gpus}["gpu-a40"] == free_before - 2
    finally:
        a_cluster.run(f"scancel {job_id}")


def test_changed_balance_and_a_failing_quota_tool_show_in_state(
    a_cluster: Cluster, stand_in_data: Path
) -> None:
    (stand_in_data / "allocations.tsv").write_text("mylab_paid\t500\t499.5\n")
    (stand_in_data / "hdquota.tsv").chmod(0o000)  # the stand-in can no longer read its data
    state = a_cluster.state()
    assert [(a.account, a.balance) for a in state.allocations] == [("mylab_paid", 0.5)]
    assert "hdquota" in state.errors
    assert state.quotas == []
    assert state.gpus, "one failing piece must not blank the rest"
