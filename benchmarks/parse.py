"""Parsers on a full cluster's outputs: 10,000 squeue rows and 5,000 sinfo node rows.

The rows are generated with the field shapes real clusters print (array and het ids,
GRES with socket and index suffixes, TRES lists, long reasons, names holding the
delimiter; tests/unit/slurm/synth.py). Each figure is the median of several runs in this
one process, each parsing fresh text into objects that are then dropped, as a poller
does. Printed side by side: the columnar read (what whole-cluster reads use) and the typed
records built from it. Last line: `squeue_10k_ms=<x> sinfo_5k_ms=<x>` (targets 50 and 25).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rv_jupyter.slurm import parse_sinfo, parse_squeue, squeue
from tests.unit.slurm.synth import sinfo_text, squeue_text

RUNS = 15


def median_ms(parse: Callable[[str], object], text: str) -> float:
    parse(text)  # warm caches that a long-lived poller would have warm too
    times = []
    for _ in range(RUNS):
        fresh = text + " "  # a new string object each run, as each read brings
        t0 = time.perf_counter()
        result = parse(fresh)
        times.append((time.perf_counter() - t0) * 1000)
        del result
    return statistics.median(times)


def main() -> int:
    q, s = squeue_text(10_000), sinfo_text(5_000)
    cols = median_ms(squeue.columns, q)
    frame = median_ms(squeue.read_frame, q)
    models = median_ms(parse_squeue, q)
    nodes = median_ms(parse_sinfo, s)
    print(f"squeue 10k rows: columns {cols:6.1f} ms  DataFrame {frame:6.1f} ms", end="")
    print(f"  Job records {models:6.1f} ms")
    print(f"sinfo  5k rows:  Node records {nodes:6.1f} ms")
    print(f"squeue_10k_ms={cols:.1f} sinfo_5k_ms={nodes:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
