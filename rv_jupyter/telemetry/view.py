"""A job's GPU telemetry as notebook code reads it: `alloc.gpus().latest()`.

A thin sync facade over the job's shared sampler. Reading takes a lease (renewed by each
read) instead of a watch: code that reads once and goes on cannot say when it stops
looking, so the sampling stops by itself LEASE_S after the last read. The words a face
shows (the latest table, why a value is missing, a one-line summary) are pure functions
here, shared by this view, the %rv_gpus widget and the status panel.
"""

from __future__ import annotations

import asyncio
import html
import math
import time
from typing import TYPE_CHECKING, Any

from rv_jupyter.cluster.background import run_sync
from rv_jupyter.telemetry.sampler import Gap, JobSampler, sampler_for

if TYPE_CHECKING:
    import pandas as pd

    from rv_jupyter.cluster.handle import Cluster

LEASE_S = 60.0
# A step starts in ~1 s on Rivanna and nvidia-smi prints its first sample within the
# interval; past this a node's silence is reported rather than waited for.
FIRST_SAMPLE_S = 20.0
MIB_PER_GIB = 1024

# Metrics a face shows -> the nvidia-smi field behind each (to say why one is missing).
FIELDS = {"util_pct": "utilization.gpu", "mem_used_mib": "memory.used", "power_w": "power.draw"}


def why(field: str, reason: str) -> str:
    """Why nvidia-smi gave a placeholder instead of a value, in words."""
    if field.startswith("utilization.") and reason == "N/A":
        # MIG: nvidia-smi reports the parent GPU and cannot split its utilisation by slice.
        return "a MIG slice's utilisation is not measurable by nvidia-smi (only DCGM has it)"
    if reason == "Not Supported":
        return "this GPU or driver does not report it"
    return "as nvidia-smi printed it"


class GpuView:
    """One job's GPUs: `.latest()` (one row per GPU) and `.history()` (every sample kept)."""

    def __init__(self, sampler: JobSampler, *, lease_s: float = LEASE_S) -> None:
        self.sampler, self.lease_s = sampler, lease_s

    @classmethod
    def of(cls, cluster: Cluster, job_id: str, *, wait_s: float = FIRST_SAMPLE_S) -> GpuView:
        """Start (or join) the job's sampling and wait for a first sample of each node."""
        view = cls(sampler_for(cluster, job_id))
        run_sync(view.aready(wait_s))
        return view

    async def aready(self, wait_s: float = FIRST_SAMPLE_S) -> None:
        """Lease the sampler; return once every node has a sample or a gap (or `wait_s`)."""
        s = self.sampler
        await s.alease(self.lease_s)
        ready = asyncio.Event()

        def check() -> None:
            heard = {n for n, node in s.nodes.items() if node.frames} | {g.node for g in s.gaps}
            if s.nodes and heard >= set(s.nodes):
                ready.set()

        stop = s.subscribe(check)
        try:
            check()
            await asyncio.wait_for(ready.wait(), wait_s)
        except asyncio.TimeoutError:  # not the builtin before Python 3.11
            pass  # show what came; the silent nodes are named in the output
        finally:
            stop()

    def latest(self) -> pd.DataFrame:
        """The newest sample of every GPU on every node (node, gpu, util, memory, ...)."""
        self._renew()
        return self.sampler.latest()

    def history(self) -> pd.DataFrame:
        """Every sample kept (the last 30 min), one row per GPU per sample."""
        self._renew()
        return self.sampler.history()

    @property
    def gaps(self) -> list[Gap]:
        """Times a node's samples are missing, and why."""
        return list(self.sampler.gaps)

    def _renew(self) -> None:
        run_sync(self.sampler.alease(self.lease_s))

    def __repr__(self) -> str:
        return f"<GpuView job {self.sampler.job_id}: {summary(self.sampler.latest())}>"

    def _repr_html_(self) -> str:
        latest = self.latest()
        notes = [*missing_notes(latest), *gap_notes(self.gaps)]
        return (
            f"<b>Job {html.escape(self.sampler.job_id)}</b>: {html.escape(summary(latest))}"
            + latest_html(latest)
            + "".join(f"<div><small>{html.escape(n)}</small></div>" for n in notes)
            + "<small>.latest(), .history(), .gaps; %rv_gpus for the live view</small>"
        )


# -- words (pure) -----------------------------------------------------------------------


def _num(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def summary(latest: pd.DataFrame) -> str:
    """One line: how many GPUs, their mean utilisation and memory used of total."""
    if latest.empty:
        return "no GPU sample yet"
    n = len(latest)
    utils = [u for u in map(_num, latest["util_pct"]) if u is not None]
    util = f"util {sum(utils) / len(utils):.0f} % mean" if utils else "util n/a"
    used = sum(v for v in map(_num, latest["mem_used_mib"]) if v is not None)
    total = sum(v for v in map(_num, latest["mem_total_mib"]) if v is not None)
    mem = (
        f"memory {used / MIB_PER_GIB:.1f}/{total / MIB_PER_GIB:.0f} GiB" if total else "memory n/a"
    )
    return f"{n} GPU{'s' if n != 1 else ''}: {util}, {mem or 'memory n/a'}"


def missing_notes(latest: pd.DataFrame) -> list[str]:
    """Why a shown metric has no value on some GPU (one line per metric and reason)."""
    out: dict[tuple[str, str], list[str]] = {}
    for row in latest.to_dict("records"):
        gone = row.get("unavailable") or {}
        for field in FIELDS.values():
            if field in gone:
                out.setdefault((field, gone[field]), []).append(f"{row['node']}:{row['gpu']}")
    return [
        f"{field} is [{reason}] on {', '.join(where)}: {why(field, reason)}."
        for (field, reason), where in out.items()
    ]


def gap_notes(gaps: list[Gap], *, last: int = 3) -> list[str]:
    """The last few gaps in words (a node's samples missing, and why)."""

    def at(t: float) -> str:
        return time.strftime("%H:%M:%S", time.localtime(t))

    return [
        f"{g.node}: no samples {at(g.start)}–{at(g.end) if g.end else 'now'} ({g.reason})"
        for g in gaps[-last:]
    ]


def _cell(v: Any, fmt: str) -> str:
    x = _num(v)
    return "–" if x is None else fmt.format(x)


def latest_html(latest: pd.DataFrame, colors: dict[str, str] | None = None) -> str:
    """The latest sample as a small table (a colour swatch per GPU if `colors` is given)."""
    if latest.empty:
        return "<div><i>no GPU sample yet</i></div>"
    head = ["", "GPU", "name", "util", "memory", "power", "temp", "SM clock", "processes"]
    rows = []
    for r in latest.to_dict("records"):
        key = f"{r['node']}:{r['gpu']}"
        color = (colors or {}).get(key)
        swatch = f"<span style='color:{color}'>&#9632;</span>" if color else ""
        total = _num(r["mem_total_mib"])
        mem = _cell(r["mem_used_mib"], "{:.0f}")
        mem += f" / {total:.0f} MiB" if total is not None else " MiB"
        power = _cell(r["power_w"], "{:.0f}") + " / " + _cell(r["power_limit_w"], "{:.0f} W")
        cells = [
            swatch, html.escape(key), html.escape(str(r["name"] or "")),
            _cell(r["util_pct"], "{:.0f} %"), mem, power, _cell(r["temp_c"], "{:.0f} °C"),
            _cell(r["sm_mhz"], "{:.0f} MHz"), html.escape(str(r["processes"] or "")),
        ]  # fmt: skip
        rows.append("".join(f"<td>{c}</td>" for c in cells))
    th = "".join(f"<th style='text-align:left'>{h}</th>" for h in head)
    body = "".join(f"<tr>{r}</tr>" for r in rows)
    return f"<table style='font-size:90%'><tr>{th}</tr>{body}</table>"
