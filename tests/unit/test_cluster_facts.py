"""Rivanna facts: lookups the rest of the product relies on."""

from __future__ import annotations

import pytest

from rv_jupyter.facts import (
    COMPUTING_ID,
    GPU_TYPES,
    RemotePaths,
    gpu_type_for_partition,
    gpu_type_of,
)


@pytest.mark.parametrize(
    ("partition", "gres", "key"),
    [
        ("gpu-a100-40", "a100", "a100_40"),
        ("gpu-a100-80", "a100", "a100_80"),
        ("gpu-mig", "1g.10gb", "mig"),
        ("some-new-partition", "h200", "h200"),
    ],
)
def test_the_partition_decides_the_gpu_type(partition: str, gres: str, key: str) -> None:
    found = gpu_type_of(partition, gres)
    assert found is not None and found.key == key


def test_an_ambiguous_gres_outside_known_partitions_is_unknown() -> None:
    assert gpu_type_of("elsewhere", "a100") is None
    assert gpu_type_for_partition("standard") is None


def test_partitions_are_unique_and_limits_consistent() -> None:
    partitions = [t.partition for t in GPU_TYPES.values()]
    assert len(partitions) == len(set(partitions))
    for t in GPU_TYPES.values():
        assert t.max_per_job <= t.per_node or t.mig
        assert t.max_per_job <= t.max_per_user
    assert GPU_TYPES["rtx3090"].max_walltime_s == 12 * 3600
    assert GPU_TYPES["mig"].su_per_gpu_hour == 0


@pytest.mark.parametrize(("uid", "ok"), [("abs6bd", True), ("xy1z", False), ("ABS6BD", False)])
def test_computing_id_pattern(uid: str, ok: bool) -> None:
    assert bool(COMPUTING_ID.match(uid)) is ok


def test_remote_layout_follows_the_rv_cli() -> None:
    p = RemotePaths("abs6bd")
    assert p.logs == "/scratch/abs6bd/.rv/logs"
    assert p.env == "/scratch/abs6bd/.rv/env"
    assert p.workspaces == "/scratch/abs6bd/rv-workspaces"
