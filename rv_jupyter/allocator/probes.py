"""`sbatch --test-only` probes for every shape and walltime: commands and results. Pure."""

from __future__ import annotations

import shlex
from datetime import datetime

from rv_jupyter.allocator.request import Request
from rv_jupyter.allocator.strategies import IMMEDIATE_S, Probe, Shape, probe_walltimes
from rv_jupyter.allocator.windows import read_search, search_script
from rv_jupyter.errors import ParseError, SubmitRefused
from rv_jupyter.jobs import cpus_per_task, memory_for
from rv_jupyter.slurm import parse_test_only

# The cluster's own clock, read in the same round trip as the probes, is "now": the
# laptop's clock and time zone never enter the comparison.
CLOCK_COMMAND = "date +%Y-%m-%dT%H:%M:%S"
# The backfill scheduler's time slot (bf_resolution, seconds; Slurm's default is 60),
# which windows must leave as margin. Nothing printed means the default.
RESOLUTION_COMMAND = "scontrol show config | sed -n 's/.*bf_resolution=\\([0-9][0-9]*\\).*/\\1/p'"


def resources(shape: Shape, req: Request) -> list[str]:
    """The sbatch options that say what one job of `shape` needs."""
    t = shape.gpu
    opts = [
        f"--partition={t.partition}",
        f"--nodes={shape.nodes}",
        "--ntasks-per-node=1",
        f"--gres=gpu:{t.gres}:{shape.per_node}",
        f"--cpus-per-task={cpus_per_task(t, shape.per_node)}",
    ]
    mem = memory_for(t, shape.per_node, req.mem_gb)
    if mem:
        opts.append(f"--mem={mem}G")
    if t.features and t.gres == "a100":
        # gpu-a100-80 nodes say so by feature; the GRES type alone is shared with A100 40GB.
        opts.append(f"--constraint={t.features[-1]}")
    if req.account:
        opts.append(f"--account={shlex.quote(req.account)}")
    return opts


def probe_commands(req: Request, shapes: list[Shape]) -> list[tuple[Shape, str]]:
    """One command per shape: its fixed probes and its window search (windows.py); they
    run in parallel in one batch."""
    out = []
    for shape in shapes:
        fixed = probe_walltimes(req, shape.gpu)
        cap = min(req.time_s, shape.gpu.max_walltime_s)
        sbatch = " ".join(["sbatch", "--test-only", *resources(shape, req)])
        script = search_script(
            sbatch, [-(-w // 60) for w in fixed], -(-cap // 60), immediate_s=IMMEDIATE_S
        )
        out.append((shape, script))
    return out


def read_probes(shape: Shape, stdout: str) -> list[Probe]:
    """Every probe one shape's command ran (fixed walltimes and the window search)."""
    return [read_probe(shape, w, text) for w, text in read_search(stdout)]


def read_probe(shape: Shape, time_s: int, stderr: str) -> Probe:
    """A Probe from one command's stderr: a start estimate, or why Slurm refused."""
    try:
        result = parse_test_only(stderr)
    except SubmitRefused as exc:
        return Probe(shape, time_s, None, exc.message.removeprefix("Slurm refused the job: "))
    except ParseError as exc:
        return Probe(shape, time_s, None, exc.message)
    return Probe(shape, time_s, result.start)


def read_resolution(stdout: str) -> int:
    """bf_resolution from RESOLUTION_COMMAND, 60 (Slurm's default) if unset or unread."""
    text = stdout.strip().splitlines()[0] if stdout.strip() else ""
    return int(text) if text.isdigit() and 0 < int(text) <= 3600 else 60


def read_clock(stdout: str) -> datetime:
    """The cluster's clock from CLOCK_COMMAND."""
    try:
        return datetime.fromisoformat(stdout.strip())
    except ValueError:
        raise ParseError("Unreadable date", command=CLOCK_COMMAND, line=stdout) from None
