"""The watchdog's rules: each condition alerts once, clears, and says what to do."""

from __future__ import annotations

from rv_jupyter.telemetry.rules import Gpu, Limits, Watch


def gpus(util: float | None, used: float = 1000, total: float = 81920, n: int = 4) -> list[Gpu]:
    return [Gpu("udc-an1", i, util, used, total) for i in range(n)]


def test_idle_gpus_alert_once_after_the_threshold_with_the_cost() -> None:
    w = Watch("12", label="A100", su_per_gpu_hour=508.89)
    assert w.check(0, gpus(1)) == []
    assert w.check(599, gpus(2)) == []
    (alert,) = w.check(720, gpus(0))
    assert alert.kind == "idle"
    assert "4 A100s of job 12 idle for 12 min, costing 2,036 SU/h" in alert.message
    assert w.check(800, gpus(0)) == []  # still idle: not again
    assert w.check(900, gpus(80)) == []  # busy: cleared
    assert w.check(901, gpus(0)) == []  # idle again, the clock restarts
    assert [a.kind for a in w.check(1600, gpus(0))] == ["idle"]


def test_mig_utilisation_unavailable_never_counts_as_idle() -> None:
    w = Watch("5")
    assert w.check(0, gpus(None, n=1)) == [] and w.check(10_000, gpus(None, n=1)) == []


def test_memory_nearly_full_names_the_gpu() -> None:
    w = Watch("7", limits=Limits(memory_full_pct=95))
    full = [Gpu("n1", 0, 90, 1000, 81920), Gpu("n2", 1, 90, 80_000, 81920)]
    (alert,) = w.check(0, full)
    assert alert.kind == "memory_full" and "n2 GPU 1 98 %" in alert.message
    assert "n1" not in alert.message


def test_a_silent_log_and_the_walltime() -> None:
    w = Watch("9")
    kinds = [a.kind for a in w.check(4000, gpus(50), log_mtime=100, time_left_s=300)]
    assert kinds == ["silent", "walltime"]


def test_the_end_says_what_it_means() -> None:
    (oom,) = Watch("3").check(0, [], final_state="OUT_OF_MEMORY", exit_code="0:125")
    assert oom.severity == "error" and "--mem" in oom.message and "exit 0:125" in oom.message
    (done,) = Watch("4").check(0, [], final_state="COMPLETED", exit_code="0:0")
    assert done.severity == "info" and done.message == "Job 4 ended: COMPLETED."
    (timeout,) = Watch("6").check(0, [], final_state="TIMEOUT")
    assert "--checkpoint" in timeout.message
