"""SU estimates before submitting."""

from __future__ import annotations

from rv_jupyter.allocator.cost import estimate
from rv_jupyter.allocator.strategies import Shape, Strategy
from rv_jupyter.facts import GPU_TYPES
from rv_jupyter.slurm import SuBalance


def test_sus_per_strategy_and_balance_after() -> None:
    a6000 = Strategy(Shape(GPU_TYPES["a6000"], 1, 2), "direct", 3 * 3600, wait_s=0)
    a100 = Strategy(Shape(GPU_TYPES["a100_80"], 1, 2), "checkpoint", 3600, total_s=6 * 3600)
    accounts = [
        SuBalance(account="lab_std", balance=10.0, raw=""),
        SuBalance(account="lab_paid", balance=10_000.0, raw=""),
    ]
    est = estimate([a6000, a100], accounts, "lab_paid")
    assert [round(su, 2) for _, su in est.rows] == [round(142.73 * 2 * 3, 2), round(508.89 * 12, 2)]
    assert est.balance == 10_000.0
    worst, best = est.balance_after or (0, 0)
    assert round(worst, 2) == round(10_000 - 508.89 * 12, 2)
    assert round(best, 2) == round(10_000 - 142.73 * 6, 2)
    assert list(est.to_frame()["partition"]) == ["gpu-a6000", "gpu-a100-80"]
    assert "lab_paid" in str(est)


def test_without_an_account_the_first_is_used_and_mig_is_free() -> None:
    mig = Strategy(Shape(GPU_TYPES["mig"], 1, 1), "direct", 3600, wait_s=0)
    est = estimate([mig], [SuBalance(account="only", balance=5.0, raw="")], None)
    assert (est.account, est.dearest, est.balance_after) == ("only", 0.0, (5.0, 5.0))


def test_a_node_with_other_gpus_than_asked_is_reported() -> None:
    from rv_jupyter.allocator.allocation import gpu_mismatch

    v100 = Strategy(Shape(GPU_TYPES["v100"], 1, 1), "direct", 3600, wait_s=0)
    assert gpu_mismatch(v100, "udc-an28-1", "a6000") == (
        "Asked for V100 but node udc-an28-1 has a6000 GPUs."
    )
    assert gpu_mismatch(v100, "udc-ai01-1", "v100") is None
    assert gpu_mismatch(v100, "udc-ai01-1", None) is None
