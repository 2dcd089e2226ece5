"""The poller's pacing as a pure function (also used for pending kernels)."""

from __future__ import annotations

from rv_jupyter.cluster.poller import FAST_S, IDLE_S, MAX_IDLE_S, next_interval


def test_busy_reads_every_fast_interval() -> None:
    assert next_interval(None, busy=True) == FAST_S
    assert next_interval(MAX_IDLE_S, busy=True) == FAST_S


def test_idle_backs_off_from_idle_to_the_maximum() -> None:
    seq, previous = [], None
    for _ in range(5):
        previous = next_interval(previous, busy=False)
        seq.append(previous)
    assert seq == [IDLE_S, 2 * IDLE_S, MAX_IDLE_S, MAX_IDLE_S, MAX_IDLE_S]


def test_going_idle_after_busy_starts_the_back_off_again() -> None:
    assert next_interval(FAST_S, busy=False) == IDLE_S


def test_custom_intervals() -> None:
    assert next_interval(0.4, busy=False, fast_s=0.2, idle_s=0.4, max_idle_s=1.6) == 0.8
    assert next_interval(1.6, busy=False, fast_s=0.2, idle_s=0.4, max_idle_s=1.6) == 1.6
