"""Job scripts run by the real Slurm: checkpoint segments and multi-node launch."""

from __future__ import annotations

import secrets
import time

import pytest

from rv_jupyter.cluster.handle import Cluster
from rv_jupyter.jobs import JobSpec, render
from rv_jupyter.jobs.script import Checkpoint
from tests.cluster.conftest import as_admin

pytestmark = pytest.mark.usefixtures("no_jobs_left")

# Works 100 "seconds" in all, saving progress every second and stopping when Slurm's
# SIGUSR1 arrives; each segment resumes from the progress saved in the run's one
# checkpoint directory.
WORKER = r"""
f="$RV_CHECKPOINT_DIR/progress"; n=$(cat "$f" 2>/dev/null || echo 0)
trap 'echo "$n" > "$f"; echo "saved at $n"; exit 0' USR1
while [ "$n" -lt 100 ]; do sleep 1 & wait $!; n=$((n + 1)); echo "$n" > "$f"; done
echo done
"""


REPORT = (
    'echo "rank=$NODE_RANK of $NNODES master=$MASTER_ADDR:$MASTER_PORT'
    ' host=$(hostname) gpus=$CUDA_VISIBLE_DEVICES"'
)


def _wait_gone(name: str, limit: float) -> None:
    deadline = time.monotonic() + limit
    while as_admin("squeue", "-h", "-n", name, "-o", "%i").strip():
        assert time.monotonic() < deadline, f"{name} still queued or running"
        time.sleep(2)


def test_checkpoint_segments_resubmit_until_the_work_is_done(a_cluster: Cluster) -> None:
    user = a_cluster.run("id -un").strip()
    name = f"ckpt-{secrets.token_hex(3)}"
    a_cluster.run(f"mkdir -p /scratch/{user}/.rv/logs")
    spec = JobSpec(
        kind="checkpoint", name=name, user=user, command=("bash", "-c", WORKER),
        partition="gpu-mig", gres="gpu:1g.10gb:1", time_s=120,
        checkpoint=Checkpoint(total_s=600, buffer_s=60),
    )  # fmt: skip
    first = a_cluster.run("sbatch --parsable", stdin=render(spec)).strip()
    _wait_gone(name, 300)
    work = f"/scratch/{user}/.rv/checkpoints/{name}-{first}"
    assert a_cluster.run(f"cat {work}/progress").strip() == "100"
    segments = as_admin(
        "sacct", "-X", "-n", "-P", "-S", "now-1hour", "-n", "-o", "JobID,JobName,State"
    )
    mine = [ln.split("|") for ln in segments.splitlines() if ln.split("|")[1] == name]
    assert len(mine) >= 2, "the first segment should have been cut and resubmitted"
    assert all(state == "COMPLETED" for _, _, state in mine)
    logs = a_cluster.run(f"cat /scratch/{user}/.rv/logs/{name}-*.err")
    assert "resubmitting" in logs


def test_multi_node_job_gives_each_node_its_rank(a_cluster: Cluster) -> None:
    user = a_cluster.run("id -un").strip()
    name = f"mn-{secrets.token_hex(3)}"
    spec = JobSpec(
        kind="multinode", name=name, user=user, partition="gpu-a6000", nodes=2,
        gres="gpu:a6000:4", time_s=120,
        command=("bash", "-c", REPORT),
    )  # fmt: skip
    job = a_cluster.run("sbatch --parsable", stdin=render(spec)).strip()
    _wait_gone(name, 60)
    out = a_cluster.run(f"cat /scratch/{user}/.rv/logs/{name}-{job}.out")
    lines = sorted(ln for ln in out.splitlines() if ln.startswith("rank="))
    assert [ln.split()[0] for ln in lines] == ["rank=0", "rank=1"]
    assert all("of 2" in ln and "master=udc-a6k-1:" in ln for ln in lines)
    assert {ln.split("host=")[1].split()[0] for ln in lines} == {"udc-a6k-1", "udc-a6k-2"}
    assert all(ln.endswith("gpus=0,1,2,3") for ln in lines)
