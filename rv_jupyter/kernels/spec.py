"""Kernelspecs that run on Rivanna: what they are called and what they ask for.

A kernelspec is a directory with kernel.json; Jupyter lists it in its kernel picker.
Ours name the provisioner (entry point "rv-slurm") and carry its options, so picking
"Rivanna GPU: 1x A100 80GB, 4 h (~2,036 SU)" allocates exactly that when the notebook
starts. The name says where it runs and what it may cost, because starting one bills the
user's allocation; a GPU-chip logo (logo.py) sets it apart from the local kernels.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

from rv_jupyter.allocator.request import Request, compatible_types
from rv_jupyter.errors import RequestError
from rv_jupyter.facts import GPU_TYPES
from rv_jupyter.kernels import logo

PROVISIONER = "rv-slurm"
PREFIX = "rv-"


def display_name(*, gpus: int, gpu_type: str, time_s: int, job_id: str | None = None) -> str:
    """What the kernel picker shows: 'Rivanna GPU: 1x A100 80GB, 4 h (~2,036 SU)'."""
    if job_id:
        return f"Rivanna GPU: in your job {job_id}"
    label = GPU_TYPES[gpu_type].label if gpu_type in GPU_TYPES else "any GPU"
    h, m = divmod(time_s // 60, 60)
    span = " ".join(([f"{h} h"] if h else []) + ([f"{m} min"] if m or not h else []))
    return f"Rivanna GPU: {gpus}x {label}, {span} ({_cost(gpus, gpu_type, time_s)})"


def _cost(gpus: int, gpu_type: str, time_s: int) -> str:
    # The whole walltime, as Rivanna bills a job that runs to its end; "any" may land on
    # any type that can serve the request, so its worst case is what to expect.
    req = Request(gpus=gpus, gpu_type=gpu_type, time_s=time_s)
    try:
        types = compatible_types(req)[0]
    except RequestError:
        types = [GPU_TYPES[gpu_type]] if gpu_type in GPU_TYPES else []
    sus = [t.su_per_gpu_hour * gpus * time_s / 3600 for t in types] or [0.0]
    most = max(sus)
    if most == 0:
        return "no SU charge"
    if gpu_type == "any":
        return f"up to ~{most:,.0f} SU"
    return f"~{most:,.0f} SU"


def job_name(notebook: str | None, *, gpus: int, gpu_type: str) -> str:
    """The Slurm job name of a kernel: after its notebook ('rv-k-My-Analysis'), else its
    request ('rv-k-1x-a40'); plain ASCII words only, as an #SBATCH line cannot quote."""
    stem = re.split(r"[\\/]", notebook or "")[-1]
    stem = stem.rsplit(".", 1)[0] if "." in stem.lstrip(".") else stem
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    words = "-".join(re.findall(r"[A-Za-z0-9]+", ascii_stem))[:40].strip("-")
    return f"rv-k-{words}" if words else f"rv-k-{gpus}x-{gpu_type}"


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
            logo.write(target)  # a spec installed by an older version gets its logo
            return target
        raise RequestError(
            f"A different kernelspec {target.name} is already installed.",
            hint="Pass replace=True (--replace) to overwrite it, or remove it first.",
        )
    target.mkdir(parents=True, exist_ok=True)
    existing.write_text(json.dumps(spec, indent=1) + "\n")
    logo.write(target)
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

    filled = rv_config.load(config).defaults.fill(gpu_type=gpu_type, time=time)
    spec = kernel_json(
        gpus=gpus, gpu_type=str(filled["gpu_type"]), time=str(filled["time"]), mem=mem,
        job_id=job_id, rv_config=str(rv_config.config_path(config).resolve()),
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
