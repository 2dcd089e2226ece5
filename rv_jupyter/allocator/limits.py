"""Per-user limits counted against what the user already holds. Pure.

`sbatch --test-only` ignores QOS per-user caps (MaxTRESPerUser): a probe says "starts
now" for a fifth H200 while the user runs four, and the real job then pends with
QOSMaxGRESPerUser until someone gives up. So the user's own jobs, read in the same round
trip as the probes, are checked against Rivanna's caps before anything is planned.
Slurm counts running jobs' GPUs against these caps, and every queued or running job
against the submission cap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rv_jupyter.allocator.request import Request, alternative
from rv_jupyter.errors import RequestError
from rv_jupyter.facts import GpuType
from rv_jupyter.facts.rivanna import MAX_GPUS_PER_USER, MAX_SUBMISSIONS, gpu_type_of
from rv_jupyter.slurm import Job, JobState


@dataclass(frozen=True)
class Held:
    """GPUs of one type the user's running jobs hold, and which jobs."""

    gpus: int
    jobs: tuple[str, ...]


def held_gpus(jobs: Iterable[Job]) -> dict[str, Held]:
    """Running GPUs per product GPU type (`h200`, `mig`...), from the user's own jobs."""
    out: dict[str, Held] = {}
    for job in jobs:
        if job.state is not JobState.running or not job.gpus:
            continue
        t = gpu_type_of(job.partition or "", job.gpu_type)
        if t is None:
            continue
        old = out.get(t.key, Held(0, ()))
        out[t.key] = Held(old.gpus + job.gpus, (*old.jobs, job.job_id))
    return out


def within_limits(
    req: Request, types: list[GpuType], jobs: list[Job], *, new_jobs: int = 1
) -> tuple[list[GpuType], dict[str, str]]:
    """The types whose per-user caps leave room for the request, and why each other does not.

    Raises RequestError, submitting nothing, when no type has room, when the request would
    pass the cap on all GPUs together, or when `new_jobs` more jobs would pass the
    submission cap. The message names the cap, what the user holds and which jobs.
    """
    held = held_gpus(jobs)
    total = sum(h.gpus for h in held.values())
    if total + req.gpus > MAX_GPUS_PER_USER:
        ids = [j for h in held.values() for j in h.jobs]
        raise RequestError(
            f"Rivanna allows {MAX_GPUS_PER_USER} GPUs per user at once; your running jobs "
            f"hold {total} ({_jobs(ids)}) and you asked {req.gpus} more.",
            hint=f"Wait for one to end, or free GPUs with `%rv_stop {ids[0]}`"
            + (
                f", or ask for --gpu {MAX_GPUS_PER_USER - total}."
                if total < MAX_GPUS_PER_USER
                else "."
            ),
        )
    queued = sum(1 for j in jobs if j.state in (JobState.pending, JobState.running))
    if queued + new_jobs > MAX_SUBMISSIONS:
        raise RequestError(
            f"Rivanna allows {MAX_SUBMISSIONS:,} queued and running jobs per user; you have "
            f"{queued:,}, and this request submits {new_jobs}.",
            hint="Cancel jobs you no longer need (%rv_stop), or wait for some to end.",
        )
    ok: list[GpuType] = []
    skipped: dict[str, str] = {}
    for t in types:
        h = held.get(t.key)
        if h is None or h.gpus + req.gpus <= t.max_per_user:
            ok.append(t)
            continue
        skipped[t.key] = (
            f"at most {t.max_per_user} {t.label} per user; your running jobs hold {h.gpus} "
            f"({_jobs(h.jobs)})"
        )
    if not ok:
        t = types[0]
        h = held[t.key]
        alt = alternative(t, req) if req.gpu_type != "any" else None
        other = f", or `--type {alt.key}`" if alt else ""
        raise RequestError(
            f"{t.label} ({t.partition}): {skipped[t.key]}, and you asked {req.gpus} more."
            if len(types) == 1
            else "Every GPU type that fits is at your per-user limit: "
            + "; ".join(f"{k}: {v}" for k, v in skipped.items())
            + ".",
            hint=f"Wait for job {h.jobs[0]} to end, free it with `%rv_stop {h.jobs[0]}`{other}"
            + (f", or ask for --gpu {t.max_per_user - h.gpus}" if h.gpus < t.max_per_user else "")
            + ".",
        )
    return ok, skipped


def _jobs(ids: Iterable[str]) -> str:
    ids = list(ids)
    shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    return ("job " if len(ids) == 1 else "jobs ") + shown
