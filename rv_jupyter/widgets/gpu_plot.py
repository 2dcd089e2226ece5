"""The %rv_gpus plots, drawn as SVG polylines in plain HTML (pure; see widgets.gpus for
why not a plotting library).

A redraw costs the same whatever the history holds: samples are folded as they arrive
into pixel columns (fixed time buckets: the x axis spans 2, 5, 10, 30 or 60 min), and
each column draws as its lowest and highest sample, so a one-second spike stays
visible in a 30-minute plot.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from rv_jupyter.telemetry import view
from rv_jupyter.telemetry.nvidia_smi import GpuRow

WIDTH, HEIGHT = 300, 90
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf")  # fmt: skip

Point = tuple[float, float | None]  # (time, value); None: nothing measured then


def decimate(points: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Pixel points cut to the min and max of each pixel column, in the order they came
    (a spike stays visible), without repeats."""
    out: list[tuple[int, int]] = []
    i, n = 0, len(points)
    while i < n:
        x = points[i][0]
        lo = hi = i
        j = i + 1
        while j < n and points[j][0] == x:
            if points[j][1] < points[lo][1]:
                lo = j
            if points[j][1] > points[hi][1]:
                hi = j
            j += 1
        for k in sorted({lo, hi}):
            if not out or out[-1] != points[k]:
                out.append(points[k])
        i = j
    return out


def polylines(
    points: Sequence[Point], *, t0: float, t1: float, y_max: float, max_gap_s: float,
    width: int = WIDTH, height: int = HEIGHT,
) -> list[str]:  # fmt: skip
    """SVG `points` attributes of one line (whole pixels), broken where nothing was measured."""
    x_per_s = width / max(t1 - t0, 1e-9)
    y_per = height / y_max if y_max > 0 else 0.0
    runs: list[list[tuple[int, int]]] = [[]]
    last_t: float | None = None
    for t, v in points:
        broken = v is None or (last_t is not None and t - last_t > max_gap_s)
        if broken and runs[-1]:
            runs.append([])
        if v is not None:
            runs[-1].append(
                (round((t - t0) * x_per_s), round(height - min(max(v, 0.0), y_max) * y_per))
            )
        last_t = t
    return [" ".join(f"{x},{y}" for x, y in decimate(r)) for r in runs if r]


def svg_plot(
    title: str, lines: dict[str, list[str]], colors: dict[str, str], *, y_label: str,
    x_label: str, width: int = WIDTH, height: int = HEIGHT,
) -> str:  # fmt: skip
    """One small plot: a frame, its title and axis ends, and a polyline per run of a line."""
    shapes = "".join(
        f"<polyline fill='none' stroke='{colors[key]}' stroke-width='1.5' points='{pts}'/>"
        for key, runs in lines.items()
        for pts in runs
    )
    return (
        f"<div style='display:inline-block;margin-right:12px'>"
        f"<div style='font-size:85%'><b>{html.escape(title)}</b> "
        f"<span style='color:#888'>(0–{html.escape(y_label)})</span></div>"
        f"<svg width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
        f"style='border:1px solid #ddd;overflow:visible'>{shapes}</svg>"
        f"<div style='font-size:75%;color:#888;width:{width}px;display:flex;"
        f"justify-content:space-between'><span>{html.escape(x_label)}</span><span>now</span>"
        f"</div></div>"
    )


Frames = dict[str, list[tuple[float, list[GpuRow]]]]  # node -> its samples, oldest first


WINDOWS_S = (120, 300, 600, 1800, 3600)  # the x axis spans the first that holds it all


def window_for(span_s: float) -> float:
    """The plot's time span: fixed steps, so each pixel column is a fixed time bucket."""
    return next((float(w) for w in WINDOWS_S if w >= span_s), float(span_s))


class Columns:
    """Per field and GPU (`node:index`), the lowest and highest sample of each pixel
    column, folded in as samples arrive: a redraw then reads ~300 columns a line, not
    every sample (30 min of 8 GPUs is 14400 rows)."""

    def __init__(self, fields: Sequence[str], width: int = WIDTH) -> None:
        self.fields, self.width = tuple(fields), width
        self.col_s = 0.0
        self.seen: dict[str, float] = {}  # node -> time of the newest sample folded in
        # field -> key -> column -> [t of low, low, t of high, high]
        self.cols: dict[str, dict[str, dict[int, list[float]]]] = {}

    def update(self, frames: Frames, now: float) -> float:
        """Fold in the samples not seen yet; returns the window (seconds) to draw."""
        starts = [s[0][0] for s in frames.values() if s]
        window = window_for(now - min(starts) if starts else 0.0)
        if window / self.width != self.col_s:  # a wider window: other columns, start over
            self.col_s, self.seen = window / self.width, {}
            self.cols = {f: {} for f in self.fields}
        for node, samples in frames.items():
            last, i = self.seen.get(node, -float("inf")), len(samples)
            while i > 0 and samples[i - 1][0] > last:
                i -= 1
            for t, rows in samples[i:]:
                self._fold(node, t, rows)
            if samples:
                self.seen[node] = samples[-1][0]
        oldest = int((now - window) // self.col_s)
        for per_key in self.cols.values():
            for cols in per_key.values():
                for c in [c for c in cols if c < oldest]:
                    del cols[c]
        return window

    def _fold(self, node: str, t: float, rows: list[GpuRow]) -> None:
        c = int(t // self.col_s)
        for r in rows:
            key = f"{node}:{int(r.number('index') or 0)}"
            for f in self.fields:
                v = r.values.get(f)
                if not isinstance(v, float):
                    continue  # nothing measured: no point (a long run of them breaks the line)
                col = self.cols[f].setdefault(key, {}).get(c)
                if col is None:
                    self.cols[f][key][c] = [t, v, t, v]
                elif v < col[1]:
                    col[0], col[1] = t, v
                elif v > col[3]:
                    col[2], col[3] = t, v

    def points(self, field: str) -> dict[str, list[Point]]:
        """Per GPU, the low and high of each column as (time, value), oldest first."""
        out: dict[str, list[Point]] = {}
        for key, cols in self.cols.get(field, {}).items():
            pts: list[Point] = []
            for c in sorted(cols):
                tl, lo, th, hi = cols[c]
                pair = [(tl, lo), (th, hi)] if tl <= th else [(th, hi), (tl, lo)]
                pts += pair if (tl, lo) != (th, hi) else pair[:1]
            out[key] = pts
        return out


PLOTTED = ("utilization.gpu", "memory.used", "power.draw")


def plots_html(
    frames: Frames, now: float, colors: dict[str, str], interval_s: float,
    columns: Columns | None = None,
) -> str:  # fmt: skip
    """The three plots (utilisation, memory, power) of the samples kept; `columns` (kept
    from the last redraw) saves reading the old samples again."""
    columns = columns or Columns(PLOTTED)
    window = columns.update(frames, now)
    t0 = now - window
    gap = max(3 * interval_s, 3.0, 2.5 * columns.col_s)
    ago = f"−{window / 60:g} min"
    rows = [r for s in frames.values() for _t, rs in s[-1:] for r in rs]
    mem_top = max((r.number("memory.total") or 0 for r in rows), default=0) / view.MIB_PER_GIB
    power_top = max((r.number("power.limit") or 0 for r in rows), default=0)
    metrics = [
        ("Utilisation", "utilization.gpu", 100.0, 1.0, "100 %"),
        ("Memory used", "memory.used", mem_top or 1.0, view.MIB_PER_GIB, f"{mem_top:.0f} GiB"),
        ("Power", "power.draw", power_top or 1.0, 1.0, f"{power_top:.0f} W"),
    ]
    out = []
    for title, field, top, scale, label in metrics:
        lines = {
            key: polylines(
                [(t, None if v is None else v / scale) for t, v in pts],
                t0=t0,
                t1=now,
                y_max=top,
                max_gap_s=gap,
            )
            for key, pts in columns.points(field).items()
        }
        for key in lines:
            colors.setdefault(key, COLORS[len(colors) % len(COLORS)])
        out.append(svg_plot(title, lines, colors, y_label=label, x_label=ago))
    return "".join(out)
