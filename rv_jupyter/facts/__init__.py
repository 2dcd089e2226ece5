"""Rivanna facts as data: partitions, GPU types, limits, SU rates, paths (no I/O)."""

from rv_jupyter.facts.rivanna import (
    BACKFILL_DEFAULT_WALLTIME,
    COMPUTING_ID,
    CPU_PARTITIONS,
    GPU_TYPES,
    LOGIN_HOST,
    CpuPartition,
    GpuType,
    RemotePaths,
    gpu_type_for_partition,
    gpu_type_of,
)

__all__ = [
    "BACKFILL_DEFAULT_WALLTIME",
    "COMPUTING_ID",
    "CPU_PARTITIONS",
    "GPU_TYPES",
    "LOGIN_HOST",
    "CpuPartition",
    "GpuType",
    "RemotePaths",
    "gpu_type_for_partition",
    "gpu_type_of",
]
