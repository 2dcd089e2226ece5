"""srun's job-step builder: the exact forms each caller ran before, and quoting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rv_jupyter.cells.in_allocation import MULTI_NODE_ENV, node_task, spread
from rv_jupyter.kernels.node import srun_python
from rv_jupyter.slurm import srun
from rv_jupyter.telemetry.sampler import step_command
from tests.unit.slurm.fake_bin import HOSTILE, fake_slurm

STEP = "srun --jobid=123 --overlap --nodes=1 --ntasks=1"


@pytest.mark.parametrize(
    ("command", "options", "expected"),
    [
        # Allocation.arun: bash -c around the user's command.
        (["bash", "-c", "nvidia-smi -L"], {}, f"{STEP} bash -c 'nvidia-smi -L'"),
        # The kernel's python: shell text the caller completes (agent path, arguments).
        ("/opt/py/bin/python3", {"node": "udc-an28-1", "unbuffered": True},
         f"{STEP} -w udc-an28-1 --unbuffered /opt/py/bin/python3"),
        # The port watcher: a named step pinned to a node.
        (["python3", "-u", "-c", "print(1)"], {"node": "n1", "name": "rv-ports"},
         f"{STEP} -w n1 -J rv-ports python3 -u -c 'print(1)'"),
        (["hostname"], {"nodes": 3, "chdir": "/scratch/me/ws"},
         "srun --jobid=123 --overlap --chdir=/scratch/me/ws --nodes=3 --ntasks-per-node=1 "
         "--label hostname"),
    ],
)  # fmt: skip
def test_step_is_exact(command: str | list[str], options: dict[str, Any], expected: str) -> None:
    assert srun.step("123", command, **options) == expected


def test_callers_build_what_they_ran_before() -> None:
    assert srun_python("123", "udc-an28-1", "python3") == (
        f"{STEP} -w udc-an28-1 --unbuffered python3"
    )
    assert step_command("123", "udc-an28-1", 1.0).startswith(f"{STEP} -w udc-an28-1 sh -c ")


@pytest.mark.parametrize(
    ("nodes", "expected"),
    [
        (1, ("--nodes=1", "--ntasks=1", "bash", "-c", "x")),
        (2, ("--nodes=2", "--ntasks-per-node=1", "--label", "bash", "-c", MULTI_NODE_ENV + "x")),
    ],
)
def test_a_cell_spreads_one_task_per_node(nodes: int, expected: tuple[str, ...]) -> None:
    assert spread(nodes, "x") == expected
    assert srun.step_argv("9", node_task(nodes, "x"), nodes=nodes) == [
        "srun", "--jobid=9", "--overlap", *expected
    ]  # fmt: skip


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_values_reach_srun_as_single_words(tmp_path: Path, hostile: str) -> None:
    slurm = fake_slurm(tmp_path)
    word = hostile.format(canary=slurm.canary)
    slurm.run(srun.step(word, ["echo", word], node=word, name=word, chdir=word))
    assert slurm.calls("srun") == [
        [f"--jobid={word}", "--overlap", f"--chdir={word}", "--nodes=1", "--ntasks=1",
         "-w", word, "-J", word, "echo", word]
    ]  # fmt: skip
    assert not slurm.canary.exists()
