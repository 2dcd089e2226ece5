"""The window search script, run by sh against a stand-in sbatch that knows the window."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rv_jupyter.allocator.windows import read_search, search_script, window_end
from rv_jupyter.slurm.reservations import parse_reservations

# Answers like `sbatch --test-only`: now within the window (minutes in $RV_WINDOW), in two
# hours beyond it; each call is counted in $RV_CALLS.
FAKE_SBATCH = r"""#!/bin/sh
echo x >> "$RV_CALLS"
for a in "$@"; do case $a in --time=*) m=${a#--time=};; esac; done
if [ "$m" -le "$RV_WINDOW" ]; then at=$(date +%s); else at=$(( $(date +%s) + 7200 )); fi
echo "sbatch: Job 7 to start at $(date -d @$at +%Y-%m-%dT%H:%M:%S) a using 4 processors" \
  "on nodes n1 in partition p" >&2
"""


def run(tmp_path: Path, window_min: int, cap_min: int, fixed: list[int]) -> tuple[list[int], int]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "sbatch").write_text(FAKE_SBATCH)
    (bin_dir / "sbatch").chmod(0o755)
    calls = tmp_path / f"calls-{window_min}-{cap_min}"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "RV_WINDOW": str(window_min),
           "RV_CALLS": str(calls)}  # fmt: skip
    script = search_script("sbatch --test-only -p x", fixed, cap_min, immediate_s=90)
    out = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, check=True)
    probes = read_search(out.stdout)
    assert all("to start at" in text for _, text in probes)
    now_ok = [w // 60 for w, text in probes if _starts_now(text)]
    return now_ok, len(calls.read_text().splitlines())


def _starts_now(text: str) -> bool:
    at = datetime.fromisoformat(text.split("to start at ")[1].split()[0])
    return at - datetime.now() < timedelta(seconds=90)


@pytest.mark.parametrize(
    ("window", "cap"), [(12, 480), (26, 480), (50, 480), (170, 4320), (600, 4320), (11, 12)]
)
def test_a_window_of_any_length_is_found_within_10_percent(
    tmp_path: Path, window: int, cap: int
) -> None:
    now_ok, calls = run(tmp_path, window, cap, [cap])
    found = max(now_ok)
    assert found <= window and found >= window * 0.9 - 1
    assert calls <= 16


def test_idle_or_full_costs_one_or_two_probes(tmp_path: Path) -> None:
    assert run(tmp_path, 10_000, 480, [480]) == ([480], 1)  # the whole time starts now
    assert run(tmp_path, 5, 480, [480]) == ([], 2)  # not even 10 minutes: no window


def test_fixed_walltimes_are_probed_too(tmp_path: Path) -> None:
    now_ok, _ = run(tmp_path, 200, 480, [179, 480])
    assert 179 in now_ok


def test_the_window_is_explained_by_the_reservation_at_its_end() -> None:
    now = datetime(2026, 12, 1, 16, 4)
    text = (
        "ReservationName=maint StartTime=2026-12-01T16:30:00 EndTime=2026-12-01T17:30:00 "
        "Duration=01:00:00 Nodes=udc-a6k-[1-2] NodeCnt=2 PartitionName=(null) "
        "Flags=MAINT,IGNORE_JOBS,SPEC_NODES Users=root Accounts=(null) State=INACTIVE\n"
        "ReservationName=lab StartTime=2026-12-01T16:00:00 EndTime=2026-12-02T16:00:00 "
        "Nodes=udc-h200-1 Flags=SPEC_NODES Users=rvtest,-bob Accounts=(null) State=ACTIVE\n"
    )
    res = parse_reservations(text)
    assert res[0].maintenance and res[0].nodes == ("udc-a6k-1", "udc-a6k-2")
    assert res[1].admits("rvtest", None) and not res[1].admits("bob", None)
    end = window_end(now, 25 * 60, res, user="rvtest", account=None)
    assert end.describe() == 'maintenance "maint" at 16:30'
    assert window_end(now, 5 * 3600, res, user="rvtest", account=None).reservation is None
    assert parse_reservations("No reservations in the system\n") == []
