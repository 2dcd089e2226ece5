"""From a request and `sbatch --test-only` probes to ranked strategies. Pure.

A *shape* is a GPU type and a topology (1x8, 2x4). Each shape is probed at a few
walltimes; the longest one Slurm would start now is that shape's backfill window. A
*strategy* is a shape plus how to ask for time: the whole time (direct), the whole
time with `--time-min` at the window (Slurm may start it now with less), or
checkpoint-restart segments of the window (opt-in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from rv_jupyter.allocator.request import Request
from rv_jupyter.allocator.windows import window_end
from rv_jupyter.facts import BACKFILL_DEFAULT_WALLTIME, GpuType
from rv_jupyter.slurm.reservations import Reservation
from rv_jupyter.slurm.state import ClusterState

# A probe that starts within this many seconds of the cluster's clock counts as "now"
# (Slurm's backfill resolution is 60 s on the mini-Rivanna, 600 s on Rivanna).
IMMEDIATE_S = 90
MAX_STRATEGIES = 8
Kind = Literal["direct", "time_min", "checkpoint"]


@dataclass(frozen=True)
class Shape:
    """A GPU type and how its GPUs spread over nodes."""

    gpu: GpuType
    nodes: int
    per_node: int

    @property
    def topology(self) -> str:
        """1x8, 2x4, ..."""
        return f"{self.nodes}x{self.per_node}"

    @property
    def gpus(self) -> int:
        """GPUs in all."""
        return self.nodes * self.per_node


def shapes(req: Request, types: list[GpuType]) -> list[Shape]:
    """Every shape of the compatible types: 1xN, and 2x(N/2) when N >= 4 and it fits."""
    out = []
    for t in types:
        if req.nodes:
            out.append(Shape(t, req.nodes, req.gpus // req.nodes))
            continue
        if req.gpus <= t.per_node:
            out.append(Shape(t, 1, req.gpus))
        split = req.gpus >= 4 and req.gpus % 2 == 0 and not (t.mig or t.interactive)
        if split and req.gpus // 2 <= t.per_node:
            out.append(Shape(t, 2, req.gpus // 2))
    return out


def probe_walltimes(req: Request, t: GpuType) -> list[int]:
    """The walltimes probed for every shape: the asked time (capped by the partition),
    a chosen segment length, and for checkpoint requests the default segment (its wait
    when there is no window). The window itself is searched (windows.py)."""
    cap = min(req.time_s, t.max_walltime_s)
    times = {cap}
    if req.segment_s:
        times.add(min(req.segment_s, t.max_walltime_s))
    elif req.checkpoint and cap > BACKFILL_DEFAULT_WALLTIME:
        times.add(BACKFILL_DEFAULT_WALLTIME)
    return sorted(times)


@dataclass(frozen=True)
class Probe:
    """What `sbatch --test-only` said for one shape and walltime."""

    shape: Shape
    time_s: int
    start: datetime | None
    refused: str | None = None


@dataclass(frozen=True)
class Strategy:
    """One way to ask Slurm for the request; several are submitted at once."""

    shape: Shape
    kind: Kind
    time_s: int  # --time of each job
    time_min_s: int | None = None
    total_s: int | None = None  # checkpoint: runtime to reach over all segments
    wait_s: float | None = None  # Slurm's estimate (a hint); None when unknown

    @property
    def immediate(self) -> bool:
        """Slurm expects to start it now."""
        return self.wait_s is not None and self.wait_s <= IMMEDIATE_S

    @property
    def su_per_hour(self) -> float:
        """Service units per hour of runtime."""
        return self.shape.gpu.su_per_gpu_hour * self.shape.gpus

    @property
    def key(self) -> str:
        """A stable, readable id: a6000/1x2/direct/02:59."""
        return f"{self.shape.gpu.key}/{self.shape.topology}/{self.kind}/{self.time_s // 60}m"

    def walltime(self) -> str:
        """The time it asks for, as a person reads it: `2:00`, `0:26-8:00 (--time-min)`."""
        return {
            "direct": f"{_hm(self.time_s)}",
            "time_min": f"{_hm(self.time_min_s or 0)}-{_hm(self.time_s)} (--time-min)",
            "checkpoint": f"segments of {_hm(self.time_s)} up to {_hm(self.total_s or 0)}",
        }[self.kind]

    def starts(self) -> str:
        """When Slurm expects it to start: `now`, `~1:30` from now, or `?`."""
        return "now" if self.immediate else ("?" if self.wait_s is None else f"~{_hm(self.wait_s)}")

    def describe(self) -> str:
        """One line for a person."""
        s = self.shape
        return (
            f"{s.gpu.label} {s.topology} on {s.gpu.partition}, {self.walltime()}, "
            f"starts {self.starts()}"
        )


@dataclass
class Plan:
    """The ranked strategies, what was left out (with reasons), and the state read with them."""

    strategies: list[Strategy]
    skipped: dict[str, str] = field(default_factory=dict)
    state: ClusterState | None = None
    reservations: list[Reservation] = field(default_factory=list)
    now: datetime | None = None  # the cluster's clock when the probes ran
    full_waits: dict[Shape, float] = field(default_factory=dict)  # the whole time, by shape

    def windows(self, *, user: str | None = None, account: str | None = None) -> list[str]:
        """For each --time-min strategy, its window and what ends it, and when the whole
        time could start: `gpu-a100-80: maintenance "m" at 16:30: 0:26 now, or 8:00 from 17:30`."""
        if self.now is None:
            return []
        out = []
        for s in self.strategies:
            if s.kind != "time_min" or s.time_min_s is None:
                continue
            end = window_end(self.now, s.time_min_s, self.reservations, user=user, account=account)
            full = self.full_waits.get(s.shape)
            later = ""
            if full:
                at = datetime.fromtimestamp(self.now.timestamp() + full)
                later = f", or {_hm(s.time_s)} from {at:%H:%M}"
            out.append(
                f"{s.shape.gpu.partition} {s.shape.topology}: {end.describe()}: "
                f"{_hm(s.time_min_s)} now{later}"
            )
        return out

    def outlook(self, *, user: str | None = None, account: str | None = None) -> str | None:
        """When nothing starts now: the earliest start Slurm expects, and the reservation
        it waits out, if one ends just before it; None if a strategy starts now."""
        if self.now is None or any(s.immediate for s in self.strategies):
            return None
        timed = [s for s in self.strategies if s.wait_s is not None]
        if not timed:
            return "Slurm gave no start estimate for any strategy."
        first = min(timed, key=lambda s: s.wait_s or 0.0)
        at = datetime.fromtimestamp(self.now.timestamp() + (first.wait_s or 0.0))
        text = f"Nothing can start now; the earliest is {first.describe()} (~{at:%H:%M})"
        for r in self.reservations:
            if r.start is None or r.end is None or r.admits(user, account):
                continue
            if r.start <= at and 0 <= (at - r.end).total_seconds() <= 900:
                kind = "maintenance" if r.maintenance else "reservation"
                text += f', after {kind} "{r.name}" {r.start:%H:%M}-{r.end:%H:%M}'
        return text + "."


def decide(
    req: Request,
    probes: list[Probe],
    now: datetime,
    skipped: dict[str, str],
    *,
    resolution_s: int = 60,
) -> Plan:
    """Strategies from probes, ranked and pruned (pure: the caller did all I/O).

    `resolution_s` is the cluster's backfill resolution: windows keep that much margin."""
    notes = dict(skipped)
    by_shape: dict[Shape, list[Probe]] = {}
    for p in probes:
        by_shape.setdefault(p.shape, []).append(p)
    found: list[Strategy] = []
    for shape, ps in by_shape.items():
        ok = [p for p in ps if p.start is not None]
        if not ok:
            notes[f"{shape.gpu.key} {shape.topology}"] = ps[0].refused or "refused by Slurm"
            continue
        found += _strategies_for(req, shape, ok, now, resolution_s)
    # When each shape could start the whole time: kept even where ranking drops that
    # strategy, so a --time-min window can say "or 8:00 from 17:30".
    full = {s.shape: s.wait_s for s in found if s.kind == "direct" and s.wait_s is not None}
    return Plan(rank(found), notes, now=now, full_waits=full)


def usable_window(window_s: int | None, resolution_s: int = 60) -> int | None:
    """What of a probed window a job can be given: a probe's "now" holds for the moment it
    ran, and Slurm plans backfill in slots of `resolution_s` (bf_resolution: 60 s on the
    mini-Rivanna, 600 s on Rivanna), so a job sized to the edge misses it by a second and
    waits. Measured: a 90-minute window taken whole stayed pending. Less than 5 minutes
    left is no window."""
    if window_s is None:
        return None
    usable = window_s - max(resolution_s, 60, window_s // 20)
    return usable if usable >= 300 else None


def _strategies_for(
    req: Request, shape: Shape, ok: list[Probe], now: datetime, resolution_s: int = 60
) -> list[Strategy]:
    def wait(p: Probe) -> float:
        assert p.start is not None
        return max(0.0, (p.start - now).total_seconds())

    t = shape.gpu
    now_ok = [p for p in ok if wait(p) <= IMMEDIATE_S]
    window = usable_window(max((p.time_s for p in now_ok), default=None), resolution_s)
    if req.segment_s:
        # The user chose segments of this length: that is what they get, whatever the window.
        seg = min(req.segment_s, t.max_walltime_s)
        seg_probe = next((p for p in ok if p.time_s == seg), None)
        wait_s = wait(seg_probe) if seg_probe else None
        return [Strategy(shape, "checkpoint", seg, total_s=req.time_s, wait_s=wait_s)]
    out = []
    if req.time_s <= t.max_walltime_s:
        full = next((p for p in ok if p.time_s == req.time_s), None)
        out.append(Strategy(shape, "direct", req.time_s, wait_s=wait(full) if full else None))
        if window and window < req.time_s:
            out.append(Strategy(shape, "time_min", req.time_s, time_min_s=window, wait_s=0.0))
    # Segments are a batch job that resubmits itself: never on the interactive partition.
    if req.checkpoint and not t.interactive and req.time_s > (window or 0):
        seg = window or min(t.max_walltime_s, BACKFILL_DEFAULT_WALLTIME)
        seg_probe = next((p for p in ok if p.time_s == seg), None)
        # A segment sized to the window starts now, as the --time-min job does.
        seg_wait = 0.0 if window else (wait(seg_probe) if seg_probe else None)
        out.append(Strategy(shape, "checkpoint", seg, total_s=req.time_s, wait_s=seg_wait))
    return out


_KIND_ORDER = {"direct": 0, "time_min": 1, "checkpoint": 2}


def rank(found: list[Strategy]) -> list[Strategy]:
    """Immediate start > estimated wait > fit (one node, full time) > SU cost; at most 8.

    Dominated strategies are pruned only within the same type, topology and family
    (plain or checkpoint): pruning across types would defeat the fan-out.
    """
    kept = [s for s in found if not any(_dominates(o, s) for o in found if o is not s)]

    def key(s: Strategy) -> tuple[bool, float, int, int, float]:
        wait = math.inf if s.wait_s is None else s.wait_s
        # Estimates below the immediate threshold are all "now": compare them as equal.
        return (not s.immediate, 0.0 if s.immediate else wait, s.shape.nodes,
                _KIND_ORDER[s.kind], s.su_per_hour)  # fmt: skip

    ranked = sorted(kept, key=key)
    plain = [s for s in ranked if s.kind != "checkpoint"]
    ckpt = [s for s in ranked if s.kind == "checkpoint"]
    if not ckpt or len(ranked) <= MAX_STRATEGIES:
        return ranked[:MAX_STRATEGIES]
    # Keep both families represented: they serve different purposes.
    n_ckpt = max(1, min(len(ckpt), MAX_STRATEGIES // 4))
    return sorted(plain[: MAX_STRATEGIES - n_ckpt] + ckpt[:n_ckpt], key=key)


def _dominates(a: Strategy, b: Strategy) -> bool:
    same = a.shape == b.shape and (a.kind == "checkpoint") == (b.kind == "checkpoint")
    if not same:
        return False
    a_wait = math.inf if a.wait_s is None else a.wait_s
    b_wait = math.inf if b.wait_s is None else b.wait_s
    sooner = a.immediate or a_wait <= b_wait
    if not (sooner and (a.immediate or not b.immediate)):
        return False
    # Guaranteed runtime: a time_min job may get only its minimum.
    a_time, b_time = a.time_min_s or a.time_s, b.time_min_s or b.time_s
    return a_time >= b_time and (a_time > b_time or _KIND_ORDER[a.kind] < _KIND_ORDER[b.kind])


def _hm(seconds: float) -> str:
    m = int(seconds // 60)
    return f"{m // 60}:{m % 60:02d}" if m >= 60 else f"{m} min"
