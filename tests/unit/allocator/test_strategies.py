"""Strategies and ranking on hand-built probe results (no cluster)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from rv_jupyter.allocator.request import Request, compatible_types
from rv_jupyter.allocator.strategies import (
    MAX_STRATEGIES,
    Probe,
    Shape,
    Strategy,
    decide,
    probe_walltimes,
    rank,
    shapes,
    usable_window,
)
from rv_jupyter.facts import BACKFILL_DEFAULT_WALLTIME, GPU_TYPES

NOW = datetime(2026, 11, 25, 12, 0, 0)
H = 3600


def probes_for(req: Request, wait_by: dict[tuple[str, str, int], float | None]) -> list[Probe]:
    """Probe every shape x walltime; wait_by[(type, topology, walltime)] in hours, None = refused,
    default: starts now."""
    types, _ = compatible_types(req)
    out = []
    for shape in shapes(req, types):
        # What a window search would also have tried: the old fixed guesses.
        cap = min(req.time_s, shape.gpu.max_walltime_s)
        extra = {w for w in (BACKFILL_DEFAULT_WALLTIME, H) if w < cap}
        for w in sorted({*probe_walltimes(req, shape.gpu), *extra}):
            wait = wait_by.get((shape.gpu.key, shape.topology, w), 0.0)
            start = None if wait is None else NOW + timedelta(hours=wait)
            out.append(Probe(shape, w, start, None if start else "Requested node configuration"))
    return out


def plan(req: Request, wait_by: dict[tuple[str, str, int], float | None] | None = None):  # type: ignore[no-untyped-def]
    _, skipped = compatible_types(req)
    return decide(req, probes_for(req, wait_by or {}), NOW, skipped)


def test_idle_cluster_any_type_prefers_free_mig_then_cheapest() -> None:
    p = plan(Request(gpus=1, time_s=2 * H))
    keys = [s.shape.gpu.key for s in p.strategies]
    assert keys[0] == "mig" and all(s.immediate for s in p.strategies)
    costs = [s.su_per_hour for s in p.strategies]
    assert costs == sorted(costs)
    assert len(p.strategies) <= MAX_STRATEGIES
    assert all(s.kind == "direct" for s in p.strategies)


def test_the_asked_type_busy_for_hours_another_free_wins() -> None:
    req = Request(gpus=2, time_s=2 * H, vram_gb=40)
    p = plan(req, {("a6000", "1x2", 2 * H): 5.0, ("a6000", "1x2", H): 5.0})
    first = p.strategies[0]
    assert first.immediate and first.shape.gpu.key != "a6000"
    a6000 = next(s for s in p.strategies if s.shape.gpu.key == "a6000")
    assert not a6000.immediate and a6000.wait_s == 5 * H
    assert "rtx3090" in p.skipped and "VRAM" in p.skipped["rtx3090"]


def test_backfill_cliff_gives_a_time_min_strategy_that_starts_now() -> None:
    req = Request(gpus=1, gpu_type="a100_80", time_s=8 * H)
    p = plan(req, {("a100_80", "1x1", 8 * H): 20.0})
    first, second = p.strategies
    assert first.kind == "time_min" and first.immediate
    # The window less its margin (a probe's "now" is a moment; backfill plans in slots).
    assert (first.time_s, first.time_min_s) == (8 * H, usable_window(2 * H + 59 * 60))
    assert second.kind == "direct" and second.wait_s == 20 * H


def test_checkpoint_segments_are_opt_in_and_kept_apart() -> None:
    req = Request(gpus=1, gpu_type="a100_80", time_s=8 * H, checkpoint=True)
    p = plan(req, {("a100_80", "1x1", 8 * H): 20.0})
    kinds = {s.kind for s in p.strategies}
    assert kinds == {"time_min", "direct", "checkpoint"}
    ckpt = next(s for s in p.strategies if s.kind == "checkpoint")
    assert ckpt.immediate and ckpt.total_s == 8 * H
    assert ckpt.time_s == usable_window(2 * H + 59 * 60)


def test_checkpoint_segments_never_land_on_the_interactive_partition() -> None:
    # 8 h fits interactive-rtx3090's 12 h: plain strategies there, but no segments.
    req = Request(gpus=1, gpu_type="rtx3090", time_s=8 * H, checkpoint=True)
    p = plan(req, {("rtx3090", "1x1", 8 * H): 5.0})
    assert {s.kind for s in p.strategies} == {"direct", "time_min"}


def test_beyond_the_partition_limit_only_checkpoint_serves() -> None:
    req = Request(gpus=1, gpu_type="a6000", time_s=5 * 86400, checkpoint=True)
    p = plan(req)
    assert [s.kind for s in p.strategies] == ["checkpoint"]


def test_eight_gpus_offer_one_node_and_two_nodes() -> None:
    req = Request(gpus=8, gpu_type="a6000", time_s=2 * H)
    p = plan(req, {("a6000", "1x8", 2 * H): 12.0, ("a6000", "1x8", H): 12.0})
    assert [s.shape.topology for s in p.strategies] == ["2x4", "1x8"]
    assert p.strategies[0].immediate


def test_a_refused_shape_is_reported_not_submitted() -> None:
    req = Request(gpus=1, gpu_type="v100", time_s=2 * H)
    p = plan(req, {("v100", "1x1", 2 * H): None, ("v100", "1x1", H): None})
    assert p.strategies == []
    assert "Requested node configuration" in p.skipped["v100 1x1"]


def test_no_strategy_uses_a_nodelist_or_silently_caps_the_count() -> None:
    p = plan(Request(gpus=4, time_s=2 * H))
    assert all(s.shape.gpus == 4 for s in p.strategies)
    assert "mig" in p.skipped and "rtx3090" in p.skipped


def _s(kind: str, wait: float | None, time_s: int = 2 * H, **kw: object) -> Strategy:
    shape = Shape(GPU_TYPES["a6000"], 1, 1)
    return Strategy(shape, kind, time_s, wait_s=wait, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("a", "b", "pruned"),
    [
        (_s("direct", 0), _s("time_min", 0, time_min_s=H), True),
        (_s("direct", 3600), _s("time_min", 0, time_min_s=H), False),
        (_s("direct", 0), _s("checkpoint", 0, total_s=8 * H), False),
    ],
)
def test_pruning_only_within_type_topology_and_family(
    a: Strategy, b: Strategy, pruned: bool
) -> None:
    assert (b not in rank([a, b])) is pruned


def test_cross_type_strategies_are_never_pruned() -> None:
    a = _s("direct", 0)
    b = Strategy(Shape(GPU_TYPES["a40"], 1, 1), "direct", 2 * H, wait_s=7200)
    assert rank([b, a]) == [a, b]


@pytest.mark.parametrize(
    ("window", "resolution", "usable"),
    [(90 * 60, 60, 90 * 60 - 270), (26 * 60, 60, 26 * 60 - 78), (12 * 60, 60, 11 * 60),
     (26 * 60, 600, 16 * 60), (6 * 60, 60, 5 * 60), (5 * 60, 60, None), (None, 60, None)],
)  # fmt: skip
def test_a_window_keeps_a_margin_of_the_backfill_slot(
    window: int | None, resolution: int, usable: int | None
) -> None:
    assert usable_window(window, resolution) == usable
