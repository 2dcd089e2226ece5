"""GPU telemetry of a 2-node job: the sampler against one exec per sample, in one run.

On the mini-Rivanna (RV_CONFIG set; run as root on the same machine, which reads the
nodes' processes from /proc). For a 2-node job sampled every second for WINDOW_S:
- the sampler (telemetry/sampler.py): one long-lived job step per node, looping nvidia-smi;
- one exec per sample: what a loop of `srun --jobid ... nvidia-smi --query-gpu` over SSH
  would do, for the same GPUs at the same pace.
Prints `telemetry_channels_per_node=<n> exec_requests_per_min=<n> sampler_cpu_pct=<x>
latency_s=<x>` (targets: 1, 0 after the start, < 1 % of one CPU on a node, <= 2 s) and the
same figures for one exec per sample. `latency_s` is from a load change (rv-fake-load
started in the job) to the first sample showing it, the worst of three.
The CPU figure is what the mini-Rivanna's nvidia-smi stand-in (a Python loop) costs: a
real nvidia-smi -l costs less, and the laptop side costs what its reads cost (shown too).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import rv_jupyter
from rv_jupyter.cluster.background import run_sync
from rv_jupyter.cluster.handle import Cluster
from rv_jupyter.slurm import expand_hostlist, srun
from rv_jupyter.telemetry.sampler import GPU_FIELDS, JobSampler

WINDOW_S = 60
INTERVAL_S = 1.0
TICKS = os.sysconf("SC_CLK_TCK")


def admin(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def a_two_node_job(c: Cluster) -> tuple[str, list[str]]:
    job = c.run(
        "sbatch --parsable -J bench-telemetry -p gpu-a6000 -N2 --gres=gpu:a6000:2 -t 10 "
        "-o /dev/null --wrap 'sleep 600'"
    ).strip()
    deadline = time.monotonic() + 60
    while True:
        out = admin("squeue", "-h", "-j", job, "-o", "%T %N").split()
        if out and out[0] == "RUNNING":
            return job, expand_hostlist(out[1])
        if time.monotonic() > deadline:
            raise SystemExit(f"job {job} did not start")
        time.sleep(0.5)


def cpu_seconds(pattern: str) -> float:
    """CPU time so far of the test user's processes whose command line matches."""
    pids = subprocess.run(["pgrep", "-u", "rvtest", "-f", pattern],
                          capture_output=True, text=True).stdout.split()  # fmt: skip
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    return total


def load(c: Cluster, job: str, node: str, util: int) -> None:
    c.run(srun.step(job, f"sh -c 'rv-fake-load --util {util} --seconds 30 --gpu 0 "
                         ">/dev/null 2>&1 &'", node=node))  # fmt: skip


def sampler_figures(c: Cluster, job: str, nodes: list[str]) -> dict[str, float]:
    sampler = JobSampler(c, job, interval_s=INTERVAL_S)
    run_sync(sampler.awatch())
    try:
        while not all(sampler.samples(n) for n in nodes):
            time.sleep(0.1)
        opened = c.connection.channels_opened
        node_cpu0, me0, t0 = cpu_seconds("nvidia-smi --query"), _my_cpu(), time.monotonic()
        time.sleep(WINDOW_S)
        span = time.monotonic() - t0
        node_cpu = (cpu_seconds("nvidia-smi --query") - node_cpu0) / span / len(nodes) * 100
        me = (_my_cpu() - me0) / span * 100
        execs = (c.connection.channels_opened - opened) * 60 / span
        latency = max(
            _latency(c, job, nodes[-1], lambda: sampler.latest(), u) for u in (90, 50, 70)
        )
        return {"channels_per_node": sampler.channels_opened / len(nodes), "execs": execs,
                "node_cpu": node_cpu, "laptop_cpu": me, "latency": latency}  # fmt: skip
    finally:
        run_sync(sampler.aunwatch())


def exec_per_sample_figures(c: Cluster, job: str, nodes: list[str]) -> dict[str, float]:
    """The same GPUs read by one `srun ... nvidia-smi` exec per node per second."""
    query = f"nvidia-smi --query-gpu={','.join(GPU_FIELDS)} --format=csv,noheader,nounits"
    latest: dict[str, str] = {}
    opened, me0, t0 = c.connection.channels_opened, _my_cpu(), time.monotonic()
    span_s = WINDOW_S / 4  # a quarter of the window: the rate is what it is
    while time.monotonic() - t0 < span_s:
        tick = time.monotonic()
        for node in nodes:
            latest[node] = c.run(srun.step(job, query, node=node))
        time.sleep(max(0.0, INTERVAL_S - (time.monotonic() - tick)))
    span = time.monotonic() - t0
    execs = (c.connection.channels_opened - opened) * 60 / span
    me = (_my_cpu() - me0) / span * 100

    def read() -> object:
        import pandas as pd

        text = c.run(srun.step(job, query, node=nodes[-1]))
        utils = [float(line.split(",")[4]) for line in text.splitlines() if line.strip()]
        return pd.DataFrame({"node": [nodes[-1]] * len(utils), "gpu": range(len(utils)),
                             "util_pct": utils})  # fmt: skip

    latency = max(_latency(c, job, nodes[-1], read, u) for u in (90, 50, 70))
    return {"channels_per_node": execs / 60 * WINDOW_S / len(nodes), "execs": execs,
            "node_cpu": float("nan"), "laptop_cpu": me, "latency": latency}  # fmt: skip


def _latency(c: Cluster, job: str, node: str, latest: object, util: int) -> float:
    t0 = time.monotonic()
    load(c, job, node, util)
    while time.monotonic() - t0 < 30:
        frame = latest()  # type: ignore[operator]
        rows = frame[(frame["node"] == node) & (frame["gpu"] == 0)]
        if len(rows) and rows.iloc[0]["util_pct"] == util:
            return time.monotonic() - t0
        time.sleep(0.05)
    return float("inf")


def _my_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> int:
    c = rv_jupyter.connect()
    c.state()
    job, nodes = a_two_node_job(c)
    try:
        s = sampler_figures(c, job, nodes)
        e = exec_per_sample_figures(c, job, nodes)
    finally:
        c.run(f"scancel {job}")
    print(
        f"telemetry_channels_per_node={s['channels_per_node']:.0f} "
        f"exec_requests_per_min={s['execs']:.0f} sampler_cpu_pct={s['node_cpu']:.2f} "
        f"latency_s={s['latency']:.2f}  # laptop side {s['laptop_cpu']:.1f} % of one CPU"
    )
    print(
        f"one_exec_per_sample: channels_per_node={e['channels_per_node']:.0f} (per {WINDOW_S} s) "
        f"exec_requests_per_min={e['execs']:.0f} latency_s={e['latency']:.2f}  "
        f"# laptop side {e['laptop_cpu']:.1f} % of one CPU"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
