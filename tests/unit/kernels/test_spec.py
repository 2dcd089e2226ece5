"""Kernelspecs for Rivanna kernels: names, options, and never overwriting one silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rv_jupyter.errors import RequestError
from rv_jupyter.kernels.spec import install, installed, kernel_json, spec_name


def test_names_say_what_the_kernel_gives() -> None:
    spec = kernel_json(gpus=1, gpu_type="a100_80", time="4h")
    assert spec["display_name"] == "Rivanna: 1x A100 80GB, 4 h"
    assert spec_name(spec) == "rv-1x-a100_80-4h"
    assert spec["interrupt_mode"] == "message"
    provisioner = spec["metadata"]["kernel_provisioner"]
    assert provisioner == {"provisioner_name": "rv-slurm",
                           "config": {"gpus": 1, "gpu_type": "a100_80", "time": "4h"}}  # fmt: skip
    assert kernel_json(gpus=2, gpu_type="any", time="30m")["display_name"] == (
        "Rivanna: 2x any GPU, 30 min"
    )
    attach = kernel_json(job_id="12345")
    assert attach["display_name"] == "Rivanna: job 12345"
    assert attach["metadata"]["kernel_provisioner"]["config"] == {"job_id": "12345"}


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"gpus": 5, "gpu_type": "h200"}, "at most 4"),
        ({"time": "4 days"}, "Cannot read the time"),
        ({"gpu_type": "k80"}, "--type"),
        ({"job_id": "12; rm -rf ~"}, "is not a job id"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(
    kwargs: dict[str, object], says: str, tmp_path: Path
) -> None:
    with pytest.raises(RequestError, match=says):
        kernel_json(**kwargs)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_install_never_overwrites_a_different_spec(tmp_path: Path) -> None:
    spec = kernel_json(gpus=1, gpu_type="mig", time="1h")
    where = install(spec, tmp_path)
    assert install(spec, tmp_path) == where  # the same spec again is fine
    changed = json.loads(json.dumps(spec))
    changed["display_name"] = "mine"
    with pytest.raises(RequestError, match="already installed"):
        install(changed, tmp_path)
    assert json.loads((where / "kernel.json").read_text()) == spec
    install(changed, tmp_path, replace=True)
    assert [name for name, _ in installed(tmp_path)] == ["rv-1x-mig-1h"]
