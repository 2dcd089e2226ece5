"""Time to a running GPU job: the fan-out allocator against what an expert would type.

Three contenders per scenario, one after the other in this one run, each facing the same
blockers on the mini-Rivanna (RV_CONFIG set; run as root on the same machine, which
places blockers and reservations as an admin would see them):
- fan-out: `Allocator.allocate` for the request as a researcher says it;
- multi: one multi-partition sbatch with untyped GRES, the expert's usual answer
  (`sbatch -p gpu-a6000,gpu-a40,gpu-a100-80 --gres=gpu:1 -t 1:00:00`);
- single: one sbatch to the one partition a newcomer would pick.
Each is timed from the user's command to the moment its job's script runs (the sbatch
contenders wait for a marker file on the login node, the expert's best case), ROUNDS
times in rotated order; the median counts, every round is printed, and so is how long
each took to have its jobs queued (the fan-out reads the queue and probes first). A
contender not running within CAP_S counts as not started. `multi_fits` says whether
the multi-partition job got what the user asked (VRAM floor, GPU count, time).
`python benchmarks/time_to_gpu.py type_full cheapest` runs those scenarios only.
Per scenario: `scenario=<name> fanout_s=<x> multi_s=<x> single_s=<x> fanout_su_h=<x>
multi_su_h=<x> multi_fits=<yes|no>`; last line `worst_fanout_vs_multi=<x>` over the
scenarios where both started and fit (target <= 1.0).
"""

from __future__ import annotations

import os
import random
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import rv_jupyter
from rv_jupyter.allocator.fanout import Allocator
from rv_jupyter.allocator.request import Request
from rv_jupyter.cluster.background import run_sync
from rv_jupyter.cluster.handle import Cluster
from rv_jupyter.errors import RvError
from rv_jupyter.facts.rivanna import gpu_type_for_partition

CAP_S = 45
ROUNDS = int(os.environ.get("RV_BENCH_ROUNDS", "5"))
# Slurm 22.05 starts a job at a scheduling pass: right after another job's end, or at the
# controller's next tick (~1 s) after a submission. A contender submitted just after the
# previous one's scancel rides that end's pass, and a fixed wait would put every round at
# the same point of the tick: waiting SETTLE_S plus up to one tick at random gives every
# contender the same odds.
SETTLE_S = 1.5
TICK_S = 1.0
ROUND_TIMES: dict[str, dict[str, list[str]]] = {}  # scenario -> contender -> each round's
QUEUED: dict[str, dict[str, float]] = {}  # scenario -> contender -> median time to queued
BLOCK_S = 40
GPU_NODES = "udc-mig-1,udc-rtx-1,udc-a6k-[1-2],udc-a40-1,udc-a100-[1-2],udc-v100-1,udc-h200-1"


def admin(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


@dataclass
class Landed:
    """Where a contender's job ran, and how long it took to get there."""

    seconds: float | None  # None: not running within CAP_S
    queued_s: float | None = None  # until its jobs were in Slurm's queue
    partition: str = ""
    gpus: int = 0
    limit_min: int = 0

    @property
    def su_h(self) -> float:
        t = gpu_type_for_partition(self.partition)
        return t.su_per_gpu_hour * self.gpus if t else 0.0


@dataclass(frozen=True)
class Scenario:
    """A cluster situation, a request, and the sbatch lines an expert and a newcomer type."""

    name: str
    request: dict[str, object]
    multi: str
    single: str
    fits: Callable[[Landed], bool]
    setup: Callable[[Cluster], None] = lambda _c: None


def vram(partition: str) -> int:
    t = gpu_type_for_partition(partition)
    return t.vram_gb if t else 0


SCENARIOS = [
    Scenario(
        "type_full",
        dict(gpus=1, vram_gb=48, time="1h"),
        "-p gpu-a6000,gpu-a40,gpu-a100-80 --gres=gpu:1 -t 1:00:00",
        "-p gpu-a6000 --gres=gpu:a6000:1 -t 1:00:00",
        lambda got: vram(got.partition) >= 48,
        setup=lambda c: block(c, "gpu-a6000", "a6000", 8, 2, BLOCK_S),
    ),
    Scenario(
        "vram_floor",
        dict(gpus=1, vram_gb=40, time="1h"),
        "-p gpu-mig,interactive-rtx3090,gpu-a6000,gpu-a40,gpu-a100-80 --gres=gpu:1 -t 1:00:00",
        "-p gpu-a100-80 --gres=gpu:a100:1 --constraint=a100_80gb -t 1:00:00",
        lambda got: vram(got.partition) >= 40,
    ),
    Scenario(
        "cheapest",
        dict(gpus=2, vram_gb=48, time="1h"),
        "-p gpu-a100-80,gpu-a40,gpu-a6000 --gres=gpu:2 -t 1:00:00",
        "-p gpu-a100-80 --gres=gpu:a100:2 --constraint=a100_80gb -t 1:00:00",
        lambda got: vram(got.partition) >= 48,
    ),
    Scenario(
        "two_by_four",
        dict(gpus=8, gpu_type="a6000", time="1h"),
        "-p gpu-a6000 --gres=gpu:8 -t 1:00:00",
        "-p gpu-a6000 --gres=gpu:a6000:8 -t 1:00:00",
        lambda got: got.gpus == 8,
        setup=lambda c: half_of_each_a6000_node(c),
    ),
    Scenario(
        "maintenance_window",
        dict(gpus=1, vram_gb=24, time="8h"),
        "-p interactive-rtx3090,gpu-a6000,gpu-a40 --gres=gpu:1 -t 8:00:00 --time-min=1:00:00",
        "-p gpu-a6000 --gres=gpu:a6000:1 -t 8:00:00",
        lambda got: got.limit_min >= 10,
    ),
]


def half_of_each_a6000_node(c: Cluster) -> None:
    """4 of the 8 GPUs busy on both A6000 nodes: 8 GPUs fit only as 2x4."""
    for node in ("udc-a6k-1", "udc-a6k-2"):
        block(c, "gpu-a6000", "a6000", 4, 1, 600, node=node)


def block(
    c: Cluster, partition: str, gres: str, count: int, jobs: int, secs: int, node: str = ""
) -> None:
    where = f"-w {node} " if node else ""
    for _ in range(jobs):
        c.run(
            f"sbatch -p {partition} {where}--gres=gpu:{gres}:{count} -t 15 -J bench-blocker "
            f"-o /dev/null --wrap 'sleep {secs}'"
        )
    while admin("squeue", "-h", "-n", "bench-blocker", "-t", "PD", "-o", "%i").strip():
        time.sleep(0.2)


@contextmanager
def maintenance(minutes: int) -> Iterator[None]:
    name = f"bench-{secrets.token_hex(2)}"
    admin("scontrol", "create", "reservation", f"ReservationName={name}",
          f"StartTime=now+{minutes}minutes", "Duration=60", f"Nodes={GPU_NODES}",
          "Users=root", "Flags=maint,ignore_jobs")  # fmt: skip
    try:
        yield
    finally:
        admin("scontrol", "delete", f"ReservationName={name}")


def clear() -> None:
    admin("scancel", "-n", "bench-blocker")
    while admin("squeue", "-h", "-n", "bench-blocker", "-o", "%i").strip():
        time.sleep(0.5)


def sbatch(c: Cluster, options: str) -> Landed:
    """One sbatch, timed to the moment its script runs, as the fan-out is.

    The expert's best case: one SSH command submits and then waits on the login node for
    the job's own marker file (0.05 s steps), so no laptop-side polling is counted.
    """
    marker = f"$HOME/.rv-bench-{secrets.token_hex(6)}"
    t0, wall0 = time.monotonic(), time.time()
    out = c.run(
        f"j=$(sbatch --parsable -J bench-one -o /dev/null {options} "
        f"--wrap 'touch {marker}; exec sleep 600') || exit 1; echo $j $(date +%s.%N); "
        f"i=0; while [ ! -e {marker} ] && [ $i -lt {CAP_S * 20} ]; do sleep 0.05; i=$((i+1)); "
        "done; "
        f"[ -e {marker} ] && echo started; rm -f {marker}; true",
        timeout=CAP_S + 30,
    )
    took = time.monotonic() - t0
    job, queued_at, *rest = out.split()
    job = job.split(";")[0]
    queued = float(queued_at) - wall0  # the login node is this machine: one clock
    try:
        if "started" not in rest:
            return Landed(None, queued)
        fields = admin("squeue", "-h", "-j", job, "-o", "%P|%b|%D|%l").strip()
        partition, gres, nodes, limit = (fields.split("|") + [""] * 4)[:4]
        per = int(gres.rsplit(":", 1)[-1]) if gres[-1:].isdigit() else 0
        return Landed(took, queued, partition, per * int(nodes or 1), _minutes(limit))
    finally:
        c.run(f"scancel {job}")


def fan_out(c: Cluster, fields: dict[str, object]) -> Landed:
    req = Request.build(**fields, name=f"bench-{secrets.token_hex(2)}")
    allocator = Allocator(c)
    queued: list[float] = []
    submit = allocator._submit

    async def timed_submit(*args: Any, **kw: Any) -> Any:
        out = await submit(*args, **kw)
        queued.append(time.monotonic() - t0)
        return out

    allocator._submit = timed_submit  # type: ignore[method-assign]
    t0 = time.monotonic()
    try:
        alloc = run_sync(allocator.allocate(req, timeout_s=CAP_S))  # as users get it
    except RvError:
        return Landed(None, queued[0] if queued else None)
    took = time.monotonic() - t0
    s = alloc.strategy
    limit = (alloc.time_limit_s or 0) // 60
    landed = Landed(took, queued[0], s.shape.gpu.partition, s.shape.gpus, limit)
    alloc.cancel()
    return landed


def _minutes(limit: str) -> int:
    parts = [int(x) for x in limit.replace("-", ":").split(":") if x.isdigit()]
    while len(parts) < 3:
        parts.insert(0, 0)
    if len(parts) == 4:
        return parts[0] * 1440 + parts[1] * 60 + parts[2]
    return parts[0] * 60 + parts[1]


def run(c: Cluster, sc: Scenario) -> tuple[Landed, Landed, Landed]:
    """Each contender ROUNDS times, the order rotated each round; the median of each."""
    order = ["fanout", "multi", "single"]
    got: dict[str, list[Landed]] = {k: [] for k in order}
    for r in range(ROUNDS):
        for contender in order[r % 3 :] + order[: r % 3]:
            clear()
            sc.setup(c)
            time.sleep(SETTLE_S + random.uniform(0, TICK_S))
            if sc.name == "maintenance_window":
                with maintenance(30):
                    got[contender].append(_one(c, sc, contender))
            else:
                got[contender].append(_one(c, sc, contender))
    clear()
    fan, multi, single = (_median(got[k]) for k in order)
    ROUND_TIMES[sc.name] = {k: [_s(x) for x in got[k]] for k in order}
    queued = {k: sorted(x.queued_s for x in got[k] if x.queued_s is not None) for k in order}
    QUEUED[sc.name] = {k: v[len(v) // 2] for k, v in queued.items() if v}
    return fan, multi, single


def _median(runs: list[Landed]) -> Landed:
    """The median run; a run that never started counts as the slowest."""
    ranked = sorted(runs, key=lambda x: float("inf") if x.seconds is None else x.seconds)
    return ranked[len(ranked) // 2]


def _one(c: Cluster, sc: Scenario, contender: str) -> Landed:
    if contender == "fanout":
        return fan_out(c, sc.request)
    return sbatch(c, sc.multi if contender == "multi" else sc.single)


def _s(landed: Landed) -> str:
    return f"{landed.seconds:.1f}" if landed.seconds is not None else f">{CAP_S}"


def main() -> int:
    c = rv_jupyter.connect()
    c.state()  # the SSH handshake is common to all contenders
    ratios = []
    names = set(sys.argv[1:])  # a few scenarios by name, or all
    for sc in (s for s in SCENARIOS if not names or s.name in names):
        fan, multi, single = run(c, sc)
        fits = multi.seconds is not None and sc.fits(multi)
        print(
            f"scenario={sc.name} fanout_s={_s(fan)} multi_s={_s(multi)} single_s={_s(single)} "
            f"fanout_su_h={fan.su_h:.1f} multi_su_h={multi.su_h:.1f} "
            f"multi_fits={'yes' if fits else 'no'}"
            f"  # fan-out on {fan.partition or '-'} {fan.gpus} GPU {fan.limit_min} min; "
            f"multi on {multi.partition or '-'} {multi.gpus} GPU {multi.limit_min} min"
        )
        rounds, queued = ROUND_TIMES[sc.name], QUEUED[sc.name]
        print(
            f"  # rounds: fanout {' '.join(rounds['fanout'])}, multi {' '.join(rounds['multi'])}"
            f"; jobs queued after: fanout {queued.get('fanout', 0):.2f} s, "
            f"multi {queued.get('multi', 0):.2f} s"
        )
        if fits and fan.seconds is not None and multi.seconds:
            ratios.append(fan.seconds / multi.seconds)
    print(f"worst_fanout_vs_multi={max(ratios):.2f}" if ratios else "worst_fanout_vs_multi=n/a")
    return 0


if __name__ == "__main__":
    sys.exit(main())
