"""CPUs and memory a GPU job asks for, by the rules the `rv` CLI measured on Rivanna."""

from __future__ import annotations

from rv_jupyter.facts import GpuType
from rv_jupyter.facts.rivanna import CPUS_PER_GPU, MAX_CPUS_PER_TASK

# MIG jobs: the QOS allows one CPU and at most 16G.
MIG_CPUS = 1
MIG_MEM_GB = 16


def cpus_per_task(gpu: GpuType, gpus_per_node: int) -> int:
    """CPUs per task: 4 per GPU on the node, at most 32; MIG gets 1."""
    if gpu.mig:
        return MIG_CPUS
    return max(1, min(gpus_per_node * CPUS_PER_GPU, MAX_CPUS_PER_TASK))


def memory_for(gpu: GpuType, gpus_per_node: int, asked_gb: int | None = None) -> int | None:
    """Memory per node in GB, or None to leave Slurm's default (DefMemPerCPU).

    Asked memory wins (MIG capped at 16G); otherwise node memory x share of its GPUs
    x 1.5, capped at 90% of the node.
    """
    if gpu.mig:
        return min(asked_gb, MIG_MEM_GB) if asked_gb else MIG_MEM_GB
    if asked_gb:
        return asked_gb
    if gpu.node_mem_gb is None:
        return None
    share = gpu.node_mem_gb * gpus_per_node / gpu.per_node * 1.5
    return int(min(share, gpu.node_mem_gb * 0.9))
