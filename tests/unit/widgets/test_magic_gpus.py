"""%rv_gpus: which job it shows, and its errors as one line (sampler stood in)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError

from rv_jupyter.cluster.background import run_sync
from rv_jupyter.magics.base import Current
from rv_jupyter.magics.gpus import GpuMagics
from rv_jupyter.telemetry import sampler as sampler_module
from rv_jupyter.widgets.gpus import GpuWidget
from tests.unit.telemetry.standin import StandInSampler, register


class _Alloc:
    def __init__(self, cluster: Any, job_id: str) -> None:
        self.cluster, self.job_id = cluster, job_id


@pytest.fixture
def sampled(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandInSampler]:
    monkeypatch.setattr(sampler_module, "_SAMPLERS", {})
    s = StandInSampler("4242")
    register(s)
    monkeypatch.setattr(GpuMagics, "_cluster", lambda self, config: s.cluster)
    yield s
    for _ in range(s._watchers):
        run_sync(s.aunwatch())


def test_no_job_and_no_allocation_says_how_to_name_one() -> None:
    with pytest.raises(UsageError, match=r"^Which job\? `%rv_gpus 1234`"):
        GpuMagics(None, Current()).rv_gpus("")


def test_defaults_to_the_rv_up_allocation(sampled: StandInSampler) -> None:
    current = Current(allocation=_Alloc(sampled.cluster, "4242"))  # type: ignore[arg-type]
    widget = GpuMagics(None, current).rv_gpus("")
    try:
        assert isinstance(widget, GpuWidget) and widget.sampler is sampled
    finally:
        widget.close()


def test_a_job_that_is_not_running_is_one_line(sampled: StandInSampler) -> None:
    sampled.ended = True
    with pytest.raises(UsageError) as err:
        GpuMagics(None, Current()).rv_gpus("4242")
    assert str(err.value) == "Job 4242 is not one of your running jobs."


def test_an_explicit_job(sampled: StandInSampler) -> None:
    widget = GpuMagics(None, Current()).rv_gpus("4242")
    try:
        assert widget.sampler is sampled and sampled._watchers == 1
    finally:
        widget.close()
