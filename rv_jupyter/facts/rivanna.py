"""The one place that knows Rivanna: a change on the cluster is a one-line change here.

Numbers come from ../shared/rivanna.md (measured on the cluster by the `rv` CLI's
authors). Nothing here does I/O; live state (what is free now) comes from Slurm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LOGIN_HOST = "login.hpc.virginia.edu"
# UVA computing ids: 2-3 letters, a digit, 2-3 letters (e.g. abs6bd).
COMPUTING_ID = re.compile(r"^[a-z]{2,3}\d[a-z]{2,3}$")

# Walltimes at or under ~3 h are backfilled within minutes; the cliff moves with the
# queue, so the allocator probes it and only falls back to this.
BACKFILL_DEFAULT_WALLTIME = 2 * 3600 + 59 * 60

DAY = 24 * 3600
DEF_MEM_PER_CPU_MB = 4000
MAX_CPUS_PER_TASK = 32
CPUS_PER_GPU = 4


@dataclass(frozen=True)
class GpuType:
    """One GPU partition of Rivanna and what a job may ask of it."""

    key: str  # the name users type: --type a100_80
    partition: str
    gres: str  # the Slurm GRES type: gpu:<gres>
    vram_gb: int
    su_per_gpu_hour: float
    max_per_user: int
    max_per_job: int
    per_node: int
    max_walltime_s: int
    typical_wait: str
    total: int
    node_mem_gb: int | None = None
    features: tuple[str, ...] = ()
    interconnect: str = ""
    mig: bool = False
    interactive: bool = False

    @property
    def label(self) -> str:
        """A human name: "A100 80GB", "MIG 1g.10gb"."""
        return _LABELS.get(self.key, self.key.upper())


GPU_TYPES: dict[str, GpuType] = {
    t.key: t
    for t in (
        GpuType("mig", "gpu-mig", "1g.10gb", 10, 0.0, 28, 1, 56, 3 * DAY, "instant", 56,
                mig=True),
        GpuType("rtx3090", "interactive-rtx3090", "rtx3090", 24, 113.23, 2, 2, 4, 12 * 3600,
                "instant", 16, interactive=True),
        GpuType("a6000", "gpu-a6000", "a6000", 48, 142.73, 32, 8, 8, 3 * DAY, "~1 min", 112,
                node_mem_gb=256),
        GpuType("a40", "gpu-a40", "a40", 48, 186.69, 32, 8, 8, 3 * DAY, "~5 min", 88),
        GpuType("a100_40", "gpu-a100-40", "a100", 40, 463.81, 32, 8, 8, 3 * DAY, "~10 min", 16),
        GpuType("a100_80", "gpu-a100-80", "a100", 80, 508.89, 32, 8, 8, 3 * DAY, "~15 min", 128,
                node_mem_gb=1000, features=("gpupod", "a100_80gb"),
                interconnect="InfiniBand, NVLink"),
        GpuType("v100", "gpu-v100", "v100", 32, 20.96, 32, 4, 4, 3 * DAY, "~60 min", 8),
        GpuType("h200", "gpu-h200", "h200", 141, 816.67, 4, 4, 8, 3 * DAY, "~10 min", 8,
                node_mem_gb=1500),
    )
}  # fmt: skip

_LABELS = {
    "mig": "MIG 1g.10gb",
    "rtx3090": "RTX 3090",
    "a6000": "A6000",
    "a40": "A40",
    "a100_40": "A100 40GB",
    "a100_80": "A100 80GB",
    "v100": "V100",
    "h200": "H200",
}

# Per-user caps across all GPU partitions.
MAX_GPUS_PER_USER = 32
MAX_SUBMISSIONS = 10_000


@dataclass(frozen=True)
class CpuPartition:
    """A CPU-only partition."""

    partition: str
    max_walltime_s: int
    min_nodes: int
    max_nodes: int
    cpus_per_node: int
    node_mem_gb: int


CPU_PARTITIONS: dict[str, CpuPartition] = {
    "standard": CpuPartition("standard", 7 * DAY, 1, 1, 40, 768),
    "parallel": CpuPartition("parallel", 3 * DAY, 2, 64, 96, 768),
}


def gpu_type_for_partition(partition: str) -> GpuType | None:
    """The GPU type a partition serves, or None for CPU and unknown partitions."""
    for t in GPU_TYPES.values():
        if t.partition == partition:
            return t
    return None


def gpu_type_of(partition: str, gres_type: str | None) -> GpuType | None:
    """Name the product's GPU type for a partition and Slurm GRES type.

    The partition decides (gpu-a100-40 and gpu-a100-80 share GRES `a100`); a GRES type
    alone is used for nodes seen outside the known partitions.
    """
    by_partition = gpu_type_for_partition(partition)
    if by_partition is not None:
        return by_partition
    matches = [t for t in GPU_TYPES.values() if t.gres == gres_type]
    return matches[0] if len(matches) == 1 else None


@dataclass(frozen=True)
class RemotePaths:
    """The product's layout on the cluster for one user (see rivanna.md "Paths")."""

    user: str
    scratch_root: str = "/scratch"

    @property
    def scratch(self) -> str:
        """The user's scratch directory."""
        return f"{self.scratch_root}/{self.user}"

    @property
    def state(self) -> str:
        """rv's state directory on scratch."""
        return f"{self.scratch}/.rv"

    @property
    def logs(self) -> str:
        """Where job logs go: <name>-<jobid>.{out,err}."""
        return f"{self.state}/logs"

    @property
    def env(self) -> str:
        """Per-job env files, sourced then deleted by the job."""
        return f"{self.state}/env"

    @property
    def checkpoints(self) -> str:
        """Per-job checkpoint directories."""
        return f"{self.state}/checkpoints"

    @property
    def caches(self) -> dict[str, str]:
        """Cache variables pointed at scratch: home is small, and these grow large."""
        base = f"{self.scratch}/.cache"
        return {
            "UV_CACHE_DIR": f"{base}/uv",
            "PIP_CACHE_DIR": f"{base}/pip",
            "HF_HOME": f"{base}/huggingface",
            "VLLM_CACHE_DIR": f"{base}/vllm",
        }

    @property
    def kernels(self) -> str:
        """Remote kernels' files (0700): ports, exit status, the key for a moment."""
        return f"{self.state}/kernels"

    @property
    def workspaces(self) -> str:
        """Synced local projects."""
        return f"{self.scratch}/rv-workspaces"
