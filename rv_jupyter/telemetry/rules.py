"""The watchdog's rules: GPU samples and job facts in, alerts out. Pure, stdlib only.

Stdlib only because the same file runs in two places: imported by the product on the
laptop (alerts in the notebook and the panel while Jupyter runs), and uploaded as the
source of the watcher that runs inside the job next to the payload (alerts while the
laptop sleeps). One copy of the rules means both places say the same thing.

A rule fires once when its condition starts and again only after it has cleared, so a
GPU idle for an hour is one alert, not 3,600.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Slurm's final states that deserve a word of explanation, and what to do.
END_HINTS = {
    "OUT_OF_MEMORY": "the job used more memory than it asked for: ask for more with --mem",
    "TIMEOUT": "the walltime ran out: ask for more --time, or --checkpoint to run in segments",
    "NODE_FAIL": "the node failed: not your program's fault; run it again",
    "PREEMPTED": "a higher-priority job took the GPUs: run it again, or use checkpoints",
    "FAILED": "the program exited with an error: see the job's log",
    "CANCELLED": "the job was cancelled",
}


@dataclass(frozen=True)
class Limits:
    """When rules fire; the `[alerts]` section of the rv config overrides these."""

    idle_util_pct: float = 5.0
    idle_for_s: float = 600.0
    memory_full_pct: float = 95.0
    silent_for_s: float = 1800.0
    walltime_warn_s: float = 600.0


@dataclass(frozen=True)
class Gpu:
    """One GPU's reading at one moment (None where nvidia-smi had no value)."""

    node: str
    index: int
    util_pct: float | None
    mem_used_mib: float | None
    mem_total_mib: float | None


@dataclass(frozen=True)
class Alert:
    """Something a person should know about their job, in one sentence."""

    kind: str  # idle, memory_full, silent, walltime, ended
    job_id: str
    message: str
    severity: str = "warning"  # info, warning, error


@dataclass
class Watch:
    """The rules' memory of one job: since when each condition holds, what has fired."""

    job_id: str
    label: str = "GPU"  # "A100" in "4 A100s idle"
    su_per_gpu_hour: float = 0.0
    limits: Limits = field(default_factory=Limits)
    idle_since: float | None = None
    fired: set[str] = field(default_factory=set)

    def check(
        self,
        now: float,
        gpus: list[Gpu],
        *,
        log_mtime: float | None = None,
        time_left_s: float | None = None,
        final_state: str | None = None,
        exit_code: str | None = None,
    ) -> list[Alert]:
        """The alerts that start now (each condition once until it clears)."""
        out: list[Alert] = []
        lim = self.limits
        if final_state is not None:
            state = final_state.split()[0].upper()
            hint = END_HINTS.get(state)
            ok = state == "COMPLETED"
            msg = f"Job {self.job_id} ended: {final_state}" + (
                f" (exit {exit_code})" if exit_code and exit_code != "0:0" else ""
            )
            out += self._once("ended", True, msg + (f"; {hint}." if hint else "."),
                              "info" if ok else "error")  # fmt: skip
            return out
        measured = [g for g in gpus if g.util_pct is not None]
        idle = bool(measured) and all((g.util_pct or 0) < lim.idle_util_pct for g in measured)
        if idle and self.idle_since is None:
            self.idle_since = now
        if not idle:
            self.idle_since = None
        idle_for = now - self.idle_since if self.idle_since is not None else 0.0
        n = len(measured)
        cost = self.su_per_gpu_hour * n
        out += self._once(
            "idle",
            idle and idle_for >= lim.idle_for_s,
            f"{n} {self.label}{'s' if n != 1 else ''} of job {self.job_id} idle for "
            f"{int(idle_for // 60)} min" + (f", costing {cost:,.0f} SU/h" if cost else "")
            + ": is the program waiting on something?",
        )  # fmt: skip
        full = [
            g for g in gpus
            if g.mem_used_mib is not None and g.mem_total_mib
            and _pct(g) > lim.memory_full_pct
        ]  # fmt: skip
        which = ", ".join(f"{g.node} GPU {g.index} {_pct(g):.0f} %" for g in full)
        out += self._once(
            "memory_full",
            bool(full),
            f"GPU memory nearly full in job {self.job_id}: {which}; the next allocation "
            "may fail (CUDA out of memory).",
        )
        if log_mtime is not None:
            silent_for = now - log_mtime
            out += self._once(
                "silent",
                silent_for >= lim.silent_for_s,
                f"Job {self.job_id} has written nothing to its log for "
                f"{int(silent_for // 60)} min: it may be stuck.",
            )
        if time_left_s is not None:
            out += self._once(
                "walltime",
                0 <= time_left_s <= lim.walltime_warn_s,
                f"Job {self.job_id} reaches its walltime in {max(0, int(time_left_s // 60))} "
                "min: save your work.",
            )
        return out

    def _once(self, kind: str, holds: bool, message: str, severity: str = "warning") -> list[Alert]:
        if not holds:
            self.fired.discard(kind)
            return []
        if kind in self.fired:
            return []
        self.fired.add(kind)
        return [Alert(kind, self.job_id, message, severity)]


def _pct(g: Gpu) -> float:
    return 100 * (g.mem_used_mib or 0) / (g.mem_total_mib or 1)
