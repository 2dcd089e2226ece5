"""Kernelspecs that run on Rivanna: what they are called and what they ask for.

A kernelspec is a directory with kernel.json; Jupyter lists it in its kernel picker.
Ours name the provisioner (entry point "rv-slurm") and carry its options, so picking
"Rivanna: 1x A100 80GB, 4 h" allocates exactly that when the notebook starts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from rv_jupyter.allocator.request import Request, compatible_types
from rv_jupyter.cluster import GPU_TYPES
from rv_jupyter.errors import RequestError

PROVISIONER = "rv-slurm"
PREFIX = "rv-"


def display_name(*, gpus: int, gpu_type: str, time_s: int, job_id: str | None = None) -> str:
    """What the kernel picker shows: 'Rivanna: 1x A100 80GB, 4 h'."""
    if job_id:
        return f"Rivanna: job {job_id}"
    label = GPU_TYPES[gpu_type].label if gpu_type in GPU_TYPES else "any GPU"
    hours = time_s / 3600
    span = f"{hours:g} h" if hours >= 1 else f"{time_s // 60} min"
    return f"Rivanna: {gpus}x {label}, {span}"


def kernel_json(
    *, gpus: int = 1, gpu_type: str = "any", time: str = "2:59:00", mem: str | None = None,
    job_id: str | None = None, rv_config: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The kernel.json of a Rivanna kernel; the request is checked as %rv_up would."""
    if job_id is not None and not re.fullmatch(r"[0-9]+(_[0-9]+)?", job_id):
        raise RequestError(f"{job_id!r} is not a job id.", hint="%rv_ps lists your jobs.")
    req = Request.build(gpus=gpus, gpu_type=gpu_type, time=time, mem=mem)
    if job_id is None:
        compatible_types(req)  # a kernel that could never start is refused now, not later
    config: dict[str, Any] = {"gpus": gpus, "gpu_type": gpu_type, "time": time}
    if mem:
        config["mem"] = mem
    if job_id:
        config = {"job_id": job_id}
    if rv_config:
        config["rv_config"] = rv_config
    return {
        "argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": display_name(
            gpus=gpus, gpu_type=gpu_type, time_s=req.time_s, job_id=job_id
        ),
        "language": "python",
        # The stop button sends interrupt_request on the control channel: no signal has
        # to cross SSH and srun, and the kernel and its job keep running.
        "interrupt_mode": "message",
        "metadata": {
            "kernel_provisioner": {"provisioner_name": PROVISIONER, "config": config},
            "debugger": False,
        },
    }


def spec_name(spec: dict[str, Any]) -> str:
    """A directory name from what the spec asks for: rv-1x-a100_80-4h, rv-job-1234."""
    cfg = spec["metadata"]["kernel_provisioner"]["config"]
    if "job_id" in cfg:
        return f"{PREFIX}job-{cfg['job_id']}"
    raw = f"{PREFIX}{cfg['gpus']}x-{cfg['gpu_type']}-{cfg['time']}"
    return re.sub(r"[^a-zA-Z0-9._-]+", "-", raw).lower()


def install(spec: dict[str, Any], kernels_dir: Path, *, replace: bool = False) -> Path:
    """Write the kernelspec under kernels_dir (e.g. ~/.local/share/jupyter/kernels)."""
    target = kernels_dir / spec_name(spec)
    existing = target / "kernel.json"
    if existing.exists() and not replace:
        if json.loads(existing.read_text()) == spec:
            return target
        raise RequestError(
            f"A different kernelspec {target.name} is already installed.",
            hint="Pass replace=True (--replace) to overwrite it, or remove it first.",
        )
    target.mkdir(parents=True, exist_ok=True)
    existing.write_text(json.dumps(spec, indent=1) + "\n")
    return target


def installed(kernels_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """Rivanna kernelspecs under kernels_dir."""
    found = []
    for path in sorted(kernels_dir.glob(f"{PREFIX}*/kernel.json")):
        spec = json.loads(path.read_text())
        if (
            spec.get("metadata", {}).get("kernel_provisioner", {}).get("provisioner_name")
            == PROVISIONER
        ):
            found.append((path.parent.name, spec))
    return found


def user_kernels_dir() -> Path:
    """Where Jupyter looks for this user's kernelspecs (~/.local/share/jupyter/kernels)."""
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "kernels"


def install_from_config(
    config: str | None = None, *, gpus: int = 1, gpu_type: str | None = None,
    time: str | None = None, mem: str | None = None, job_id: str | None = None,
    replace: bool = False, kernels_dir: Path | None = None,
) -> tuple[Path, dict[str, Any]]:  # fmt: skip
    """Install a Rivanna kernelspec, the config's defaults filling what is not given."""
    from rv_jupyter import config as rv_config

    cfg = rv_config.load(config)
    spec = kernel_json(
        gpus=gpus, gpu_type=gpu_type or cfg.defaults.gpu_type, time=time or cfg.defaults.time,
        mem=mem, job_id=job_id, rv_config=str(rv_config.config_path(config).resolve()),
    )  # fmt: skip
    return install(spec, kernels_dir or user_kernels_dir(), replace=replace), spec


def remove(name: str, kernels_dir: Path | None = None) -> None:
    """Remove one of the Rivanna kernelspecs (never any other kernelspec)."""
    import shutil

    kernels = kernels_dir or user_kernels_dir()
    names = [n for n, _ in installed(kernels)]
    if name not in names:
        raise RequestError(
            f"No Rivanna kernelspec named {name!r}.",
            hint=f"Installed: {', '.join(names) or 'none'}.",
        )
    shutil.rmtree(kernels / name)
