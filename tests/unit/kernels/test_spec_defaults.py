"""Kernelspecs installed from the config: its [defaults] fill what is not given."""

from __future__ import annotations

from pathlib import Path

import pytest

from rv_jupyter.kernels import spec as specs


@pytest.fixture
def a_config_file(tmp_path: Path) -> Path:
    p = tmp_path / "config.toml"
    p.write_text('[connection]\nuser = "abs6bd"\n\n[defaults]\ngpu_type = "a40"\ntime = "4h"\n')
    return p


@pytest.mark.parametrize(
    ("given", "name", "gpu_type", "time"),
    [
        ({}, "rv-1x-a40-4h", "a40", "4h"),
        ({"gpu_type": "a6000"}, "rv-1x-a6000-4h", "a6000", "4h"),
        ({"gpus": 2, "time": "90m"}, "rv-2x-a40-90m", "a40", "90m"),
    ],
)
def test_what_is_not_given_comes_from_the_config(
    a_config_file: Path, tmp_path: Path, given: dict[str, object], name: str, gpu_type: str,
    time: str,
) -> None:  # fmt: skip
    where, spec = specs.install_from_config(
        str(a_config_file),
        kernels_dir=tmp_path / "kernels",
        **given,  # type: ignore[arg-type]
    )
    config = spec["metadata"]["kernel_provisioner"]["config"]
    assert where.name == name
    assert (config["gpu_type"], config["time"]) == (gpu_type, time)
    assert config["rv_config"] == str(a_config_file.resolve())
