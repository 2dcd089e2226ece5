"""Request.from_config: the one place a request's defaults come from the config."""

from __future__ import annotations

import pytest

from rv_jupyter.allocator.request import Request
from rv_jupyter.config import Defaults
from rv_jupyter.errors import RequestError

LAB = Defaults(account="mylab_paid", gpu_type="a6000", time="1:00:00")


@pytest.mark.parametrize(
    ("said", "gpus", "gpu_type", "time_s", "account"),
    [
        ({}, 1, "a6000", 3600, "mylab_paid"),
        # What a magic passes for flags not given: None (and "" from a kernelspec).
        ({"gpus": None, "gpu_type": None, "time": "", "account": None}, 1, "a6000", 3600,
         "mylab_paid"),
        ({"gpus": 2, "gpu_type": "a40", "time": "2h"}, 2, "a40", 7200, "mylab_paid"),
        ({"gpu_type": "mig", "account": "otherlab"}, 1, "mig", 3600, "otherlab"),
        ({"time_s": 600}, 1, "a6000", 600, "mylab_paid"),
    ],
)  # fmt: skip
def test_what_the_user_left_out_comes_from_the_config(
    said: dict[str, object], gpus: int, gpu_type: str, time_s: int, account: str
) -> None:
    req = Request.from_config(LAB, **said)
    assert (req.gpus, req.gpu_type, req.time_s, req.account) == (gpus, gpu_type, time_s, account)


def test_no_configured_defaults_are_the_requests_own() -> None:
    req = Request.from_config(Defaults())
    assert (req.gpu_type, req.time_s, req.account) == ("any", 2 * 3600 + 59 * 60, None)


def test_the_config_default_is_checked_like_a_typed_one() -> None:
    with pytest.raises(RequestError, match="--time"):
        Request.from_config(Defaults(time="2"))


@pytest.mark.parametrize("said", [{"gpu": 4, "tpye": "a100_80"}, {"gpus": 4, "tpye": "a100_80"}])
def test_a_misspelt_field_is_refused_not_defaulted(said: dict[str, object]) -> None:
    with pytest.raises(RequestError, match="Unknown request field") as err:
        Request.from_config(LAB, **said)
    assert "gpu_type" in str(err.value.hint) and "gpus" in str(err.value.hint)
