"""Finding each shape's backfill window within the probe round trip, and saying why it ends.

A window is the longest walltime Slurm would start now. It can be anything from minutes
(a maintenance reservation at 16:30, a blocker whose planned successor starts in 40
minutes) to the whole request, so fixed guesses (2:59, 1:00) miss most of them. Each
shape's probes therefore run as one small sh script on the login node, in the same
batch as the state read: the asked time first; if that would not start now, 10 minutes
(the shortest window worth offering); if that would, doubling until a walltime would not,
then halving the gap until it is within 10 %. That is at most ~15 `sbatch --test-only`
calls for a 3-day request and 6-8 for a typical window, and none beyond the first when
the cluster is idle or full. Every answer is printed, framed, and read here like any
other probe, so the ranking sees the same Probe records as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from rv_jupyter.slurm.reservations import Reservation

SEARCH_FLOOR_MIN = 10  # a shorter window is not worth a job
_FRAME = "@@rv-probe "
_FRAME_LINE = re.compile(rf"^{_FRAME}(\d+)$", re.M)


def search_script(sbatch: str, fixed_min: list[int], cap_min: int, *, immediate_s: int) -> str:
    """The sh script that probes `fixed_min` walltimes, then searches the window below
    `cap_min` if `cap_min` itself would not start within `immediate_s`.

    `sbatch` is the quoted `sbatch --test-only ...` command without `--time`; walltimes
    are whole minutes (Slurm's plain-number form, which only this script ever writes).
    """
    fixed = " ".join(str(m) for m in sorted(set(fixed_min) - {cap_min}))
    return f"""rv_now=$(date +%s)
rv_probe() {{
  printf '{_FRAME}%s\\n' "$1"
  rv_out=$({sbatch} --time="$1" --wrap=true 2>&1)
  printf '%s\\n' "$rv_out"
  rv_at=$(printf '%s\\n' "$rv_out" | sed -n 's/.* to start at \\([-0-9T:]*\\).*/\\1/p')
  rv_at=${{rv_at%%[!-0-9T:]*}}
  [ -n "$rv_at" ] && rv_at=$(date -d "$rv_at" +%s 2>/dev/null) || return 1
  [ $((rv_at - rv_now)) -le {immediate_s} ]
}}
for rv_m in {fixed}; do rv_probe "$rv_m" || :; done
if ! rv_probe {cap_min} && [ {cap_min} -gt {SEARCH_FLOOR_MIN} ] && rv_probe {SEARCH_FLOOR_MIN}; then
  rv_lo={SEARCH_FLOOR_MIN}; rv_hi={cap_min}
  while [ $((rv_lo * 2)) -lt "$rv_hi" ]; do
    if rv_probe $((rv_lo * 2)); then rv_lo=$((rv_lo * 2)); else rv_hi=$((rv_lo * 2)); break; fi
  done
  while [ $((rv_hi - rv_lo)) -gt $((rv_lo / 10 + 1)) ]; do
    rv_mid=$(((rv_lo + rv_hi) / 2))
    if rv_probe "$rv_mid"; then rv_lo=$rv_mid; else rv_hi=$rv_mid; fi
  done
fi
true"""


def read_search(stdout: str) -> list[tuple[int, str]]:
    """(walltime in seconds, sbatch's output) for every probe the script ran, in order."""
    marks = list(_FRAME_LINE.finditer(stdout))
    out = []
    for m, nxt in zip(marks, [*marks[1:], None], strict=True):
        body = stdout[m.end() : nxt.start() if nxt else len(stdout)]
        out.append((int(m.group(1)) * 60, body.strip("\n")))
    return out


@dataclass(frozen=True)
class WindowEnd:
    """What ends a window: a reservation, or Slurm's plan for other jobs."""

    at: datetime
    reservation: Reservation | None = None

    def describe(self) -> str:
        """`maintenance "maint" at 16:30`, `other jobs planned from ~16:40`."""
        when = self.at.strftime("%H:%M")
        r = self.reservation
        if r is None:
            return f"other jobs planned from ~{when}"
        kind = "maintenance" if r.maintenance else "reservation"
        return f'{kind} "{r.name}" at {when}'


def window_end(
    now: datetime,
    window_s: int,
    reservations: list[Reservation],
    *,
    user: str | None,
    account: str | None,
) -> WindowEnd:
    """Why a window of `window_s` from `now` ends: the reservation that starts at its end
    (within Slurm's 10-minute backfill resolution on Rivanna), else other jobs."""
    end = now.timestamp() + window_s
    for r in sorted(reservations, key=lambda r: r.start or now):
        if r.start is None or r.admits(user, account):
            continue
        if -120 <= r.start.timestamp() - end <= 900:
            return WindowEnd(r.start, r)
    return WindowEnd(datetime.fromtimestamp(end))
