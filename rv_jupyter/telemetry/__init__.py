"""GPU telemetry of a job's nodes: nvidia-smi's outputs as typed rows (pure parsers)."""

from rv_jupyter.telemetry.nvidia_smi import (
    GpuListEntry,
    GpuRow,
    Unavailable,
    parse_compute_apps,
    parse_gpu_list,
    parse_query_gpu,
    parse_value,
)

__all__ = [
    "GpuListEntry", "GpuRow", "Unavailable", "parse_compute_apps", "parse_gpu_list",
    "parse_query_gpu", "parse_value",
]  # fmt: skip
