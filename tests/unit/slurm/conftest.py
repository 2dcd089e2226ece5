"""Recorded outputs live in data/: `*.mini-rivanna.txt` came from the local test cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def recorded():  # type: ignore[no-untyped-def]
    """Read a recorded output by file name."""
    return lambda name: (DATA / name).read_text()
