"""Time to a running GPU job: the fan-out allocator vs one plain single-partition sbatch.

Runs on the mini-Rivanna (RV_CONFIG set, as root on the same machine for `sdiag`). The
contended scenario: the asked-for partition (gpu-a6000) is full for BLOCK_S seconds
while other partitions with GPUs as large are free. Both contenders face the same
blockers, one after the other, in this one run. Prints the figures, then one line:
speedup=<x> gap_to_earliest_s=<s> ssh_roundtrips=<n> slurmctld_rpcs=<n>
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import time

import rv_jupyter
from rv_jupyter.allocator.fanout import Allocator
from rv_jupyter.allocator.request import Request
from rv_jupyter.background import run_sync
from rv_jupyter.session import Cluster

BLOCK_S = 40


def admin(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def rpcs_of(user: str) -> int:
    m = re.search(rf"^\s*{re.escape(user)}\s*\(\s*\d+\)\s*count:(\d+)", admin("sdiag"), re.M)
    return int(m.group(1)) if m else 0


def block(cluster: Cluster) -> None:
    for _ in range(2):
        cluster.run(
            f"sbatch -p gpu-a6000 --gres=gpu:a6000:8 -t 5 -J bench-blocker --wrap 'sleep {BLOCK_S}'"
        )
    while admin("squeue", "-h", "-n", "bench-blocker", "-t", "PD", "-o", "%i").strip():
        time.sleep(0.2)


def plain_sbatch(cluster: Cluster) -> float:
    """What other tools do: one job to the asked partition, then wait for RUNNING."""
    block(cluster)
    t0 = time.monotonic()
    job = cluster.run(
        "sbatch --parsable -p gpu-a6000 --gres=gpu:a6000:2 -t 10 -J bench-plain --wrap 'sleep 600'"
    ).strip()
    while admin("squeue", "-h", "-j", job, "-o", "%T").strip() != "RUNNING":
        time.sleep(0.5)
    elapsed = time.monotonic() - t0
    cluster.run(f"scancel {job}")
    return elapsed


def fan_out(cluster: Cluster) -> tuple[float, float, int, int, str]:
    block(cluster)
    user = cluster.run("id -un").strip()
    allocator = Allocator(cluster, poll_s=1.0)
    req = Request.build(gpus=2, vram_gb=48, time="10m", name=f"bench-{secrets.token_hex(2)}")
    submitted_at: list[float] = []

    def on_event(_: object) -> None:
        # The first event follows the submission and the first poll.
        if not submitted_at:
            submitted_at.append(time.monotonic())

    rpc0 = rpcs_of(user)
    t0 = time.monotonic()
    alloc = run_sync(allocator.allocate(req, on_event=on_event))
    elapsed = time.monotonic() - t0
    rpcs = rpcs_of(user) - rpc0
    alloc.cancel()
    gap = elapsed - (submitted_at[0] - t0) if submitted_at else elapsed
    trips = allocator.round_trips_before_submit
    return elapsed, gap, -1 if trips is None else trips, rpcs, str(alloc)


def main() -> int:
    cluster = rv_jupyter.connect()
    cluster.state()  # connect first: the SSH handshake is common to both
    plain_s = plain_sbatch(cluster)
    while admin("squeue", "-h", "-n", "bench-blocker", "-o", "%i").strip():
        time.sleep(1)  # the first blockers end before the second contender starts
    fan_s, gap_s, trips, rpcs, winner = fan_out(cluster)
    admin("scancel", "-n", "bench-blocker")
    print(f"contended: gpu-a6000 full for {BLOCK_S} s, other 48 GB+ partitions free")
    print(f"plain sbatch to gpu-a6000: {plain_s:6.1f} s to RUNNING")
    print(f"fan-out allocator:         {fan_s:6.1f} s to RUNNING ({winner})")
    print(f"  from submission to RUNNING seen: {gap_s:.1f} s")
    print(f"  SSH round trips before submission: {trips}; slurmctld RPCs: {rpcs}")
    print(
        f"speedup={plain_s / fan_s:.1f} gap_to_earliest_s={gap_s:.1f} "
        f"ssh_roundtrips={trips} slurmctld_rpcs={rpcs}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
