"""Recorded outputs live in data/: `*.mini-rivanna.txt` came from the local test cluster
(real Slurm 22.05, run with the exact commands in `rv_jupyter.slurm`); `hdquota.txt` and
`allocations.txt` are UVA's current layouts, which the cluster's stand-ins print too."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def recorded() -> Callable[[str], str]:
    """Read a recorded output by file name."""
    return lambda name: (DATA / name).read_text()
