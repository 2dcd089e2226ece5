"""The long poll's wait: back as soon as the claim is written, else after its time."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from rv_jupyter.allocator.winner import claim_wait_command


def timed(command: str) -> float:
    t0 = time.monotonic()
    subprocess.run(["sh", "-c", command], check=True, timeout=10)
    return time.monotonic() - t0


def test_returns_at_once_when_claimed_and_waits_its_time_when_not(tmp_path: Path) -> None:
    claim = tmp_path / "claims" / "winner"
    assert 0.9 <= timed(claim_wait_command(str(claim), 1.0)) < 3.0  # nothing claimed
    claim.parent.mkdir()
    claim.write_text("123\n")
    assert timed(claim_wait_command(str(claim), 5.0)) < 0.5
    claim.write_text("")  # an empty file is not a claim yet (mkdir'd, not written)
    assert timed(claim_wait_command(str(claim), 0.5)) >= 0.4


def test_a_hostile_path_is_quoted(tmp_path: Path) -> None:
    odd = tmp_path / "a b; touch pwned" / "winner"
    timed(claim_wait_command(str(odd), 0.2))
    assert not (Path.cwd() / "pwned").exists() and not (tmp_path / "pwned").exists()
