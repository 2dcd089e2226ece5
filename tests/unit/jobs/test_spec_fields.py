"""JobSpec and Checkpoint refuse fields they do not have, naming the ones they do."""

from __future__ import annotations

import pytest

from rv_jupyter.errors import RequestError
from rv_jupyter.jobs import JobSpec
from rv_jupyter.jobs.script import Checkpoint

BASE: dict[str, object] = dict(
    name="train", user="abs6bd", command=("python", "train.py"), partition="gpu-a6000",
    time_s=3600,
)  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"acount": "mylab_paid"}, "acount"),
        ({"node": 2}, "node"),
        ({"x" * 100: 1}, "x" * 37 + "...'"),
    ],
)
def test_a_misspelt_jobspec_field_is_refused(extra: dict[str, object], named: str) -> None:
    with pytest.raises(RequestError) as err:
        JobSpec.model_validate({**BASE, **extra})
    assert err.value.message.startswith(f"Unknown JobSpec field '{named}")
    assert len(err.value.message) < 80
    assert err.value.hint is not None and "account" in err.value.hint and "nodes" in err.value.hint


def test_a_misspelt_checkpoint_field_is_refused_inside_a_spec_too() -> None:
    with pytest.raises(RequestError, match="Unknown Checkpoint field 'bufer_s'") as err:
        JobSpec(**BASE, kind="checkpoint", checkpoint={"total_s": 7200, "bufer_s": 900})
    assert err.value.hint == "Valid fields: buffer_s, total_s."


def test_known_fields_still_build_a_spec() -> None:
    spec = JobSpec(**BASE, kind="checkpoint", checkpoint=Checkpoint(total_s=7200))
    assert spec.checkpoint is not None and spec.checkpoint.buffer_s == 600
