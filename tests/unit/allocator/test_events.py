"""How a fan-out's progress reads: rows for JSON, lines for logs and plain-text front ends."""

from __future__ import annotations

from datetime import datetime

from rv_jupyter.allocator.records import Event
from rv_jupyter.allocator.request import Request
from rv_jupyter.magics.display import _Note, _StrategyTable
from tests.unit.allocator.test_strategies import plan

H = 3600


def two_events() -> list[Event]:
    strategies = plan(Request(gpus=1, gpu_type="a6000", time_s=2 * H)).strategies
    first, second = strategies[0], strategies[-1]
    return [
        Event(first, "101", "pending", "Resources", datetime(2026, 11, 25, 16, 40, 12)),
        Event(second, "102", "pending", "Priority <script>", None),
    ]


def test_a_pending_strategy_says_where_why_and_when() -> None:
    pending, no_estimate = two_events()
    assert pending.line() == "gpu-a6000 job 101 pending (Resources), starts ~2026-11-25 16:40"
    assert pending.row() == {
        "strategy": pending.strategy.key, "partition": "gpu-a6000", "job": "101",
        "state": "pending", "reason": "Resources", "start": "2026-11-25 16:40",
    }  # fmt: skip
    assert no_estimate.row()["start"] is None and "starts" not in no_estimate.line()


def test_progress_reads_in_html_and_in_plain_text() -> None:
    table = _StrategyTable(two_events())
    text = repr(table)
    assert "job 101 pending (Resources), starts ~2026-11-25 16:40" in text
    assert "object at 0x" not in text
    assert "<script>" not in table._repr_html_() and "&lt;script&gt;" in table._repr_html_()
    note = _Note("2 jobs cancelled\nwon: job 101")
    assert repr(note) == "2 jobs cancelled\nwon: job 101"
    assert note._repr_html_() == "2 jobs cancelled<br>won: job 101"
