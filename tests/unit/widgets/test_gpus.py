"""The %rv_gpus widget: drawing (pure), throttling, and watching while open and shown."""

from __future__ import annotations

import asyncio
import time

import pytest

from rv_jupyter.cluster.background import run_sync
from rv_jupyter.errors import UnknownJob
from rv_jupyter.telemetry.nvidia_smi import GpuRow, Unavailable
from rv_jupyter.widgets.gpu_plot import Columns, decimate, polylines, svg_plot, window_for
from rv_jupyter.widgets.gpus import GpuWidget, Throttled
from tests.unit.telemetry.standin import StandInSampler


def _wait(predicate, limit: float = 5) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _from_browser(widget: GpuWidget, content: object) -> None:
    widget.probe._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
    )


@pytest.mark.parametrize(
    ("points", "kept"),
    [
        ([], []),
        ([(0, 5), (1, 6)], [(0, 5), (1, 6)]),
        # One column: its min and its max, in the order they came (the spike stays).
        ([(3, 50), (3, 10), (3, 90), (3, 40)], [(3, 10), (3, 90)]),
        ([(3, 90), (3, 10)], [(3, 90), (3, 10)]),
        ([(0, 7), (0, 7), (1, 7)], [(0, 7), (1, 7)]),  # no repeats
    ],
)
def test_decimate(points: list[tuple[int, int]], kept: list[tuple[int, int]]) -> None:
    assert decimate(points) == kept


@pytest.mark.parametrize(
    ("points", "runs"),
    [
        ([(0.0, 0.0), (3.0, 30.0), (6.0, 60.0), (9.0, 90.0)], ["0,100 30,70 60,40 90,10"]),
        ([(0.0, 200.0), (2.0, -3.0)], ["0,0 20,100"]),  # clipped to the plot
        # Nothing measured ([N/A]) or no sample for a while (a gap) breaks the line.
        ([(0.0, 10.0), (1.0, None), (2.0, 10.0), (3.0, 10.0)], ["0,90", "20,90 30,90"]),
        ([(0.0, 10.0), (1.0, 10.0), (9.0, 10.0)], ["0,90 10,90", "90,90"]),
        ([(0.0, None)], []),
    ],
)
def test_polylines(points: list[tuple[float, float | None]], runs: list[str]) -> None:
    assert polylines(points, t0=0, t1=10, y_max=100, max_gap_s=3, width=100, height=100) == runs


def test_svg_plot_escapes_and_draws_a_polyline_per_run() -> None:
    out = svg_plot("Power <W>", {"n:0": ["0,1 2,3", "5,5"]}, {"n:0": "#abc"}, y_label="400 W",
                   x_label="−3 min")  # fmt: skip
    assert out.count("<polyline") == 2 and "stroke='#abc'" in out and "Power &lt;W&gt;" in out


async def test_throttled_runs_at_once_then_at_most_once_per_interval() -> None:
    calls: list[float] = []
    t = Throttled(lambda: calls.append(time.monotonic()), 0.2)
    for _ in range(5):
        t()
    assert len(calls) == 1  # the first at once, the other four wait as one
    await asyncio.sleep(0.3)
    assert len(calls) == 2 and calls[1] - calls[0] >= 0.19
    t()
    t.cancel()
    await asyncio.sleep(0.3)
    assert len(calls) == 2


def test_the_widget_shows_every_gpu_and_why_mig_has_no_utilisation() -> None:
    s = StandInSampler()
    widget = GpuWidget.watch(s, every_s=0.05)
    try:
        _wait(lambda: "udc-an28-2:0" in widget.values.value and "python" in widget.values.value)
        assert widget.plots.value.count("<svg") == 3
        for key in ("udc-an28-1:0", "udc-an28-1:1", "udc-an28-2:0"):
            assert key in widget.values.value
            assert f"stroke='{widget.colors[key]}'" in widget.plots.value
        assert "utilization.gpu is [N/A] on udc-an28-2:0" in widget.notes.value
        assert "MIG" in widget.notes.value
        assert "3 GPUs: util 50 % mean" in widget.title.value and "2 nodes" in widget.title.value
    finally:
        widget.close()
    _wait(lambda: not s.running)  # closing it ended the watch: the channels close
    assert s._watchers == 0


def test_not_running_is_an_error_before_any_widget() -> None:
    s = StandInSampler()
    s.ended = True
    with pytest.raises(UnknownJob):
        GpuWidget.watch(s)


def test_hidden_too_long_stops_watching_and_shown_again_resumes() -> None:
    s = StandInSampler()
    widget = GpuWidget.watch(s, every_s=0.05, hidden_s=0.2)
    try:
        _from_browser(widget, {"view": "a", "visible": False})
        _wait(lambda: not s.running)
        assert not widget.watching and "paused while hidden" in widget.title.value
        _from_browser(widget, {"view": "a", "visible": True})
        _wait(lambda: s.running)
        assert widget.watching and s.starts == 2 and s._watchers == 1
        # Shown again before the grace ran out: it keeps watching.
        _from_browser(widget, {"view": "a", "visible": False})
        _from_browser(widget, {"view": "a", "visible": True})
        time.sleep(0.4)
        assert s.running and s._watchers == 1
    finally:
        widget.close()
    _wait(lambda: s._watchers == 0)


def test_two_views_share_one_sampling_until_both_close() -> None:
    s = StandInSampler()
    a, b = GpuWidget.watch(s), GpuWidget.watch(s)
    assert s.starts == 1 and s._watchers == 2
    a.close()
    a.close()  # twice is once
    time.sleep(0.1)
    assert s.running and s._watchers == 1
    b.close()
    _wait(lambda: not s.running)
    run_sync(asyncio.sleep(0))


def _rows(util: float | None) -> list[GpuRow]:
    values: dict[str, float | str | Unavailable] = {"index": 0.0}
    values["utilization.gpu"] = Unavailable(reason="N/A") if util is None else util
    return [GpuRow(values=values)]


def test_columns_keep_each_columns_low_and_high_and_fold_only_new_samples() -> None:
    cols = Columns(["utilization.gpu"], width=120)  # the 2 min window: 1 s a column
    samples = [(0.0, _rows(10.0)), (0.5, _rows(50.0)), (1.0, _rows(30.0)), (1.5, _rows(None))]
    assert cols.update({"n": samples}, now=2.0) == 120
    assert cols.points("utilization.gpu") == {"n:0": [(0.0, 10.0), (0.5, 50.0), (1.0, 30.0)]}
    samples[0] = (0.0, _rows(99.0))  # an old sample is not read again
    samples.append((1.7, _rows(5.0)))
    cols.update({"n": samples}, now=2.0)
    assert cols.points("utilization.gpu") == {
        "n:0": [(0.0, 10.0), (0.5, 50.0), (1.0, 30.0), (1.7, 5.0)]
    }
    # Past two minutes the axis spans five: wider columns, rebuilt from what is kept.
    assert cols.update({"n": [*samples, (200.0, _rows(70.0))]}, now=200.0) == 300
    assert cols.col_s == 2.5
    assert cols.points("utilization.gpu")["n:0"] == [(0.0, 99.0), (1.7, 5.0), (200.0, 70.0)]


@pytest.mark.parametrize(("span", "window"), [(0, 120), (120, 120), (121, 300), (1799, 1800),
                                               (5000, 5000)])  # fmt: skip
def test_window_for(span: float, window: float) -> None:
    assert window_for(span) == window
